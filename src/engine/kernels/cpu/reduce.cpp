// Axis reductions. The input is viewed as alternating groups of kept and reduced
// dimensions (size-1 dims dropped, adjacent dims of the same kind merged), which leaves
// two loop shapes:
//  A. last group reduced: each output reduces contiguous runs (row sums, softmax-like);
//  B. last group kept: each reduced offset adds a contiguous vector of outputs
//     (column sums, the bias-gradient pattern [N, H] -> [H]).
// Every reducer is an accumulator with add/merge/finish, so runs can be split across
// independent lanes (instruction-level parallelism) and threads (few outputs, long
// reductions) and merged. float32 sums accumulate in double.
#include "engine/kernels/cpu/reduce.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

// Integer sums/products accumulate in uint64_t: they wrap like two's complement instead
// of overflowing (undefined for signed types).
template <typename T>
using wide_t = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;

template <typename T>
struct SumR {
  using Acc = wide_t<T>;
  Acc init() const { return 0; }
  void add(Acc& a, T x) const { a += x; }
  void merge(Acc& a, const Acc& b) const { a += b; }
  T finish(const Acc& a, int64_t) const { return static_cast<T>(a); }
};

template <typename T>
struct MeanR : SumR<T> {
  T finish(const double& a, int64_t n) const { return static_cast<T>(a / static_cast<double>(n)); }
};

template <typename T>
struct ProdR {
  using Acc = wide_t<T>;
  Acc init() const { return 1; }
  void add(Acc& a, T x) const { a *= x; }
  void merge(Acc& a, const Acc& b) const { a *= b; }
  T finish(const Acc& a, int64_t) const { return static_cast<T>(a); }
};

template <typename T>
struct L1R : SumR<T> {
  void add(double& a, T x) const { a += std::abs(static_cast<double>(x)); }
};

template <typename T>
struct L2R : SumR<T> {
  void add(double& a, T x) const { a += static_cast<double>(x) * x; }
  T finish(const double& a, int64_t) const { return static_cast<T>(std::sqrt(a)); }
};

