#include "engine/ir/attr.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <sstream>

#include "engine/base/error.h"

namespace symnet {

std::shared_ptr<Variable> Variable::create(std::string name, Tensor value) {
  static std::atomic<uint64_t> next{1};
  auto v = std::make_shared<Variable>();
  v->name = std::move(name);
  v->value_ = std::move(value);
  v->id = next++;
  return v;
}

const Tensor& Variable::host() const {
  if (!host_current_ && device_) {
    device_->read(value_.data(), value_.bytes());
    host_current_ = true;
  }
  return value_;
}

Tensor& Variable::host_for_write(bool keep) {
  if (keep) host();
  host_current_ = true;
  device_current_ = false;
  return value_;
}

void Variable::attach_device_copy(std::unique_ptr<DeviceCopy> copy) {
  host();
  device_ = std::move(copy);
  device_current_ = false;
  refresh_device_copy();
}

void Variable::refresh_device_copy() {
  if (!device_ || device_current_) return;
  device_->write(value_.data(), value_.bytes());
  device_current_ = true;
}

const char* attr_type_name(const Attr& a) {
  static const char* names[] = {"int",   "float",  "string", "ints",    "floats",
                                "strings", "tensor", "graph",  "variable"};
  return names[a.index()];
}

const Attr& AttrMap::at(const std::string& k) const {
  auto it = m_.find(k);
  SN_CHECK(it != m_.end(), ErrorKind::attr, "missing attribute '" << k << "'");
  return it->second;
}

#define SN_ATTR_TYPE_ERROR(k, want, a) \
  SN_THROW(ErrorKind::attr, "attribute '" << k << "' must be " << want << ", not " << attr_type_name(a))

int64_t AttrMap::get_int(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<int64_t>(&a)) return *p;
  if (auto p = std::get_if<double>(&a)) {
    if (std::floor(*p) == *p && std::isfinite(*p)) return static_cast<int64_t>(*p);
  }
  SN_ATTR_TYPE_ERROR(k, "an integer", a);
}
int64_t AttrMap::get_int(const std::string& k, int64_t def) const { return has(k) ? get_int(k) : def; }

double AttrMap::get_float(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<double>(&a)) return *p;
  if (auto p = std::get_if<int64_t>(&a)) return static_cast<double>(*p);
  SN_ATTR_TYPE_ERROR(k, "a number", a);
}
double AttrMap::get_float(const std::string& k, double def) const { return has(k) ? get_float(k) : def; }

const std::string& AttrMap::get_string(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<std::string>(&a)) return *p;
  SN_ATTR_TYPE_ERROR(k, "a string", a);
}
std::string AttrMap::get_string(const std::string& k, const std::string& def) const {
  return has(k) ? get_string(k) : def;
}

std::vector<int64_t> AttrMap::get_ints(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<std::vector<int64_t>>(&a)) return *p;
  if (auto p = std::get_if<int64_t>(&a)) return {*p};
  if (auto p = std::get_if<std::vector<double>>(&a)) {
    std::vector<int64_t> out;
    for (double d : *p) {
      if (std::floor(d) != d || !std::isfinite(d)) SN_ATTR_TYPE_ERROR(k, "integers", a);
      out.push_back(static_cast<int64_t>(d));
    }
    return out;
  }
  if (auto p = std::get_if<double>(&a)) {
    if (std::floor(*p) == *p) return {static_cast<int64_t>(*p)};
  }
  SN_ATTR_TYPE_ERROR(k, "a vector of integers", a);
}
std::vector<int64_t> AttrMap::get_ints(const std::string& k, const std::vector<int64_t>& def) const {
  return has(k) ? get_ints(k) : def;
}

std::vector<double> AttrMap::get_floats(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<std::vector<double>>(&a)) return *p;
  if (auto p = std::get_if<double>(&a)) return {*p};
  if (auto p = std::get_if<std::vector<int64_t>>(&a)) return std::vector<double>(p->begin(), p->end());
  if (auto p = std::get_if<int64_t>(&a)) return {static_cast<double>(*p)};
  SN_ATTR_TYPE_ERROR(k, "a vector of numbers", a);
}
std::vector<double> AttrMap::get_floats(const std::string& k, const std::vector<double>& def) const {
  return has(k) ? get_floats(k) : def;
}

