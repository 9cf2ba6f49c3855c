#include "engine/base/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>

#if defined(_WIN32)
// Large buffers come from VirtualAlloc (the Windows counterpart of an anonymous mmap),
// small ones from _aligned_malloc: the MinGW-w64 C runtime has no aligned_alloc.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <malloc.h>
#include <windows.h>
#define SYMNET_HAVE_VIRTUALALLOC 1
#elif defined(__unix__) || defined(__APPLE__)
// posix_memalign rather than std::aligned_alloc: macOS only has the latter from 10.15 on,
// and CRAN's Intel macOS builds target older systems.
#include <sys/mman.h>
#include <unistd.h>
#define SYMNET_HAVE_MMAP 1
#define SYMNET_HAVE_POSIX_MEMALIGN 1
#endif

namespace symnet {

namespace {
// Buffers from this size on are mapped from the kernel directly: they come zeroed without
// touching their pages (a page is resident only once used), and they go back to the
// system the moment they are freed instead of staying in malloc's heap.
constexpr size_t kMapThreshold = size_t{1} << 20;

size_t physical_memory() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return static_cast<size_t>(pages) * static_cast<size_t>(page);
#endif
  return 0;
}

std::string gib(size_t bytes) {
  std::ostringstream o;
  o.precision(3);
  o << static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0) << " GiB";
  return o.str();
}
}  // namespace

size_t physical_memory_bytes() {
  static const size_t phys = physical_memory();
  return phys;
}

Storage::Storage(size_t bytes) : bytes_(bytes) {
  // A buffer larger than the machine's memory cannot be used: with overcommit a mapping of
  // it may even succeed and the process is then killed when its pages are touched, or it
  // swaps for minutes. Refuse it here, where every tensor and arena is allocated.
  const size_t phys = physical_memory_bytes();
  SN_CHECK(phys == 0 || bytes <= phys, ErrorKind::value,
           "cannot allocate " << bytes << " bytes (" << gib(bytes) << "): more than this machine's "
                              << gib(phys) << " of memory");
  if (bytes >= kMapThreshold) {
#if defined(SYMNET_HAVE_MMAP)
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) SN_THROW(ErrorKind::value, "out of memory allocating " << bytes << " bytes");
    data_ = p;
    mapped_ = true;
    return;
#elif defined(SYMNET_HAVE_VIRTUALALLOC)
    // Committed pages are zero-filled and become resident only once touched, as with mmap.
    void* p = VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (!p) SN_THROW(ErrorKind::value, "out of memory allocating " << bytes << " bytes");
    data_ = p;
    mapped_ = true;
    return;
#endif
  }
  // Page-aligned when large (see memory_plan.cpp on 4K aliasing), else cache-line aligned.
  const size_t align = bytes >= 64 * 1024 ? 4096 : 64;
  size_t rounded = ((bytes + align - 1) / align) * align;
  if (rounded == 0) rounded = align;
#if defined(SYMNET_HAVE_VIRTUALALLOC)
  data_ = _aligned_malloc(rounded, align);
#elif defined(SYMNET_HAVE_POSIX_MEMALIGN)
  if (posix_memalign(&data_, align, rounded) != 0) data_ = nullptr;
#else
  data_ = std::aligned_alloc(align, rounded);
#endif
  if (!data_) SN_THROW(ErrorKind::value, "out of memory allocating " << bytes << " bytes");
  std::memset(data_, 0, rounded);
}

Storage::~Storage() {
  if (mapped_) {
#if defined(SYMNET_HAVE_MMAP)
    munmap(data_, bytes_);
#elif defined(SYMNET_HAVE_VIRTUALALLOC)
    VirtualFree(data_, 0, MEM_RELEASE);
#endif
    return;
  }
#if defined(SYMNET_HAVE_VIRTUALALLOC)
  _aligned_free(data_);  // memory from _aligned_malloc must not go to free()
#else
  std::free(data_);
#endif
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  SN_CHECK(shape_known(shape_), ErrorKind::shape,
           "cannot allocate a tensor of unknown shape " << shape_str(shape_));
  storage_ = std::make_shared<Storage>(static_cast<size_t>(shape_bytes(shape_, dtype_size(dtype_))));
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (bytes()) std::memcpy(t.data(), data(), bytes());
  return t;
}

double Tensor::get_as_double(int64_t i) const {
  double out = 0;
  convert_elements(static_cast<const char*>(data()) + i * dtype_size(dtype_), dtype_, &out,
                   DType::f64, 1);
  return out;
}

void Tensor::set_from_double(int64_t i, double v) {
  convert_elements(&v, DType::f64, static_cast<char*>(data()) + i * dtype_size(dtype_), dtype_,
                   1);
}

void Tensor::swap_storage(Tensor& other) {
  SN_CHECK(other.dtype_ == dtype_ && other.shape_ == shape_, ErrorKind::internal,
           "swap_storage between different tensor types");
  std::swap(storage_, other.storage_);
}

Tensor Tensor::scalar(DType dtype, double v) {
  Tensor t(dtype, {});
  t.set_from_double(0, v);
  return t;
}

Tensor Tensor::from_doubles(DType dtype, Shape shape, const std::vector<double>& values) {
  Tensor t(dtype, std::move(shape));
  SN_CHECK(static_cast<int64_t>(values.size()) == t.numel(), ErrorKind::value,
           "expected " << t.numel() << " values, got " << values.size());
  convert_elements(values.data(), DType::f64, t.data(), dtype, t.numel());
  return t;
}

namespace {
template <typename S, typename D>
void convert_typed(const S* s, D* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<D, bool>) d[i] = s[i] != S(0);
    else d[i] = static_cast<D>(s[i]);
  }
}
}  // namespace

void convert_elements(const void* src, DType st, void* dst, DType dt, int64_t n) {
  if (n <= 0) return;
  if (st == dt) {
    std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(st));
    return;
  }
  dispatch_dtype(st, [&](auto s) {
    using S = decltype(s);
    dispatch_dtype(dt, [&](auto d) {
      using D = decltype(d);
      convert_typed(static_cast<const S*>(src), static_cast<D*>(dst), n);
    });
  });
}

}  // namespace symnet
