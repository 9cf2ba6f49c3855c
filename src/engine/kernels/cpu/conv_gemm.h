// A small float32 GEMM for convolution lowering: the weight-side operand is packed once
// per kernel call into MR-row panels and reused by every sample, the other operand (the
// column buffer, or an output gradient) is read in place, and bias is added in the
// epilogue. AVX-512 micro-kernel selected at run time (no -march flags: the package is
// built portably); callers use the BLAS path when available() is false.
#pragma once
#include <cstdint>

namespace symnet::convgemm {

constexpr int kMR = 10;  // rows of C per micro-tile (LeNet's 20 and 50 channels divide)
constexpr int kNR = 32;  // columns of C per micro-tile (two 16-float vectors)

// True when the CPU runs the AVX-512 micro-kernel (and SYMNET_CONV_GEMM is not "blas").
bool available();
// Turns the packed kernel off (false) or back on where the CPU has it (true), for tests
// and benchmarks. Executables compiled before a switch keep the workspace they planned,
// so switch only between compiles.
void set_enabled(bool on);

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
inline int64_t packed_a_size(int64_t M, int64_t K) { return round_up(M, kMR) * K; }

// Packs A(m, k) = src[m * rs + k * cs] for m < M, k < K into ceil(M / MR) panels of
// [K][MR] (rows past M zero-filled).
void pack_a(const float* src, int64_t rs, int64_t cs, int64_t M, int64_t K, float* Ap);

// C[M, N] = Ap * B (+ bias[m]), or C += Ap * B when accumulate. B(k, n) is read at
// B[k * ldb + (n / NR) * panel_stride + n % NR]: a row-major matrix has panel_stride = NR,
// a panel-packed one ([N/NR][K][NR]) has ldb = NR and panel_stride = K * NR.
void gemm(const float* Ap, int64_t M, int64_t N, int64_t K, const float* B, int64_t ldb, int64_t panel_stride,
          float* C, int64_t ldc, const float* bias, bool accumulate);

}  // namespace symnet::convgemm
