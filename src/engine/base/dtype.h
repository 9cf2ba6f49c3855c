// Element types of engine tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace symnet {

enum class DType : uint8_t { f32, f64, i32, i64, u8, boolean, f16, bf16 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
// Throws a ValueError naming the accepted spellings.
DType dtype_from_name(const std::string& name);
bool is_float(DType t);
bool is_integer(DType t);  // signed/unsigned integer types, not bool
// The dtypes every backend computes in (all but f16/bf16, which are declared so the IR and
// a GPU backend can carry them). Shape inference accepts these; a backend that computes
// in more says so in its supports().
bool is_core_dtype(DType t);

}  // namespace symnet
