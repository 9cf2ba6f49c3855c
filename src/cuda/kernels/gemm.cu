// matmul (NumPy rules: 1-D promotion, broadcast batch dims) and gemm (ONNX) on CUDA.
// Floats go to cuBLAS on the device's stream: row-major C = A B is column-major
// C^T = B^T A^T, so the operands are passed swapped. TF32 only when the device allows it.
// Batches: a shared right operand folds the batch into the rows of one product, uniform
// batch strides (0 for a broadcast operand) use the strided-batched call, and other
// broadcasts one call per batch entry (queued, no synchronization). Integer products (which
// cuBLAS lacks) use a direct kernel with wrapping arithmetic.
#include <vector>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/strided_index.h"

namespace symnet {
namespace cuda {

namespace {

template <class T>
struct BlasType;
template <>
struct BlasType<float> {
  static constexpr cudaDataType_t data = CUDA_R_32F;
};
template <>
struct BlasType<double> {
  static constexpr cudaDataType_t data = CUDA_R_64F;
};

template <class T>
cublasComputeType_t compute_type(const DeviceContext& dev) {
  if constexpr (std::is_same_v<T, double>) return CUBLAS_COMPUTE_64F;
  else return dev.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

// Row-major y[M, N] = alpha op(a) op(b) + beta y, with op(a) [M, K], op(b) [K, N]; `count`
// products at element strides sa, sb, sy (count 1: strides unused).
template <class T>
void row_major_gemm(const DeviceContext& dev, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha,
                    const T* a, const T* b, T beta, T* y, int64_t count, int64_t sa, int64_t sb, int64_t sy) {
  SN_CHECK(M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX && count <= INT32_MAX, ErrorKind::unsupported,
           "CUDA matrix product of [" << M << ", " << K << "] x [" << K << ", " << N
                                      << "]: cuBLAS takes dimensions below 2^31");
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  // Leading dimensions of the row-major operands as stored.
  const int lda = ta ? m : k, ldb = tb ? k : n;
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType_t dt = BlasType<T>::data;
  if (count == 1) {
    check_cublas(cublasGemmEx(dev.cublas, opb, opa, n, m, k, &alpha, b, dt, std::max(ldb, 1), a, dt, std::max(lda, 1),
                              &beta, y, dt, std::max(n, 1), compute_type<T>(dev), CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
  } else {
    check_cublas(cublasGemmStridedBatchedEx(dev.cublas, opb, opa, n, m, k, &alpha, b, dt, std::max(ldb, 1), sb, a, dt,
                                            std::max(lda, 1), sa, &beta, y, dt, std::max(n, 1), sy,
                                            static_cast<int>(count), compute_type<T>(dev), CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx");
  }
}

// The batch structure of a NumPy matmul.
struct MatmulShape {
  int64_t M = 1, K = 1, N = 1, batch = 1, na = 1, nb = 1;
  Shape abatch, bbatch, obatch;
};

MatmulShape matmul_shape(const Shape& as, const Shape& bs) {
  MatmulShape s;
  const int64_t ra = static_cast<int64_t>(as.size()), rb = static_cast<int64_t>(bs.size());
  SN_CHECK(ra >= 1 && rb >= 1, ErrorKind::shape, "matmul needs operands of rank 1 or more");
  s.M = ra >= 2 ? as[ra - 2] : 1;
  s.K = as[ra - 1];
  s.N = rb >= 2 ? bs[rb - 1] : 1;
  s.abatch.assign(as.begin(), as.end() - std::min<int64_t>(ra, 2));
  s.bbatch.assign(bs.begin(), bs.end() - std::min<int64_t>(rb, 2));
  const size_t nbd = std::max(s.abatch.size(), s.bbatch.size());
  s.abatch.insert(s.abatch.begin(), nbd - s.abatch.size(), 1);
  s.bbatch.insert(s.bbatch.begin(), nbd - s.bbatch.size(), 1);
  s.obatch.assign(nbd, 0);
  for (size_t d = 0; d < nbd; ++d) {
    s.obatch[d] = (s.abatch[d] == 0 || s.bbatch[d] == 0) ? 0 : std::max(s.abatch[d], s.bbatch[d]);
    s.batch *= s.obatch[d];
    s.na *= s.abatch[d];
    s.nb *= s.bbatch[d];
  }
  return s;
}

template <class T>
void matmul_float(const KernelContext& k, const MatmulShape& s) {
  const DeviceContext& dev = device_of(k);
  const T* a = k.in[0].ptr<const T>();
  const T* b = k.in[1].ptr<const T>();
  T* y = k.out[0].ptr<T>();
  const int64_t M = s.M, K = s.K, N = s.N;
  if (s.nb == 1 && s.na == s.batch) {  // b shared: one [batch*M, K] x [K, N] product
    row_major_gemm<T>(dev, false, false, s.batch * M, N, K, T(1), a, b, T(0), y, 1, 0, 0, 0);
    return;
  }
  if ((s.na == s.batch || s.na == 1) && (s.nb == s.batch || s.nb == 1)) {
    row_major_gemm<T>(dev, false, false, M, N, K, T(1), a, b, T(0), y, s.batch, s.na == 1 ? 0 : M * K,
                      s.nb == 1 ? 0 : K * N, M * N);
    return;
  }
  BroadcastIndex<2> ix;
  SN_CHECK(make_broadcast_index(s.obatch, {s.abatch, s.bbatch}, ix), ErrorKind::shape,
           "matmul: batch dimensions do not broadcast");
  for (int64_t i = 0; i < s.batch; ++i) {
    int64_t off[2];
    ix.offsets(i, off);
    row_major_gemm<T>(dev, false, false, M, N, K, T(1), a + off[0] * M * K, b + off[1] * K * N, T(0), y + i * M * N, 1,
                      0, 0, 0);
  }
}

// Integer products: one thread per output element, wrapping like the CPU's integer GEMM.
template <class T>
__global__ void matmul_int_dev(const T* a, const T* b, T* y, int64_t M, int64_t K, int64_t N, int64_t batch,
                               BroadcastIndex<2> ix) {
  const int64_t total = batch * M * N;
  using U = std::make_unsigned_t<T>;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t bi = t / (M * N), r = t - bi * M * N, i = r / N, j = r - i * N;
    int64_t off[2];
    ix.offsets(bi, off);
    const T* ap = a + off[0] * M * K + i * K;
    const T* bp = b + off[1] * K * N + j;
    U acc = 0;
    for (int64_t q = 0; q < K; ++q) acc += static_cast<U>(ap[q]) * static_cast<U>(bp[q * N]);
    y[t] = static_cast<T>(acc);
  }
}

void matmul_kernel(KernelContext& k) {
  const MatmulShape s = matmul_shape(k.in[0].shape, k.in[1].shape);
  if (s.batch * s.M * s.N == 0) return;
  switch (k.in[0].dtype) {
    case DType::f32: return matmul_float<float>(k, s);
    case DType::f64: return matmul_float<double>(k, s);
    case DType::i32:
    case DType::i64: break;
    default: SN_THROW(ErrorKind::dtype, "no CUDA matmul kernel for dtype " << dtype_name(k.in[0].dtype));
  }
  BroadcastIndex<2> ix;
  SN_CHECK(make_broadcast_index(s.obatch, {s.abatch, s.bbatch}, ix), ErrorKind::shape,
           "matmul: batch dimensions do not broadcast");
  const int64_t total = s.batch * s.M * s.N;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    matmul_int_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(
        k.in[0].ptr<const T>(), k.in[1].ptr<const T>(), k.out[0].ptr<T>(), s.M, s.K, s.N, s.batch, ix);
    check_launch("integer matmul");
  };
  if (k.in[0].dtype == DType::i32) run(int32_t{});
  else run(int64_t{});
}

// ---- gemm --------------------------------------------------------------------------------------

struct GemmParams {
  double alpha = 1, beta = 1;
  bool trans_a = false, trans_b = false;
};

// y[i, j] = beta * c[i * s0 + j * s1] (c broadcast to [M, N]).
template <class T>
__global__ void scaled_c_dev(const T* c, T* y, int64_t M, int64_t N, int64_t s0, int64_t s1, T beta) {
  const int64_t total = M * N;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t i = t / N, j = t - i * N;
    y[t] = beta * c[i * s0 + j * s1];
  }
}

void gemm_kernel(KernelContext& k) {
  const GemmParams& p = op_params<GemmParams>(k);
  const TensorView &a = k.in[0], &b = k.in[1], &y = k.out[0];
  const TensorView* c = k.in.size() > 2 ? &k.in[2] : nullptr;
  const int64_t M = y.shape.at(0), N = y.shape.at(1), K = p.trans_a ? a.shape.at(0) : a.shape.at(1);
  if (M * N == 0) return;
  dispatch_float(a.dtype, "gemm", [&](auto tag) {
    using T = decltype(tag);
    bool acc = false;
    if (c && c->data && p.beta != 0) {
      const Shape& cs = c->shape;
      const int64_t cr = static_cast<int64_t>(cs.size());
      const int64_t cm = cr >= 2 ? cs[cr - 2] : 1, cn = cr >= 1 ? cs[cr - 1] : 1;
      scaled_c_dev<T><<<blocks_for(M * N), kThreads, 0, stream_of(k)>>>(c->ptr<const T>(), y.ptr<T>(), M, N,
                                                                         cm == 1 ? 0 : cn, cn == 1 ? 0 : 1,
                                                                         static_cast<T>(p.beta));
      check_launch("gemm bias");
      acc = true;
    }
    row_major_gemm<T>(device_of(k), p.trans_a, p.trans_b, M, N, K, static_cast<T>(p.alpha), a.ptr<const T>(),
                      b.ptr<const T>(), acc ? T(1) : T(0), y.ptr<T>(), 1, 0, 0, 0);
  });
}

}  // namespace

void bind_linalg(Backend& b, DeviceContext* dev) {
  b.add_kernel("matmul", cuda_kernel(matmul_kernel, dev));
  b.add_kernel("gemm", cuda_kernel<GemmParams>(gemm_kernel, dev, [](const Node& n) {
                 const AttrMap& a = n.attrs;
                 return GemmParams{a.get_float("alpha", 1.0), a.get_float("beta", 1.0), a.get_int("transA", 0) == 1,
                                   a.get_int("transB", 0) == 1};
               }));
}

}  // namespace cuda
}  // namespace symnet
