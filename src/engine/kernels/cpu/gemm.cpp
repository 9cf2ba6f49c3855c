// Matrix products. Floating-point products go through blas.h (the system BLAS when it is
// an optimized one, else Eigen), split over the engine's threads: one large product by
// blocks of rows/columns, many small ones over the batch. Integer products use Eigen's
// generic GEMM directly.
#include "engine/kernels/cpu/gemm.h"

#include <Eigen/Core>
#include <type_traits>
#include <vector>

#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// c[M, N] (=|+=) alpha * op(a) * op(b) on the calling thread. a is stored [M, K] ([K, M]
// when ta), b [K, N] ([N, K] when tb).
template <typename T>
void gemm_one(const T* a, const T* b, T* c, int64_t M, int64_t K, int64_t N, bool ta, bool tb, T alpha,
              bool accumulate) {
  if (M == 0 || N == 0) return;
  if constexpr (std::is_floating_point_v<T>) {
    gemm_rowmajor(ta, tb, M, N, K, alpha, a, ta ? M : K, b, tb ? K : N, accumulate ? T(1) : T(0), c, N);
  } else {
    Eigen::Map<RowMat<T>> C(c, M, N);
    if (!accumulate) C.setZero();
    if (K == 0) return;
    Eigen::Map<const RowMat<T>> A(a, ta ? K : M, ta ? M : K);
    Eigen::Map<const RowMat<T>> B(b, tb ? N : K, tb ? K : N);
    Eigen::setNbThreads(1);  // callers split the work over threads
    if (!ta && !tb) C.noalias() += alpha * (A * B);
    else if (ta && !tb) C.noalias() += alpha * (A.transpose() * B);
    else if (!ta && tb) C.noalias() += alpha * (A * B.transpose());
    else C.noalias() += alpha * (A.transpose() * B.transpose());
  }
}

// One product using all engine threads.
template <typename T>
void gemm_big(const T* a, const T* b, T* c, int64_t M, int64_t K, int64_t N, bool ta, bool tb, T alpha,
              bool accumulate) {
  if (M == 0 || N == 0) return;
  if constexpr (std::is_floating_point_v<T>) {
    gemm_rowmajor_parallel<T>(ta, tb, M, N, K, alpha, a, ta ? M : K, b, tb ? K : N, accumulate ? T(1) : T(0), c,
                              N);
  } else {
    // Integer products (matmul only, never transposed) split by rows of c.
    if (ta) return gemm_one<T>(a, b, c, M, K, N, ta, tb, alpha, accumulate);
    parallel_for(M, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, K * N)), [&](int64_t s, int64_t e) {
      gemm_one<T>(a + s * K, b, c + s * N, e - s, K, N, ta, tb, alpha, accumulate);
    });
  }
}

