// The two networks of the GPU benchmark, built with the engine's C++ graph API, and the
// training step around them (softmax cross-entropy, gradients as a graph transform, SGD
// with momentum), so that one compiled function runs a whole step on any backend.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/exec/executable.h"
#include "engine/ops/builder.h"

namespace symnet_bench {

using symnet::Value;
using symnet::VariablePtr;

// Creates parameters as layers are added and remembers what the training step needs: the
// trainable variables (with the node the forward pass reads each through) and the state
// that is not trained but updated every step (batch norm's running statistics).
class NetBuilder {
 public:
  explicit NetBuilder(uint32_t seed) : rng_(seed) {}

  // Convolution without padding mode magic: explicit stride and symmetric padding, as in
  // PyTorch's Conv2d. He-uniform weights (the nets below follow it with ReLU or tanh).
  Value conv(const Value& x, int64_t out_channels, int64_t kernel, int64_t stride, int64_t pad, bool bias,
             const std::string& name);
  // Training-mode batch norm (batch statistics; running statistics updated with PyTorch's
  // default momentum 0.1, i.e. the engine's momentum 0.9), scale 1 and bias 0 to start.
  Value batch_norm(const Value& x, const std::string& name);
  // x [N, in] -> x W + b, W [in, out] (PyTorch's Linear, stored transposed).
  Value dense(const Value& x, int64_t out, const std::string& name);
  static Value max_pool(const Value& x, int64_t kernel, int64_t stride, int64_t pad);
  // [N, C, H, W] -> [N, C]
  static Value global_avg_pool(const Value& x);

  const std::vector<VariablePtr>& params() const { return params_; }
  const std::vector<Value>& param_nodes() const { return param_nodes_; }
  // (running statistic, its new value) pairs, written after every step.
  const std::vector<std::pair<VariablePtr, Value>>& state_updates() const { return state_updates_; }
  int64_t num_parameters() const;

 private:
  Value param(const std::string& name, const symnet::Shape& shape, float bound);
  Value constant_state(const std::string& name, int64_t channels, float value);

  std::mt19937 rng_;
  std::vector<VariablePtr> params_;
  std::vector<Value> param_nodes_;
  std::vector<std::pair<VariablePtr, Value>> state_updates_;
};

// inst/benchmarks/lenet.R's network: conv 5x5x20 tanh, max-pool 2, conv 5x5x50 tanh,
// max-pool 2, dense 500 tanh, dense 10. x: [N, 1, 28, 28] -> logits [N, 10].
Value lenet(NetBuilder& b, const Value& x);

// torchvision's resnet18: conv 7x7/2 (64) BN ReLU, max-pool 3/2, four stages of two basic
// blocks (64, 128, 256, 512 channels; the first block of stages 2-4 strides 2 and projects
// its shortcut with a 1x1 conv + BN), global average pool, dense `classes`. Convolutions
// have no bias (BN follows). x: [N, 3, H, W] -> logits [N, classes].
Value resnet18(NetBuilder& b, const Value& x, int64_t classes = 1000);

// A compiled training step: run() with the feeds (none when the batch is resident).
struct TrainStep {
  std::unique_ptr<symnet::Executable> exe;
  std::vector<symnet::TensorView> feeds;
  symnet::Tensor x_host, y_host;  // the batch, kept alive for the feeds
};

struct TrainConfig {
  int64_t batch = 128;
  symnet::Shape image;  // [C, H, W]
  int64_t classes = 10;
  double lr = 0.05, momentum = 0.9;
  bool resident_batch = false;  // the batch as variables uploaded once, instead of fed every step
  std::string target = "cpu";
  uint32_t seed = 1;
};

// Builds `net` on a fixed random batch (pixels uniform in [0, 1), labels i mod classes) and
// compiles forward, mean softmax cross-entropy, gradients and the momentum update
// (v <- m v + g; p <- p - lr v, PyTorch's SGD) into one function whose output 0 is the loss.
using NetFn = std::function<Value(NetBuilder&, const Value&)>;
TrainStep compile_train_step(const NetFn& net, const TrainConfig& cfg, int64_t* num_parameters);

}  // namespace symnet_bench
