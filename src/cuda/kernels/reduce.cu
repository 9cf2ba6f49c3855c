// Axis reductions on CUDA with the CPU's accumulators (kernels/cpu/reduce.cpp): floats sum in
// double, integers wrap in 64 bits, max/min propagate NaN, logsumexp is online, variance is
// Welford's with Chan's merge. Outputs whose innermost input dimension is kept take one
// thread each (adjacent outputs read adjacent memory; few outputs with long reductions take
// eight threads each); the others one block each, merging per-thread partials in a fixed
// order, so results do not vary between runs. Also sum_to (bias gradients) and
// argmax/argmin.
#include <cmath>
#include <limits>
#include <vector>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/strided_index.h"
#include "engine/math/reduce_kind.h"

namespace symnet {
namespace cuda {

namespace {

template <class T>
using wide_t = std::conditional_t<std::is_floating_point_v<T>, double, unsigned long long>;

template <class T>
struct SumR {
  using Acc = wide_t<T>;
  __device__ Acc init() const { return 0; }
  __device__ void add(Acc& a, T x) const { a += static_cast<Acc>(x); }
  __device__ void merge(Acc& a, const Acc& b) const { a += b; }
  __device__ T finish(const Acc& a, int64_t) const { return static_cast<T>(a); }
};
template <class T>
struct MeanR : SumR<T> {
  __device__ T finish(const double& a, int64_t n) const { return static_cast<T>(a / static_cast<double>(n)); }
};
template <class T>
struct ProdR {
  using Acc = wide_t<T>;
  __device__ Acc init() const { return 1; }
  __device__ void add(Acc& a, T x) const { a *= static_cast<Acc>(x); }
  __device__ void merge(Acc& a, const Acc& b) const { a *= b; }
  __device__ T finish(const Acc& a, int64_t) const { return static_cast<T>(a); }
};
template <class T>
struct L1R : SumR<T> {
  __device__ void add(double& a, T x) const { a += fabs(static_cast<double>(x)); }
};
template <class T>
struct L2R : SumR<T> {
  __device__ void add(double& a, T x) const { a += static_cast<double>(x) * static_cast<double>(x); }
  __device__ T finish(const double& a, int64_t) const { return static_cast<T>(sqrt(a)); }
};
template <class T, bool kMax>
struct ExtremeR {
  using Acc = T;
  // The identity, set on the host (numeric_limits is host-only): -inf/+inf, or the type's range.
  T start = T(0);
  static ExtremeR make() {
    ExtremeR r;
    if constexpr (std::is_floating_point_v<T>)
      r.start = kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else
      r.start = kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    return r;
  }
  __device__ Acc init() const { return start; }
  __device__ void add(Acc& a, T x) const {
    bool take = kMax ? x > a : x < a;
    if constexpr (std::is_floating_point_v<T>) take = take || (x != x);
    a = take ? x : a;
  }
  __device__ void merge(Acc& a, const Acc& b) const {
    if constexpr (std::is_floating_point_v<T>)
      if (a != a) return;  // a NaN already won
    add(a, b);
  }
  __device__ T finish(const Acc& a, int64_t) const { return a; }
};
template <class T>
struct LogSumExpR {
  struct Acc {
    double m, s;
  };
  __device__ Acc init() const { return {-INFINITY, 0.0}; }
  __device__ static double scale(double from, double to) { return from == to ? 1.0 : exp(from - to); }
  __device__ void add(Acc& a, T xv) const {
    const double x = xv;
    if (x > a.m) {
      a.s = a.s * scale(a.m, x) + 1.0;
      a.m = x;
    } else {
      a.s += scale(x, a.m);
    }
  }
  __device__ void merge(Acc& a, const Acc& b) const {
    if (b.s == 0) return;
    if (a.s == 0) {
      a = b;
      return;
    }
    double m = fmax(a.m, b.m);
    if (isnan(a.m) || isnan(b.m)) m = NAN;
    a.s = a.s * scale(a.m, m) + b.s * scale(b.m, m);
    a.m = m;
  }
  __device__ T finish(const Acc& a, int64_t) const {
    if (a.s == 0) return static_cast<T>(-INFINITY);
    return static_cast<T>(a.m + log(a.s));
  }
};
template <class T>
struct VarianceR {
  double correction = 0;
  struct Acc {
    double n, mean, m2;
  };
  __device__ Acc init() const { return {0, 0, 0}; }
  __device__ void add(Acc& a, T xv) const {
    const double x = xv;
    a.n += 1;
    const double d = x - a.mean;
    a.mean += d / a.n;
    a.m2 += d * (x - a.mean);
  }
  __device__ void merge(Acc& a, const Acc& b) const {
    if (b.n == 0) return;
    if (a.n == 0) {
      a = b;
      return;
    }
    const double n = a.n + b.n, d = b.mean - a.mean;
    a.mean += d * b.n / n;
    a.m2 += b.m2 + d * d * a.n * b.n / n;
    a.n = n;
  }
  __device__ T finish(const Acc& a, int64_t n) const {
    return static_cast<T>(a.m2 / (static_cast<double>(n) - correction));
  }
};

// One thread per output.
template <class R, class T>
__global__ void reduce_thread_kernel(R rd, const T* x, T* y, ReducePlan p) {
  for (int64_t o = global_thread(); o < p.kept; o += grid_threads()) {
    const int64_t base = p.kept_offset(o);
    typename R::Acc acc = rd.init();
    for (int64_t r = 0; r < p.reduced; ++r) rd.add(acc, x[base + p.reduced_offset(r)]);
    y[o] = rd.finish(acc, p.reduced);
  }
}

constexpr int kReduceThreads = 256;

// One block per output; partials merged by a shared-memory tree.
template <class R, class T>
__global__ void reduce_block_kernel(R rd, const T* x, T* y, ReducePlan p) {
  using Acc = typename R::Acc;
  __shared__ Acc part[kReduceThreads];
  for (int64_t o = blockIdx.x; o < p.kept; o += gridDim.x) {
    const int64_t base = p.kept_offset(o);
    Acc acc = rd.init();
    for (int64_t r = threadIdx.x; r < p.reduced; r += blockDim.x) rd.add(acc, x[base + p.reduced_offset(r)]);
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = kReduceThreads / 2; s > 0; s >>= 1) {
      if (static_cast<int>(threadIdx.x) < s) rd.merge(part[threadIdx.x], part[threadIdx.x + s]);
      __syncthreads();
    }
    if (threadIdx.x == 0) y[o] = rd.finish(part[0], p.reduced);
    __syncthreads();
  }
}

// Tiles of 32 neighbouring outputs (innermost dimension kept) whose long reductions are
// split over 8 rows of threads, merged in row order: more threads for few outputs.
constexpr int kTileOut = 32, kTileRows = 8;

template <class R, class T>
__global__ void reduce_tile_kernel(R rd, const T* x, T* y, ReducePlan p) {
  using Acc = typename R::Acc;
  __shared__ Acc part[kTileRows][kTileOut];
  const int64_t tiles = (p.kept + kTileOut - 1) / kTileOut;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t o = tile * kTileOut + threadIdx.x;
    Acc acc = rd.init();
    if (o < p.kept) {
      const int64_t base = p.kept_offset(o);
      for (int64_t r = threadIdx.y; r < p.reduced; r += kTileRows) rd.add(acc, x[base + p.reduced_offset(r)]);
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && o < p.kept) {
      Acc total = part[0][threadIdx.x];
      for (int j = 1; j < kTileRows; ++j) rd.merge(total, part[j][threadIdx.x]);
      y[o] = rd.finish(total, p.reduced);
    }
    __syncthreads();
  }
}

template <class T, class R>
void run_reduce(const KernelContext& k, const R& rd, const TensorView& x, const TensorView& y,
                const std::vector<int64_t>& axes) {
  ReducePlan p;
  SN_CHECK(make_reduce_plan(x.shape, axes, p), ErrorKind::unsupported,
           "CUDA reduction over " << shape_str(x.shape) << ": too many separate dimension groups");
  if (p.kept == 0) return;
  const cudaStream_t s = stream_of(k);
  // Few elements per output, or outputs that are neighbours in memory: a thread each.
  if (p.inner_kept && p.kept < 8192 && p.reduced >= 256) {
    const unsigned blocks =
        static_cast<unsigned>(std::min<int64_t>((p.kept + kTileOut - 1) / kTileOut, kMaxBlocks));
    reduce_tile_kernel<R, T><<<blocks, dim3(kTileOut, kTileRows), 0, s>>>(rd, x.ptr<const T>(), y.ptr<T>(), p);
  } else if (p.inner_kept || p.reduced < 64) {
    reduce_thread_kernel<R, T><<<blocks_for(p.kept), kThreads, 0, s>>>(rd, x.ptr<const T>(), y.ptr<T>(), p);
  } else {
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(p.kept, kMaxBlocks));
    reduce_block_kernel<R, T><<<blocks, kReduceThreads, 0, s>>>(rd, x.ptr<const T>(), y.ptr<T>(), p);
  }
  check_launch("reduction");
}

