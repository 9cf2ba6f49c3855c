#include "engine/ir/node.h"

#include <atomic>
#include <sstream>

#include "engine/base/error.h"
#include "engine/ir/op_schema.h"

namespace symnet {

std::string type_str(const TensorType& t) {
  return std::string(dtype_name(t.dtype)) + shape_str(t.shape);
}

const TensorType& Value::type() const {
  SN_CHECK(node != nullptr, ErrorKind::internal, "type() of an undefined value");
  return node->outputs.at(index);
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

uint64_t next_node_id() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

std::string inputs_str(const std::vector<Value>& inputs) {
  std::ostringstream o;
  for (size_t i = 0; i < inputs.size(); ++i) {
    o << (i ? ", " : "") << (inputs[i].defined() ? type_str(inputs[i].type()) : "<none>");
  }
  return o.str();
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
    for (int i = 0; i < n; ++i) {
      SN_CHECK(node->inputs[i].defined(), ErrorKind::value, "input " << i + 1 << " is missing");
      in_types.push_back(node->inputs[i].type());
    }
    InferContext ctx{def.name, node->attrs, in_types};
    node->outputs = def.infer(ctx);
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

}  // namespace symnet
