#include "r_persist.h"

#include <R_ext/Altrep.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "engine/base/error.h"
#include "engine/ir/json.h"
#include "r_glue.h"

namespace symnet_r {

using namespace symnet;

namespace {

const PersistKind* const kKinds[] = {&kDataKind, &kValueKind, &kVariableKind, &kFunctionKind};

const PersistKind* kind_named(const std::string& name) {
  for (const PersistKind* k : kKinds)
    if (name == k->name) return k;
  return nullptr;
}

std::string ptr_class(const PersistKind& kind) { return std::string("symnet_") + kind.name + "_ptr"; }

R_altrep_class_t state_class;
// The context environment every state written in this session points to. It stays empty
// here; each read of a stream gets its own copy, which holds that read's memo.
SEXP write_context = nullptr;
const char* const kMemoVar = ".memo";

// A restored box waiting in a pointer's tag for the pointer to adopt it.
struct Pending {
  const PersistKind* kind;
  void* box;
};

void pending_finalizer(SEXP marker) {
  auto* pending = static_cast<Pending*>(R_ExternalPtrAddr(marker));
  if (!pending) return;
  R_ClearExternalPtr(marker);
  if (pending->box) pending->kind->destroy(pending->box);
  delete pending;
}

SEXP new_state(SEXP owner);

// The restored box is held by a marker pointer inside a state object, so that a pointer
// serialized again before anything used it still writes the object.
SEXP make_pending(const PersistKind& kind, void* box) {
  SEXP marker = PROTECT(R_MakeExternalPtr(new Pending{&kind, box}, R_NilValue, R_NilValue));
  R_RegisterCFinalizerEx(marker, pending_finalizer, TRUE);
  Rf_setAttrib(marker, R_ClassSymbol, Rf_mkString("symnet_restored"));
  SEXP out = new_state(marker);
  UNPROTECT(1);
  return out;
}

Pending* pending_of(SEXP x) {
  if (TYPEOF(x) != EXTPTRSXP || !Rf_inherits(x, "symnet_restored")) return nullptr;
  return static_cast<Pending*>(R_ExternalPtrAddr(x));
}

// A restore that failed: the pointer raises this message when used.
SEXP make_failed(const std::string& message) {
  SEXP s = PROTECT(Rf_mkString(message.c_str()));
  Rf_setAttrib(s, R_ClassSymbol, Rf_mkString("symnet_restore_failure"));
  UNPROTECT(1);
  return s;
}

void finalize_ptr(SEXP p);

const PersistKind* kind_of_ptr(SEXP p) {
  for (const PersistKind* k : kKinds)
    if (Rf_inherits(p, ptr_class(*k).c_str())) return k;
  return nullptr;
}

void finalize_ptr(SEXP p) {
  void* box = R_ExternalPtrAddr(p);
  if (!box) return;
  const PersistKind* kind = kind_of_ptr(p);
  R_ClearExternalPtr(p);
  if (kind) kind->destroy(box);
}

// ---- the ALTREP state class ------------------------------------------------------------------

// The object itself is an empty raw vector; only its serialized form matters.
R_xlen_t state_length(SEXP) { return 0; }

void* state_dataptr(SEXP, Rboolean) {
  static Rbyte none = 0;
  return &none;
}

const void* state_dataptr_or_null(SEXP) { return nullptr; }

Rboolean state_inspect(SEXP, int, int, int, void (*)(SEXP, int, int, int)) {
  Rprintf(" symnet engine state\n");
  return TRUE;
}

// Called by serialize(): the current state of the object behind the owning pointer (or of
// a restored object no pointer has adopted yet).
SEXP state_serialize(SEXP x) {
  SEXP p = R_altrep_data1(x);
  void* box = nullptr;
  const PersistKind* kind = nullptr;
  if (Pending* pending = pending_of(p)) {
    box = pending->box;
    kind = pending->kind;
  } else if (TYPEOF(p) == EXTPTRSXP) {
    box = R_ExternalPtrAddr(p);
    kind = kind_of_ptr(p);
  }
  std::string failure = box && kind ? "" : "it had been released";
  SEXP payload = R_NilValue;
  if (failure.empty()) {
    try {
      payload = kind->state(box);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!failure.empty()) {
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 3));
    SET_VECTOR_ELT(out, 0, write_context);
    SET_VECTOR_ELT(out, 1, Rf_mkString("failure"));
    SET_VECTOR_ELT(out, 2, Rf_mkString(("the engine object could not be saved: " + failure).c_str()));
    UNPROTECT(1);
    return out;
  }
  PROTECT(payload);
  SEXP out = PROTECT(Rf_allocVector(VECSXP, 3));
  SET_VECTOR_ELT(out, 0, write_context);
  SET_VECTOR_ELT(out, 1, Rf_mkString(kind->name));
  SET_VECTOR_ELT(out, 2, payload);
  UNPROTECT(2);
  return out;
}

void memo_finalizer(SEXP p) {
  delete static_cast<RestoreMemo*>(R_ExternalPtrAddr(p));
  R_ClearExternalPtr(p);
}

// The memo of the stream being read, kept in its context environment.
RestoreMemo& memo_of(SEXP ctx) {
  SEXP sym = Rf_install(kMemoVar);
  SEXP m = Rf_findVarInFrame(ctx, sym);
  if (m == R_UnboundValue || TYPEOF(m) != EXTPTRSXP || !R_ExternalPtrAddr(m)) {
    m = PROTECT(R_MakeExternalPtr(new RestoreMemo(), R_NilValue, R_NilValue));
    R_RegisterCFinalizerEx(m, memo_finalizer, TRUE);
    Rf_defineVar(sym, m, ctx);
    UNPROTECT(1);
  }
  return *static_cast<RestoreMemo*>(R_ExternalPtrAddr(m));
}

// Called by unserialize(): rebuilds the object; the owning pointer adopts it later.
SEXP state_unserialize(SEXP, SEXP state) {
  if (TYPEOF(state) != VECSXP || Rf_xlength(state) != 3 || TYPEOF(VECTOR_ELT(state, 0)) != ENVSXP ||
      TYPEOF(VECTOR_ELT(state, 1)) != STRSXP || Rf_xlength(VECTOR_ELT(state, 1)) != 1)
    return make_failed("the saved engine state is malformed");
  const std::string name = CHAR(STRING_ELT(VECTOR_ELT(state, 1), 0));
  SEXP payload = VECTOR_ELT(state, 2);
  if (name == "failure")
    return make_failed(TYPEOF(payload) == STRSXP && Rf_xlength(payload) == 1 ? CHAR(STRING_ELT(payload, 0))
                                                                            : "the engine object was not saved");
  const PersistKind* kind = kind_named(name);
  if (!kind) return make_failed("unknown engine object kind '" + name + "' (saved by a newer symnet?)");
  std::string failure;
  void* box = nullptr;
  try {
    box = kind->restore(payload, memo_of(VECTOR_ELT(state, 0)));
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!box) return make_failed("the saved " + name + " could not be rebuilt: " + failure);
  return make_pending(*kind, box);
}

SEXP new_state(SEXP owner) { return R_new_altrep(state_class, owner, R_NilValue); }

// Moves a restored box from the tag into `p`. Returns it, or nullptr with `why` set.
void* adopt(SEXP p, const PersistKind& kind, std::string& why) {
  SEXP tag = R_ExternalPtrTag(p);
  if (ALTREP(tag) && R_altrep_inherits(tag, state_class) && pending_of(R_altrep_data1(tag))) {
    Pending* pending = pending_of(R_altrep_data1(tag));
    if (pending->kind != &kind || !pending->box) {
      why = "its saved state does not match it";
      return nullptr;
    }
    void* box = pending->box;
    pending->box = nullptr;
    R_SetExternalPtrAddr(p, box);
    R_RegisterCFinalizerEx(p, finalize_ptr, TRUE);
    R_SetExternalPtrTag(p, new_state(p));
    return box;
  }
  if (TYPEOF(tag) == STRSXP && Rf_inherits(tag, "symnet_restore_failure") && Rf_xlength(tag) == 1) {
    why = CHAR(STRING_ELT(tag, 0));
    return nullptr;
  }
  why = "it was saved without its engine state (an older symnet, or serialize(version = 2))";
  return nullptr;
}

}  // namespace

