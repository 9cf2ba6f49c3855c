#include "engine/kernels/cpu/random_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/philox.h"
#include "engine/kernels/cpu/philox_batch.h"

namespace symnet {

namespace {

// Element i takes value i % PER of block i / PER, so a value depends only on (key, run, i).
// gen(bits, vals) turns one block's four words into PER values of type T.
template <int PER, typename T, typename G>
void fill_blocks(uint64_t key, uint64_t run, T* out, int64_t n, G&& gen) {
  const int64_t nb = (n + PER - 1) / PER;
  for_each_philox_chunk(key, run, nb, 2048, [&](int64_t first, int64_t count, const uint32_t* bits) {
    // blocks with all PER values inside the tensor write in place; the last may be partial
    const int64_t whole = std::max<int64_t>(0, std::min(count, n / PER - first));
    for (int64_t i = 0; i < whole; ++i) gen(bits + 4 * i, out + (first + i) * PER);
    for (int64_t i = whole; i < count; ++i) {
      T vals[PER];
      gen(bits + 4 * i, vals);
      const int64_t base = (first + i) * PER, m = std::min<int64_t>(PER, n - base);
      for (int64_t j = 0; j < m; ++j) out[base + j] = vals[j];
    }
  });
}

}  // namespace

void fill_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  double v = k.param<RandomParams>().a;
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    std::fill(y.ptr<T>(), y.ptr<T>() + y.numel(), static_cast<T>(v));
  });
}

void eye_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const int64_t n = y.shape[0], m = y.shape[1], off = k.param<RandomParams>().k;
  std::memset(y.data, 0, y.bytes());
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* yp = y.ptr<T>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t j = i + off;
      if (j >= 0 && j < m) yp[i * m + j] = static_cast<T>(1);
    }
  });
}

void range_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const RandomParams& p = k.param<RandomParams>();
  const double start = p.a, delta = p.b;
  dispatch_dtype(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* yp = y.ptr<T>();
    for (int64_t i = 0; i < y.numel(); ++i) yp[i] = static_cast<T>(start + static_cast<double>(i) * delta);
  });
}

void random_uniform_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const RandomParams& p = k.param<RandomParams>();
  const uint64_t key = random_key(p.key, k.run), run = k.run ? k.run->run_index : 0;
  const double lo = p.a, hi = p.b;
  const double w = hi - lo;
  if (y.dtype == DType::f32) {
    // Rounding lo + w*u to float may land on hi; keep the interval half-open.
    const float top = std::nextafter(static_cast<float>(hi), -INFINITY);
    if (lo == 0 && w == 1) {
      // u01_f32 is exact in float and below 1: the same values without the double round trip
      fill_blocks<4>(key, run, y.ptr<float>(), y.numel(), [](const uint32_t* r, float* v) {
        for (int j = 0; j < 4; ++j) v[j] = philox::u01_f32(r[j]);
      });
    } else {
      fill_blocks<4>(key, run, y.ptr<float>(), y.numel(), [&](const uint32_t* r, float* v) {
        for (int j = 0; j < 4; ++j) v[j] = std::min(top, static_cast<float>(lo + w * philox::u01_f32(r[j])));
      });
    }
  } else if (y.dtype == DType::f64) {
    const double top = std::nextafter(hi, -INFINITY);
    fill_blocks<2>(key, run, y.ptr<double>(), y.numel(), [&](const uint32_t* r, double* v) {
      v[0] = std::min(top, lo + w * philox::u01_f64(r[0], r[1]));
      v[1] = std::min(top, lo + w * philox::u01_f64(r[2], r[3]));
    });
  } else {
    SN_THROW(ErrorKind::dtype, "random_uniform supports float32 and float64, not " << dtype_name(y.dtype));
  }
}

void random_normal_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const RandomParams& p = k.param<RandomParams>();
  const uint64_t key = random_key(p.key, k.run), run = k.run ? k.run->run_index : 0;
  const double mean = p.a, sd = p.b;
  if (y.dtype == DType::f32) {
    fill_blocks<4>(key, run, y.ptr<float>(), y.numel(), [&](const uint32_t* r, float* v) {
      float z[4];
      philox::box_muller_f32(r[0], r[1], z[0], z[1]);
      philox::box_muller_f32(r[2], r[3], z[2], z[3]);
      for (int j = 0; j < 4; ++j) v[j] = static_cast<float>(mean + sd * z[j]);
    });
  } else if (y.dtype == DType::f64) {
    fill_blocks<2>(key, run, y.ptr<double>(), y.numel(), [&](const uint32_t* r, double* v) {
      double z0, z1;
      philox::box_muller(philox::u01_open_53(r[0], r[1]), philox::u01_f64(r[2], r[3]), z0, z1);
      v[0] = mean + sd * z0;
      v[1] = mean + sd * z1;
    });
  } else {
    SN_THROW(ErrorKind::dtype, "random_normal supports float32 and float64, not " << dtype_name(y.dtype));
  }
}

void random_bernoulli_kernel(KernelContext& k) {
  const TensorView &p = k.in[0], &y = k.out[0];
  const uint64_t key = random_key(k.param<RandomParams>().key, k.run), run = k.run ? k.run->run_index : 0;
  dispatch_dtype(p.dtype, [&](auto ptag) {
    using P = decltype(ptag);
    const P* pp = p.ptr<P>();
    dispatch_dtype(y.dtype, [&](auto ytag) {
      using Y = decltype(ytag);
      Y* yp = y.ptr<Y>();
      const int64_t n = y.numel(), nb = (n + 3) / 4;
      for_each_philox_chunk(key, run, nb, 2048, [&](int64_t first, int64_t count, const uint32_t* bits) {
        const int64_t base = first * 4, m = std::min<int64_t>(4 * count, n - base);
        for (int64_t j = 0; j < m; ++j) {
          const double u = bits[j] * (1.0 / 4294967296.0);
          yp[base + j] = static_cast<Y>(u < static_cast<double>(pp[base + j]) ? 1 : 0);
        }
      });
    });
  });
}

}  // namespace symnet
