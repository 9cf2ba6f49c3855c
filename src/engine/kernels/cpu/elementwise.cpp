#include "engine/kernels/cpu/elementwise.h"

#include <cstring>
#include <limits>
#include <map>
#include <type_traits>

#include "engine/math/elementwise_functors.h"
#include "engine/kernels/cpu/elementwise_loops.h"

namespace symnet {

namespace {

// Dtype sets a kernel is instantiated for; infer rejects the others, so reaching the
// fallback is an engine bug. Dispatch happens outside the parallel loops, where a throw
// would terminate the process.
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
  SN_THROW(ErrorKind::internal, "elementwise kernel reached with dtype " << dtype_name(t)
                                    << ", which shape inference should have rejected");
}

// ---- generic kernels -------------------------------------------------------------------

template <Types S, class F>
void run_unary(KernelContext& k, const F& f) {
  dispatch_dtype(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (accepts<T, S>()) map_unary<T, T>(k.in[0], k.out[0], f);
    else bad_dtype(k.in[0].dtype);
  });
}

template <Types S, class F>
void unary_kernel(KernelContext& k) {
  run_unary<S>(k, F{});
}

template <Types S, class F>
void predicate_kernel(KernelContext& k) {
  dispatch_dtype(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (accepts<T, S>()) map_unary<T, bool>(k.in[0], k.out[0], F{});
    else bad_dtype(k.in[0].dtype);
  });
}

template <Types S, class F>
void run_binary(KernelContext& k, const F& f) {
  dispatch_dtype(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (accepts<T, S>()) map_binary<T, T, T>(k.in[0], k.in[1], k.out[0], f);
    else bad_dtype(k.in[0].dtype);
  });
}

template <Types S, class F>
void binary_kernel(KernelContext& k) {
  run_binary<S>(k, F{});
}

template <class F>
void compare_kernel(KernelContext& k) {
  dispatch_dtype(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    map_binary<T, T, bool>(k.in[0], k.in[1], k.out[0], F{});
  });
}

// ---- kernels with attributes -------------------------------------------------------------

void hard_sigmoid_kernel(KernelContext& k) {
  const ElementwiseParams& p = k.param<ElementwiseParams>();
  fn::HardSigmoidF f;
  f.alpha = p.alpha;
  f.beta = p.beta;
  run_unary<Types::floats>(k, f);
}

void leaky_relu_kernel(KernelContext& k) {
  fn::LeakyReluF f;
  f.alpha = k.param<ElementwiseParams>().alpha;
  run_unary<Types::floats>(k, f);
}

void elu_kernel(KernelContext& k) {
  fn::EluF f;
  f.alpha = k.param<ElementwiseParams>().alpha;
  run_unary<Types::floats>(k, f);
}

void selu_kernel(KernelContext& k) {
  const ElementwiseParams& p = k.param<ElementwiseParams>();
  fn::SeluF f;
  f.alpha = p.alpha;
  f.gamma = p.gamma;
  run_unary<Types::floats>(k, f);
}

void celu_kernel(KernelContext& k) {
  fn::CeluF f;
  f.alpha = k.param<ElementwiseParams>().alpha;
  run_unary<Types::floats>(k, f);
}

void gelu_kernel(KernelContext& k) {
  if (k.param<ElementwiseParams>().tanh_approx)
    run_unary<Types::floats>(k, fn::GeluTanhF{});
  else
    run_unary<Types::floats>(k, fn::GeluF{});
}

void clip_kernel(KernelContext& k) {
  const ElementwiseParams& p = k.param<ElementwiseParams>();
  fn::ClipF f;
  f.lo = p.lo;
  f.hi = p.hi;
  dispatch_dtype(k.in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (accepts<T, Types::numeric>()) {
      fn::ClipF g = f;
      if constexpr (std::is_integral_v<T>) {
        // Keeps static_cast<T>(bound) within T's range.
        const double lowest = static_cast<double>(std::numeric_limits<T>::lowest());
        const double highest = static_cast<double>(std::numeric_limits<T>::max());
        g.lo = std::min(std::max(g.lo, lowest), highest);
        g.hi = std::min(std::max(g.hi, lowest), highest);
      }
      map_unary<T, T>(k.in[0], k.out[0], g);
    } else {
      bad_dtype(k.in[0].dtype);
    }
  });
}

void mod_kernel(KernelContext& k) {
  if (k.param<ElementwiseParams>().fmod)
    run_binary<Types::numeric>(k, fn::FModF{});
  else
    run_binary<Types::numeric>(k, fn::FloorModF{});
}

void where_kernel(KernelContext& k) {
  dispatch_dtype(k.in[1].dtype, [&](auto tag) {
    using T = decltype(tag);
    map_ternary<bool, T, T, T>(k.in[0], k.in[1], k.in[2], k.out[0], fn::WhereF{});
  });
}

// ---- byte-level kernels ------------------------------------------------------------------

