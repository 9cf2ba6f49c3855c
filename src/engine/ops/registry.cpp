#include "engine/ops/registry.h"

#include "engine/base/error.h"

namespace symnet {

OpDef& Registry::add(OpDef def) {
  SN_CHECK(!def.name.empty() && def.infer, ErrorKind::internal, "op '" << def.name << "' needs a name and infer");
  SN_CHECK(!ops_.count(def.name), ErrorKind::internal, "op '" << def.name << "' registered twice");
  std::string name = def.name;
  return ops_.emplace(name, std::move(def)).first->second;
}

const OpDef* Registry::find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

const OpDef& Registry::get(const std::string& name) const {
  const OpDef* d = find(name);
  SN_CHECK(d != nullptr, ErrorKind::unsupported, "unknown op '" << name << "'");
  return *d;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& kv : ops_) out.push_back(kv.first);
  return out;
}

void register_all_ops(Registry& r) {
  register_source_ops(r);
  register_internal_ops(r);
  register_fused_ops(r);
  register_per_sample_ops(r);
  register_elementwise_ops(r);
  register_reduce_ops(r);
  register_linalg_ops(r);
  register_shape_ops(r);
  register_index_ops(r);
  register_nn_ops(r);
  register_random_ops(r);
  register_conv_ops(r);
  register_pool_ops(r);
  register_norm_ops(r);
}

const Registry& registry() {
  // Function-local static: filled once, on first use, thread-safe (C++11).
  static const Registry reg = [] {
    Registry r;
    register_all_ops(r);
    return r;
  }();
  return reg;
}

}  // namespace symnet
