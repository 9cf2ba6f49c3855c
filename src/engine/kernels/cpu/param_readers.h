// Node attributes -> the plain parameter structs of the elementwise, random and index
// kernels, with the functors' defaults. Header-only and shared by every backend's kernel
// table (cpu/bind_*.cpp, src/cuda/kernels/), so that a default or an attribute read one way
// on the CPU cannot be read another way on a device.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/base/shape.h"
#include "engine/ir/node.h"
#include "engine/kernels/cpu/elementwise.h"
#include "engine/kernels/cpu/index_kernels.h"
#include "engine/kernels/cpu/random_key.h"
#include "engine/kernels/cpu/random_kernels.h"
#include "engine/math/elementwise_functors.h"

namespace symnet {

inline ElementwiseParams read_elementwise(const Node& n) {
  const AttrMap& a = n.attrs;
  const std::string& op = n.op_name();
  ElementwiseParams p;
  if (op == "hard_sigmoid") {
    fn::HardSigmoidF d;
    p.alpha = a.get_float("alpha", d.alpha);
    p.beta = a.get_float("beta", d.beta);
  } else if (op == "leaky_relu") {
    p.alpha = a.get_float("alpha", fn::LeakyReluF{}.alpha);
  } else if (op == "elu") {
    p.alpha = a.get_float("alpha", fn::EluF{}.alpha);
  } else if (op == "selu") {
    fn::SeluF d;
    p.alpha = a.get_float("alpha", d.alpha);
    p.gamma = a.get_float("gamma", d.gamma);
  } else if (op == "celu") {
    p.alpha = a.get_float("alpha", fn::CeluF{}.alpha);
  } else if (op == "gelu") {
    p.tanh_approx = a.get_string("approximate", "none") == "tanh";
  } else if (op == "clip") {
    fn::ClipF d;
    p.lo = a.get_float("min", d.lo);
    p.hi = a.get_float("max", d.hi);
  } else if (op == "mod") {
    p.fmod = a.get_int("fmod", 0) != 0;
  }
  return p;
}

// In-place pairs of an elementwise node: its output may overwrite any input of its own
// dtype (the loops read each element before writing it).
inline std::vector<std::pair<int, int>> same_dtype_inputs(const Node& n) {
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < static_cast<int>(n.inputs.size()); ++i)
    if (n.inputs[i].defined() && n.inputs[i].dtype() == n.outputs.at(0).dtype) pairs.push_back({0, i});
  return pairs;
}

// The generator's key from the node's seed (or its name), and its two parameters.
inline RandomParams read_random(const Node& n, const char* a_name, double a_def, const char* b_name, double b_def) {
  RandomParams p;
  p.key = make_random_key(n.attrs.has("seed"), n.attrs.get_int("seed", 0), n.name);
  if (a_name) p.a = n.attrs.get_float(a_name, a_def);
  if (b_name) p.b = n.attrs.get_float(b_name, b_def);
  p.k = n.attrs.get_int("k", 0);
  return p;
}

// `axis_rank_input`: which tensor's rank the axis refers to (-1: the output's).
inline IndexParams read_index(const Node& n, int axis_rank_input, int64_t default_axis) {
  const AttrMap& a = n.attrs;
  IndexParams p;
  const Shape& s = axis_rank_input < 0 ? n.outputs.at(0).shape : n.inputs.at(axis_rank_input).shape();
  p.axis = normalize_axis(a.get_int("axis", default_axis), static_cast<int64_t>(s.size()));
  p.index_base = a.get_int("index_base", 0);
  const std::string red = a.get_string("reduction", "none");
  p.reduction = red == "add" ? 1 : red == "mul" ? 2 : 0;
  p.depth = a.get_int("depth", 0);
  p.on_value = a.get_float("on_value", 1.0);
  p.off_value = a.get_float("off_value", 0.0);
  return p;
}

}  // namespace symnet
