// The register-blocked inner kernels of the packed SGEMM (sgemm_packed.h), one per
// instruction set, and the blocking that suits each.
//
// A kernel computes one MR x NR tile of C from packed panels:
//   a: kc steps of MR floats (column k of the MR rows of op(A)), 64-byte aligned
//   b: kc steps of NR floats (row k of the NR columns of op(B)), 64-byte aligned
// and writes C[0:m, 0:n] = alpha * a^T b + beta * C (m <= MR, n <= NR; beta == 0 never
// reads C, so NaNs there are overwritten as BLAS does).
#pragma once
#include <cstdint>

namespace symnet {

using SgemmTileFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
                             float alpha, float beta);

struct SgemmMicroKernel {
  const char* name;  // as gemm_backend_name() reports it: "symnet-avx512", "symnet-avx2"
  int mr, nr;       // tile of C held in registers
  int kc, mc, nc;   // cache blocking: kc x nr panel of B in L1, mc x kc block of A in L2
  SgemmTileFn tile;
  bool (*cpu_supports)();
};

// Null where the compiler cannot target the instruction set (not x86-64, or not GCC/clang).
const SgemmMicroKernel* sgemm_microkernel_avx512();
const SgemmMicroKernel* sgemm_microkernel_avx2();

}  // namespace symnet
