// Engine errors: thrown, never printed; the R glue maps `kind` to a condition class.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace symnet {

enum class ErrorKind {
  shape,        // incompatible or unknown shapes
  dtype,        // unsupported or mismatched element type
  attr,         // bad attribute value
  feed,         // missing / unexpected / malformed run-time input
  value,        // bad argument value not covered above
  index,        // an index or label outside the axis it addresses (found at run time)
  unsupported,  // valid request the engine cannot do (e.g. op without kernel)
  interrupt,    // user interrupt observed by a long loop
  comm,         // a collective failed: another process died, errored or timed out
  device,       // a device call failed (a CUDA, cuBLAS or cuDNN error)
  device_memory,  // a device ran out of memory (also a device error for R)
  internal      // engine bug
};

const char* error_kind_name(ErrorKind k);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg, std::string op = "", std::string node = "")
      : std::runtime_error(msg), kind_(kind), op_(std::move(op)), node_(std::move(node)) {}
  ErrorKind kind() const { return kind_; }
  const std::string& op() const { return op_; }
  const std::string& node() const { return node_; }
  // Adds op/node context to an error raised deeper down, keeping the first one set.
  Error with_context(const std::string& op, const std::string& node) const {
    return Error(kind_, what(), op_.empty() ? op : op_, node_.empty() ? node : node_);
  }

 private:
  ErrorKind kind_;
  std::string op_, node_;
};

}  // namespace symnet

#define SN_THROW(kind, stream_expr)                      \
  do {                                                   \
    std::ostringstream sn_msg_;                          \
    sn_msg_ << stream_expr;                              \
    throw ::symnet::Error((kind), sn_msg_.str());        \
  } while (0)

#define SN_CHECK(cond, kind, stream_expr) \
  do {                                    \
    if (!(cond)) SN_THROW(kind, stream_expr); \
  } while (0)
