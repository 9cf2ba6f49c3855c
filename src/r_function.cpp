// Rcpp exports for compiled functions: one Executable per input-shape signature, cached.
#include "r_glue.h"
#include "r_persist.h"

#include <map>
#include <memory>

#include "engine/cpu/sim_backend.h"
#include "engine/exec/executable.h"
#include "engine/ir/dot.h"

using namespace symnet;
using namespace symnet_r;

namespace {

struct TypeKey {
  std::vector<TensorType> types;
  bool operator<(const TypeKey& o) const {
    if (types.size() != o.types.size()) return types.size() < o.types.size();
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i].dtype != o.types[i].dtype) return types[i].dtype < o.types[i].dtype;
      if (types[i].shape != o.types[i].shape) return types[i].shape < o.types[i].shape;
    }
    return false;
  }
};

// Executables kept per compiled function: each new input-shape signature compiles one, and a
// loop over ever-changing batch sizes must not grow memory without bound. The least recently
// used is dropped beyond this (it is compiled again if that signature comes back).
constexpr size_t kMaxSpecializations = 16;

struct Function {
  struct Entry {
    std::unique_ptr<Executable> ex;
    uint64_t last_use = 0;
  };
  Graph graph;  // user outputs, then update values
  size_t n_user_outputs = 0;
  CompileOptions opts;
  std::map<TypeKey, Entry> cache;
  std::shared_ptr<SharedArena> arena = std::make_shared<SharedArena>();  // for all of `cache`
  Executable* last = nullptr;
  bool profiling = false;
  uint64_t uses = 0;
  uint64_t compiled = 0;  // executables compiled so far: each gets its own seed

  Executable& executable_for(const std::vector<TensorType>& types) {
    auto it = cache.find(TypeKey{types});
    if (it == cache.end()) {
      if (cache.size() >= kMaxSpecializations) evict_least_recent();
      it = cache.emplace(TypeKey{types}, Entry{Executable::compile(graph, types, opts), 0}).first;
      it->second.ex->share_arena(arena);  // outputs are copied to R right after each run
      it->second.ex->set_seed(opts.seed + compiled++);
      if (profiling) it->second.ex->set_profiling(true);
    }
    it->second.last_use = ++uses;
    last = it->second.ex.get();
    return *last;
  }

 private:
  void evict_least_recent() {
    auto oldest = cache.begin();
    for (auto it = cache.begin(); it != cache.end(); ++it)
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    if (oldest->second.ex.get() == last) last = nullptr;
    cache.erase(oldest);
  }
};

// A compiled function saves its graph (training mode already applied) and options; the
// executables are compiled again, lazily, wherever it is read back.
SEXP function_state(void* box) {
  const Function& f = *static_cast<Function*>(box);
  Rcpp::List update_vars(f.opts.update_vars.size());
  for (size_t i = 0; i < f.opts.update_vars.size(); ++i) update_vars[i] = variable_data_ptr(f.opts.update_vars[i]);
  Rcpp::NumericVector update_ids(f.opts.update_vars.size());
  for (size_t i = 0; i < f.opts.update_vars.size(); ++i) update_ids[i] = static_cast<double>(f.opts.update_vars[i]->id);
  return Rcpp::List::create(Rcpp::Named("graph") = graph_payload(f.graph.outputs, f.graph.output_names),
                            Rcpp::Named("n_user_outputs") = static_cast<double>(f.n_user_outputs),
                            Rcpp::Named("update_vars") = update_vars, Rcpp::Named("update_ids") = update_ids,
                            Rcpp::Named("optimize") = f.opts.optimize, Rcpp::Named("fuse") = f.opts.fuse,
                            Rcpp::Named("seed") = static_cast<double>(f.opts.seed));
}

void* function_restore(SEXP payload, RestoreMemo& memo) {
  Rcpp::List pl(payload);
  auto f = std::make_unique<Function>();
  f->graph = restore_graph_payload(pl["graph"], memo);
  f->n_user_outputs = static_cast<size_t>(Rcpp::as<double>(pl["n_user_outputs"]));
  for (double id : Rcpp::NumericVector(pl["update_ids"])) f->opts.update_vars.push_back(memo_variable(memo, id));
  SN_CHECK(f->n_user_outputs + f->opts.update_vars.size() == f->graph.outputs.size(), ErrorKind::value,
           "a saved compiled function has inconsistent outputs");
  f->opts.optimize = Rcpp::as<bool>(pl["optimize"]);
  f->opts.fuse = Rcpp::as<bool>(pl["fuse"]);
  f->opts.seed = static_cast<uint64_t>(Rcpp::as<double>(pl["seed"]));
  return f.release();
}

void function_destroy(void* box) { delete static_cast<Function*>(box); }

}  // namespace

