// Host tensors (owning) and views (non-owning) used by kernels and the executor.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/base/dtype.h"
#include "engine/base/error.h"
#include "engine/base/shape.h"

namespace symnet {

// 64-byte aligned host memory block.
// The machine's physical memory in bytes (0 when unknown). No single buffer may be larger.
size_t physical_memory_bytes();

class Storage {
 public:
  explicit Storage(size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  bool mapped_ = false;  // from mmap/VirtualAlloc (large buffers), else aligned heap memory
};

// A contiguous row-major view of memory owned elsewhere.
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  Shape shape;

  int64_t numel() const { return shape_numel(shape); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  template <typename T> T* ptr() const { return static_cast<T*>(data); }
};

// An owning, contiguous tensor with a known shape. Copies share storage.
class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);  // zero-filled
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool defined() const { return storage_ != nullptr; }
  void* data() { return storage_ ? storage_->data() : nullptr; }
  const void* data() const { return storage_ ? storage_->data() : nullptr; }
  template <typename T> T* ptr() { return static_cast<T*>(data()); }
  template <typename T> const T* ptr() const { return static_cast<const T*>(data()); }
  TensorView view() const { return TensorView{const_cast<void*>(data()), dtype_, shape_}; }
  // Deep copy.
  Tensor clone() const;
  // Element i converted to double (for folding, printing and tests).
  double get_as_double(int64_t i) const;
  void set_from_double(int64_t i, double v);
  // Swaps storage with another tensor of the same dtype and shape (used for zero-copy updates).
  void swap_storage(Tensor& other);

  static Tensor scalar(DType dtype, double v);
  static Tensor from_doubles(DType dtype, Shape shape, const std::vector<double>& values);

 private:
  DType dtype_ = DType::f32;
  Shape shape_;
  std::shared_ptr<Storage> storage_;
};

using TensorPtr = std::shared_ptr<Tensor>;

// Calls f(T{}) with T the C++ type of dtype (float, double, int32_t, int64_t, uint8_t, bool).
template <typename F>
decltype(auto) dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    case DType::boolean: return f(bool{});
    default: break;
  }
  SN_THROW(ErrorKind::dtype, "no CPU kernels for dtype " << dtype_name(t));
}

// Converts n elements between dtypes (used by cast, constant folding and the R glue).
void convert_elements(const void* src, DType src_t, void* dst, DType dst_t, int64_t n);

}  // namespace symnet
