// Attributes of the recurrent ops: ONNX RNN-14 / LSTM-14 / GRU-14, plus the has_* flags
// saying which optional inputs are present (ops/rnn.cpp's header comment).
#include "engine/ops/rnn_attrs.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "engine/base/error.h"

namespace symnet {

namespace {

struct ActInfo {
  const char* name;  // lower case
  RnnAct kind;
  int n_alpha, n_beta;
  double alpha, beta;  // defaults when activation_alpha / activation_beta run out
};

constexpr ActInfo kActs[] = {
    {"sigmoid", RnnAct::sigmoid, 0, 0, 0, 0},
    {"tanh", RnnAct::tanh, 0, 0, 0, 0},
    {"relu", RnnAct::relu, 0, 0, 0, 0},
    {"hardsigmoid", RnnAct::hard_sigmoid, 1, 1, 0.2, 0.5},
    {"leakyrelu", RnnAct::leaky_relu, 1, 0, 0.01, 0},
    {"affine", RnnAct::affine, 1, 1, 1.0, 0.0},
    {"scaledtanh", RnnAct::scaled_tanh, 1, 1, 1.0, 1.0},
    {"thresholdedrelu", RnnAct::thresholded_relu, 1, 0, 1.0, 0},
    {"elu", RnnAct::elu, 1, 0, 1.0, 0},
    {"softsign", RnnAct::softsign, 0, 0, 0, 0},
    {"softplus", RnnAct::softplus, 0, 0, 0, 0},
};

const ActInfo& find_act(const std::string& name) {
  std::string low;
  for (char ch : name) low += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const ActInfo& a : kActs)
    if (low == a.name) return a;
  SN_THROW(ErrorKind::unsupported,
          "activation '" << name
                         << "' is not supported (use Sigmoid, Tanh, Relu, HardSigmoid, LeakyRelu, Affine, "
                            "ScaledTanh, ThresholdedRelu, Elu, Softsign or Softplus)");
}

bool flag(const AttrMap& a, const char* k) {
  const int64_t v = a.get_int(k, 0);
  SN_CHECK(v == 0 || v == 1, ErrorKind::attr, "'" << k << "' must be 0 or 1, got " << v);
  return v == 1;
}

const char* const kHasNames[kRnnNumOptional] = {"has_bias",      "has_sequence_lens", "has_initial_h",
                                                "has_initial_c", "has_peepholes",     "has_mask"};

}  // namespace

RnnCell rnn_cell_of(const std::string& op) {
  if (op.rfind("lstm", 0) == 0) return RnnCell::lstm;
  if (op.rfind("gru", 0) == 0) return RnnCell::gru;
  return RnnCell::rnn;
}