template <class T>
void reduce_typed(const KernelContext& k, ReduceKind kind, const std::vector<int64_t>& axes, double correction) {
  const TensorView &x = k.in[0], &y = k.out[0];
  switch (kind) {
    case ReduceKind::sum: return run_reduce<T>(k, SumR<T>{}, x, y, axes);
    case ReduceKind::prod: return run_reduce<T>(k, ProdR<T>{}, x, y, axes);
    case ReduceKind::max: return run_reduce<T>(k, ExtremeR<T, true>::make(), x, y, axes);
    case ReduceKind::min: return run_reduce<T>(k, ExtremeR<T, false>::make(), x, y, axes);
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (kind) {
      case ReduceKind::mean: return run_reduce<T>(k, MeanR<T>{}, x, y, axes);
      case ReduceKind::l1: return run_reduce<T>(k, L1R<T>{}, x, y, axes);
      case ReduceKind::l2: return run_reduce<T>(k, L2R<T>{}, x, y, axes);
      case ReduceKind::logsumexp: return run_reduce<T>(k, LogSumExpR<T>{}, x, y, axes);
      case ReduceKind::variance: {
        VarianceR<T> v;
        v.correction = correction;
        return run_reduce<T>(k, v, x, y, axes);
      }
      default: break;
    }
  }
  SN_THROW(ErrorKind::dtype, "this reduction needs a floating-point input");
}