// Copies x into y, replicating a numel-1 x (fused chunks may hand one out).
void copy_kernel(KernelContext& k) {
  const TensorView& x = k.in[0];
  const TensorView& y = k.out[0];
  const int64_t n = y.numel();
  if (n <= 0 || x.data == y.data) return;
  const size_t es = dtype_size(y.dtype);
  const char* xp = static_cast<const char*>(x.data);
  char* yp = static_cast<char*>(y.data);
  if (x.numel() == 1 && n > 1) {
    parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) std::memcpy(yp + i * es, xp, es);
    });
    return;
  }
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    std::memcpy(yp + b * es, xp + b * es, static_cast<size_t>(e - b) * es);
  });
}

// Casts between masks (bool, uint8) and floats (a ReLU backward's mask multiply) as
// vectorized loops: the bool side is read or written as bytes (GCC does not vectorize loads
// of bool).
struct MaskToFloat {
  template <class T>
  struct F {
    T operator()(uint8_t m) const { return m != 0 ? T(1) : T(0); }
  };
};
template <class T>
struct FloatToMask {
  uint8_t operator()(T v) const { return v != T(0) ? 1 : 0; }
};
// A uint8 mask (or any uint8 tensor) to floats keeps its values.
template <class T>
struct ByteToFloat {
  T operator()(uint8_t v) const { return static_cast<T>(v); }
};

bool cast_mask_fast(const TensorView& x, const TensorView& y) {
  const DType xt = x.dtype, yt = y.dtype;
  const bool xm = xt == DType::boolean, ym = yt == DType::boolean;
  if (xm && yt == DType::f32) map_unary<uint8_t, float>(x, y, MaskToFloat::F<float>{});
  else if (xm && yt == DType::f64) map_unary<uint8_t, double>(x, y, MaskToFloat::F<double>{});
  else if (ym && xt == DType::f32) map_unary<float, uint8_t>(x, y, FloatToMask<float>{});
  else if (ym && xt == DType::f64) map_unary<double, uint8_t>(x, y, FloatToMask<double>{});
  else if (xt == DType::u8 && yt == DType::f32) map_unary<uint8_t, float>(x, y, ByteToFloat<float>{});
  else if (xt == DType::u8 && yt == DType::f64) map_unary<uint8_t, double>(x, y, ByteToFloat<double>{});
  else return false;
  return true;
}

void cast_kernel(KernelContext& k) {
  const TensorView& x = k.in[0];
  const TensorView& y = k.out[0];
  const int64_t n = y.numel();
  if (n <= 0) return;
  if ((x.dtype == DType::boolean || x.dtype == DType::u8 || y.dtype == DType::boolean) && cast_mask_fast(x, y)) return;
  const size_t xs = dtype_size(x.dtype), ys = dtype_size(y.dtype);
  const char* xp = static_cast<const char*>(x.data);
  char* yp = static_cast<char*>(y.data);
  if (x.numel() == 1 && n > 1) {
    convert_elements(xp, x.dtype, yp, y.dtype, 1);
    parallel_for(n - 1, kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) std::memcpy(yp + (i + 1) * ys, yp, ys);
    });
    return;
  }
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    convert_elements(xp + b * xs, x.dtype, yp + b * ys, y.dtype, e - b);
  });
}

const std::map<std::string, KernelFn>& kernel_table() {
  using namespace fn;
  constexpr Types FL = Types::floats, NUM = Types::numeric, BOOL = Types::boolean;
  static const std::map<std::string, KernelFn> table = {
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
      {"hard_sigmoid", hard_sigmoid_kernel},
      {"relu", unary_kernel<NUM, ReluF>},
      {"leaky_relu", leaky_relu_kernel},
      {"elu", elu_kernel},
      {"selu", selu_kernel},
      {"celu", celu_kernel},
      {"softplus", unary_kernel<FL, SoftplusF>},
      {"softsign", unary_kernel<FL, SoftsignF>},
      {"gelu", gelu_kernel},
      {"erf", unary_kernel<FL, ErfF>},
      {"floor", unary_kernel<FL, FloorF>},
      {"ceil", unary_kernel<FL, CeilF>},
      {"round", unary_kernel<FL, RoundF>},
      {"clip", clip_kernel},
      {"isnan", predicate_kernel<FL, IsNanF>},
      {"isinf", predicate_kernel<FL, IsInfF>},
      {"logical_not", predicate_kernel<BOOL, LogicalNotF>},
      {"add", binary_kernel<NUM, AddF>},
      {"sub", binary_kernel<NUM, SubF>},
      {"mul", binary_kernel<NUM, MulF>},
      {"div", binary_kernel<NUM, DivF>},
      {"pow", binary_kernel<NUM, PowF>},
      {"mod", mod_kernel},
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
      {"cast", cast_kernel},
      {"identity", copy_kernel},
      {"stop_gradient", copy_kernel},
  };
  return table;
}

}  // namespace

KernelFn cpu_elementwise_kernel(const std::string& op) {
  const auto& t = kernel_table();
  auto it = t.find(op);
  return it == t.end() ? nullptr : it->second;
}

}  // namespace symnet