SEXP make_persistent_ptr(const PersistKind& kind, void* box) {
  SEXP p = PROTECT(R_MakeExternalPtr(box, R_NilValue, R_NilValue));
  R_RegisterCFinalizerEx(p, finalize_ptr, TRUE);
  Rf_setAttrib(p, R_ClassSymbol, Rf_mkString(ptr_class(kind).c_str()));
  R_SetExternalPtrTag(p, new_state(p));
  UNPROTECT(1);
  return p;
}

void* persistent_box(SEXP p, const PersistKind& kind) {
  if (TYPEOF(p) != EXTPTRSXP || !Rf_inherits(p, ptr_class(kind).c_str()))
    raise_error(ErrorKind::value, std::string("expected a symnet ") + kind.name + " pointer");
  if (void* box = R_ExternalPtrAddr(p)) return box;
  std::string why;
  if (void* box = adopt(p, kind, why)) return box;
  raise_error(ErrorKind::value, std::string("this symnet ") + kind.name + " cannot be used: " + why);
}

bool persistent_alive(SEXP p, const PersistKind& kind) {
  if (TYPEOF(p) != EXTPTRSXP || !Rf_inherits(p, ptr_class(kind).c_str())) return false;
  if (R_ExternalPtrAddr(p)) return true;
  std::string why;
  return adopt(p, kind, why) != nullptr;
}