void dispatch_reduce(const KernelContext& k, ReduceKind kind, const std::vector<int64_t>& axes, double correction) {
  switch (k.in[0].dtype) {
    case DType::f32: return reduce_typed<float>(k, kind, axes, correction);
    case DType::f64: return reduce_typed<double>(k, kind, axes, correction);
    case DType::i32: return reduce_typed<int32_t>(k, kind, axes, correction);
    case DType::i64: return reduce_typed<int64_t>(k, kind, axes, correction);
    default: break;
  }
  SN_THROW(ErrorKind::dtype, "no CUDA reduction kernel for dtype " << dtype_name(k.in[0].dtype));
}

struct ReduceParams {
  ReduceKind kind = ReduceKind::sum;
  std::vector<int64_t> axes;  // as given; normalized against the input's rank at run time
  double correction = 0;
};

void reduce_kernel(KernelContext& k) {
  const ReduceParams& p = op_params<ReduceParams>(k);
  const int64_t rank = static_cast<int64_t>(k.in[0].shape.size());
  std::vector<int64_t> axes = normalize_axes(p.axes, rank);
  if (rank == 0) axes.clear();  // a scalar accepts axis 0 and reduces nothing
  dispatch_reduce(k, p.kind, axes, p.correction);
}

// y = x summed over the dimensions along which y (right-aligned) broadcasts to x.
void sum_to_kernel(KernelContext& k) {
  const Shape &xs = k.in[0].shape, &ys = k.out[0].shape;
  SN_CHECK(k.in[0].dtype != DType::boolean, ErrorKind::dtype, "sum_to is not defined for bool");
  const int64_t rank = static_cast<int64_t>(xs.size()), lead = rank - static_cast<int64_t>(ys.size());
  SN_CHECK(lead >= 0, ErrorKind::shape, "sum_to: " << shape_str(ys) << " has more dimensions than " << shape_str(xs));
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < rank; ++d)
    if (d < lead || (ys[d - lead] == 1 && xs[d] != 1)) axes.push_back(d);
  dispatch_reduce(k, ReduceKind::sum, axes, 0);
}

