#include "models.h"

#include <cmath>

#include "engine/passes/passes.h"

namespace symnet_bench {

using namespace symnet;

namespace {

std::vector<int64_t> pair(int64_t v) { return {v, v}; }

Tensor filled(const Shape& shape, float value) {
  Tensor t(DType::f32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = value;
  return t;
}

}  // namespace

Value NetBuilder::param(const std::string& name, const Shape& shape, float bound) {
  Tensor t(DType::f32, shape);
  std::uniform_real_distribution<float> u(-bound, bound);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = bound > 0 ? u(rng_) : 0.0f;
  params_.push_back(Variable::create(name, std::move(t)));
  param_nodes_.push_back(op::variable(params_.back()));
  return param_nodes_.back();
}

Value NetBuilder::constant_state(const std::string& name, int64_t channels, float value) {
  VariablePtr v = Variable::create(name, filled({channels}, value));
  v->trainable = false;
  state_updates_.push_back({v, Value{}});
  return op::variable(v);
}

int64_t NetBuilder::num_parameters() const {
  int64_t n = 0;
  for (const VariablePtr& p : params_) n += shape_numel(p->shape());
  return n;
}

Value NetBuilder::conv(const Value& x, int64_t out_channels, int64_t kernel, int64_t stride, int64_t pad, bool bias,
                       const std::string& name) {
  const int64_t in_channels = x.shape().at(1);
  // He-uniform: keeps activations at unit scale through ReLU layers, so that a few SGD
  // steps on random data lower the loss at the learning rates below.
  const float bound = std::sqrt(6.0f / static_cast<float>(in_channels * kernel * kernel));
  std::vector<Value> in = {x, param(name + ".weight", {out_channels, in_channels, kernel, kernel}, bound)};
  if (bias) in.push_back(param(name + ".bias", {out_channels}, 0.0f));
  return op::apply("conv", in, {{"strides", pair(stride)}, {"pads", std::vector<int64_t>{pad, pad, pad, pad}}},
                   name);
}

Value NetBuilder::batch_norm(const Value& x, const std::string& name) {
  const int64_t c = x.shape().at(1);
  Tensor ones = filled({c}, 1.0f);
  params_.push_back(Variable::create(name + ".weight", ones));
  param_nodes_.push_back(op::variable(params_.back()));
  Value scale = param_nodes_.back();
  Value bias = param(name + ".bias", {c}, 0.0f);
  Value mean = constant_state(name + ".running_mean", c, 0.0f);
  const size_t mean_slot = state_updates_.size() - 1;
  Value var = constant_state(name + ".running_var", c, 1.0f);
  std::vector<Value> out = make_node("batch_norm", {x, scale, bias, mean, var},
                                     {{"epsilon", 1e-5}, {"momentum", 0.9}, {"training", int64_t(1)}}, name);
  state_updates_[mean_slot].second = out.at(3);
  state_updates_.back().second = out.at(4);
  return out.at(0);
}

Value NetBuilder::dense(const Value& x, int64_t out, const std::string& name) {
  const int64_t in = x.shape().at(1);
  const float bound = std::sqrt(6.0f / static_cast<float>(in + out));  // Glorot: tanh and logits
  Value w = param(name + ".weight", {in, out}, bound);
  Value b = param(name + ".bias", {out}, 0.0f);
  return op::add(op::matmul(x, w), b);
}

Value NetBuilder::max_pool(const Value& x, int64_t kernel, int64_t stride, int64_t pad) {
  return op::apply("max_pool", {x},
                   {{"kernel_shape", pair(kernel)},
                    {"strides", pair(stride)},
                    {"pads", std::vector<int64_t>{pad, pad, pad, pad}}});
}

Value NetBuilder::global_avg_pool(const Value& x) {
  return op::reshape(op::apply("global_avg_pool", {x}), {x.shape().at(0), x.shape().at(1)});
}

Value lenet(NetBuilder& b, const Value& x) {
  Value h = NetBuilder::max_pool(op::tanh(b.conv(x, 20, 5, 1, 0, true, "conv1")), 2, 2, 0);
  h = NetBuilder::max_pool(op::tanh(b.conv(h, 50, 5, 1, 0, true, "conv2")), 2, 2, 0);
  h = op::reshape(h, {h.shape().at(0), h.shape().at(1) * h.shape().at(2) * h.shape().at(3)});
  h = op::tanh(b.dense(h, 500, "fc1"));
  return b.dense(h, 10, "fc2");
}

namespace {

// torchvision's BasicBlock: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the input (projected
// by conv1x1(stride)-BN when the shape changes), then ReLU.
Value basic_block(NetBuilder& b, const Value& x, int64_t channels, int64_t stride, const std::string& name) {
  Value h = op::relu(b.batch_norm(b.conv(x, channels, 3, stride, 1, false, name + ".conv1"), name + ".bn1"));
  h = b.batch_norm(b.conv(h, channels, 3, 1, 1, false, name + ".conv2"), name + ".bn2");
  Value shortcut = x;
  if (stride != 1 || x.shape().at(1) != channels)
    shortcut = b.batch_norm(b.conv(x, channels, 1, stride, 0, false, name + ".downsample.0"), name + ".downsample.1");
  return op::relu(op::add(h, shortcut));
}

}  // namespace

Value resnet18(NetBuilder& b, const Value& x, int64_t classes) {
  Value h = op::relu(b.batch_norm(b.conv(x, 64, 7, 2, 3, false, "conv1"), "bn1"));
  h = NetBuilder::max_pool(h, 3, 2, 1);
  const int64_t widths[] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    const std::string name = "layer" + std::to_string(stage + 1);
    h = basic_block(b, h, widths[stage], stage == 0 ? 1 : 2, name + ".0");
    h = basic_block(b, h, widths[stage], 1, name + ".1");
  }
  return b.dense(NetBuilder::global_avg_pool(h), classes, "fc");
}

TrainStep compile_train_step(const NetFn& net, const TrainConfig& cfg, int64_t* num_parameters) {
  TrainStep step;
  Shape x_shape = {cfg.batch};
  x_shape.insert(x_shape.end(), cfg.image.begin(), cfg.image.end());
  // A fixed batch: the same images every step, so the loss must fall as the net memorizes it.
  std::mt19937 data_rng(cfg.seed + 1000);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  step.x_host = Tensor(DType::f32, x_shape);
  for (int64_t i = 0; i < step.x_host.numel(); ++i) step.x_host.ptr<float>()[i] = u(data_rng);
  step.y_host = Tensor(DType::i32, {cfg.batch});
  for (int64_t i = 0; i < cfg.batch; ++i) step.y_host.ptr<int32_t>()[i] = static_cast<int32_t>(i % cfg.classes);

  Graph g;
  Value x, y;
  std::vector<TensorType> input_types;
  if (cfg.resident_batch) {
    // Variables stay on the device between runs: the step then copies nothing in.
    x = op::variable(Variable::create("x", step.x_host));
    y = op::variable(Variable::create("y", step.y_host));
  } else {
    x = op::input("x", DType::f32, x_shape);
    y = op::input("y", DType::i32, {cfg.batch});
    g.inputs = {x, y};
    input_types = {{DType::f32, x_shape}, {DType::i32, {cfg.batch}}};
    step.feeds = {step.x_host.view(), step.y_host.view()};
  }

  NetBuilder b(cfg.seed);
  Value logits = net(b, x);
  Value loss = op::reduce_mean(op::apply("softmax_cross_entropy", {logits, y}));
  std::vector<Value> grads = gradients(loss, b.param_nodes());
  if (num_parameters) *num_parameters = b.num_parameters();

  g.outputs = {loss};
  g.output_names = {"loss"};
  CompileOptions opts;
  opts.target = cfg.target;
  opts.seed = cfg.seed;
  auto update = [&](const VariablePtr& var, const Value& value) {
    g.outputs.push_back(value);
    g.output_names.push_back(var->name + "_new");
    opts.update_vars.push_back(var);
  };
  const Value lr = op::scalar(cfg.lr, DType::f32), momentum = op::scalar(cfg.momentum, DType::f32);
  for (size_t i = 0; i < b.params().size(); ++i) {
    const VariablePtr& p = b.params()[i];
    VariablePtr velocity = Variable::create(p->name + ".momentum", Tensor(DType::f32, p->shape()));
    velocity->trainable = false;
    Value v_new = op::add(op::mul(op::variable(velocity), momentum), grads[i]);
    update(p, op::sub(b.param_nodes()[i], op::mul(v_new, lr)));
    update(velocity, v_new);
  }
  for (const auto& su : b.state_updates()) update(su.first, su.second);
  step.exe = Executable::compile(g, input_types, opts);
  return step;
}

}  // namespace symnet_bench
