// Rcpp exports for building symbols, gradients and shared variables.
#include "r_glue.h"

#include <cmath>

#include <cstring>
#include <unordered_set>
#include <variant>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "engine/ir/dot.h"
#include "engine/ir/json.h"
#include "engine/kernels/cpu/blas.h"
#include "engine/kernels/cpu/parallel.h"
#include "engine/ops/builder.h"
#include "engine/backend/backend.h"
#include "engine/ops/registry.h"
#include "engine/passes/passes.h"

using namespace symnet;
using namespace symnet_r;

// [[Rcpp::export]]
SEXP cpp_sym_input(std::string name, std::string dtype, SEXP shape) {
  SN_R_BEGIN
  // NULL: declared without a shape, so any shape (rank included) is accepted when fed.
  if (shape == R_NilValue)
    return wrap_value(make_node("input", {}, {{"name", name}, {"dtype", std::string(dtype_name(dtype_from_name(dtype)))}}, name).at(0));
  return wrap_value(op::input(name, dtype_from_name(dtype), shape_from_r(shape)));
  SN_R_END
  return R_NilValue;
}

// [[Rcpp::export]]
SEXP cpp_sym_const(SEXP value, std::string dtype, std::string name) {
  SN_R_BEGIN
  Tensor t = r_to_tensor(value, dtype_from_name(dtype), true, "constant value");
  return wrap_value(op::constant(t, name));
  SN_R_END
  return R_NilValue;
}

