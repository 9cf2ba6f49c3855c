// Packing for the packed SGEMM (sgemm_packed.h): op(A) and op(B) copied into the panel
// layouts the tile kernels read (sgemm_microkernel.h). The transposing cases (A stored
// row-major, B stored transposed) move 8 x 8 blocks through AVX registers where the CPU
// has AVX2: done element by element they cost as much as the arithmetic for small M or N.
#pragma once
#include <cstdint>

namespace symnet {

// Rows [i0, i0+mc) and depth [p0, p0+kc) of op(A) into panels of mr rows: panel r holds,
// for each k, the mr values A(i, k) of its rows (zeros past the last row). op(A) = A, or
// A^T when ta (A stored [K, M]).
void sgemm_pack_a(bool ta, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                  float* out);

// Columns [j0, j0+nc) and depth [p0, p0+kc) of op(B) into panels of nr columns: panel j
// holds, for each k, the nr values B(k, j) of its columns (zeros past the last column).
void sgemm_pack_b(bool tb, const float* B, int64_t ldb, int64_t j0, int64_t nc, int64_t p0, int64_t kc, int nr,
                  float* out);

}  // namespace symnet