std::vector<std::string> AttrMap::get_strings(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<std::vector<std::string>>(&a)) return *p;
  if (auto p = std::get_if<std::string>(&a)) return {*p};
  SN_ATTR_TYPE_ERROR(k, "a vector of strings", a);
}

TensorPtr AttrMap::get_tensor(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<TensorPtr>(&a)) return *p;
  SN_ATTR_TYPE_ERROR(k, "a tensor", a);
}
GraphPtr AttrMap::get_graph(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<GraphPtr>(&a)) return *p;
  SN_ATTR_TYPE_ERROR(k, "a graph", a);
}
VariablePtr AttrMap::get_variable(const std::string& k) const {
  const Attr& a = at(k);
  if (auto p = std::get_if<VariablePtr>(&a)) return *p;
  SN_ATTR_TYPE_ERROR(k, "a variable", a);
}

namespace {
bool tensors_equal(const TensorPtr& a, const TensorPtr& b) {
  if (a == b) return true;
  if (!a || !b) return false;
  return a->dtype() == b->dtype() && a->shape() == b->shape() &&
         std::memcmp(a->data(), b->data(), a->bytes()) == 0;
}
uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}
uint64_t hash_bytes(const void* p, size_t n) {
  // FNV-1a
  uint64_t h = 1469598103934665603ULL;
  auto c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ULL;
  return h;
}
}  // namespace

bool AttrMap::operator==(const AttrMap& o) const {
  if (m_.size() != o.m_.size()) return false;
  for (auto it = m_.begin(), jt = o.m_.begin(); it != m_.end(); ++it, ++jt) {
    if (it->first != jt->first || it->second.index() != jt->second.index()) return false;
    const Attr& a = it->second;
    const Attr& b = jt->second;
    if (auto p = std::get_if<TensorPtr>(&a)) {
      if (!tensors_equal(*p, std::get<TensorPtr>(b))) return false;
    } else if (a != b) {
      return false;
    }
  }
  return true;
}

uint64_t hash_attrs(const AttrMap& am) {
  uint64_t h = 0;
  for (const auto& [k, a] : am.items()) {
    h = mix(h, hash_bytes(k.data(), k.size()));
    h = mix(h, a.index());
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, double>) {
            h = mix(h, hash_bytes(&v, sizeof v));
          } else if constexpr (std::is_same_v<V, std::string>) {
            h = mix(h, hash_bytes(v.data(), v.size()));
          } else if constexpr (std::is_same_v<V, std::vector<int64_t>> ||
                               std::is_same_v<V, std::vector<double>>) {
            h = mix(h, hash_bytes(v.data(), v.size() * sizeof(v[0])));
          } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
            for (const auto& s : v) h = mix(h, hash_bytes(s.data(), s.size()));
          } else if constexpr (std::is_same_v<V, TensorPtr>) {
            if (v) h = mix(h, hash_bytes(v->data(), v->bytes()));
          } else {
            h = mix(h, reinterpret_cast<uintptr_t>(v.get()));
          }
        },
        a);
  }
  return h;
}

std::string attr_value_str(const Attr& a, size_t max_items) {
  std::ostringstream o;
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, double>) {
          o << v;
        } else if constexpr (std::is_same_v<V, std::string>) {
          o << '"' << v << '"';
        } else if constexpr (std::is_same_v<V, std::vector<int64_t>> ||
                             std::is_same_v<V, std::vector<double>> ||
                             std::is_same_v<V, std::vector<std::string>>) {
          o << "[";
          for (size_t i = 0; i < v.size() && i < max_items; ++i) o << (i ? ", " : "") << v[i];
          if (v.size() > max_items) o << ", ...";
          o << "]";
        } else if constexpr (std::is_same_v<V, TensorPtr>) {
          if (!v) { o << "null"; return; }
          o << dtype_name(v->dtype()) << shape_str(v->shape());
          if (v->numel() <= static_cast<int64_t>(max_items)) {
            o << " {";
            for (int64_t i = 0; i < v->numel(); ++i) o << (i ? ", " : "") << v->get_as_double(i);
            o << "}";
          }
        } else if constexpr (std::is_same_v<V, GraphPtr>) {
          o << "<graph>";
        } else {
          o << "<variable " << (v ? v->name : "null") << ">";
        }
      },
      a);
  return o.str();
}

}  // namespace symnet