// [[Rcpp::export]]
Rcpp::List cpp_sym_apply(std::string op_name, Rcpp::List inputs, Rcpp::List attrs, std::string name) {
  SN_R_BEGIN
  std::vector<Value> outs = make_node(op_name, values_from_r(inputs), attrs_from_r(attrs), name);
  Rcpp::List res(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) res[i] = wrap_value(outs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
Rcpp::List cpp_sym_info(SEXP p) {
  SN_R_BEGIN
  const Value& v = value_from_r(p);
  const Node& n = *v.node;
  return Rcpp::List::create(
      Rcpp::Named("op") = n.op_name(), Rcpp::Named("name") = n.name,
      Rcpp::Named("dtype") = std::string(dtype_name(v.dtype())), Rcpp::Named("shape") = type_shape_to_r(v.type()),
      Rcpp::Named("index") = v.index, Rcpp::Named("id") = static_cast<double>(n.id),
      Rcpp::Named("n_inputs") = static_cast<int>(n.inputs.size()),
      Rcpp::Named("n_outputs") = static_cast<int>(n.outputs.size()), Rcpp::Named("attrs") = attrs_to_r(n.attrs));
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
Rcpp::List cpp_sym_inputs(SEXP p) {
  SN_R_BEGIN
  const Value& v = value_from_r(p);
  Rcpp::List res(v.node->inputs.size());
  for (size_t i = 0; i < v.node->inputs.size(); ++i) res[i] = wrap_value(v.node->inputs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// Output `index` (0-based) of the node that computes `p`: the other outputs of a
// multi-output node (the new running statistics of a batch norm in training mode).
// [[Rcpp::export]]
SEXP cpp_sym_output(SEXP p, int index) {
  SN_R_BEGIN
  const Value& v = value_from_r(p);
  if (index < 0 || index >= static_cast<int>(v.node->outputs.size()))
    raise_error(ErrorKind::index, v.node->describe() + " has " + std::to_string(v.node->outputs.size()) +
                                      " outputs; there is no output " + std::to_string(index));
  return wrap_value(v.node->out(index));
  SN_R_END
  return R_NilValue;
}

// Every node reachable from `outputs`, inputs before users (the engine's deterministic
// post-order), as columns: id, op, name, n_outputs, dtype and shape of the node's value
// `ptr` (its lowest output that the graph uses), the ids of its inputs, and `in_body`.
// The nodes of bodies (graph-valued attributes such as a call's, recursively) come just
// before the node holding them, flagged `in_body`, without the body's formal inputs (they
// are not the model's): a parameter used only inside a body is found like any other.
// Each node is listed once. Walking in C++ keeps model construction linear in the graph
// size, and R environments keyed by node id are avoided: every key would be interned as an
// R symbol, which R never frees.
namespace {

struct WalkEntry {
  const Node* node;
  int lowest;  // lowest referenced output, -1 if none
  bool in_body;
};

void walk_graph(const Graph& g, bool in_body, std::unordered_set<const Node*>& seen,
                std::unordered_set<const Graph*>& bodies_seen, std::vector<WalkEntry>& out) {
  NodeIndex pos;
  const std::vector<NodePtr> order = g.topo_order(&pos);
  std::vector<int> lowest(order.size(), -1);
  auto note = [&](const Value& v) {
    const int k = pos.find(v.node.get());
    if (k >= 0 && (lowest[k] < 0 || v.index < lowest[k])) lowest[k] = v.index;
  };
  for (const NodePtr& nd : order)
    for (const Value& in : nd->inputs) note(in);
  for (const Value& v : g.outputs) note(v);
  std::unordered_set<const Node*> formal;
  if (in_body)
    for (const Value& v : g.inputs) formal.insert(v.node.get());
  for (size_t i = 0; i < order.size(); ++i) {
    const Node& nd = *order[i];
    for (const auto& kv : nd.attrs.items()) {
      const auto* body = std::get_if<GraphPtr>(&kv.second);
      if (body && *body && bodies_seen.insert(body->get()).second) walk_graph(**body, true, seen, bodies_seen, out);
    }
    if (formal.count(&nd) || !seen.insert(&nd).second) continue;
    out.push_back({&nd, lowest[i], in_body});
  }
}

}  // namespace

// [[Rcpp::export]]
Rcpp::List cpp_graph_nodes(Rcpp::List outputs) {
  SN_R_BEGIN
  Graph g;
  g.outputs = values_from_r(outputs);
  std::vector<WalkEntry> order;
  std::unordered_set<const Node*> seen;
  std::unordered_set<const Graph*> bodies_seen;
  walk_graph(g, false, seen, bodies_seen, order);
  const size_t n = order.size();
  Rcpp::NumericVector ids(n);
  Rcpp::CharacterVector ops(n), names(n), dtypes(n);
  Rcpp::IntegerVector n_outputs(n);
  Rcpp::LogicalVector in_body(n);
  Rcpp::List shapes(n), ptrs(n), inputs(n);
  for (size_t i = 0; i < n; ++i) {
    const Node& nd = *order[i].node;
    const Value v = nd.out(order[i].lowest < 0 ? 0 : order[i].lowest);
    ids[i] = static_cast<double>(nd.id);
    ops[i] = nd.op_name();
    names[i] = nd.name;
    n_outputs[i] = static_cast<int>(nd.outputs.size());
    in_body[i] = order[i].in_body;
    dtypes[i] = std::string(dtype_name(v.dtype()));
    shapes[i] = type_shape_to_r(v.type());
    ptrs[i] = wrap_value(v);
    Rcpp::NumericVector in_ids(nd.inputs.size());
    for (size_t j = 0; j < nd.inputs.size(); ++j) in_ids[j] = nd.inputs[j].node ? static_cast<double>(nd.inputs[j].node->id) : NA_REAL;
    inputs[i] = in_ids;
  }
  return Rcpp::List::create(Rcpp::Named("id") = ids, Rcpp::Named("op") = ops, Rcpp::Named("name") = names,
                            Rcpp::Named("n_outputs") = n_outputs, Rcpp::Named("dtype") = dtypes,
                            Rcpp::Named("shape") = shapes, Rcpp::Named("ptr") = ptrs,
                            Rcpp::Named("inputs") = inputs, Rcpp::Named("in_body") = in_body);
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
Rcpp::List cpp_sym_grad(SEXP y, Rcpp::List wrt) {
  SN_R_BEGIN
  std::vector<Value> g = gradients(value_from_r(y), values_from_r(wrt));
  Rcpp::List res(g.size());
  for (size_t i = 0; i < g.size(); ++i) res[i] = wrap_value(g[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
SEXP cpp_shared_new(std::string name, SEXP value, std::string dtype, bool trainable) {
  SN_R_BEGIN
  Tensor t = r_to_tensor(value, dtype_from_name(dtype), true, "value of shared variable '" + name + "'");
  VariablePtr v = Variable::create(name, t);
  v->trainable = trainable;
  return wrap_variable(v);
  SN_R_END
  return R_NilValue;
}

// [[Rcpp::export]]
SEXP cpp_shared_get(SEXP vp) {
  SN_R_BEGIN
  return tensor_to_r(variable_from_r(vp)->host().view());
  SN_R_END
  return R_NilValue;
}

// [[Rcpp::export]]
void cpp_shared_set(SEXP vp, SEXP value) {
  SN_R_BEGIN
  VariablePtr v = variable_from_r(vp);
  Shape want = v->shape();
  Shape got = r_shape_of(value);
  bool scalar_ok = want.empty() && shape_numel(got) == 1;
  if (!scalar_ok && got != want)
    raise_error(ErrorKind::shape, "shared variable '" + v->name + "' has shape " + shape_str(want) +
                                      "; the new value has shape " + shape_str(got));
  // Convert into a fresh tensor so a failed conversion leaves the old value intact.
  Tensor t(v->dtype(), want);
  r_into_tensor(value, t, "new value of '" + v->name + "'");
  v->host_for_write(false).swap_storage(t);
  SN_R_END
}

// [[Rcpp::export]]
SEXP cpp_shared_symbol(SEXP vp) {
  SN_R_BEGIN
  return wrap_value(op::variable(variable_from_r(vp)));
  SN_R_END
  return R_NilValue;
}

// [[Rcpp::export]]
Rcpp::List cpp_shared_info(SEXP vp) {
  SN_R_BEGIN
  VariablePtr v = variable_from_r(vp);
  return Rcpp::List::create(Rcpp::Named("name") = v->name,
                            Rcpp::Named("dtype") = std::string(dtype_name(v->dtype())),
                            Rcpp::Named("shape") = shape_to_r(v->shape()),
                            Rcpp::Named("trainable") = v->trainable, Rcpp::Named("id") = static_cast<double>(v->id),
                            Rcpp::Named("frozen") = v->frozen, Rcpp::Named("lr_mult") = v->lr_mult);
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
Rcpp::List cpp_graph_variables(Rcpp::List outputs) {
  SN_R_BEGIN
  std::vector<VariablePtr> vars = graph_variables(Graph::from_outputs(values_from_r(outputs)));
  Rcpp::List res(vars.size());
  for (size_t i = 0; i < vars.size(); ++i) res[i] = wrap_variable(vars[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// The same outputs with every mode-dependent node (dropout, batch norm) switched to
// training or inference mode; gradients taken from the result are that mode's.
// [[Rcpp::export]]
Rcpp::List cpp_graph_set_training(Rcpp::List outputs, bool training) {
  SN_R_BEGIN
  Graph g = set_training_mode(Graph::from_outputs(values_from_r(outputs)), training);
  Rcpp::List res(g.outputs.size());
  for (size_t i = 0; i < g.outputs.size(); ++i) res[i] = wrap_value(g.outputs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// The same outputs with every training-mode batch norm computing its batch statistics over
// all ranks (fit()'s strategy_data_parallel(sync_batch_norm = TRUE)).
// [[Rcpp::export]]
Rcpp::List cpp_graph_sync_batch_norm(Rcpp::List outputs) {
  SN_R_BEGIN
  Graph g = sync_batch_norms(Graph::from_outputs(values_from_r(outputs)));
  Rcpp::List res(g.outputs.size());
  for (size_t i = 0; i < g.outputs.size(); ++i) res[i] = wrap_value(g.outputs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
Rcpp::List cpp_graph_inputs(Rcpp::List outputs) {
  SN_R_BEGIN
  Graph g = Graph::from_outputs(values_from_r(outputs));
  Rcpp::List res(g.inputs.size());
  for (size_t i = 0; i < g.inputs.size(); ++i) res[i] = wrap_value(g.inputs[i]);
  return res;
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
std::string cpp_sym_dot(Rcpp::List outputs, bool optimized) {
  SN_R_BEGIN
  Graph g = Graph::from_outputs(values_from_r(outputs));
  if (optimized) g = optimize(strip_identities(g));
  return graph_to_dot(g);
  SN_R_END
  return "";
}

// [[Rcpp::export]]
std::string cpp_graph_json(Rcpp::List outputs, std::vector<std::string> output_names, bool include_values = true) {
  SN_R_BEGIN
  return graph_to_json(Graph::from_outputs(values_from_r(outputs), output_names), include_values);
  SN_R_END
  return "";
}

// max_unfilled_bytes: bound on the variables the JSON declares without values (see
// graph_from_json); negative: the default, proportional to the text.
// [[Rcpp::export]]
Rcpp::List cpp_graph_from_json(std::string json, double max_unfilled_bytes = -1) {
  SN_R_BEGIN
  std::vector<VariablePtr> vars;
  Graph g = graph_from_json(json, &vars, max_unfilled_bytes < 0 ? -1 : static_cast<int64_t>(max_unfilled_bytes));
  Rcpp::List outs(g.outputs.size()), ins(g.inputs.size()), vs(vars.size());
  for (size_t i = 0; i < g.outputs.size(); ++i) outs[i] = wrap_value(g.outputs[i]);
  for (size_t i = 0; i < g.inputs.size(); ++i) ins[i] = wrap_value(g.inputs[i]);
  for (size_t i = 0; i < vars.size(); ++i) vs[i] = wrap_variable(vars[i]);
  return Rcpp::List::create(Rcpp::Named("outputs") = outs, Rcpp::Named("output_names") = g.output_names,
                            Rcpp::Named("inputs") = ins, Rcpp::Named("variables") = vs);
  SN_R_END
  return Rcpp::List();
}

// Row-major little-endian bytes of a shared variable (the safetensors payload).
// [[Rcpp::export]]
Rcpp::RawVector cpp_shared_raw(SEXP vp) {
  SN_R_BEGIN
  VariablePtr v = variable_from_r(vp);
  Rcpp::RawVector out(v->bytes());
  if (v->bytes()) std::memcpy(&out[0], v->host().data(), v->bytes());
  return out;
  SN_R_END
  return Rcpp::RawVector();
}

// [[Rcpp::export]]
void cpp_shared_set_raw(SEXP vp, Rcpp::RawVector bytes) {
  SN_R_BEGIN
  VariablePtr v = variable_from_r(vp);
  if (static_cast<size_t>(bytes.size()) != v->bytes())
    raise_error(ErrorKind::value, "shared variable '" + v->name + "' needs " + std::to_string(v->bytes()) +
                                      " bytes, got " + std::to_string(bytes.size()));
  Tensor t(v->dtype(), v->shape());
  if (t.bytes()) std::memcpy(t.data(), &bytes[0], t.bytes());
  v->host_for_write(false).swap_storage(t);
  SN_R_END
}

// [[Rcpp::export]]
void cpp_shared_set_trainable(SEXP vp, bool trainable) {
  SN_R_BEGIN
  variable_from_r(vp)->trainable = trainable;
  SN_R_END
}

// Transfer learning: a frozen variable is left alone by optimizers; lr_mult scales the
// learning rate optimizers use for it.
// [[Rcpp::export]]
void cpp_shared_set_frozen(SEXP vp, bool frozen) {
  SN_R_BEGIN
  variable_from_r(vp)->frozen = frozen;
  SN_R_END
}

// [[Rcpp::export]]
void cpp_shared_set_lr_mult(SEXP vp, double mult) {
  SN_R_BEGIN
  if (!(mult >= 0) || !std::isfinite(mult)) raise_error(ErrorKind::value, "lr_mult must be a finite number >= 0");
  variable_from_r(vp)->lr_mult = mult;
  SN_R_END
}

// [[Rcpp::export]]
Rcpp::CharacterVector cpp_op_names() {
  std::vector<std::string> n = registry().names();
  return Rcpp::wrap(n);
}

// [[Rcpp::export]]
int cpp_threads_get() { return engine_num_threads(); }

// The library float32 matrix products run on ("symnet-avx512", "openblas", ...), for
// benchmark headers.
// [[Rcpp::export]]
std::string cpp_gemm_backend_name() { return gemm_backend_name(); }

// [[Rcpp::export]]
void cpp_threads_set(int n) { set_engine_num_threads(n); }

// [[Rcpp::export]]
void cpp_threads_shutdown() { shutdown_thread_pool(); }

// Returns the C heap's free memory to the system where the C library can (glibc's
// malloc_trim); FALSE elsewhere. For memory measurements (the soak tests): resident size
// after a trim counts what the process holds, not what the allocator keeps for reuse.
// [[Rcpp::export]]
bool cpp_malloc_trim() {
#if defined(__GLIBC__)
  malloc_trim(0);
  return true;
#else
  return false;
#endif
}
