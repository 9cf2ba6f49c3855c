// Elementwise math, each function written once as a small functor (mshadow style). The
// CPU loops in elementwise_loops.h call them, and the CUDA kernels (src/cuda/kernels) call
// the very same structs from device code, where SN_HOST_DEVICE (base/host_device.h's SN_HD)
// expands to __host__ __device__, so the CPU tests exercise the GPU's math too. Functors
// with attributes carry them as fields whose default member initializers are the op's
// attribute defaults.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "engine/base/host_device.h"

#ifndef SN_HOST_DEVICE
#define SN_HOST_DEVICE SN_HD
#endif

namespace symnet::fn {

template <class T>
inline constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// Signed overflow is undefined behaviour; integer tensors wrap around instead.
template <class T>
SN_HOST_DEVICE inline T wrap_add(T a, T b) {
  if constexpr (is_int_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <class T>
SN_HOST_DEVICE inline T wrap_sub(T a, T b) {
  if constexpr (is_int_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <class T>
SN_HOST_DEVICE inline T wrap_mul(T a, T b) {
  if constexpr (is_int_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}
template <class T>
SN_HOST_DEVICE inline bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}

// ---- unary ----------------------------------------------------------------------------

struct NegF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return wrap_sub(T(0), x); }
};
struct AbsF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    if constexpr (is_int_v<T>) return x < 0 ? wrap_sub(T(0), x) : x;
    else return std::fabs(x);
  }
};
// Keeps 0, -0 and NaN as they are (NumPy's sign).
struct SignF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    return x > T(0) ? T(1) : x < T(0) ? T(-1) : x;
  }
};
struct ReciprocalF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return T(1) / x; }
};
// 2^k as a float, for -126 <= k <= 127, from its exponent bits.
SN_HOST_DEVICE inline float pow2i(int32_t k) {
  const int32_t bits = (k + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
// float exp without a libm call, so the loops vectorize (libm's expf is a scalar call: an
// RBM's sampling step spent most of its time there). exp(x) = 2^n exp(r) with n = round(x /
// ln 2) by the 1.5 * 2^23 trick, r = x - n ln 2 in two parts (Cody-Waite), exp(r) by Cephes'
// degree-7 polynomial, and 2^n applied as two factors so that n = 128 and the subnormal range
// come out right. Within 1 ulp of expf over the whole range (tests/engine/test_fast_math.cpp);
// NaN propagates, +-Inf give Inf and 0.
SN_HOST_DEVICE inline float fast_exp(float x) {
  const float xc = x < -104.0f ? -104.0f : (x > 88.8f ? 88.8f : x);
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // NaN reaches p through r; the scale is taken from 0 then, as converting NaN is undefined
  const int32_t k = static_cast<int32_t>(n == n ? n : 0.0f);
  const int32_t half = k >> 1;
  return p * pow2i(half) * pow2i(k - half);
}
struct ExpF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return fast_exp(x);
    else return std::exp(x);
  }
};
struct LogF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::log(x); }
};
struct Log1pF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::log1p(x); }
};
struct Expm1F {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::expm1(x); }
};
struct SqrtF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::sqrt(x); }
};
struct RsqrtF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return T(1) / std::sqrt(x); }
};
struct SquareF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return wrap_mul(x, x); }
};
struct SinF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::sin(x); }
};
struct CosF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::cos(x); }
};
struct TanF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::tan(x); }
};
struct AsinF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::asin(x); }
};
struct AcosF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::acos(x); }
};
struct AtanF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::atan(x); }
};
struct SinhF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::sinh(x); }
};
struct CoshF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::cosh(x); }
};
// float: a branch-free odd rational approximation (13/6, as in Eigen's fast tanh) that
// the compiler vectorizes; libm's tanhf is a scalar call costing ~20 ns per element,
// which made tanh the slowest kernel of a LeNet step. Error stays within a few ulp.
SN_HOST_DEVICE inline float fast_tanh(float x) {
  const float bound = 7.90531110763549805f;  // tanh is 1 in float beyond this
  x = x < -bound ? -bound : (x > bound ? bound : x);
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * x;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return p / q;
}
struct TanhF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return fast_tanh(x);
    else return std::tanh(x);
  }
};
// exp of a non-positive argument only, so large |x| neither overflows nor loses 1 - y;
// one exp call on both sides of the branch keeps the loop cheap when it is if-converted.
struct SigmoidF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    T e = ExpF{}(-std::fabs(x));
    T r = T(1) / (T(1) + e);
    return x >= T(0) ? r : e * r;
  }
};
struct HardSigmoidF {
  double alpha = 0.2, beta = 0.5;
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    T v = T(alpha) * x + T(beta);
    return v < T(0) ? T(0) : v > T(1) ? T(1) : v;
  }
};
// x < 0 rather than x > 0 so NaN propagates.
struct ReluF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return x < T(0) ? T(0) : x; }
};
struct LeakyReluF {
  double alpha = 0.01;
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return x < T(0) ? T(alpha) * x : x; }
};
struct EluF {
  double alpha = 1.0;
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    return x > T(0) ? x : T(alpha) * std::expm1(x);
  }
};
struct SeluF {
  double alpha = 1.6732632423543772, gamma = 1.0507009873554805;
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    return T(gamma) * (x > T(0) ? x : T(alpha) * std::expm1(x));
  }
};
struct CeluF {
  double alpha = 1.0;
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    return x > T(0) ? x : T(alpha) * std::expm1(x / T(alpha));
  }
};
// max(x, 0) + log1p(exp(-|x|)): no overflow for large x, no underflow to 0 too early.
struct SoftplusF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-std::fabs(x)));
  }
};
struct SoftsignF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return x / (T(1) + std::fabs(x)); }
};
struct GeluF {  // x * Phi(x)
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
};
struct GeluTanhF {  // the tanh approximation (approximate = "tanh")
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
    return T(0.5) * x * (T(1) + std::tanh(u));
  }
};
struct ErfF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::erf(x); }
};
struct FloorF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::floor(x); }
};
struct CeilF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::ceil(x); }
};
// Half to even under the default rounding mode (ONNX Round, R's round).
struct RoundF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return std::nearbyint(x); }
};
// Bounds compared in double so the -inf/inf defaults work for integer tensors too; NaN
// passes through.
struct ClipF {
  double lo = -INFINITY, hi = INFINITY;
  template <class T> SN_HOST_DEVICE T operator()(T x) const {
    double v = static_cast<double>(x);
    return v < lo ? static_cast<T>(lo) : v > hi ? static_cast<T>(hi) : x;
  }
};
struct IdentityF {
  template <class T> SN_HOST_DEVICE T operator()(T x) const { return x; }
};