// NaN propagates: once the accumulator is NaN no comparison replaces it.
template <typename T, bool kMax>
struct ExtremeR {
  using Acc = T;
  Acc init() const {
    if constexpr (std::is_floating_point_v<T>)
      return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else
      return kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
  // Branch-free select so blocks of lanes vectorize.
  void add(Acc& a, T x) const {
    bool take = kMax ? x > a : x < a;
    if constexpr (std::is_floating_point_v<T>) take = take | (x != x);
    a = take ? x : a;
  }
  void merge(Acc& a, const Acc& b) const { add(a, b); }
  T finish(const Acc& a, int64_t) const { return a; }
};

// Online log-sum-exp: running max m and sum s of exp(x - m).
template <typename T>
struct LogSumExpR {
  struct Acc {
    double m, s;
  };
  Acc init() const { return {-std::numeric_limits<double>::infinity(), 0.0}; }
  static double scale(double from, double to) { return from == to ? 1.0 : std::exp(from - to); }
  void add(Acc& a, T xv) const {
    double x = xv;
    if (x > a.m) {
      a.s = a.s * scale(a.m, x) + 1.0;
      a.m = x;
    } else {
      a.s += scale(x, a.m);  // NaN x makes s NaN
    }
  }
  void merge(Acc& a, const Acc& b) const {
    if (b.s == 0) return;
    if (a.s == 0) {
      a = b;
      return;
    }
    double m = std::max(a.m, b.m);
    if (std::isnan(a.m) || std::isnan(b.m)) m = std::nan("");
    a.s = a.s * scale(a.m, m) + b.s * scale(b.m, m);
    a.m = m;
  }
  T finish(const Acc& a, int64_t) const {
    if (a.s == 0) return static_cast<T>(-std::numeric_limits<double>::infinity());
    return static_cast<T>(a.m + std::log(a.s));
  }
};

// Welford's running mean/M2 with Chan's merge: stable for data far from zero.
template <typename T>
struct VarianceR {
  double correction = 0;
  struct Acc {
    double n, mean, m2;
  };
  Acc init() const { return {0, 0, 0}; }
  void add(Acc& a, T xv) const {
    double x = xv;
    a.n += 1;
    double d = x - a.mean;
    a.mean += d / a.n;
    a.m2 += d * (x - a.mean);
  }
  void merge(Acc& a, const Acc& b) const {
    if (b.n == 0) return;
    if (a.n == 0) {
      a = b;
      return;
    }
    double n = a.n + b.n, d = b.mean - a.mean;
    a.mean += d * b.n / n;
    a.m2 += b.m2 + d * d * a.n * b.n / n;
    a.n = n;
  }
  T finish(const Acc& a, int64_t n) const {
    return static_cast<T>(a.m2 / (static_cast<double>(n) - correction));
  }
};

struct Dim {
  int64_t size, stride;
};

// Row-major multi-index over dims, tracking the element offset.
struct OffsetCounter {
  const std::vector<Dim>& dims;
  std::vector<int64_t> idx;
  int64_t off = 0;
  OffsetCounter(const std::vector<Dim>& d, int64_t linear) : dims(d), idx(d.size(), 0) {
    for (int64_t i = static_cast<int64_t>(dims.size()) - 1; i >= 0; --i) {
      idx[i] = linear % dims[i].size;
      linear /= dims[i].size;
      off += idx[i] * dims[i].stride;
    }
  }
  void next() {
    for (int64_t i = static_cast<int64_t>(dims.size()) - 1; i >= 0; --i) {
      off += dims[i].stride;
      if (++idx[i] < dims[i].size) return;
      off -= dims[i].stride * dims[i].size;
      idx[i] = 0;
    }
  }
};

std::vector<int64_t> all_offsets(const std::vector<Dim>& dims) {
  int64_t n = 1;
  for (const Dim& d : dims) n *= d.size;
  std::vector<int64_t> out(static_cast<size_t>(n));
  OffsetCounter c(dims, 0);
  for (int64_t i = 0; i < n; ++i, c.next()) out[i] = c.off;
  return out;
}

constexpr int kLanes = 8;  // fixed-size inner blocks: GCC vectorizes them at -O2

// Reduces a contiguous run into `acc` with independent lanes.
template <typename R, typename T>
void reduce_run(const R& rd, const T* p, int64_t n, typename R::Acc& acc) {
  using Acc = typename R::Acc;
  if (n < 4 * kLanes) {
    for (int64_t i = 0; i < n; ++i) rd.add(acc, p[i]);
    return;
  }
  Acc lane[kLanes];
  for (int l = 0; l < kLanes; ++l) lane[l] = rd.init();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) rd.add(lane[l], p[i + l]);
  for (; i < n; ++i) rd.add(lane[0], p[i]);
  for (int l = 0; l < kLanes; ++l) rd.merge(acc, lane[l]);
}

// acc[j] += p[j] for j < n, in vectorizable blocks.
template <typename R, typename T>
void add_columns(const R& rd, typename R::Acc* acc, const T* p, int64_t n) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) rd.add(acc[j + l], p[j + l]);
  for (; j < n; ++j) rd.add(acc[j], p[j]);
}

constexpr int64_t kGrain = 32768;  // elements of work per thread worth a fork

