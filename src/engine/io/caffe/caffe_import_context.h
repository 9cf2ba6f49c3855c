// What a layer converter sees (caffe_import.cpp drives them): the layer, its bottoms as
// engine values, its parameters and blobs with checked access, errors naming the layer.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/io/caffe/caffe_import.h"
#include "engine/ops/builder.h"

namespace symnet {
namespace caffe {

class LayerContext;
using Converter = std::function<std::vector<Value>(LayerContext&)>;
// layer type -> converter; each family file adds its own (caffe_convert_*.cpp).
using ConverterTable = std::map<std::string, Converter>;
void add_nn_converters(ConverterTable& t);
void add_tensor_converters(ConverterTable& t);

// Layer name -> its blobs (from the caffemodel, else the prototxt).
using BlobMap = std::map<std::string, const std::vector<Blob>*>;

class LayerContext {
 public:
  LayerContext(const Layer& layer, std::vector<Value> bottoms, const BlobMap& blobs,
               std::vector<VariablePtr>& variables, const Layer* fused_scale)
      : layer_(layer), bottoms_(std::move(bottoms)), blobs_(blobs), variables_(variables), fused_scale_(fused_scale) {}

  const Layer& layer() const { return layer_; }
  // "<layer>/<what>": the name of a node the layer creates, so a model groups its nodes
  // by layer (as symnet's own layers name theirs).
  std::string node_name(const std::string& what) const { return layer_.name + "/" + what; }
  // The in-place Scale layer following a BatchNorm, folded into it (else null).
  const Layer* fused_scale() const { return fused_scale_; }

  size_t num_bottoms() const { return bottoms_.size(); }
  Value bottom(size_t i) const;
  // Errors unless the layer has between lo and hi bottoms.
  void expect_bottoms(size_t lo, size_t hi) const;

  // Refuses every parameter set in the file that is not listed; "x.*" allows all of x's
  // fields (fillers, which only initialize training from scratch).
  void allow(const std::vector<std::string>& keys) const { allow(layer_, keys); }
  void allow(const Layer& l, const std::vector<std::string>& keys) const;
  bool has(const std::string& key) const { return has(layer_, key); }
  bool has(const Layer& l, const std::string& key) const { return l.params.count(key) > 0; }
  int64_t int_param(const std::string& key, int64_t def) const { return int_param(layer_, key, def); }
  int64_t int_param(const Layer& l, const std::string& key, int64_t def) const;
  std::vector<int64_t> ints_param(const std::string& key) const;
  double real_param(const std::string& key, double def) const;
  std::vector<double> reals_param(const std::string& key) const;

  // Blob i of layer l (default: this layer) with `want`'s element count, reshaped to it
  // (old files store 2-D weights as [1, 1, rows, cols]); a value error naming `what` when
  // it is missing or holds another count.
  Tensor blob(size_t i, const Shape& want, const char* what) const { return blob(layer_, i, want, what); }
  Tensor blob(const Layer& l, size_t i, const Shape& want, const char* what) const;
  size_t num_blobs(const Layer& l) const;
  // A variable "<layer name>/<suffix>" holding blob i.
  Value parameter(const Layer& l, size_t i, const Shape& want, const std::string& suffix, bool trainable = true);
  Value parameter(size_t i, const Shape& want, const std::string& suffix) { return parameter(layer_, i, want, suffix); }
  Value variable(const std::string& name, const Tensor& value, bool trainable);

  // Static dimension d of v (an unsupported error naming `what` when unknown).
  int64_t static_dim(const Value& v, int64_t d, const char* what) const;
  // Normalizes a Caffe axis (may be negative) against rank.
  int64_t axis(int64_t a, int64_t rank) const;

  [[noreturn]] void unsupported(const std::string& what) const;
  [[noreturn]] void invalid(const std::string& what) const;

 private:
  const Layer& layer_;
  std::vector<Value> bottoms_;
  const BlobMap& blobs_;
  std::vector<VariablePtr>& variables_;
  const Layer* fused_scale_;
};

}  // namespace caffe
}  // namespace symnet
