#include "engine/ir/op_schema.h"

#include <sstream>

#include "engine/base/error.h"

namespace symnet {

const char* attr_kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::int_: return "an integer";
    case AttrKind::float_: return "a number";
    case AttrKind::string: return "a string";
    case AttrKind::ints: return "a vector of integers";
    case AttrKind::floats: return "a vector of numbers";
    case AttrKind::strings: return "a vector of strings";
    case AttrKind::tensor: return "a tensor";
    case AttrKind::graph: return "a graph";
    case AttrKind::variable: return "a variable";
  }
  return "?";
}

bool is_annotation(const std::string& attr_name) { return !attr_name.empty() && attr_name[0] == '_'; }

const AttrSpec* OpSchema::attr(const std::string& key) const {
  for (const AttrSpec& s : attrs)
    if (s.name == key) return &s;
  return nullptr;
}

OpSchema& OpSchema::with_attrs(std::vector<AttrSpec> specs) {
  attrs = std::move(specs);
  attrs_declared = true;
  return *this;
}

namespace {

// A value is of a kind exactly when the typed getter of that kind accepts it, so the
// validation and the readers can never disagree.
void check_kind(const AttrMap& a, const AttrSpec& s) {
  switch (s.kind) {
    case AttrKind::int_: a.get_int(s.name); break;
    case AttrKind::float_: a.get_float(s.name); break;
    case AttrKind::string: a.get_string(s.name); break;
    case AttrKind::ints: a.get_ints(s.name); break;
    case AttrKind::floats: a.get_floats(s.name); break;
    case AttrKind::strings: a.get_strings(s.name); break;
    case AttrKind::tensor: a.get_tensor(s.name); break;
    case AttrKind::graph: a.get_graph(s.name); break;
    case AttrKind::variable: a.get_variable(s.name); break;
  }
}

std::string attr_list(const OpSchema& op) {
  if (op.attrs.empty()) return "it takes no attributes";
  std::ostringstream o;
  o << "its attributes are ";
  for (size_t i = 0; i < op.attrs.size(); ++i) o << (i ? ", " : "") << "'" << op.attrs[i].name << "'";
  return o.str();
}

}  // namespace

void OpSchema::validate(const AttrMap& given) const {
  if (!attrs_declared) return;
  for (const auto& kv : given.items()) {
    if (is_annotation(kv.first)) continue;
    const AttrSpec* s = attr(kv.first);
    SN_CHECK(s != nullptr, ErrorKind::attr,
             "op '" << name << "' has no attribute '" << kv.first << "' (" << attr_list(*this) << ")");
    try {
      check_kind(given, *s);
    } catch (const Error&) {
      SN_THROW(ErrorKind::attr, "attribute '" << s->name << "' of op '" << name << "' must be "
                                             << attr_kind_name(s->kind) << ", not "
                                             << attr_type_name(kv.second));
    }
  }
  for (const AttrSpec& s : attrs)
    SN_CHECK(!s.required || given.has(s.name), ErrorKind::attr,
             "op '" << name << "' needs attribute '" << s.name << "' (" << attr_kind_name(s.kind) << ")");
}

OpSchema& Registry::add(OpSchema def) {
  SN_CHECK(!def.name.empty() && def.infer, ErrorKind::internal, "op '" << def.name << "' needs a name and infer");
  SN_CHECK(!ops_.count(def.name), ErrorKind::internal, "op '" << def.name << "' registered twice");
  std::string name = def.name;
  return ops_.emplace(name, std::move(def)).first->second;
}

const OpSchema* Registry::find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

OpSchema* Registry::find_mutable(const std::string& name) {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

const OpSchema& Registry::get(const std::string& name) const {
  const OpSchema* d = find(name);
  SN_CHECK(d != nullptr, ErrorKind::unsupported, "unknown op '" << name << "'");
  return *d;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& kv : ops_) out.push_back(kv.first);
  return out;
}

}  // namespace symnet