template <typename R, typename T>
void run_reduce(const R& rd, const T* x, T* y, const Shape& shape, const std::vector<int64_t>& axes) {
  using Acc = typename R::Acc;
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<bool> red(rank, false);
  for (int64_t a : axes) red[a] = true;
  int64_t total = 1, R_count = 1, O = 1;
  for (int64_t d = 0; d < rank; ++d) {
    total *= shape[d];
    (red[d] ? R_count : O) *= shape[d];
  }
  if (O == 0) return;
  if (total == 0) {
    for (int64_t o = 0; o < O; ++o) y[o] = rd.finish(rd.init(), 0);
    return;
  }
  // Collapse into alternating groups (innermost last).
  std::vector<Dim> groups;
  std::vector<bool> gred;
  std::vector<int64_t> strides = shape_strides(shape);
  for (int64_t d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    if (!groups.empty() && gred.back() == red[d]) {
      groups.back().size *= shape[d];
      groups.back().stride = strides[d];
    } else {
      groups.push_back({shape[d], strides[d]});
      gred.push_back(red[d]);
    }
  }
  std::vector<Dim> kept, reduced;
  const bool last_reduced = !groups.empty() && gred.back();
  const int64_t inner = groups.empty() ? 1 : groups.back().size;
  for (size_t g = 0; g + 1 < groups.size(); ++g) (gred[g] ? reduced : kept).push_back(groups[g]);
  std::vector<int64_t> roffs = all_offsets(reduced);
  const int64_t nruns = static_cast<int64_t>(roffs.size());
  const int threads = engine_num_threads();

  if (last_reduced) {
    // A: out[o] = reduce over runs r of x[base(o) + roffs[r] + 0..inner).
    if (O >= threads || R_count < 4 * kGrain) {
      parallel_for(O, std::max<int64_t>(1, kGrain / R_count), [&](int64_t b, int64_t e) {
        OffsetCounter c(kept, b);
        for (int64_t o = b; o < e; ++o, c.next()) {
          Acc acc = rd.init();
          for (int64_t r = 0; r < nruns; ++r) reduce_run(rd, x + c.off + roffs[r], inner, acc);
          y[o] = rd.finish(acc, R_count);
        }
      });
      return;
    }
    // Few long reductions: split each over threads and merge the partial accumulators.
    std::vector<Acc> part(threads);
    for (int64_t o = 0; o < O; ++o) {
      int64_t base = OffsetCounter(kept, o).off;
      int64_t chunk = (R_count + threads - 1) / threads;
      parallel_for(threads, 1, [&](int64_t tb, int64_t te) {
        for (int64_t t = tb; t < te; ++t) {
          Acc acc = rd.init();
          int64_t q = t * chunk, qe = std::min(R_count, q + chunk);
          while (q < qe) {
            int64_t run = q / inner, pos = q % inner, n = std::min(inner - pos, qe - q);
            reduce_run(rd, x + base + roffs[run] + pos, n, acc);
            q += n;
          }
          part[t] = acc;
        }
      });
      Acc acc = rd.init();
      for (int t = 0; t < threads; ++t) rd.merge(acc, part[t]);
      y[o] = rd.finish(acc, R_count);
    }
    return;
  }

  // B: out[o, j] = reduce over r of x[base(o) + roffs[r] + j], j contiguous. Column
  // chunks are wide so each reduced row is streamed, not visited in short strided pieces.
  const int64_t J = inner, Oo = O / J;
  int64_t per_o = (J + 8191) / 8192;
  if (Oo * per_o < threads && total >= 4 * kGrain) per_o = std::min((threads + Oo - 1) / Oo, (J + 63) / 64);
  const int64_t W = (J + per_o - 1) / per_o, nb = (J + W - 1) / W, tasks = Oo * nb;
  if (tasks >= threads || nruns < 4 * threads || total < 4 * kGrain) {
    parallel_for(tasks, std::max<int64_t>(1, kGrain / (nruns * W)), [&](int64_t b, int64_t e) {
      std::vector<Acc> acc(static_cast<size_t>(W));
      for (int64_t t = b; t < e; ++t) {
        int64_t o = t / nb, j0 = (t % nb) * W, jn = std::min(W, J - j0);
        int64_t base = OffsetCounter(kept, o).off + j0;
        std::fill(acc.begin(), acc.begin() + jn, rd.init());
        for (int64_t r = 0; r < nruns; ++r) add_columns(rd, acc.data(), x + base + roffs[r], jn);
        T* yo = y + o * J + j0;
        for (int64_t j = 0; j < jn; ++j) yo[j] = rd.finish(acc[j], R_count);
      }
    });
    return;
  }
  // Few outputs, many reduced rows (e.g. [1e6, 4] -> [4]): each thread takes a slice of
  // the reduced rows for all outputs; partials are merged at the end.
  std::vector<std::vector<Acc>> part(threads, std::vector<Acc>(O, rd.init()));
  int64_t chunk = (nruns + threads - 1) / threads;
  parallel_for(threads, 1, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; ++t) {
      std::vector<Acc>& acc = part[t];
      int64_t rb = t * chunk, re = std::min(nruns, rb + chunk);
      OffsetCounter c(kept, 0);
      for (int64_t o = 0; o < Oo; ++o, c.next())
        for (int64_t r = rb; r < re; ++r) add_columns(rd, acc.data() + o * J, x + c.off + roffs[r], J);
    }
  });
  for (int64_t o = 0; o < O; ++o) {
    Acc acc = rd.init();
    for (int t = 0; t < threads; ++t) rd.merge(acc, part[t][o]);
    y[o] = rd.finish(acc, R_count);
  }
}

