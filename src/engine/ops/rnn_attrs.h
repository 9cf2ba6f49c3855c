// Attribute resolution of the recurrent ops (rnn, lstm, gru and their _grad ops), shared by
// shape inference (ops/rnn.cpp) and the CPU binding's prepare(): one RnnSpec, so input
// positions and the saved-state layout agree everywhere. Throws attr errors for bad values
// and unsupported errors naming an unknown activation.
#pragma once
#include <string>
#include <vector>

#include "engine/ir/attr.h"
#include "engine/ir/op_schema.h"
#include "engine/math/rnn_spec.h"

namespace symnet {

// `hidden_from_r` is R's last dim (-1 unknown); hidden_size, when given, must match it.
RnnSpec resolve_rnn(RnnCell cell, const AttrMap& attrs, int64_t hidden_from_r);

// The cell of a forward or _grad op name ("lstm", "lstm_grad", ...).
RnnCell rnn_cell_of(const std::string& op);

// The attributes every recurrent op declares (forward and gradient alike).
std::vector<AttrSpec> rnn_attr_specs(RnnCell cell);

}  // namespace symnet
