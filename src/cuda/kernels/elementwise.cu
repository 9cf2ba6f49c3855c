// Elementwise ops on CUDA: the CPU's functors (math/elementwise_functors.h) applied by
// grid-stride kernels over NumPy-broadcast operands (strided_index.h), with the CPU's dtype
// sets, attribute defaults and in-place pairs. Also the byte-level ops (cast, copies,
// reshapes, broadcasts) and the generators fill, fill_like, range and eye.
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/strided_index.h"
#include "engine/kernels/cpu/elementwise.h"        // ElementwiseParams (header-only struct)
#include "engine/kernels/cpu/param_readers.h"      // the CPU's attribute readers
#include "engine/kernels/cpu/internal_kernels.h"   // FillParams
#include "engine/kernels/cpu/random_kernels.h"     // RandomParams
#include "engine/math/elementwise_functors.h"

namespace symnet {
namespace cuda {

namespace {

// ---- launch machinery -------------------------------------------------------------------

template <int N>
BroadcastIndex<N> plan_of(const KernelContext& k) {
  BroadcastIndex<N> ix;
  // The common flat case without building shape vectors: launches are cheap on the host.
  const int64_t n = k.out[0].numel();
  bool flat = true;
  for (int i = 0; i < N; ++i) {
    const int64_t m = k.in[i].numel();
    if (m == n) ix.step[i] = 1;
    else if (m == 1) ix.step[i] = 0;
    else flat = false;
  }
  if (flat) return ix;
  std::vector<Shape> ins;
  for (int i = 0; i < N; ++i) ins.push_back(k.in[i].shape);
  SN_CHECK(make_broadcast_index(k.out[0].shape, ins, ix), ErrorKind::shape,
           "CUDA elementwise kernel: operands do not broadcast to " << shape_str(k.out[0].shape)
                                                                     << " within " << kMaxIndexDims << " dimensions");
  return ix;
}

template <class TO, class TA, class F>
__global__ void map1_kernel(const TA* a, TO* y, int64_t n, BroadcastIndex<1> ix, F f) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t o[1];
    ix.offsets(i, o);
    y[i] = f(a[o[0]]);
  }
}

template <class TO, class TA, class TB, class F>
__global__ void map2_kernel(const TA* a, const TB* b, TO* y, int64_t n, BroadcastIndex<2> ix, F f) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t o[2];
    ix.offsets(i, o);
    y[i] = f(a[o[0]], b[o[1]]);
  }
}

template <class TO, class TC, class TA, class TB, class F>
__global__ void map3_kernel(const TC* c, const TA* a, const TB* b, TO* y, int64_t n, BroadcastIndex<3> ix, F f) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t o[3];
    ix.offsets(i, o);
    y[i] = f(c[o[0]], a[o[1]], b[o[2]]);
  }
}

template <class TO, class TA, class F>
void launch1(const KernelContext& k, const F& f) {
  const int64_t n = k.out[0].numel();
  if (n == 0) return;
  const BroadcastIndex<1> ix = plan_of<1>(k);
  map1_kernel<TO, TA, F><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(k.in[0].ptr<const TA>(), k.out[0].ptr<TO>(),
                                                                        n, ix, f);
  check_launch("elementwise kernel (1 operand)");
}

template <class TO, class TA, class TB, class F>
void launch2(const KernelContext& k, const F& f) {
  const int64_t n = k.out[0].numel();
  if (n == 0) return;
  const BroadcastIndex<2> ix = plan_of<2>(k);
  map2_kernel<TO, TA, TB, F><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(
      k.in[0].ptr<const TA>(), k.in[1].ptr<const TB>(), k.out[0].ptr<TO>(), n, ix, f);
  check_launch("elementwise kernel (2 operands)");
}

template <class TO, class TC, class TA, class TB, class F>
void launch3(const KernelContext& k, const F& f) {
  const int64_t n = k.out[0].numel();
  if (n == 0) return;
  const BroadcastIndex<3> ix = plan_of<3>(k);
  map3_kernel<TO, TC, TA, TB, F><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(
      k.in[0].ptr<const TC>(), k.in[1].ptr<const TA>(), k.in[2].ptr<const TB>(), k.out[0].ptr<TO>(), n, ix, f);
  check_launch("elementwise kernel (3 operands)");
}

// ---- dtype sets (those of the CPU kernels: kernels/cpu/elementwise.cpp) -------------------

enum class Types { floats, numeric, boolean };