template <typename T>
void reduce_typed(ReduceKind kind, const T* x, T* y, const Shape& s, const std::vector<int64_t>& axes,
                  double correction) {
  switch (kind) {
    case ReduceKind::sum: return run_reduce(SumR<T>{}, x, y, s, axes);
    case ReduceKind::prod: return run_reduce(ProdR<T>{}, x, y, s, axes);
    case ReduceKind::max: return run_reduce(ExtremeR<T, true>{}, x, y, s, axes);
    case ReduceKind::min: return run_reduce(ExtremeR<T, false>{}, x, y, s, axes);
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (kind) {
      case ReduceKind::mean: return run_reduce(MeanR<T>{}, x, y, s, axes);
      case ReduceKind::l1: return run_reduce(L1R<T>{}, x, y, s, axes);
      case ReduceKind::l2: return run_reduce(L2R<T>{}, x, y, s, axes);
      case ReduceKind::logsumexp: return run_reduce(LogSumExpR<T>{}, x, y, s, axes);
      case ReduceKind::variance: {
        VarianceR<T> v;
        v.correction = correction;
        return run_reduce(v, x, y, s, axes);
      }
      default: break;
    }
  }
  SN_THROW(ErrorKind::dtype, "this reduction needs a floating-point input");
}

}  // namespace

void reduce_cpu(ReduceKind kind, const TensorView& x, const TensorView& y, const std::vector<int64_t>& axes,
                double correction) {
  switch (x.dtype) {
    case DType::f32: return reduce_typed(kind, x.ptr<float>(), y.ptr<float>(), x.shape, axes, correction);
    case DType::f64: return reduce_typed(kind, x.ptr<double>(), y.ptr<double>(), x.shape, axes, correction);
    case DType::i32: return reduce_typed(kind, x.ptr<int32_t>(), y.ptr<int32_t>(), x.shape, axes, correction);
    case DType::i64: return reduce_typed(kind, x.ptr<int64_t>(), y.ptr<int64_t>(), x.shape, axes, correction);
    default: break;
  }
  SN_THROW(ErrorKind::dtype, "no CPU reduction kernel for dtype " << dtype_name(x.dtype));
}

void split_at_axis(const Shape& shape, int64_t axis, int64_t& outer, int64_t& n, int64_t& inner) {
  outer = 1;
  inner = 1;
  n = shape.empty() ? 1 : shape[axis];
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis) outer *= shape[d];
    if (d > axis) inner *= shape[d];
  }
}

namespace {

template <typename T>
bool better(T v, T best, bool is_max, bool last) {
  if constexpr (std::is_floating_point_v<T>) {
    if (best != best) return false;  // a NaN already won
    if (v != v) return true;
  }
  if (last) return is_max ? v >= best : v <= best;
  return is_max ? v > best : v < best;
}

}  // namespace