// ---- variable data ---------------------------------------------------------------------------

namespace {

struct DataBox {
  std::weak_ptr<Variable> v;
};

struct DataCarriers {
  SEXP preserved = nullptr;  // precious multiset holding the carriers
  std::unordered_map<const Variable*, std::pair<std::weak_ptr<Variable>, SEXP>> by_variable;
  size_t sweep_at = 64;

  void sweep() {
    for (auto it = by_variable.begin(); it != by_variable.end();) {
      if (it->second.first.expired()) {
        R_ReleaseFromMSet(it->second.second, preserved);
        it = by_variable.erase(it);
      } else {
        ++it;
      }
    }
    sweep_at = std::max<size_t>(64, 2 * by_variable.size());
  }
};

DataCarriers& carriers() {
  static DataCarriers c;
  if (!c.preserved) {
    c.preserved = R_NewPreciousMSet(64);
    R_PreserveObject(c.preserved);
  }
  return c;
}

SEXP data_state(void* box) {
  VariablePtr v = static_cast<DataBox*>(box)->v.lock();
  SN_CHECK(v != nullptr, ErrorKind::internal, "the values of a freed variable were asked for");
  Rcpp::RawVector bytes(v->bytes());
  if (v->bytes()) std::memcpy(&bytes[0], v->host().data(), v->bytes());
  Rcpp::NumericVector shape(v->shape().begin(), v->shape().end());
  return Rcpp::List::create(Rcpp::Named("id") = static_cast<double>(v->id), Rcpp::Named("name") = v->name,
                            Rcpp::Named("dtype") = std::string(dtype_name(v->dtype())),
                            Rcpp::Named("shape") = shape, Rcpp::Named("trainable") = v->trainable,
                            Rcpp::Named("frozen") = v->frozen, Rcpp::Named("lr_mult") = v->lr_mult,
                            Rcpp::Named("bytes") = bytes);
}

// Rebuilds the variable into the memo (once per id and stream).
void* data_restore(SEXP payload, RestoreMemo& memo) {
  Rcpp::List pl(payload);
  const auto id = static_cast<uint64_t>(Rcpp::as<double>(pl["id"]));
  auto known = memo.variables.find(id);
  if (known != memo.variables.end()) return new DataBox{known->second};
  Shape shape;
  for (double d : Rcpp::NumericVector(pl["shape"])) {
    SN_CHECK(d >= 0 && d < 9e15 && d == std::floor(d), ErrorKind::value, "a saved variable has an invalid shape");
    shape.push_back(static_cast<int64_t>(d));
  }
  const DType dtype = dtype_from_name(Rcpp::as<std::string>(pl["dtype"]));
  Rcpp::RawVector bytes = pl["bytes"];
  double need = static_cast<double>(dtype_size(dtype));
  for (int64_t d : shape) need *= static_cast<double>(d);
  SN_CHECK(static_cast<double>(bytes.size()) == need, ErrorKind::value, "a saved variable's data do not match its shape");
  Tensor t(dtype, shape);
  if (t.bytes()) std::memcpy(t.data(), &bytes[0], t.bytes());
  VariablePtr v = Variable::create(Rcpp::as<std::string>(pl["name"]), std::move(t));
  v->trainable = Rcpp::as<bool>(pl["trainable"]);
  // Absent from objects saved before transfer learning existed.
  if (pl.containsElementNamed("frozen")) v->frozen = Rcpp::as<bool>(pl["frozen"]);
  if (pl.containsElementNamed("lr_mult")) v->lr_mult = Rcpp::as<double>(pl["lr_mult"]);
  memo.variables.emplace(id, v);
  return new DataBox{v};
}

void data_destroy(void* box) { delete static_cast<DataBox*>(box); }

}  // namespace

const PersistKind kDataKind{"data", data_state, data_restore, data_destroy};

