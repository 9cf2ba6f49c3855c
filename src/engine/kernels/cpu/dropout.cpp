#include "engine/kernels/cpu/dropout.h"

#include <algorithm>
#include <cstring>

#include "engine/base/error.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/kernels/cpu/philox_batch.h"
#include "engine/kernels/cpu/random_kernels.h"

namespace symnet {

void dropout_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0], &mask = k.out[1];
  const DropoutParams& p = k.param<DropoutParams>();
  const double ratio = p.ratio;
  const bool training = p.training;
  const int64_t n = x.numel();
  bool* mp = mask.ptr<bool>();
  if (!training || ratio <= 0) {
    if (y.data != x.data) std::memcpy(y.data, x.data, x.bytes());
    std::fill(mp, mp + n, true);
    return;
  }
  // Drop when the 32-bit draw is below ratio * 2^32 (all dropped at ratio 1).
  const uint64_t thresh = static_cast<uint64_t>(std::min(1.0, ratio) * 4294967296.0);
  const uint64_t key = random_key(p.key, k.run), run = k.run ? k.run->run_index : 0;
  const double scale = ratio < 1 ? 1.0 / (1.0 - ratio) : 0.0;
  const int64_t nb = (n + 3) / 4;
  auto body = [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.ptr<T>();
    T* yp = y.ptr<T>();
    const T s = static_cast<T>(scale);
    for_each_philox_chunk(key, run, nb, 4096, [&](int64_t first, int64_t count, const uint32_t* bits) {
      const int64_t base = first * 4, m = std::min<int64_t>(4 * count, n - base);
      for (int64_t j = 0; j < m; ++j) {
        const bool keep = bits[j] >= thresh;
        mp[base + j] = keep;
        yp[base + j] = keep ? xp[base + j] * s : T(0);
      }
    });
  };
  if (x.dtype == DType::f32) body(float{});
  else if (x.dtype == DType::f64) body(double{});
  else SN_THROW(ErrorKind::dtype, "dropout needs float32 or float64, got " << dtype_name(x.dtype));
}

}  // namespace symnet
