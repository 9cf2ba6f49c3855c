// Caffe NetDef -> engine graph: net inputs and Input layers become inputs, parameter blobs
// trainable variables named "<layer>/weight", "<layer>/bias" (BatchNorm statistics
// "<layer>/mean", "<layer>/variance": non-trainable running state), every layer of the
// TEST phase the engine ops that compute it. A BatchNorm followed by an in-place Scale
// becomes one batch_norm whose gamma and beta are the Scale's blobs.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/io/caffe/caffe_model.h"
#include "engine/ir/node.h"

namespace symnet {
namespace caffe {

struct ImportOptions {
  // Leave the first dimension of every input unknown, so the model takes batches of any
  // size (Caffe files declare one).
  bool free_batch = true;
};

struct ImportedNet {
  std::string name;
  std::vector<std::string> input_names, output_names;
  std::vector<Value> inputs, outputs;
  std::vector<VariablePtr> variables;
  // Every blob name with its last value, for cutting the model anywhere.
  std::map<std::string, Value> values;
  // Layer name -> Caffe type of every layer converted (for display).
  std::map<std::string, std::string> layer_types;
};

// `net` gives the structure (a .prototxt), `weights` the blobs (a .caffemodel), matched by
// layer name; blobs in `net` itself are used for layers `weights` does not have.
ImportedNet import_net(const NetDef& net, const NetDef& weights, const ImportOptions& options = {});

// The layer types the importer converts.
std::vector<std::string> supported_layer_types();

}  // namespace caffe
}  // namespace symnet