namespace symnet_r {
const PersistKind kFunctionKind{"function", function_state, function_restore, function_destroy};
}  // namespace symnet_r

namespace {

Function& function_from_r(SEXP p) {
  if (TYPEOF(p) != EXTPTRSXP || !Rf_inherits(p, "symnet_function_ptr"))
    raise_error(ErrorKind::value, "expected a compiled symnet function");
  return *static_cast<Function*>(persistent_box(p, kFunctionKind));
}

}  // namespace

Tensor gather_rows(const Tensor& t, const Rcpp::IntegerVector& rows);  // r_tensor.cpp

namespace {

std::string input_name(const Value& v) { return v.node->attrs.get_string("name"); }

}  // namespace

// [[Rcpp::export]]
SEXP cpp_compile(Rcpp::List outputs, std::vector<std::string> output_names, Rcpp::List update_vars,
                 Rcpp::List update_values, Rcpp::List options) {
  SN_R_BEGIN
  auto f = std::make_unique<Function>();
  std::vector<Value> outs = values_from_r(outputs);
  f->n_user_outputs = outs.size();
  std::vector<Value> ups = values_from_r(update_values);
  for (R_xlen_t i = 0; i < update_vars.size(); ++i) {
    VariablePtr v = variable_from_r(update_vars[i]);
    const Value& u = ups.at(i);
    // An update of unknown rank (computed from an input declared without a shape) is
    // checked against the variable once fed, when compiling for the fed shapes.
    if (u.dtype() != v->dtype() || (u.rank_known() && u.shape().size() != v->shape().size()))
      raise_error(ErrorKind::shape, "the update for shared variable '" + v->name + "' is " + type_str(u.type()) +
                                        " but the variable is " + dtype_name(v->dtype()) +
                                        shape_str(v->shape()));
    f->opts.update_vars.push_back(v);
    outs.push_back(u);
    output_names.push_back("update_" + v->name);
  }
  f->graph = Graph::from_outputs(outs, output_names);
  // Two different input symbols with one name would be ambiguous to feed.
  for (size_t i = 1; i < f->graph.inputs.size(); ++i)
    if (input_name(f->graph.inputs[i]) == input_name(f->graph.inputs[i - 1]))
      raise_error(ErrorKind::value, "two different inputs are named '" + input_name(f->graph.inputs[i]) +
                                        "'; give every sym_var a unique name");
  if (options.containsElementNamed("optimize")) f->opts.optimize = Rcpp::as<bool>(options["optimize"]);
  if (options.containsElementNamed("training") && Rcpp::as<bool>(options["training"]))
    f->graph = set_training_mode(f->graph, true);
  if (options.containsElementNamed("fuse")) f->opts.fuse = Rcpp::as<bool>(options["fuse"]);
  if (options.containsElementNamed("seed") && !Rf_isNull(options["seed"]))
    f->opts.seed = static_cast<uint64_t>(Rcpp::as<double>(options["seed"]));
  if (options.containsElementNamed("device")) {
    std::string d = Rcpp::as<std::string>(options["device"]);
    if (is_sim_backend(d)) register_sim_backend();  // R allows it only under a developer option
    backends().get(d);  // a classed error listing the available backends when unknown
    f->opts.target = d;
  }
  return make_persistent_ptr(kFunctionKind, f.release());
  SN_R_END
  return R_NilValue;
}

// The engine's backends by name (devices R may compile for).
// [[Rcpp::export]]
Rcpp::CharacterVector cpp_backend_names() {
  SN_R_BEGIN
  std::vector<std::string> names = backends().names();
  return Rcpp::wrap(names);
  SN_R_END
  return R_NilValue;
}