template <class T, Types S>
constexpr bool accepts() {
  constexpr bool flt = std::is_floating_point_v<T>;
  constexpr bool num = flt || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;
  if constexpr (S == Types::floats) return flt;
  else if constexpr (S == Types::numeric) return num;
  else return std::is_same_v<T, bool>;
}

[[noreturn]] void bad_dtype(DType t) {
  SN_THROW(ErrorKind::dtype, "no CUDA elementwise kernel for dtype " << dtype_name(t)
                                                                     << " (shape inference should have rejected it)");
}

template <Types S, class F>
void run_unary(const KernelContext& k, const F& f) {
  dispatch_all(k.in[0].dtype, "elementwise", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (accepts<T, S>()) launch1<T, T>(k, f);
    else bad_dtype(k.in[0].dtype);
  });
}
template <Types S, class F>
void unary_kernel(KernelContext& k) {
  run_unary<S>(k, F{});
}
template <Types S, class F>
void predicate_kernel(KernelContext& k) {
  dispatch_all(k.in[0].dtype, "elementwise", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (accepts<T, S>()) launch1<bool, T>(k, F{});
    else bad_dtype(k.in[0].dtype);
  });
}
template <Types S, class F>
void run_binary(const KernelContext& k, const F& f) {
  dispatch_all(k.in[0].dtype, "elementwise", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (accepts<T, S>()) launch2<T, T, T>(k, f);
    else bad_dtype(k.in[0].dtype);
  });
}
template <Types S, class F>
void binary_kernel(KernelContext& k) {
  run_binary<S>(k, F{});
}
template <class F>
void compare_kernel(KernelContext& k) {
  dispatch_all(k.in[0].dtype, "comparison", [&](auto tag) {
    using T = decltype(tag);
    launch2<bool, T, T>(k, F{});
  });
}

const ElementwiseParams& ew_params(const KernelContext& k) { return op_params<ElementwiseParams>(k); }

void hard_sigmoid_kernel(KernelContext& k) {
  fn::HardSigmoidF f;
  f.alpha = ew_params(k).alpha;
  f.beta = ew_params(k).beta;
  run_unary<Types::floats>(k, f);
}
void leaky_relu_kernel(KernelContext& k) {
  fn::LeakyReluF f;
  f.alpha = ew_params(k).alpha;
  run_unary<Types::floats>(k, f);
}
void elu_kernel(KernelContext& k) {
  fn::EluF f;
  f.alpha = ew_params(k).alpha;
  run_unary<Types::floats>(k, f);
}
void selu_kernel(KernelContext& k) {
  fn::SeluF f;
  f.alpha = ew_params(k).alpha;
  f.gamma = ew_params(k).gamma;
  run_unary<Types::floats>(k, f);
}
void celu_kernel(KernelContext& k) {
  fn::CeluF f;
  f.alpha = ew_params(k).alpha;
  run_unary<Types::floats>(k, f);
}
void gelu_kernel(KernelContext& k) {
  if (ew_params(k).tanh_approx) run_unary<Types::floats>(k, fn::GeluTanhF{});
  else run_unary<Types::floats>(k, fn::GeluF{});
}
void clip_kernel(KernelContext& k) {
  fn::ClipF f;
  f.lo = ew_params(k).lo;
  f.hi = ew_params(k).hi;
  dispatch_all(k.in[0].dtype, "clip", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (accepts<T, Types::numeric>()) {
      fn::ClipF g = f;
      if constexpr (std::is_integral_v<T>) {
        // Keeps static_cast<T>(bound) within T's range, as the CPU kernel does.
        const double lowest = static_cast<double>(std::numeric_limits<T>::lowest());
        const double highest = static_cast<double>(std::numeric_limits<T>::max());
        g.lo = std::min(std::max(g.lo, lowest), highest);
        g.hi = std::min(std::max(g.hi, lowest), highest);
      }
      launch1<T, T>(k, g);
    } else {
      bad_dtype(k.in[0].dtype);
    }
  });
}
void mod_kernel(KernelContext& k) {
  if (ew_params(k).fmod) run_binary<Types::numeric>(k, fn::FModF{});
  else run_binary<Types::numeric>(k, fn::FloorModF{});
}
void where_kernel(KernelContext& k) {
  dispatch_all(k.in[1].dtype, "where", [&](auto tag) {
    using T = decltype(tag);
    launch3<T, bool, T, T>(k, fn::WhereF{});
  });
}

// ---- byte-level ops ------------------------------------------------------------------------

template <class D>
struct CastTo {
  template <class S>
  SN_HD D operator()(S s) const {
    if constexpr (std::is_same_v<D, bool>) return s != S(0);
    else return static_cast<D>(s);
  }
};

