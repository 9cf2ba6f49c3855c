// Sources: graph inputs, constants and engine-resident variables. They have no kernels:
// executors bind their values.
#include "engine/base/error.h"
#include "engine/ops/registry.h"

namespace symnet {

void register_source_ops(Registry& r) {
  OpSchema in;
  in.name = "input";
  in.min_inputs = in.max_inputs = 0;
  in.flags = kSource;
  in.infer = [](const InferContext& c) {
    const std::string& name = c.attrs.get_string("name");
    SN_CHECK(!name.empty(), ErrorKind::attr, "an input needs a non-empty name");
    // No "shape" attribute: any shape, rank included, known when fed (a scalar is shape []).
    if (!c.attrs.has("shape"))
      return std::vector<TensorType>{{dtype_from_name(c.attrs.get_string("dtype", "float32")), {}, true}};
    TensorType t{dtype_from_name(c.attrs.get_string("dtype", "float32")),
                 c.attrs.get_ints("shape", {})};
    SN_CHECK(static_cast<int64_t>(t.shape.size()) <= kMaxRank, ErrorKind::shape,
             "input '" << name << "' has rank " << t.shape.size() << "; at most " << kMaxRank << " is supported");
    for (int64_t d : t.shape)
      SN_CHECK(d >= -1, ErrorKind::shape, "input '" << name << "': dimension " << d
                                                    << " is invalid (use NA/-1 for unknown)");
    return std::vector<TensorType>{t};
  };
  in.with_attrs({{"name", AttrKind::string, true, "the argument name of compiled functions"},
                 {"dtype", AttrKind::string, false, "default float32"},
                 {"shape", AttrKind::ints, false, "-1 for a dimension known at run time (default: scalar)"}});
  r.add(in);

  OpSchema k;
  k.name = "constant";
  k.min_inputs = k.max_inputs = 0;
  k.flags = kPure;
  k.infer = [](const InferContext& c) {
    TensorPtr t = c.attrs.get_tensor("value");
    SN_CHECK(t && t->defined(), ErrorKind::attr, "constant without a value");
    return std::vector<TensorType>{{t->dtype(), t->shape()}};
  };
  k.with_attrs({{"value", AttrKind::tensor, true, "the value"}});
  r.add(k);

  OpSchema var;
  var.name = "variable";
  var.min_inputs = var.max_inputs = 0;
  var.flags = kSource;
  var.infer = [](const InferContext& c) {
    VariablePtr v = c.attrs.get_variable("var");
    SN_CHECK(v && v->defined(), ErrorKind::attr, "variable without a value");
    return std::vector<TensorType>{{v->dtype(), v->shape()}};
  };
  var.with_attrs({{"var", AttrKind::variable, true, "the engine-resident variable"}});
  r.add(var);
}

}  // namespace symnet
