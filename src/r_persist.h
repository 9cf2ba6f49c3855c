// Engine objects held by R survive serialize()/saveRDS() and parallel workers.
//
// Every external pointer to an engine object (graph value, shared variable, compiled
// function) carries in its tag a small ALTREP object whose serialized form R asks for at the
// moment it serializes the pointer. That form is computed then from the live object -- the
// current weights, whatever changed them -- so nothing has to remember to refresh a
// snapshot. When R reads it back, the ALTREP class rebuilds the engine object and leaves it
// in the tag; the pointer (NULL after unserialize) adopts it on first use.
//
// Identity survives too: all states written by one serialize() call share one context
// environment, which R's reference tracking turns into one fresh environment per read. It
// holds a memo from the writer's node and variable ids to the rebuilt objects, so a model's
// outputs, its parameters and a loss built on them come back as one graph over the same
// variables (and two readRDS() of one file give two independent copies).
#pragma once
#ifndef RCPP_USE_UNWIND_PROTECT
#define RCPP_USE_UNWIND_PROTECT
#endif
#include <Rcpp.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "engine/ir/graph.h"

namespace symnet_r {

// Objects rebuilt so far while reading one serialized stream, by the writer's ids.
struct RestoreMemo {
  std::unordered_map<uint64_t, symnet::NodePtr> nodes;
  std::unordered_map<uint64_t, symnet::VariablePtr> variables;
};

// One kind of engine object behind an external pointer.
struct PersistKind {
  const char* name;       // written into the state; also the pointer's class "symnet_<name>_ptr"
  SEXP (*state)(void* box);                                  // payload list (R objects only)
  void* (*restore)(SEXP payload, RestoreMemo& memo);         // a new box; throws symnet::Error
  void (*destroy)(void* box);
};

extern const PersistKind kDataKind;      // r_persist.cpp: a variable's values
extern const PersistKind kValueKind;     // r_glue.cpp
extern const PersistKind kVariableKind;  // r_glue.cpp
extern const PersistKind kFunctionKind;  // r_function.cpp

// A new external pointer of `kind` owning `box`, with its state tag and finalizer.
SEXP make_persistent_ptr(const PersistKind& kind, void* box);
// The box behind `p`, adopting a restored object after unserialize; raises a classed R
// error when `p` is not of `kind` or cannot be restored (saved by an older version, with
// serialize(version = 2), or from a file that failed to rebuild).
void* persistent_box(SEXP p, const PersistKind& kind);
// Whether `p` has (or can adopt) a live object.
bool persistent_alive(SEXP p, const PersistKind& kind);

// A graph over `outputs` as a payload (JSON without variable values, the writer's node and
// variable ids, and the variables' pointers, whose own states carry their values once).
SEXP graph_payload(const std::vector<symnet::Value>& outputs, const std::vector<std::string>& names);
symnet::Graph restore_graph_payload(SEXP payload, RestoreMemo& memo);
// A variable restored (or being restored) in this stream, by the writer's id.
symnet::VariablePtr memo_variable(RestoreMemo& memo, double id);
// The one R object per live variable that carries its values in serialized payloads: every
// graph, pointer and compiled function naming the variable refers to it, so R's reference
// tracking writes the values once per stream. It holds the variable weakly and stays
// preserved while the variable lives (dead entries are swept as new ones are made).
SEXP variable_data_ptr(const symnet::VariablePtr& v);

// Registers the ALTREP class; called once when the package's DLL loads.
void register_persist_class(DllInfo* dll);

}  // namespace symnet_r
