// CPU kernel table of matmul and gemm.
#include "engine/cpu/cpu_backend.h"
#include "engine/kernels/cpu/gemm.h"

namespace symnet {

namespace {

struct GemmParams {
  double alpha = 1, beta = 1;
  bool trans_a = false, trans_b = false;
};

void matmul_kernel(KernelContext& k) { matmul_cpu(k.in[0], k.in[1], k.out[0]); }

void gemm_kernel(KernelContext& k) {
  const GemmParams& p = k.param<GemmParams>();
  gemm_cpu(k.in[0], k.in[1], k.in.size() > 2 ? &k.in[2] : nullptr, k.out[0], p.alpha, p.beta, p.trans_a, p.trans_b);
}

}  // namespace

void bind_linalg_kernels(Backend& b) {
  b.add_kernel("matmul", KernelImpl{matmul_kernel});
  b.add_kernel("gemm", with_params<GemmParams>(gemm_kernel, [](const Node& n) {
                 const AttrMap& a = n.attrs;
                 return GemmParams{a.get_float("alpha", 1.0), a.get_float("beta", 1.0), a.get_int("transA", 0) == 1,
                                   a.get_int("transB", 0) == 1};
               }));
}

}  // namespace symnet