struct IsNanF {
  template <class T> SN_HOST_DEVICE bool operator()(T x) const { return is_nan(x); }
};
struct IsInfF {
  template <class T> SN_HOST_DEVICE bool operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) return std::isinf(x);
    else return false;
  }
};
struct LogicalNotF {
  SN_HOST_DEVICE bool operator()(bool x) const { return !x; }
};

// ---- binary ---------------------------------------------------------------------------

struct AddF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const { return wrap_add(a, b); }
};
struct SubF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const { return wrap_sub(a, b); }
};
struct MulF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const { return wrap_mul(a, b); }
};
// Integer division truncates toward zero. x / 0 is 0 (as in NumPy) and MIN / -1 wraps,
// because the hardware traps on both.
struct DivF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (is_int_v<T>) {
      if (b == 0) return T(0);
      if (b == -1) return wrap_sub(T(0), a);
      return a / b;
    } else {
      return a / b;
    }
  }
};
// Integer powers by squaring (wrapping); a negative exponent gives the truncated 1 / a^|b|.
struct PowF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (is_int_v<T>) {
      if (b < 0) {
        if (a == 1) return T(1);
        if (a == -1) return (b & 1) ? T(-1) : T(1);
        return T(0);
      }
      T r = 1;
      while (b) {
        if (b & 1) r = wrap_mul(r, a);
        a = wrap_mul(a, a);
        b >>= 1;
      }
      return r;
    } else {
      return std::pow(a, b);
    }
  }
};
// Python/R-style modulo: the result has the sign of the divisor (mod attr fmod = 0).
struct FloorModF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const {
    T r;
    if constexpr (is_int_v<T>) {
      if (b == 0 || b == -1) return T(0);  // x % 0 is 0 like NumPy; MIN % -1 traps
      r = a % b;
    } else {
      r = std::fmod(a, b);
    }
    if (r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
    return r;
  }
};
// C fmod: the result has the sign of the dividend (mod attr fmod = 1).
struct FModF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const {
    if constexpr (is_int_v<T>) {
      if (b == 0 || b == -1) return T(0);
      return a % b;
    } else {
      return std::fmod(a, b);
    }
  }
};
// NaN propagates from either side; ties pick a (the gradient rule does the same).
struct MinimumF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const {
    return (a <= b || is_nan(a)) ? a : b;
  }
};
struct MaximumF {
  template <class T> SN_HOST_DEVICE T operator()(T a, T b) const {
    return (a >= b || is_nan(a)) ? a : b;
  }
};

struct EqualF {
  template <class T> SN_HOST_DEVICE bool operator()(T a, T b) const { return a == b; }
};
struct NotEqualF {
  template <class T> SN_HOST_DEVICE bool operator()(T a, T b) const { return a != b; }
};
struct LessF {
  template <class T> SN_HOST_DEVICE bool operator()(T a, T b) const { return a < b; }
};
struct LessEqualF {
  template <class T> SN_HOST_DEVICE bool operator()(T a, T b) const { return a <= b; }
};
struct GreaterF {
  template <class T> SN_HOST_DEVICE bool operator()(T a, T b) const { return a > b; }
};
struct GreaterEqualF {
  template <class T> SN_HOST_DEVICE bool operator()(T a, T b) const { return a >= b; }
};

struct LogicalAndF {
  SN_HOST_DEVICE bool operator()(bool a, bool b) const { return a && b; }
};
struct LogicalOrF {
  SN_HOST_DEVICE bool operator()(bool a, bool b) const { return a || b; }
};
struct LogicalXorF {
  SN_HOST_DEVICE bool operator()(bool a, bool b) const { return a != b; }
};

// ---- ternary --------------------------------------------------------------------------

struct WhereF {
  template <class T> SN_HOST_DEVICE T operator()(bool c, T a, T b) const { return c ? a : b; }
};

}  // namespace symnet::fn
