#include "engine/kernels/cpu/clamp.h"

#include <algorithm>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"

namespace symnet {

namespace {

template <class T>
void clamp(T* p, int64_t n, double lo_d, double hi_d) {
  const T lo = static_cast<T>(lo_d), hi = static_cast<T>(hi_d);
  parallel_for(n, int64_t{1} << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = std::min(std::max(p[i], lo), hi);
  });
}

}  // namespace

void clamp_inplace_cpu(const TensorView& y, double lo, double hi) {
  const int64_t n = shape_numel(y.shape);
  switch (y.dtype) {
    case DType::f32: return clamp(static_cast<float*>(y.data), n, lo, hi);
    case DType::f64: return clamp(static_cast<double*>(y.data), n, lo, hi);
    default: SN_THROW(ErrorKind::dtype, "clamp: float32 or float64 expected, got " << dtype_name(y.dtype));
  }
}

}  // namespace symnet