// [[Rcpp::export]]
Rcpp::List cpp_function_inputs(SEXP fp) {
  SN_R_BEGIN
  Function& f = function_from_r(fp);
  Rcpp::CharacterVector names, dtypes;
  Rcpp::List shapes;
  for (const Value& v : f.graph.inputs) {
    names.push_back(input_name(v));
    dtypes.push_back(dtype_name(v.dtype()));
    shapes.push_back(type_shape_to_r(v.type()));
  }
  return Rcpp::List::create(Rcpp::Named("name") = names, Rcpp::Named("dtype") = dtypes,
                            Rcpp::Named("shape") = shapes);
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
Rcpp::List cpp_function_run(SEXP fp, Rcpp::List feeds, SEXP rows = R_NilValue) {
  SN_R_BEGIN
  Function& f = function_from_r(fp);
  Rcpp::CharacterVector feed_names = feeds.size() ? Rcpp::CharacterVector(feeds.names()) : Rcpp::CharacterVector();
  std::vector<int> used(feeds.size(), 0);
  std::vector<Tensor> tensors;
  std::vector<TensorType> types;
  for (const Value& in : f.graph.inputs) {
    std::string name = input_name(in);
    R_xlen_t idx = -1;
    for (R_xlen_t j = 0; j < feed_names.size(); ++j)
      if (Rcpp::as<std::string>(feed_names[j]) == name) idx = j;
    if (idx < 0) raise_error(ErrorKind::feed, "missing input '" + name + "' (expected " + type_str(in.type()) + ")");
    used[idx] = 1;
    SEXP x = feeds[idx];
    // Declared without a shape: any rank fits, and a length-1 R vector without dim is a
    // scalar (as sym_const() reads it).
    const bool any_shape = !in.rank_known();
    Shape declared = any_shape ? Shape{} : in.shape();
    if (is_tensor_ptr(x)) {
      // Engine-resident data: take the requested rows (or all), converting dtype if needed.
      Tensor src = Rf_isNull(rows) ? tensor_from_r(x) : gather_rows(tensor_from_r(x), Rcpp::IntegerVector(rows));
      bool ok = any_shape || src.shape().size() == declared.size();
      for (size_t d = 0; ok && !any_shape && d < declared.size(); ++d) ok = declared[d] < 0 || declared[d] == src.shape()[d];
      if (!ok)
        raise_error(ErrorKind::shape, "input '" + name + "' has shape " + shape_str(src.shape()) + " but was declared " +
                                          shape_str(declared));
      if (src.dtype() != in.dtype()) {
        Tensor conv(in.dtype(), src.shape());
        convert_elements(src.data(), src.dtype(), conv.data(), conv.dtype(), src.numel());
        src = conv;
      }
      types.push_back({src.dtype(), src.shape()});
      tensors.push_back(src);
      continue;
    }
    Shape given = r_shape_of(x);
    // A length-1 plain vector feeds a rank-0 input.
    if (declared.empty() && Rf_getAttrib(x, R_DimSymbol) == R_NilValue && Rf_xlength(x) == 1) given = {};
    bool ok = any_shape || given.size() == declared.size();
    for (size_t d = 0; ok && !any_shape && d < given.size(); ++d) ok = declared[d] < 0 || declared[d] == given[d];
    if (!ok)
      raise_error(ErrorKind::shape, "input '" + name + "' has shape " + shape_str(given) + " but was declared " +
                                        shape_str(declared));
    Tensor t(in.dtype(), given);
    r_into_tensor(x, t, "input '" + name + "'");
    types.push_back({t.dtype(), t.shape()});
    tensors.push_back(std::move(t));
  }
  for (R_xlen_t j = 0; j < feeds.size(); ++j)
    if (!used[j])
      raise_error(ErrorKind::feed, "unexpected input '" + Rcpp::as<std::string>(feed_names[j]) +
                                       "'; this function takes: " + [&] {
                                         std::string s;
                                         for (const Value& v : f.graph.inputs) s += (s.empty() ? "" : ", ") + input_name(v);
                                         return s.empty() ? std::string("no inputs") : s;
                                       }());
  Executable& ex = f.executable_for(types);
  std::vector<TensorView> views;
  for (const Tensor& t : tensors) views.push_back(t.view());
  RunContext ctx;
  ctx.check_interrupt = check_interrupt;
  ex.run(views, &ctx);
  Rcpp::List res(f.n_user_outputs);
  Rcpp::CharacterVector names(f.n_user_outputs);
  for (size_t i = 0; i < f.n_user_outputs; ++i) {
    res[i] = tensor_to_r(ex.output(i));
    names[i] = f.graph.output_names[i];
  }
  res.attr("names") = names;
  return res;
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
Rcpp::List cpp_function_summary(SEXP fp) {
  SN_R_BEGIN
  Function& f = function_from_r(fp);
  Executable* ex = f.last;
  if (!ex) {
    std::vector<TensorType> types;
    bool known = true;
    for (const Value& v : f.graph.inputs) {
      types.push_back(v.type());
      known = known && v.type().known();
    }
    if (known) ex = &f.executable_for(types);
  }
  auto num = [](double v) { return v; };
  if (!ex) {
    return Rcpp::List::create(Rcpp::Named("nodes_before") = NA_REAL, Rcpp::Named("nodes_after") = NA_REAL,
                              Rcpp::Named("steps") = NA_REAL, Rcpp::Named("fused_groups") = NA_REAL,
                              Rcpp::Named("fused_ops") = NA_REAL, Rcpp::Named("inplace_steps") = NA_REAL,
                              Rcpp::Named("arena_bytes") = NA_REAL, Rcpp::Named("naive_bytes") = NA_REAL,
                              Rcpp::Named("compile_ms") = NA_REAL, Rcpp::Named("passes") = R_NilValue,
                              Rcpp::Named("cached_shapes") = static_cast<double>(f.cache.size()),
                              Rcpp::Named("input_shapes") = R_NilValue, Rcpp::Named("placement") = R_NilValue);
  }
  const CompileStats& s = ex->stats();
  Rcpp::CharacterVector pn;
  Rcpp::NumericVector pb, pa, pm;
  for (const PassStats& p : s.passes) {
    pn.push_back(p.name);
    pb.push_back(p.nodes_before);
    pa.push_back(p.nodes_after);
    pm.push_back(p.ms);
  }
  Rcpp::List shapes;
  for (const TensorType& t : ex->input_types()) shapes.push_back(shape_to_r(t.shape));
  // Where the steps run and what crosses between memories.
  Rcpp::CharacterVector on, arena_mem, fallback;
  Rcpp::NumericVector on_steps, arena_b;
  for (const auto& kv : s.steps_per_backend) {
    on.push_back(kv.first);
    on_steps.push_back(static_cast<double>(kv.second));
  }
  for (const auto& kv : s.arenas) {
    arena_mem.push_back(kv.first);
    arena_b.push_back(static_cast<double>(kv.second));
  }
  for (const std::string& n : s.fallback_nodes) fallback.push_back(n);
  Rcpp::List placement = Rcpp::List::create(
      Rcpp::Named("device") = f.opts.target, Rcpp::Named("backend") = on, Rcpp::Named("steps") = on_steps,
      Rcpp::Named("fallback_nodes") = fallback, Rcpp::Named("transfers") = num(s.transfers),
      Rcpp::Named("transfer_bytes") = num(s.transfer_bytes), Rcpp::Named("arena_memory") = arena_mem,
      Rcpp::Named("arena_bytes") = arena_b);
  return Rcpp::List::create(
      Rcpp::Named("nodes_before") = num(s.nodes_before), Rcpp::Named("nodes_after") = num(s.nodes_after),
      Rcpp::Named("steps") = num(s.steps), Rcpp::Named("fused_groups") = num(s.fused_groups),
      Rcpp::Named("fused_ops") = num(s.fused_ops), Rcpp::Named("inplace_steps") = num(s.inplace_steps),
      Rcpp::Named("arena_bytes") = num(s.arena_bytes), Rcpp::Named("naive_bytes") = num(s.naive_bytes),
      Rcpp::Named("compile_ms") = s.compile_ms,
      Rcpp::Named("passes") = Rcpp::List::create(Rcpp::Named("name") = pn, Rcpp::Named("nodes_before") = pb,
                                                 Rcpp::Named("nodes_after") = pa, Rcpp::Named("ms") = pm),
      Rcpp::Named("cached_shapes") = static_cast<double>(f.cache.size()), Rcpp::Named("input_shapes") = shapes,
      Rcpp::Named("placement") = placement,
      Rcpp::Named("loops") = Rcpp::List::create(Rcpp::Named("count") = num(s.loops),
                                                Rcpp::Named("workspace_bytes") = num(s.loop_workspace_bytes),
                                                Rcpp::Named("stacked_bytes") = num(s.loop_stacked_bytes)));
  SN_R_END
  return Rcpp::List();
}

// Turns per-step timing on or off for every compiled specialization of the function
// (resetting the counters), or, with on = NA, returns the accumulated times.
// [[Rcpp::export]]
Rcpp::List cpp_function_profile(SEXP fp, Rcpp::LogicalVector on) {
  SN_R_BEGIN
  Function& f = function_from_r(fp);
  if (on.size() && on[0] != NA_LOGICAL) {
    f.profiling = on[0] == TRUE;
    for (auto& kv : f.cache) kv.second.ex->set_profiling(on[0] == TRUE);
    return Rcpp::List();
  }
  Rcpp::CharacterVector ops, nodes, algorithms;
  Rcpp::NumericVector ms, calls;
  for (auto& kv : f.cache)
    for (const auto& p : kv.second.ex->profile()) {
      ops.push_back(p.op);
      nodes.push_back(p.node);
      algorithms.push_back(p.algorithm);
      ms.push_back(p.ms);
      calls.push_back(static_cast<double>(p.calls));
    }
  return Rcpp::List::create(Rcpp::Named("op") = ops, Rcpp::Named("node") = nodes,
                            Rcpp::Named("algorithm") = algorithms, Rcpp::Named("ms") = ms,
                            Rcpp::Named("calls") = calls);
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
std::string cpp_function_plan(SEXP fp) {
  SN_R_BEGIN
  Function& f = function_from_r(fp);
  if (!f.last) return "";
  return f.last->describe_plan();
  SN_R_END
  return "";
}

// [[Rcpp::export]]
std::string cpp_function_dot(SEXP fp) {
  SN_R_BEGIN
  Function& f = function_from_r(fp);
  if (f.last) return graph_to_dot(f.last->graph());
  return graph_to_dot(f.graph);
  SN_R_END
  return "";
}
