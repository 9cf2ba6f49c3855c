#include "engine/ir/node.h"

#include <atomic>
#include <sstream>

#include "engine/base/error.h"
#include "engine/ir/op_schema.h"

namespace symnet {

std::string type_str(const TensorType& t) {
  return std::string(dtype_name(t.dtype)) + (t.unknown_rank ? "[...]" : shape_str(t.shape));
}

bool same_known_shape(const TensorType& a, const TensorType& b) {
  return a.known() && b.known() && a.shape == b.shape;
}

const TensorType& Value::type() const {
  SN_CHECK(node != nullptr, ErrorKind::internal, "type() of an undefined value");
  return node->outputs.at(index);
}

const Shape& Value::shape() const {
  const TensorType& t = type();
  SN_CHECK(!t.unknown_rank, ErrorKind::shape,
           "the rank of " << node->describe() << " is known only when the graph is fed, and it is needed here;"
                          << " declare the input(s) it is computed from with a shape (e.g. c(NA, NA) for a matrix)");
  return t.shape;
}

Node::~Node() {
  // Inputs this node holds the last reference to are taken apart here, one at a time, so
  // that each of them dies with no inputs of its own left to free.
  std::vector<NodePtr> dying;
  auto take = [&](std::vector<Value>& ins) {
    for (Value& v : ins)
      if (v.node && v.node.use_count() == 1) dying.push_back(std::move(v.node));
  };
  take(inputs);
  while (!dying.empty()) {
    NodePtr n = std::move(dying.back());
    dying.pop_back();
    // Sole owner: nothing else can reach this node any more.
    take(const_cast<Node&>(*n).inputs);
  }
}

const std::string& Node::op_name() const { return op->name; }

Value Node::out(int i) const {
  SN_CHECK(i >= 0 && i < static_cast<int>(outputs.size()), ErrorKind::internal,
           "output " << i << " of " << describe() << " does not exist");
  return Value{shared_from_this(), i};  // nodes are only created by make_node, as shared_ptr
}

std::string Node::describe() const {
  return "op '" + op_name() + "' (node '" + name + "')";
}

namespace {

std::atomic<uint64_t> g_next_node_id{1};

uint64_t next_node_id() { return g_next_node_id++; }

std::string inputs_str(const std::vector<Value>& inputs) {
  std::ostringstream o;
  for (size_t i = 0; i < inputs.size(); ++i) {
    o << (i ? ", " : "") << (inputs[i].defined() ? type_str(inputs[i].type()) : "<none>");
  }
  return o.str();
}

// Output types of an op with inputs of unknown rank. Inference functions are written for
// known ranks (an empty shape is a scalar to them), so they are never shown an unknown rank:
// the op is inferred with the unknown-rank inputs replaced by inputs of every rank
// 0..kMaxRank with all dimensions unknown (the same rank for all of them).
//  - No rank fits: the op cannot take the input at any rank; the error is raised now,
//    where the user wrote it (a dtype or attribute error as the op gave it).
//  - One unknown-rank input, every rank fits and all give the same output type: that type
//    holds whatever rank is fed (sum over all axes is a scalar). Every rank a feed may have
//    (the engine caps ranks at kMaxRank) was tried. A rank that fails with unknown
//    dimensions may still fit once they are known (squeeze without axes needs them), so
//    any failure leaves the rank unknown instead of trusting the ranks that fitted.
//  - Otherwise the outputs have unknown rank, with the dtypes the first fitting rank gave
//    (dtype rules do not depend on rank). Several unknown-rank inputs are only tried at
//    equal ranks, so their outputs are always left unknown rather than guessed.
// Specialisation re-infers every node with the fed types, which settles all of it.
std::vector<TensorType> infer_unknown_rank(const OpSchema& def, const AttrMap& attrs,
                                           const std::vector<TensorType>& in_types) {
  size_t n_unknown = 0;
  for (const TensorType& t : in_types) n_unknown += t.unknown_rank ? 1 : 0;
  std::vector<TensorType> probe = in_types, first;
  bool have = false, agree = n_unknown == 1;
  std::vector<Error> failures;
  for (int64_t r = 0; r <= kMaxRank; ++r) {
    for (size_t i = 0; i < in_types.size(); ++i)
      if (in_types[i].unknown_rank) probe[i] = TensorType{in_types[i].dtype, Shape(r, kUnknownDim)};
    InferContext ctx{def.name, attrs, probe};
    std::vector<TensorType> got;
    try {
      got = def.infer(ctx);
    } catch (const Error& e) {
      if (failures.size() < 3) failures.push_back(e);
      agree = false;
      continue;
    }
    if (!have) {
      first = std::move(got);
      have = true;
    } else if (agree && got != first) {
      agree = false;
    }
  }
  if (!have) {
    // A rank-independent complaint (dtype, attribute) is the op's own message; otherwise
    // say that no rank fits, quoting the op at rank 2 (a matrix, the usual intent).
    for (const Error& e : failures)
      if (e.kind() != ErrorKind::shape) throw Error(e.kind(), e.what());
    const Error& e = failures.size() > 2 ? failures[2] : failures.back();
    SN_THROW(ErrorKind::shape, "no input rank fits this op (at rank 2: " << e.what() << ")");
  }
  if (!agree)
    for (TensorType& t : first) t = TensorType{t.dtype, {}, true};
  return first;
}

std::vector<Value> build(const OpSchema& def, std::vector<Value> inputs, AttrMap attrs,
                         std::string name) {
  auto node = std::make_shared<Node>();
  node->id = next_node_id();
  node->op = &def;
  node->name = name.empty() ? def.name + "_" + std::to_string(node->id) : std::move(name);
  node->attrs = std::move(attrs);
  node->inputs = std::move(inputs);
  int n = static_cast<int>(node->inputs.size());
  try {
    def.validate(node->attrs);
    SN_CHECK(n >= def.min_inputs && (def.max_inputs < 0 || n <= def.max_inputs), ErrorKind::value,
             "takes " << def.min_inputs
                      << (def.max_inputs < 0 ? " or more"
                          : def.max_inputs == def.min_inputs ? ""
                          : " to " + std::to_string(def.max_inputs))
                      << " inputs, got " << n);
    std::vector<TensorType> in_types;
    bool any_unknown_rank = false;
    for (int i = 0; i < n; ++i) {
      SN_CHECK(node->inputs[i].defined(), ErrorKind::value, "input " << i + 1 << " is missing");
      in_types.push_back(node->inputs[i].type());
      any_unknown_rank = any_unknown_rank || in_types.back().unknown_rank;
    }
    if (any_unknown_rank) {
      node->outputs = infer_unknown_rank(def, node->attrs, in_types);
    } else {
      InferContext ctx{def.name, node->attrs, in_types};
      node->outputs = def.infer(ctx);
    }
  } catch (const Error& e) {
    std::ostringstream msg;
    msg << e.what();
    if (n > 0) msg << " (inputs: " << inputs_str(node->inputs) << ")";
    throw Error(e.kind(), msg.str(), def.name, node->name);
  }
  std::vector<Value> outs;
  NodePtr p = node;
  for (int i = 0; i < static_cast<int>(p->outputs.size()); ++i) outs.push_back(Value{p, i});
  return outs;
}

}  // namespace

std::vector<Value> make_node(const std::string& op, std::vector<Value> inputs, AttrMap attrs,
                             std::string name) {
  return build(registry().get(op), std::move(inputs), std::move(attrs), std::move(name));
}

std::vector<Value> remake_node(const Node& like, std::vector<Value> inputs) {
  return build(*like.op, std::move(inputs), like.attrs, like.name);
}

uint64_t last_node_id() { return g_next_node_id.load() - 1; }

}  // namespace symnet