// ---- argmax / argmin -------------------------------------------------------------------------

template <class T>
__device__ bool better(T v, T best, bool is_max, bool last) {
  if constexpr (std::is_floating_point_v<T>) {
    if (best != best) return false;  // a NaN already won
    if (v != v) return true;
  }
  if (last) return is_max ? v >= best : v <= best;
  return is_max ? v > best : v < best;
}

template <class T>
__global__ void argreduce_dev(const T* x, int64_t* y, int64_t outer, int64_t n, int64_t inner, bool is_max,
                              bool last) {
  const int64_t total = outer * inner;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t o = t / inner, j = t - o * inner;
    const T* p = x + o * n * inner + j;
    T best = p[0];
    int64_t bi = 0;
    for (int64_t q = 1; q < n; ++q) {
      const T v = p[q * inner];
      if (better(v, best, is_max, last)) {
        best = v;
        bi = q;
      }
    }
    y[t] = bi;
  }
}

struct AxisParams {
  int64_t axis = 0;  // as given
  bool select_last = false;
};

template <bool IsMax>
void argreduce_kernel(KernelContext& k) {
  const AxisParams& p = op_params<AxisParams>(k);
  const TensorView& x = k.in[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const AxisSplit s = rank == 0 ? AxisSplit{} : split_axis(x.shape, normalize_axis(p.axis, rank));
  SN_CHECK(s.n > 0 || s.outer * s.inner == 0, ErrorKind::value, "cannot take the arg-extreme of an empty axis");
  const int64_t total = s.outer * s.inner;
  if (total == 0) return;
  dispatch_all(x.dtype, "arg-reduction", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      SN_THROW(ErrorKind::dtype, "arg-reductions are not defined for bool");
    } else {
      argreduce_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(x.ptr<const T>(), k.out[0].ptr<int64_t>(),
                                                                          s.outer, s.n, s.inner, IsMax, p.select_last);
      check_launch("argmax/argmin");
    }
  });
}

}  // namespace

void bind_reduce(Backend& b, DeviceContext* dev) {
  const std::pair<const char*, ReduceKind> reductions[] = {
      {"reduce_sum", ReduceKind::sum},   {"reduce_mean", ReduceKind::mean},
      {"reduce_prod", ReduceKind::prod}, {"reduce_max", ReduceKind::max},
      {"reduce_min", ReduceKind::min},   {"reduce_l1", ReduceKind::l1},
      {"reduce_l2", ReduceKind::l2},     {"reduce_logsumexp", ReduceKind::logsumexp},
      {"reduce_variance", ReduceKind::variance},
  };
  for (const auto& [name, kind] : reductions) {
    const ReduceKind kd = kind;
    b.add_kernel(name, cuda_kernel<ReduceParams>(reduce_kernel, dev, [kd](const Node& n) {
                   return ReduceParams{kd, n.attrs.get_ints("axes", {}), n.attrs.get_float("correction", 0)};
                 }));
  }
  b.add_kernel("sum_to", cuda_kernel(sum_to_kernel, dev));
  auto read_axis = [](const Node& n) {
    return AxisParams{n.attrs.get_int("axis", 0), n.attrs.get_int("select_last_index", 0) == 1};
  };
  b.add_kernel("argmax", cuda_kernel<AxisParams>(argreduce_kernel<true>, dev, read_axis));
  b.add_kernel("argmin", cuda_kernel<AxisParams>(argreduce_kernel<false>, dev, read_axis));
}

}  // namespace cuda
}  // namespace symnet
