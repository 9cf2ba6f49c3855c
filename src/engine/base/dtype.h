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
// f16/bf16 are declared so the IR and the GPU backend can carry them; the CPU
// kernels do not compute in them.
bool has_cpu_kernels(DType t);

}  // namespace symnet
