// Folding inference-mode batch norms into the product before them (conv, or a dense layer's
// matmul with or without its bias add). At inference a batch norm is an affine map per
// channel, y = s * x + (beta - s * mean) with s = gamma / sqrt(var + eps), so when x is a
// product that is linear per output channel it can absorb it:
//   W' = W * s (each output channel's weights),   b' = (b - mean) * s + beta.
// The batch norm then costs no pass over the activations, and the product gets a bias
// (which a backend can apply in the product's output pass).
//
// W' and b' are nodes computed from the variables at run time (O(weights) each run), since
// weights and statistics change between runs (training, set_weights); when they are
// constants, constant folding (which runs after this pass) folds them.
//
// Only a product whose value nothing else reads is folded (a second reader needs the
// unnormalized value), and only batch norms in inference mode (training = 0): training
// graphs normalize with batch statistics and are left as they are.
#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/passes/passes.h"
#include "engine/passes/subgraph.h"

namespace symnet {

namespace {

bool has_single_reader(const std::unordered_map<const Node*, std::vector<int>>& uses, const Value& v) {
  auto it = uses.find(v.node.get());
  return v.index == 0 && v.node->outputs.size() == 1 && it != uses.end() && it->second.at(0) == 1;
}

// What a batch norm folds into: the product's rebuilt inputs and how to remake it.
struct Product {
  enum Kind { none, conv, matmul, matmul_add } kind = none;
  const Node* node = nullptr;  // the conv or matmul (original graph)
  const Node* add = nullptr;   // the bias add of matmul_add
  int add_bias = -1;           // which input of the add is the bias
};

bool same_float_type(const Value& a, const Value& b) { return a.dtype() == b.dtype() && is_float(a.dtype()); }

Product find_product(const Node& bn, const std::unordered_map<const Node*, std::vector<int>>& uses) {
  Product p;
  const Value& x = bn.inputs[0];
  if (!has_single_reader(uses, x)) return p;
  const Node* n = x.node.get();
  const std::string& op = n->op_name();
  if (op == "conv") {
    const Value& w = n->inputs[1];
    const bool bias_ok = n->inputs.size() < 3 || !n->inputs[2].defined() || same_float_type(n->inputs[2], x);
    if (w.rank_known() && w.rank() >= 3 && same_float_type(w, x) && bias_ok) {
      p.kind = Product::conv;
      p.node = n;
    }
    return p;
  }
  // Dense: [N, C] = a [N, K] x W [K, C] (+ b [C] or [1, C]); the batch norm's channels are
  // the product's columns only at rank 2.
  auto dense_matmul = [&](const Value& v) {
    if (v.node->op_name() != "matmul" || v.rank() != 2) return false;
    const Value &a = v.node->inputs[0], &w = v.node->inputs[1];
    return a.rank_known() && a.rank() == 2 && w.rank_known() && w.rank() == 2 && same_float_type(w, v);
  };
  if (op == "matmul" && dense_matmul(x)) {
    p.kind = Product::matmul;
    p.node = n;
    return p;
  }
  if (op == "add" && x.rank_known() && x.rank() == 2) {
    for (int k = 0; k < 2; ++k) {
      const Value &m = n->inputs[k], &b = n->inputs[1 - k];
      if (!has_single_reader(uses, m) || !dense_matmul(m) || m.shape() != x.shape()) continue;
      const Shape& bs = b.shape();
      const int64_t c = x.shape()[1];
      const bool per_column = b.rank_known() && ((bs.size() == 1 && bs[0] == c) || (bs.size() == 2 && bs[0] == 1 && bs[1] == c));
      if (!per_column || !same_float_type(b, x)) continue;
      p.kind = Product::matmul_add;
      p.node = m.node.get();
      p.add = n;
      p.add_bias = 1 - k;
      return p;
    }
  }
  return p;
}

// The product with the batch norm folded in, or nothing when it does not apply.
Value fold(const Node& bn, const std::vector<Value>& ins, const Product& p) {
  const Value &gamma = ins[1], &beta = ins[2], &mean = ins[3], &var = ins[4];
  const std::string& nm = bn.name;
  const double eps = bn.attrs.get_float("epsilon", 1e-5);
  // Inputs of the rebuilt product node (the batch norm's input is the rebuilt product, or
  // the rebuilt add whose other input is).
  const Node& prod_or_add = *ins[0].node;
  Value s = op::apply("mul", {gamma, op::rsqrt(op::add(var, op::scalar_like(eps, var)))}, {}, nm + "/fold_scale");
  auto new_bias = [&](const Value& b) {
    Value shifted = b.defined() ? op::sub(b, mean) : op::neg(mean);
    return op::apply("add", {op::mul(shifted, s), beta}, {}, nm + "/fold_bias");
  };
  if (p.kind == Product::conv) {
    std::vector<Value> cin = prod_or_add.inputs;
    const Value& w = cin[1];
    std::vector<int64_t> axes;
    for (int64_t d = 1; d < w.rank(); ++d) axes.push_back(d);
    Value w2 = op::apply("mul", {w, op::unsqueeze(s, axes)}, {}, nm + "/fold_weight");
    Value b = cin.size() > 2 ? cin[2] : Value{};
    cin.resize(3);
    cin[1] = w2;
    cin[2] = new_bias(b);
    return make_node("conv", cin, prod_or_add.attrs, p.node->name).at(0);
  }
  const Node& mm = p.kind == Product::matmul ? prod_or_add : *prod_or_add.inputs[1 - p.add_bias].node;
  Value w2 = op::apply("mul", {mm.inputs[1], s}, {}, nm + "/fold_weight");
  Value y = make_node("matmul", {mm.inputs[0], w2}, mm.attrs, p.node->name).at(0);
  Value b = p.kind == Product::matmul_add ? prod_or_add.inputs[p.add_bias] : Value{};
  b = new_bias(b);
  std::vector<Value> add_ins = p.add_bias == 0 ? std::vector<Value>{b, y} : std::vector<Value>{y, b};
  return make_node("add", add_ins, {}, p.add ? p.add->name : nm + "/bias_add").at(0);
}

}  // namespace

Graph fold_batch_norms(const Graph& g) {
  BodyRewriter bodies(fold_batch_norms);
  const auto uses = count_uses(g);
  return rewrite_graph(g, [&](const Node& n, const std::vector<Value>& ins) -> std::vector<Value> {
    std::vector<Value> rebodied = bodies.apply(n, ins);
    if (!rebodied.empty()) return rebodied;
    if (n.op_name() != "batch_norm" || n.attrs.get_int("training", 0) != 0 || n.outputs.size() != 1) return {};
    for (size_t k = 1; k < 5; ++k)
      if (!ins[k].defined() || ins[k].dtype() != n.outputs[0].dtype) return {};
    const Product p = find_product(n, uses);
    if (p.kind == Product::none) return {};
    Value y = fold(n, ins, p);
    SN_CHECK(y.type() == n.outputs[0], ErrorKind::internal,
             "folding " << n.describe() << " gave " << type_str(y.type()) << " for " << type_str(n.outputs[0]));
    return {y};
  });
}

}  // namespace symnet
