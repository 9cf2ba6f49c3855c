// The import driver: layers of the TEST phase in file order, bottoms looked up by blob
// name (in-place layers rebind the name), Input layers and net inputs as engine inputs,
// BatchNorm + in-place Scale folded into one batch_norm, Caffe's rule for the outputs
// (blobs that no later layer consumes).
#include "engine/io/caffe/caffe_import.h"

#include <algorithm>
#include <sstream>

#include "engine/io/caffe/caffe_import_context.h"

namespace symnet {
namespace caffe {

// --- LayerContext -----------------------------------------------------------------------------

Value LayerContext::bottom(size_t i) const {
  if (i >= bottoms_.size()) invalid("needs bottom " + std::to_string(i + 1) + ", which it does not have");
  return bottoms_[i];
}

void LayerContext::expect_bottoms(size_t lo, size_t hi) const {
  const size_t n = bottoms_.size();
  if (n < lo || n > hi) {
    std::ostringstream m;
    m << "has " << n << " bottoms; symnet converts it with " << lo;
    if (hi != lo) m << (hi > 1000 ? " or more" : " to " + std::to_string(hi));
    invalid(m.str());
  }
}

void LayerContext::allow(const Layer& l, const std::vector<std::string>& keys) const {
  for (const auto& kv : l.params) {
    bool ok = false;
    for (const std::string& k : keys) {
      if (k.size() > 2 && k.compare(k.size() - 2, 2, ".*") == 0) {
        ok = ok || kv.first.rfind(k.substr(0, k.size() - 1), 0) == 0;
      } else {
        ok = ok || kv.first == k;
      }
    }
    if (!ok) unsupported("parameter '" + kv.first + "' is not supported");
  }
}

int64_t LayerContext::int_param(const Layer& l, const std::string& key, int64_t def) const {
  auto it = l.params.find(key);
  if (it == l.params.end() || it->second.ints.empty()) return def;
  if (it->second.ints.size() > 1) invalid("parameter '" + key + "' is given more than once");
  return it->second.ints[0];
}

std::vector<int64_t> LayerContext::ints_param(const std::string& key) const {
  auto it = layer_.params.find(key);
  return it == layer_.params.end() ? std::vector<int64_t>{} : it->second.ints;
}

double LayerContext::real_param(const std::string& key, double def) const {
  auto it = layer_.params.find(key);
  if (it == layer_.params.end() || it->second.reals.empty()) return def;
  if (it->second.reals.size() > 1) invalid("parameter '" + key + "' is given more than once");
  return it->second.reals[0];
}

std::vector<double> LayerContext::reals_param(const std::string& key) const {
  auto it = layer_.params.find(key);
  return it == layer_.params.end() ? std::vector<double>{} : it->second.reals;
}

size_t LayerContext::num_blobs(const Layer& l) const {
  auto it = blobs_.find(l.name);
  return it == blobs_.end() ? 0 : it->second->size();
}

Tensor LayerContext::blob(const Layer& l, size_t i, const Shape& want, const char* what) const {
  auto it = blobs_.find(l.name);
  const std::string who = &l == &layer_ ? std::string("its") : "layer '" + l.name + "''s";
  if (it == blobs_.end() || i >= it->second->size())
    invalid(who + " " + what + " (blob " + std::to_string(i) + ") is missing: the caffemodel has " +
            std::to_string(it == blobs_.end() ? 0 : it->second->size()) + " blobs for layer '" + l.name + "'");
  const Tensor& t = (*it->second)[i].value;
  const int64_t n = shape_numel(want);
  if (t.numel() != n)
    invalid(who + " " + what + " (blob " + std::to_string(i) + ") has shape " + shape_str(t.shape()) + "; the layer needs " +
            shape_str(want));
  Tensor out(DType::f32, want);
  std::copy(t.ptr<float>(), t.ptr<float>() + n, out.ptr<float>());
  return out;
}

Value LayerContext::variable(const std::string& name, const Tensor& value, bool trainable) {
  VariablePtr v = Variable::create(name, value);
  v->trainable = trainable;
  variables_.push_back(v);
  return op::variable(v);
}

Value LayerContext::parameter(const Layer& l, size_t i, const Shape& want, const std::string& suffix, bool trainable) {
  return variable(l.name + "/" + suffix, blob(l, i, want, suffix.c_str()), trainable);
}

int64_t LayerContext::static_dim(const Value& v, int64_t d, const char* what) const {
  if (!v.rank_known()) unsupported(std::string("the rank of its ") + what + " must be known when the model is imported");
  if (d < 0 || d >= v.rank()) invalid(std::string("its ") + what + " has rank " + std::to_string(v.rank()));
  const int64_t n = v.shape()[static_cast<size_t>(d)];
  if (n < 0)
    unsupported(std::string("the shape of its ") + what + " must be known when the model is imported, not " +
                shape_str(v.shape()));
  return n;
}

int64_t LayerContext::axis(int64_t a, int64_t rank) const {
  if (a < -rank || a >= rank)
    invalid("axis " + std::to_string(a) + " is out of range for a bottom of rank " + std::to_string(rank));
  return a < 0 ? a + rank : a;
}

void LayerContext::unsupported(const std::string& what) const {
  SN_THROW(ErrorKind::unsupported, "Caffe layer '" << layer_.name << "' (" << layer_.type << "): " << what);
}
void LayerContext::invalid(const std::string& what) const {
  SN_THROW(ErrorKind::value, "Caffe layer '" << layer_.name << "' (" << layer_.type << "): " << what);
}

// --- driver -----------------------------------------------------------------------------------

namespace {

const ConverterTable& converters() {
  static const ConverterTable table = [] {
    ConverterTable t;
    add_nn_converters(t);
    add_tensor_converters(t);
    return t;
  }();
  return table;
}

// Whether a layer runs in the TEST phase (Caffe's NetStateRule with the default state:
// phase TEST, level 0, no stages).
bool in_test_phase(const Layer& l) {
  auto meets = [&](const Rule& r) {
    if (r.levels_or_stages)
      SN_THROW(ErrorKind::unsupported, "Caffe layer '" << l.name << "': include/exclude rules with levels or stages are not supported");
    return r.phase == -1 || r.phase == kTest;
  };
  if (!l.include.empty()) return std::any_of(l.include.begin(), l.include.end(), meets);
  return std::none_of(l.exclude.begin(), l.exclude.end(), meets);
}

Shape input_shape(const std::string& name, const std::vector<int64_t>& dims, bool free_batch) {
  SN_CHECK(!dims.empty(), ErrorKind::unsupported,
           "Caffe input '" << name << "' has no declared shape (give input_shape, input_dim or an Input layer's shape)");
  SN_CHECK(static_cast<int64_t>(dims.size()) <= kMaxRank, ErrorKind::value,
           "Caffe input '" << name << "' has " << dims.size() << " dimensions (at most " << kMaxRank << ")");
  int64_t numel = 1;
  for (int64_t d : dims) {
    SN_CHECK(d >= 1 && d <= (int64_t{1} << 31), ErrorKind::value,
             "Caffe input '" << name << "' has dimension " << d << " (each must be between 1 and 2^31)");
    SN_CHECK(numel <= (int64_t{1} << 40) / d, ErrorKind::value,
             "Caffe input '" << name << "' has shape " << shape_str(dims) << ", more elements than symnet handles");
    numel *= d;
  }
  Shape s = dims;
  if (free_batch) s[0] = kUnknownDim;
  return s;
}

// A Scale right after a BatchNorm, in place on its output, with one learned per-channel
// scale: Caffe's way of giving batch norm its affine part.
bool fusable_scale(const Layer& bn, const Layer& next) {
  if (next.type != "Scale" || bn.tops.size() != 1 || next.bottoms.size() != 1 || next.tops.size() != 1) return false;
  if (next.bottoms[0] != bn.tops[0] || next.tops[0] != bn.tops[0]) return false;
  for (const auto& kv : next.params) {
    const std::string& k = kv.first;
    if (k == "scale_param.axis" && kv.second.ints != std::vector<int64_t>{1}) return false;
    if (k == "scale_param.num_axes" && kv.second.ints != std::vector<int64_t>{1}) return false;
  }
  return true;
}

struct Env {
  std::map<std::string, Value> values;
  std::vector<std::string> available;  // Caffe's candidates for the outputs, in order
  void consume(const std::string& n) { available.erase(std::remove(available.begin(), available.end(), n), available.end()); }
  void produce(const std::string& n, const Value& v) {
    values[n] = v;
    consume(n);
    available.push_back(n);
  }
};

}  // namespace

std::vector<std::string> supported_layer_types() {
  std::vector<std::string> out = {"Input"};
  for (const auto& kv : converters()) out.push_back(kv.first);
  return out;
}

ImportedNet import_net(const NetDef& net, const NetDef& weights, const ImportOptions& opt) {
  ImportedNet out;
  out.name = net.name;
  BlobMap blobs;
  for (const Layer& l : net.layers)
    if (!l.blobs.empty()) blobs[l.name] = &l.blobs;
  for (const Layer& l : weights.layers)
    if (!l.blobs.empty()) blobs[l.name] = &l.blobs;

  Env env;
  auto add_input = [&](const std::string& name, const std::vector<int64_t>& dims) {
    SN_CHECK(!name.empty(), ErrorKind::value, "a Caffe input has no name");
    SN_CHECK(!env.values.count(name), ErrorKind::value, "Caffe input '" << name << "' is declared twice");
    Value v = op::input(name, DType::f32, input_shape(name, dims, opt.free_batch));
    env.values[name] = v;
    out.input_names.push_back(name);
    out.inputs.push_back(v);
    out.values[name] = v;
  };
  for (size_t i = 0; i < net.inputs.size(); ++i) add_input(net.inputs[i], net.input_dims[i]);

  std::vector<const Layer*> layers;
  for (const Layer& l : net.layers)
    if (in_test_phase(l)) layers.push_back(&l);

  const ConverterTable& table = converters();
  for (size_t k = 0; k < layers.size(); ++k) {
    const Layer& l = *layers[k];
    if (l.type == "Input") {
      LayerContext ctx(l, {}, blobs, out.variables, nullptr);
      ctx.allow({"input_param.*"});
      size_t n_shapes = 0;
      while (l.params.count("input_param.shape." + std::to_string(n_shapes) + ".dim")) ++n_shapes;
      if (n_shapes != 1 && n_shapes != l.tops.size())
        ctx.invalid("gives " + std::to_string(n_shapes) + " shapes for " + std::to_string(l.tops.size()) +
                    " tops (one shape, or one per top)");
      for (size_t t = 0; t < l.tops.size(); ++t)
        add_input(l.tops[t], l.params.at("input_param.shape." + std::to_string(n_shapes == 1 ? 0 : t) + ".dim").ints);
      continue;
    }
    auto conv = table.find(l.type);
    SN_CHECK(conv != table.end(), ErrorKind::unsupported,
             "Caffe layer type '" << l.type << "' (layer '" << l.name << "') is not supported by symnet");
    std::vector<Value> bottoms;
    for (const std::string& b : l.bottoms) {
      auto it = env.values.find(b);
      SN_CHECK(it != env.values.end(), ErrorKind::value,
               "Caffe layer '" << l.name << "' (" << l.type << ") reads blob '" << b
                               << "', which no earlier layer or input produces");
      bottoms.push_back(it->second);
    }
    const Layer* fused = (l.type == "BatchNorm" && k + 1 < layers.size() && fusable_scale(l, *layers[k + 1]))
                             ? layers[k + 1]
                             : nullptr;
    LayerContext ctx(l, bottoms, blobs, out.variables, fused);
    std::vector<Value> outs;
    try {
      outs = conv->second(ctx);
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.rfind("Caffe layer", 0) == 0) throw;
      throw Error(e.kind(), "Caffe layer '" + l.name + "' (" + l.type + "): " + msg, e.op(), e.node());
    }
    const Layer& last = fused ? *fused : l;
    if (outs.size() != last.tops.size())
      ctx.invalid("has " + std::to_string(last.tops.size()) + " tops; symnet computes " + std::to_string(outs.size()));
    for (const std::string& b : l.bottoms) env.consume(b);
    for (size_t t = 0; t < outs.size(); ++t) {
      env.produce(last.tops[t], outs[t]);
      out.values[last.tops[t]] = outs[t];
    }
    out.layer_types[l.name] = l.type;
    if (fused) out.layer_types[fused->name] = fused->type;
    if (fused) ++k;
  }
  for (const std::string& n : env.available) {
    if (std::find(out.input_names.begin(), out.input_names.end(), n) != out.input_names.end()) continue;
    out.output_names.push_back(n);
    out.outputs.push_back(env.values.at(n));
  }
  SN_CHECK(!out.inputs.empty(), ErrorKind::value, "the Caffe network declares no inputs (input fields or an Input layer)");
  SN_CHECK(!out.outputs.empty(), ErrorKind::value, "the Caffe network computes no outputs");
  return out;
}

}  // namespace caffe
}  // namespace symnet
