#include "engine/base/error.h"

namespace symnet {

const char* error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::shape: return "shape";
    case ErrorKind::dtype: return "dtype";
    case ErrorKind::attr: return "attr";
    case ErrorKind::feed: return "feed";
    case ErrorKind::value: return "value";
    case ErrorKind::index: return "index";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::interrupt: return "interrupt";
    case ErrorKind::comm: return "comm";
    case ErrorKind::device: return "device";
    case ErrorKind::device_memory: return "device_memory";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

}  // namespace symnet