void argreduce_cpu(bool is_max, const TensorView& x, const TensorView& y, int64_t axis, bool select_last) {
  int64_t outer, n, inner;
  split_at_axis(x.shape, axis, outer, n, inner);
  SN_CHECK(n > 0 || outer * inner == 0, ErrorKind::value, "cannot take the arg-extreme of an empty axis");
  int64_t* yp = y.ptr<int64_t>();
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      SN_THROW(ErrorKind::dtype, "arg-reductions are not defined for bool");
    } else {
      const T* xp = x.ptr<T>();
      if (inner == 1) {
        parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) {
            const T* p = xp + o * n;
            T best = p[0];
            int64_t bi = 0;
            for (int64_t k = 1; k < n; ++k)
              if (better(p[k], best, is_max, select_last)) {
                best = p[k];
                bi = k;
              }
            yp[o] = bi;
          }
        });
        return;
      }
      // Strided axis: compare whole rows of `inner` candidates so reads stay contiguous.
      constexpr int64_t JB = 1024;
      const int64_t nb = (inner + JB - 1) / JB;
      parallel_for(outer * nb, std::max<int64_t>(1, kGrain / (n * std::min(inner, JB))), [&](int64_t b, int64_t e) {
        std::vector<T> best(JB);
        for (int64_t t = b; t < e; ++t) {
          int64_t o = t / nb, j0 = (t % nb) * JB, jn = std::min(JB, inner - j0);
          const T* p = xp + o * n * inner + j0;
          int64_t* yo = yp + o * inner + j0;
          for (int64_t j = 0; j < jn; ++j) {
            best[j] = p[j];
            yo[j] = 0;
          }
          for (int64_t k = 1; k < n; ++k) {
            const T* row = p + k * inner;
            for (int64_t j = 0; j < jn; ++j)
              if (better(row[j], best[j], is_max, select_last)) {
                best[j] = row[j];
                yo[j] = k;
              }
          }
        }
      });
    }
  });
}

void cumsum_cpu(const TensorView& x, const TensorView& y, int64_t axis, bool exclusive, bool reverse) {
  int64_t outer, n, inner;
  split_at_axis(x.shape, axis, outer, n, inner);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, uint8_t>) {
      SN_THROW(ErrorKind::dtype, "cumsum is not defined for " << dtype_name(x.dtype));
    } else {
      using W = wide_t<T>;
      const T* xp = x.ptr<T>();
      T* yp = y.ptr<T>();
      const int64_t first = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
      if (inner == 1) {
        parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) {
            const T* p = xp + o * n;
            T* q = yp + o * n;
            W acc = 0;
            for (int64_t k = 0, i = first; k < n; ++k, i += step) {
              T v = p[i];  // read before write: in-place safe
              if (exclusive) {
                q[i] = static_cast<T>(acc);
                acc += v;
              } else {
                acc += v;
                q[i] = static_cast<T>(acc);
              }
            }
          }
        });
        return;
      }
      // Strided axis: scan whole inner vectors so memory is read contiguously.
      constexpr int64_t JB = 2048;
      const int64_t nb = (inner + JB - 1) / JB;
      parallel_for(outer * nb, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, n * std::min(inner, JB))), [&](int64_t b, int64_t e) {
        std::vector<W> acc(JB);
        for (int64_t t = b; t < e; ++t) {
          int64_t o = t / nb, j0 = (t % nb) * JB, jn = std::min(JB, inner - j0);
          std::fill(acc.begin(), acc.begin() + jn, W(0));
          for (int64_t k = 0, i = first; k < n; ++k, i += step) {
            const T* p = xp + (o * n + i) * inner + j0;
            T* q = yp + (o * n + i) * inner + j0;
            if (exclusive) {
              for (int64_t j = 0; j < jn; ++j) {
                T v = p[j];
                q[j] = static_cast<T>(acc[j]);
                acc[j] += v;
              }
            } else {
              for (int64_t j = 0; j < jn; ++j) {
                acc[j] += p[j];
                q[j] = static_cast<T>(acc[j]);
              }
            }
          }
        }
      });
    }
  });
}

}  // namespace symnet
