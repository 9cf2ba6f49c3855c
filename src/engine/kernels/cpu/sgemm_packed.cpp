// Loop nest of the packed SGEMM (the Goto/BLIS structure): for each nc-wide block of
// columns and kc-deep slice of K, pack op(B) once into nr-wide panels; for each mc-tall
// block of rows pack op(A) into mr-tall panels; then sweep the tile kernel over the block.
// Panels are zero-padded to whole tiles so the kernel's inner loop has no edge cases; the
// kernel clips its stores instead.
#include "engine/kernels/cpu/sgemm_packed.h"

#include "engine/kernels/cpu/sgemm_pack.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#if defined(_WIN32)
#include <malloc.h>
#endif

namespace symnet {

namespace {

// A growable 64-byte-aligned scratch buffer, one per thread for each operand: the GEMMs
// of one engine run call this thousands of times, and allocating each time costs more
// than a small tile.
class PackBuffer {
 public:
  float* get(size_t n) {
    if (n > cap_) {
      const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      mem_.reset(static_cast<float*>(aligned_new(bytes)));
      cap_ = bytes / sizeof(float);
    }
    return mem_.get();
  }

 private:
  static void* aligned_new(size_t bytes) {
    void* p = nullptr;
#if defined(_WIN32)
    p = _aligned_malloc(bytes, 64);
#else
    if (posix_memalign(&p, 64, bytes) != 0) p = nullptr;
#endif
    if (!p) throw std::bad_alloc();
    return p;
  }
  struct Free {
    void operator()(float* p) const {
#if defined(_WIN32)
      _aligned_free(p);
#else
      std::free(p);
#endif
    }
  };
  std::unique_ptr<float, Free> mem_;
  size_t cap_ = 0;
};

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace

const SgemmMicroKernel* sgemm_best_microkernel() {
  static const SgemmMicroKernel* best = [] {
    for (const SgemmMicroKernel* k : {sgemm_microkernel_avx512(), sgemm_microkernel_avx2()})
      if (k && k->cpu_supports()) return k;
    return static_cast<const SgemmMicroKernel*>(nullptr);
  }();
  return best;
}

namespace {

// Equal slices of K no deeper than the kernel's kc: 288 = 2 x 144 rather than 256 + 32,
// whose short slice would pay a full pass over C for little work.
int64_t k_slice(const SgemmMicroKernel& uk, int64_t K) {
  const int64_t slices = (K + uk.kc - 1) / uk.kc;
  return (K + slices - 1) / slices;
}

// C (=|+=) alpha * Ap * Bp over one mc x nc block: ap holds mr-row panels of depth kc, bp
// nr-column panels of depth kc.
void block_product(const SgemmMicroKernel& uk, int64_t mc, int64_t nc, int64_t kc, const float* ap, const float* bp,
                   float* C, int64_t ldc, float alpha, float beta) {
  const int mr = uk.mr, nr = uk.nr;
  for (int64_t jr = 0; jr < nc; jr += nr) {
    const int n = static_cast<int>(std::min<int64_t>(nr, nc - jr));
    const float* bpanel = bp + jr * kc;
    for (int64_t ir = 0; ir < mc; ir += mr) {
      const int m = static_cast<int>(std::min<int64_t>(mr, mc - ir));
      uk.tile(kc, ap + ir * kc, bpanel, C + ir * ldc + jr, ldc, m, n, alpha, beta);
    }
  }
}

bool scale_only(int64_t M, int64_t N, int64_t K, float alpha, float beta, float* C, int64_t ldc) {
  if (K > 0 && alpha != 0.0f) return false;
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
  }
  return true;
}

thread_local PackBuffer t_a_buf, t_b_buf;

}  // namespace

void sgemm_packed(const SgemmMicroKernel& uk, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0 || scale_only(M, N, K, alpha, beta, C, ldc)) return;
  const int64_t kc_max = k_slice(uk, K);
  float* bp = t_b_buf.get(static_cast<size_t>(std::min<int64_t>(uk.nc, round_up(N, uk.nr)) * kc_max));
  float* ap = t_a_buf.get(static_cast<size_t>(std::min<int64_t>(uk.mc, round_up(M, uk.mr)) * kc_max));
  for (int64_t j0 = 0; j0 < N; j0 += uk.nc) {
    const int64_t nc = std::min<int64_t>(uk.nc, N - j0);
    for (int64_t p0 = 0; p0 < K; p0 += kc_max) {
      const int64_t kc = std::min<int64_t>(kc_max, K - p0);
      // The first slice of K applies beta; later slices accumulate onto it.
      const float b_eff = p0 == 0 ? beta : 1.0f;
      sgemm_pack_b(tb, B, ldb, j0, nc, p0, kc, uk.nr, bp);
      for (int64_t i0 = 0; i0 < M; i0 += uk.mc) {
        const int64_t mc = std::min<int64_t>(uk.mc, M - i0);
        sgemm_pack_a(ta, A, lda, i0, mc, p0, kc, uk.mr, ap);
        block_product(uk, mc, nc, kc, ap, bp, C + i0 * ldc + j0, ldc, alpha, b_eff);
      }
    }
  }
}

// Layout: the K slices one after the other; slice [p0, p0 + kc) holds the nr-column
// panels of all N columns, so it starts at p0 * round_up(N, nr).
size_t sgemm_prepacked_b_floats(const SgemmMicroKernel& uk, int64_t K, int64_t N) {
  return static_cast<size_t>(std::max<int64_t>(K, 0) * round_up(std::max<int64_t>(N, 0), uk.nr));
}

void sgemm_prepack_b(const SgemmMicroKernel& uk, bool tb, const float* B, int64_t ldb, int64_t K, int64_t N,
                     float* out) {
  if (K <= 0 || N <= 0) return;
  const int64_t kc_max = k_slice(uk, K), n_pad = round_up(N, uk.nr);
  for (int64_t p0 = 0; p0 < K; p0 += kc_max)
    sgemm_pack_b(tb, B, ldb, 0, N, p0, std::min<int64_t>(kc_max, K - p0), uk.nr, out + p0 * n_pad);
}

void sgemm_packed_prepacked_b(const SgemmMicroKernel& uk, bool ta, int64_t M, int64_t N, int64_t K, float alpha,
                              const float* A, int64_t lda, const float* Bp, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0 || scale_only(M, N, K, alpha, beta, C, ldc)) return;
  const int64_t kc_max = k_slice(uk, K), n_pad = round_up(N, uk.nr);
  float* ap = t_a_buf.get(static_cast<size_t>(std::min<int64_t>(uk.mc, round_up(M, uk.mr)) * kc_max));
  for (int64_t p0 = 0; p0 < K; p0 += kc_max) {
    const int64_t kc = std::min<int64_t>(kc_max, K - p0);
    const float b_eff = p0 == 0 ? beta : 1.0f;
    for (int64_t i0 = 0; i0 < M; i0 += uk.mc) {
      const int64_t mc = std::min<int64_t>(uk.mc, M - i0);
      sgemm_pack_a(ta, A, lda, i0, mc, p0, kc, uk.mr, ap);
      block_product(uk, mc, N, kc, ap, Bp + p0 * n_pad, C + i0 * ldc, ldc, alpha, b_eff);
    }
  }
}

}  // namespace symnet