void cast_kernel(KernelContext& k) {
  dispatch_all(k.out[0].dtype, "cast", [&](auto dtag) {
    using D = decltype(dtag);
    dispatch_all(k.in[0].dtype, "cast", [&](auto stag) {
      using S = decltype(stag);
      launch1<D, S>(k, CastTo<D>{});
    });
  });
}

// y = x (x of y's element count, or one element repeated): identity, stop_gradient and the
// reshapes, which the planner usually runs in place (then there is nothing to do).
void copy_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const int64_t n = y.numel();
  if (n <= 0 || x.data == y.data) return;
  if (x.numel() == n) {
    check_cuda(cudaMemcpyAsync(y.data, x.data, y.bytes(), cudaMemcpyDeviceToDevice, stream_of(k)), "copy");
    return;
  }
  dispatch_all(y.dtype, "copy", [&](auto tag) {
    using T = decltype(tag);
    launch1<T, T>(k, fn::IdentityF{});
  });
}

// y = x broadcast to y's shape (broadcast_like, expand).
void broadcast_kernel(KernelContext& k) {
  dispatch_all(k.out[0].dtype, "broadcast", [&](auto tag) {
    using T = decltype(tag);
    launch1<T, T>(k, fn::IdentityF{});
  });
}

template <class T>
__global__ void fill_kernel_dev(T* y, int64_t n, T v) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) y[i] = v;
}

void fill_value(const KernelContext& k, double v) {
  const TensorView& y = k.out[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_all(y.dtype, "fill", [&](auto tag) {
    using T = decltype(tag);
    fill_kernel_dev<T><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(y.ptr<T>(), n, static_cast<T>(v));
    check_launch("fill");
  });
}

void fill_kernel(KernelContext& k) { fill_value(k, op_params<RandomParams>(k).a); }
void fill_like_kernel(KernelContext& k) { fill_value(k, op_params<FillParams>(k).value); }

template <class T>
__global__ void range_dev(T* y, int64_t n, double start, double delta) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    y[i] = static_cast<T>(start + static_cast<double>(i) * delta);
}

void range_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  const RandomParams& p = op_params<RandomParams>(k);
  dispatch_all(y.dtype, "range", [&](auto tag) {
    using T = decltype(tag);
    range_dev<T><<<blocks_for(n), kThreads, 0, stream_of(k)>>>(y.ptr<T>(), n, p.a, p.b);
    check_launch("range");
  });
}

template <class T>
__global__ void eye_dev(T* y, int64_t rows, int64_t cols, int64_t off) {
  const int64_t n = rows * cols;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t r = i / cols, c = i - r * cols;
    y[i] = c == r + off ? T(1) : T(0);
  }
}

void eye_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const int64_t rows = y.shape.at(0), cols = y.shape.at(1);
  if (rows * cols == 0) return;
  dispatch_all(y.dtype, "eye", [&](auto tag) {
    using T = decltype(tag);
    eye_dev<T><<<blocks_for(rows * cols), kThreads, 0, stream_of(k)>>>(y.ptr<T>(), rows, cols,
                                                                        op_params<RandomParams>(k).k);
    check_launch("eye");
  });
}


RandomParams read_generator(const Node& n, const char* a_name, double a_def, const char* b_name, double b_def) {
  RandomParams p;
  if (a_name) p.a = n.attrs.get_float(a_name, a_def);
  if (b_name) p.b = n.attrs.get_float(b_name, b_def);
  p.k = n.attrs.get_int("k", 0);
  return p;
}

}  // namespace

