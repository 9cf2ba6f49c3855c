#include "engine/base/dtype.h"

#include "engine/base/error.h"

namespace symnet {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::boolean: return 1;
    case DType::f16: return 2;
    case DType::bf16: return 2;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::boolean: return "bool";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  if (n == "float32" || n == "float" || n == "single") return DType::f32;
  if (n == "float64" || n == "double") return DType::f64;
  if (n == "int32" || n == "integer" || n == "int") return DType::i32;
  if (n == "int64") return DType::i64;
  if (n == "uint8") return DType::u8;
  if (n == "bool" || n == "logical") return DType::boolean;
  if (n == "float16" || n == "half") return DType::f16;
  if (n == "bfloat16") return DType::bf16;
  SN_THROW(ErrorKind::dtype, "unknown dtype '" << n
           << "'; use one of float32, float64, int32, int64, uint8, bool, float16, bfloat16");
}

bool is_float(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
}

bool is_integer(DType t) {
  return t == DType::i32 || t == DType::i64 || t == DType::u8;
}

bool is_core_dtype(DType t) { return t != DType::f16 && t != DType::bf16; }

}  // namespace symnet