RnnSpec resolve_rnn(RnnCell cell, const AttrMap& a, int64_t hidden_from_r) {
  RnnSpec s;
  s.cell = cell;
  const std::string dir = a.get_string("direction", "forward");
  SN_CHECK(dir == "forward" || dir == "reverse" || dir == "bidirectional", ErrorKind::attr,
           "'direction' must be forward, reverse or bidirectional, got '" << dir << "'");
  s.direction = dir == "forward" ? 0 : dir == "reverse" ? 1 : 2;
  s.layout = static_cast<int>(a.get_int("layout", 0));
  SN_CHECK(s.layout == 0 || s.layout == 1, ErrorKind::attr, "'layout' must be 0 or 1, got " << s.layout);
  s.hidden = hidden_from_r;
  if (a.has("hidden_size")) {
    const int64_t h = a.get_int("hidden_size");
    SN_CHECK(h >= 1, ErrorKind::attr, "'hidden_size' must be positive, got " << h);
    SN_CHECK(hidden_from_r < 0 || h == hidden_from_r, ErrorKind::shape,
             "'hidden_size' is " << h << " but R (input 3) has hidden size " << hidden_from_r);
    s.hidden = h;
  }
  if (a.has("clip")) {
    s.clip = a.get_float("clip");
    SN_CHECK(s.clip > 0 && !std::isnan(s.clip), ErrorKind::attr, "'clip' must be positive, got " << s.clip);
  }
  s.input_forget = flag(a, "input_forget");
  SN_CHECK(!s.input_forget || cell == RnnCell::lstm, ErrorKind::attr, "'input_forget' is an LSTM attribute");
  s.linear_before_reset = flag(a, "linear_before_reset");
  for (int k = 0; k < kRnnNumOptional; ++k) s.has[k] = flag(a, kHasNames[k]);
  SN_CHECK(cell == RnnCell::lstm || (!s.has[kRnnInitC] && !s.has[kRnnPeep]), ErrorKind::attr,
           "'has_initial_c' and 'has_peepholes' are LSTM attributes");

  // Activations: num_acts per direction, the forward direction's first; one direction's
  // list serves both directions of a bidirectional layer.
  const int na = s.num_acts();
  std::vector<std::string> names;
  if (a.has("activations")) {
    names = a.get_strings("activations");
    SN_CHECK(static_cast<int>(names.size()) == na || static_cast<int>(names.size()) == na * s.dirs(), ErrorKind::attr,
             "'activations' needs " << na * s.dirs() << " names (" << na << " per direction), got " << names.size());
    if (static_cast<int>(names.size()) == na && s.dirs() == 2) {
      const std::vector<std::string> one = names;  // inserting a vector's own range is undefined
      names.insert(names.end(), one.begin(), one.end());
    }
  } else {
    const char* def[3] = {"sigmoid", "tanh", "tanh"};
    if (cell == RnnCell::rnn) def[0] = "tanh";
    for (int d = 0; d < s.dirs(); ++d)
      for (int i = 0; i < na; ++i) names.push_back(def[i]);
  }
  const std::vector<double> alphas = a.get_floats("activation_alpha", {}), betas = a.get_floats("activation_beta", {});
  size_t ai = 0, bi = 0;
  for (int d = 0; d < s.dirs(); ++d)
    for (int i = 0; i < na; ++i) {
      const ActInfo& info = find_act(names[d * na + i]);
      RnnActivation& act = s.act[d][i];
      act.kind = info.kind;
      act.alpha = info.n_alpha && ai < alphas.size() ? alphas[ai++] : info.alpha;
      act.beta = info.n_beta && bi < betas.size() ? betas[bi++] : info.beta;
    }
  return s;
}

std::vector<AttrSpec> rnn_attr_specs(RnnCell cell) {
  std::vector<AttrSpec> v = {
      {"hidden_size", AttrKind::int_, false, "hidden units (default: from R)"},
      {"direction", AttrKind::string, false, "forward (default), reverse or bidirectional"},
      {"layout", AttrKind::int_, false, "0 (default): X [seq, batch, in]; 1: X [batch, seq, in]"},
      {"clip", AttrKind::float_, false, "clips activation inputs to [-clip, clip] (default: none)"},
      {"activations", AttrKind::strings, false, "activation names per direction (ONNX defaults)"},
      {"activation_alpha", AttrKind::floats, false, "alphas, taken in order by the activations that use one"},
      {"activation_beta", AttrKind::floats, false, "betas, taken in order by the activations that use one"},
      {"has_bias", AttrKind::int_, false, "1: input B present (default 0: zero bias)"},
      {"has_sequence_lens", AttrKind::int_, false, "1: input sequence_lens present (default 0)"},
      {"has_initial_h", AttrKind::int_, false, "1: input initial_h present (default 0: zeros)"},
      {"has_mask", AttrKind::int_, false, "1: trailing input mask [seq, batch] present (default 0)"},
  };
  if (cell == RnnCell::lstm) {
    v.push_back({"has_initial_c", AttrKind::int_, false, "1: input initial_c present (default 0: zeros)"});
    v.push_back({"has_peepholes", AttrKind::int_, false, "1: input P present (default 0: no peepholes)"});
    v.push_back({"input_forget", AttrKind::int_, false, "1: couples the forget gate to the input gate (default 0)"});
  }
  if (cell == RnnCell::gru)
    v.push_back({"linear_before_reset", AttrKind::int_, false, "1: reset gate applied after R_h (default 0)"});
  return v;
}

}  // namespace symnet