template <typename T>
void matmul_typed(const TensorView& av, const TensorView& bv, const TensorView& yv) {
  const Shape& as = av.shape;
  const Shape& bs = bv.shape;
  const int64_t ra = static_cast<int64_t>(as.size()), rb = static_cast<int64_t>(bs.size());
  const int64_t M = ra >= 2 ? as[ra - 2] : 1, K = as[ra - 1];
  const int64_t N = rb >= 2 ? bs[rb - 1] : 1;
  Shape abatch(as.begin(), as.end() - std::min<int64_t>(ra, 2));
  Shape bbatch(bs.begin(), bs.end() - std::min<int64_t>(rb, 2));
  const size_t nb = std::max(abatch.size(), bbatch.size());
  abatch.insert(abatch.begin(), nb - abatch.size(), 1);
  bbatch.insert(bbatch.begin(), nb - bbatch.size(), 1);
  Shape obatch(nb);
  int64_t batch = 1, na = 1, nbb = 1;
  for (size_t d = 0; d < nb; ++d) {
    obatch[d] = std::max(abatch[d], bbatch[d]);
    if (abatch[d] == 0 || bbatch[d] == 0) obatch[d] = 0;
    batch *= obatch[d];
    na *= abatch[d];
    nbb *= bbatch[d];
  }
  const T* a = av.ptr<T>();
  const T* b = bv.ptr<T>();
  T* y = yv.ptr<T>();
  if (batch == 0) return;
  // b shared by every batch entry: one [batch*M, K] x [K, N] product.
  if (nbb == 1 && na == batch) {
    gemm_big<T>(a, b, y, batch * M, K, N, false, false, T(1), false);
    return;
  }
  // Per-batch element offsets (0 along broadcast dims).
  std::vector<int64_t> aoff(batch), boff(batch);
  {
    std::vector<int64_t> idx(nb, 0);
    for (int64_t i = 0; i < batch; ++i) {
      int64_t oa = 0, ob = 0;
      for (size_t d = 0; d < nb; ++d) {
        oa = oa * abatch[d] + (abatch[d] == 1 ? 0 : idx[d]);
        ob = ob * bbatch[d] + (bbatch[d] == 1 ? 0 : idx[d]);
      }
      aoff[i] = oa * M * K;
      boff[i] = ob * K * N;
      for (int64_t d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
        if (++idx[d] < obatch[d]) break;
        idx[d] = 0;
      }
    }
  }
  const double flops = static_cast<double>(M) * K * N;
  const int threads = engine_num_threads();
  if (flops < 128.0 * 128 * 128 || batch >= 4 * threads) {
    BlasSerialScope serial;  // the batch is split over threads; the library must not also
    parallel_for(batch, std::max<int64_t>(1, static_cast<int64_t>(65536.0 / std::max(flops, 1.0))),
                 [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        gemm_one<T>(a + aoff[i], b + boff[i], y + i * M * N, M, K, N, false, false, T(1), false);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i)
      gemm_big<T>(a + aoff[i], b + boff[i], y + i * M * N, M, K, N, false, false, T(1), false);
  }
}

template <typename T>
void gemm_typed(const TensorView& av, const TensorView& bv, const TensorView* cv, const TensorView& yv,
                double alpha, double beta, bool ta, bool tb) {
  const int64_t M = yv.shape[0], N = yv.shape[1];
  const int64_t K = ta ? av.shape[0] : av.shape[1];
  T* y = yv.ptr<T>();
  bool acc = false;
  if (cv && beta != 0 && M * N > 0) {
    const Shape& cs = cv->shape;
    const int64_t cr = static_cast<int64_t>(cs.size());
    const int64_t cm = cr >= 2 ? cs[cr - 2] : 1, cn = cr >= 1 ? cs[cr - 1] : 1;
    const int64_t s0 = cm == 1 ? 0 : cn, s1 = cn == 1 ? 0 : 1;
    const T* c = cv->ptr<T>();
    const T bt = static_cast<T>(beta);
    parallel_for(M, std::max<int64_t>(1, 32768 / std::max<int64_t>(N, 1)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        for (int64_t j = 0; j < N; ++j) y[i * N + j] = bt * c[i * s0 + j * s1];
    });
    acc = true;
  }
  gemm_big<T>(av.ptr<T>(), bv.ptr<T>(), y, M, K, N, ta, tb, static_cast<T>(alpha), acc);
}

}  // namespace

void matmul_cpu(const TensorView& a, const TensorView& b, const TensorView& y) {
  switch (a.dtype) {
    case DType::f32: return matmul_typed<float>(a, b, y);
    case DType::f64: return matmul_typed<double>(a, b, y);
    case DType::i32: return matmul_typed<int32_t>(a, b, y);
    case DType::i64: return matmul_typed<int64_t>(a, b, y);
    default: break;
  }
  SN_THROW(ErrorKind::dtype, "no CPU matmul kernel for dtype " << dtype_name(a.dtype));
}

void gemm_cpu(const TensorView& a, const TensorView& b, const TensorView* c, const TensorView& y, double alpha,
              double beta, bool trans_a, bool trans_b) {
  switch (a.dtype) {
    case DType::f32: return gemm_typed<float>(a, b, c, y, alpha, beta, trans_a, trans_b);
    case DType::f64: return gemm_typed<double>(a, b, c, y, alpha, beta, trans_a, trans_b);
    default: break;
  }
  SN_THROW(ErrorKind::dtype, "no CPU gemm kernel for dtype " << dtype_name(a.dtype));
}

}  // namespace symnet