void bind_elementwise(Backend& b, DeviceContext* dev) {
  using namespace fn;
  constexpr Types FL = Types::floats, NUM = Types::numeric, BOOL = Types::boolean;
  const std::pair<const char*, KernelFn> plain[] = {
      {"neg", unary_kernel<NUM, NegF>},
      {"abs", unary_kernel<NUM, AbsF>},
      {"sign", unary_kernel<NUM, SignF>},
      {"reciprocal", unary_kernel<FL, ReciprocalF>},
      {"exp", unary_kernel<FL, ExpF>},
      {"log", unary_kernel<FL, LogF>},
      {"log1p", unary_kernel<FL, Log1pF>},
      {"expm1", unary_kernel<FL, Expm1F>},
      {"sqrt", unary_kernel<FL, SqrtF>},
      {"rsqrt", unary_kernel<FL, RsqrtF>},
      {"square", unary_kernel<NUM, SquareF>},
      {"sin", unary_kernel<FL, SinF>},
      {"cos", unary_kernel<FL, CosF>},
      {"tan", unary_kernel<FL, TanF>},
      {"asin", unary_kernel<FL, AsinF>},
      {"acos", unary_kernel<FL, AcosF>},
      {"atan", unary_kernel<FL, AtanF>},
      {"sinh", unary_kernel<FL, SinhF>},
      {"cosh", unary_kernel<FL, CoshF>},
      {"tanh", unary_kernel<FL, TanhF>},
      {"sigmoid", unary_kernel<FL, SigmoidF>},
      {"relu", unary_kernel<NUM, ReluF>},
      {"softplus", unary_kernel<FL, SoftplusF>},
      {"softsign", unary_kernel<FL, SoftsignF>},
      {"erf", unary_kernel<FL, ErfF>},
      {"floor", unary_kernel<FL, FloorF>},
      {"ceil", unary_kernel<FL, CeilF>},
      {"round", unary_kernel<FL, RoundF>},
      {"isnan", predicate_kernel<FL, IsNanF>},
      {"isinf", predicate_kernel<FL, IsInfF>},
      {"logical_not", predicate_kernel<BOOL, LogicalNotF>},
      {"add", binary_kernel<NUM, AddF>},
      {"sub", binary_kernel<NUM, SubF>},
      {"mul", binary_kernel<NUM, MulF>},
      {"div", binary_kernel<NUM, DivF>},
      {"pow", binary_kernel<NUM, PowF>},
      {"minimum", binary_kernel<NUM, MinimumF>},
      {"maximum", binary_kernel<NUM, MaximumF>},
      {"equal", compare_kernel<EqualF>},
      {"not_equal", compare_kernel<NotEqualF>},
      {"less", compare_kernel<LessF>},
      {"less_equal", compare_kernel<LessEqualF>},
      {"greater", compare_kernel<GreaterF>},
      {"greater_equal", compare_kernel<GreaterEqualF>},
      {"logical_and", binary_kernel<BOOL, LogicalAndF>},
      {"logical_or", binary_kernel<BOOL, LogicalOrF>},
      {"logical_xor", binary_kernel<BOOL, LogicalXorF>},
      {"where", where_kernel},
      {"identity", copy_kernel},
      {"stop_gradient", copy_kernel},
  };
  for (const auto& [op, fn] : plain) {
    KernelImpl k = cuda_kernel(fn, dev);
    k.inplace_for = same_dtype_inputs;
    b.add_kernel(op, std::move(k));
  }
  const std::pair<const char*, KernelFn> with_attrs[] = {
      {"hard_sigmoid", hard_sigmoid_kernel}, {"leaky_relu", leaky_relu_kernel}, {"elu", elu_kernel},
      {"selu", selu_kernel},                 {"celu", celu_kernel},             {"gelu", gelu_kernel},
      {"clip", clip_kernel},                 {"mod", mod_kernel},
  };
  for (const auto& [op, fn] : with_attrs) {
    KernelImpl k = cuda_kernel<ElementwiseParams>(fn, dev, read_elementwise);
    k.inplace_for = same_dtype_inputs;
    b.add_kernel(op, std::move(k));
  }
  b.add_kernel("cast", cuda_kernel(cast_kernel, dev));  // converts between element widths: never in place

  for (const char* op : {"reshape", "flatten", "squeeze", "unsqueeze", "reshape_like"}) {
    KernelImpl k = cuda_kernel(copy_kernel, dev);
    k.inplace = {{0, 0}};
    b.add_kernel(op, std::move(k));
  }
  b.add_kernel("broadcast_like", cuda_kernel(broadcast_kernel, dev));
  b.add_kernel("expand", cuda_kernel(broadcast_kernel, dev));
  b.add_kernel("fill_like", cuda_kernel<FillParams>(fill_like_kernel, dev, [](const Node& n) {
                 return FillParams{n.attrs.get_float("value")};
               }));
  b.add_kernel("fill", cuda_kernel<RandomParams>(fill_kernel, dev, [](const Node& n) {
                 return read_generator(n, "value", 0.0, nullptr, 0);
               }));
  b.add_kernel("range", cuda_kernel<RandomParams>(range_kernel, dev, [](const Node& n) {
                 return read_generator(n, "start", 0.0, "delta", 1.0);
               }));
  b.add_kernel("eye", cuda_kernel<RandomParams>(eye_kernel, dev, [](const Node& n) {
                 return read_generator(n, nullptr, 0, nullptr, 0);
               }));
}

}  // namespace cuda
}  // namespace symnet
