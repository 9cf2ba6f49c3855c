// A Caffe network as plain C++ values: what the importer reads, independent of protobuf
// (caffe_read.cpp is the only file that sees the generated message classes, so everything
// else builds whether or not protobuf is installed).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/base/tensor.h"

namespace symnet {
namespace caffe {

// A parameter blob: float32 values in `value`, shaped as the file says (BlobShape, or the
// legacy num/channels/height/width, which the reader keeps as 4 dims).
struct Blob {
  Tensor value;
};

// One field of a layer's *_param message, as read: integers (also bools and enum
// numbers), reals or strings. Nested messages are flattened into dotted keys
// ("convolution_param.weight_filler.type"); repeated messages get their index
// ("input_param.shape.0.dim").
struct Field {
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<std::string> strings;
};

// A NetStateRule (include/exclude): the phase it names (-1: none) and whether it also
// names levels or stages, which symnet does not evaluate.
struct Rule {
  int phase = -1;
  bool levels_or_stages = false;
};
enum Phase : int { kTrain = 0, kTest = 1 };

struct Layer {
  std::string name;
  // The layer type as the current format names it ("Convolution"); V1 layers are mapped
  // to those names, V1 types without one keep their enum name ("DATA").
  std::string type;
  std::vector<std::string> bottoms, tops;
  std::vector<Blob> blobs;
  std::map<std::string, Field> params;  // only the fields set in the file
  std::vector<Rule> include, exclude;
  int phase = -1;
};

struct NetDef {
  std::string name;
  // Net-level inputs (`input` with `input_dim` or `input_shape`); dims empty when the file
  // gives none.
  std::vector<std::string> inputs;
  std::vector<std::vector<int64_t>> input_dims;
  std::vector<Layer> layers;
};

// Reads a text network definition (.prototxt). Malformed text throws Error(value) with the
// line; fields symnet does not know inside the parameters of a layer type it converts
// throw Error(unsupported) naming them (elsewhere they are skipped: data-layer settings,
// solver hints).
NetDef parse_prototxt(const std::string& text);
NetDef read_prototxt_file(const std::string& path);

// Reads binary weights (.caffemodel): a NetParameter whose layers carry blobs. Blob shapes
// that disagree with their data, negative or huge dims throw Error(value) before anything
// is allocated from them.
NetDef parse_caffemodel(const std::string& bytes);
NetDef read_caffemodel_file(const std::string& path);

}  // namespace caffe
}  // namespace symnet
