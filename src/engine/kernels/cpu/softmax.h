// CPU kernels for softmax, log-softmax and the fused losses built on them.
#pragma once
#include <cstdint>

#include "engine/base/tensor.h"

namespace symnet {

// Numerically stable (log-)softmax along `axis` (normalized); safe in place.
void softmax_cpu(const TensorView& x, const TensorView& y, int64_t axis, bool log);

// logits [N..., C], labels [N...] (int32/int64) -> loss [N...] = logsumexp(z) - z[label];
// Labels count from `base` (0 or 1); rows whose label equals ignore_index give 0. Other
// labels outside [base, C + base) throw an index error.
void softmax_xent_cpu(const TensorView& logits, const TensorView& labels, const TensorView& loss,
                      int64_t ignore_index, int64_t base);
// d loss / d logits scaled by the per-row upstream gradient g [N...]:
// (softmax(z) - one_hot(label)) * g, zero rows for ignored labels.
void softmax_xent_grad_cpu(const TensorView& logits, const TensorView& labels, const TensorView& g,
                           const TensorView& dlogits, int64_t ignore_index, int64_t base);
// logits, probs [N..., C] -> loss [N...] = -sum_c probs * log_softmax(logits).
void softmax_xent_prob_cpu(const TensorView& logits, const TensorView& probs, const TensorView& loss);
// Elementwise max(x, 0) - x * t + log1p(exp(-|x|)); operands have y's numel or numel 1.
void sigmoid_xent_cpu(const TensorView& x, const TensorView& t, const TensorView& y);

}  // namespace symnet