SEXP variable_data_ptr(const VariablePtr& v) {
  DataCarriers& c = carriers();
  auto it = c.by_variable.find(v.get());
  if (it != c.by_variable.end()) {
    if (it->second.first.lock() == v) return it->second.second;
    R_ReleaseFromMSet(it->second.second, c.preserved);  // a dead variable's address, reused
    c.by_variable.erase(it);
  }
  if (c.by_variable.size() >= c.sweep_at) c.sweep();
  SEXP p = PROTECT(make_persistent_ptr(kDataKind, new DataBox{v}));
  R_PreserveInMSet(p, c.preserved);
  c.by_variable.emplace(v.get(), std::make_pair(std::weak_ptr<Variable>(v), p));
  UNPROTECT(1);
  return p;
}

// ---- graphs as payloads ---------------------------------------------------------------------

SEXP graph_payload(const std::vector<Value>& outputs, const std::vector<std::string>& names) {
  JsonLinks links;
  const std::string json = graph_to_json(Graph::from_outputs(outputs, names), false, &links);
  Rcpp::NumericVector node_ids(links.nodes.size()), var_ids(links.variables.size());
  for (size_t k = 0; k < links.nodes.size(); ++k) node_ids[k] = static_cast<double>(links.nodes[k]->id);
  Rcpp::List var_ptrs(links.variables.size());
  for (size_t k = 0; k < links.variables.size(); ++k) {
    var_ids[k] = static_cast<double>(links.variables[k]->id);
    var_ptrs[k] = variable_data_ptr(links.variables[k]);  // its own state carries the values, once
  }
  return Rcpp::List::create(Rcpp::Named("json") = json, Rcpp::Named("node_ids") = node_ids,
                            Rcpp::Named("var_ids") = var_ids, Rcpp::Named("var_ptrs") = var_ptrs);
}

VariablePtr memo_variable(RestoreMemo& memo, double id) {
  auto it = memo.variables.find(static_cast<uint64_t>(id));
  SN_CHECK(it != memo.variables.end(), ErrorKind::value, "a variable of the saved graph is missing");
  return it->second;
}

Graph restore_graph_payload(SEXP payload, RestoreMemo& memo) {
  Rcpp::List pl(payload);
  const std::string json = Rcpp::as<std::string>(pl["json"]);
  Rcpp::NumericVector node_ids = pl["node_ids"], var_ids = pl["var_ids"];
  // The variables' pointers were read (and their values restored into the memo) before us.
  std::vector<VariablePtr> vars;
  for (double id : var_ids) vars.push_back(memo_variable(memo, id));
  JsonBindings bind;
  bind.variables = &vars;
  bind.existing = [&](size_t k) -> NodePtr {
    if (k >= static_cast<size_t>(node_ids.size())) return nullptr;
    auto it = memo.nodes.find(static_cast<uint64_t>(node_ids[k]));
    return it == memo.nodes.end() ? nullptr : it->second;
  };
  JsonLinks links;
  Graph g = graph_from_json(json, nullptr, -1, &bind, &links);
  SN_CHECK(links.nodes.size() == static_cast<size_t>(node_ids.size()), ErrorKind::value,
           "the saved graph lists " << node_ids.size() << " node ids for " << links.nodes.size() << " nodes");
  for (size_t k = 0; k < links.nodes.size(); ++k)
    memo.nodes.emplace(static_cast<uint64_t>(node_ids[k]), links.nodes[k]);
  return g;
}

void register_persist_class(DllInfo* dll) {
  state_class = R_make_altraw_class("symnet_state", "symnet", dll);
  R_set_altrep_Length_method(state_class, state_length);
  R_set_altrep_Inspect_method(state_class, state_inspect);
  R_set_altvec_Dataptr_method(state_class, state_dataptr);
  R_set_altvec_Dataptr_or_null_method(state_class, state_dataptr_or_null);
  R_set_altrep_Serialized_state_method(state_class, state_serialize);
  R_set_altrep_Unserialize_method(state_class, state_unserialize);
  write_context = R_NewEnv(R_EmptyEnv, FALSE, 0);
  R_PreserveObject(write_context);
}

}  // namespace symnet_r

// Whether an engine pointer is live (adopting a restored object). FALSE for anything else.
// [[Rcpp::export]]
bool cpp_ptr_alive(SEXP p) {
  using namespace symnet_r;
  for (const PersistKind* k : {&kValueKind, &kVariableKind, &kFunctionKind})
    if (persistent_alive(p, *k)) return true;
  return false;
}

// Runs when the DLL loads (Rcpp adds the call to R_init_symnet).
// [[Rcpp::init]]
void symnet_init_persist(DllInfo* dll) { symnet_r::register_persist_class(dll); }
