// The CUDA backend's host-side logic, runnable without a GPU: the caching allocator's
// bookkeeping, and the real library (when this build made one) loading without a driver,
// answering its information, refusing to register with the reason, and throwing errors the
// host catches as symnet::Error. Cases that need a GPU say why they skip.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "cuda/caching_pool.h"
#include "engine/backend/cuda_library.h"
#include "engine/backend/plugin.h"
#include "engine/base/json_value.h"
#include "engine/base/shared_library.h"
#include "harness.h"

using namespace symnet;
using symnet::cuda::CachingPool;

namespace {

// Host memory standing in for the device, failing once `limit` bytes are out.
struct FakeDevice {
  size_t limit = SIZE_MAX;
  size_t live = 0;
  int mallocs = 0, frees = 0;
  std::map<void*, size_t> blocks;
  CachingPool::RawAlloc alloc() {
    return [this](size_t n) -> void* {
      if (live + n > limit) return nullptr;
      void* p = std::malloc(n);
      blocks[p] = n;
      live += n;
      ++mallocs;
      return p;
    };
  }
  CachingPool::RawFree free() {
    return [this](void* p) {
      live -= blocks.at(p);
      blocks.erase(p);
      std::free(p);
      ++frees;
    };
  }
};

// The library this build made, or "" (then the library cases skip, saying so).
std::string library_or_skip() {
  const std::string path = test::cuda_library_path();
  if (path.empty()) WARN("skipped: no CUDA backend library in this build (no nvcc/cuBLAS/cuDNN, or SYMNET_CUDA=OFF)");
  return path;
}

}  // namespace

TEST_CASE("device error kinds have their names", "[cuda]") {
  CHECK(std::string(error_kind_name(ErrorKind::device)) == "device");
  CHECK(std::string(error_kind_name(ErrorKind::device_memory)) == "device_memory");
}

TEST_CASE("caching pool: bins are at least 512 bytes, four per power of two, never 25% too big", "[cuda]") {
  CHECK(CachingPool::bin_size(1) == 512);
  CHECK(CachingPool::bin_size(512) == 512);
  CHECK(CachingPool::bin_size(513) == 640);
  CHECK(CachingPool::bin_size(1024) == 1024);
  CHECK(CachingPool::bin_size(1025) == 1280);
  CHECK(CachingPool::bin_size(3u << 20) == (3u << 20));
  for (size_t n = 1; n < (1u << 24); n = n * 3 / 2 + 7) {
    const size_t b = CachingPool::bin_size(n);
    INFO(n << " -> " << b);
    CHECK(b >= n);
    CHECK(CachingPool::bin_size(b) == b);  // a bin is its own bin
    if (n > 512) CHECK(b - n < b / 5 + 1);
  }
}

TEST_CASE("caching pool: freed blocks are reused by their bin, stats follow", "[cuda]") {
  FakeDevice dev;
  CachingPool pool(dev.alloc(), dev.free());
  size_t b1 = 0, b2 = 0, b3 = 0, b0 = 7;
  CHECK(pool.allocate(0, b0) == nullptr);
  CHECK(b0 == 0);
  void* p1 = pool.allocate(1000, b1);
  void* p2 = pool.allocate(100, b2);
  REQUIRE(p1 != nullptr);
  REQUIRE(p2 != nullptr);
  CHECK(b1 == 1024);
  CHECK(b2 == 512);
  CHECK(dev.mallocs == 2);
  auto s = pool.stats();
  CHECK(s.in_use == 1536);
  CHECK(s.peak == 1536);
  CHECK(s.reserved == 1536);
  pool.release(p1, b1);
  s = pool.stats();
  CHECK(s.in_use == 512);
  CHECK(s.cached == 1024);
  CHECK(s.reserved == 1536);
  CHECK(s.peak == 1536);
  // 900 bytes fall in the 1024 bin: the cached block, no new malloc
  void* p3 = pool.allocate(900, b3);
  CHECK(p3 == p1);
  CHECK(b3 == 1024);
  CHECK(dev.mallocs == 2);
  // another bin: a new block
  size_t b4 = 0;
  void* p4 = pool.allocate(2000, b4);
  CHECK(p4 != nullptr);
  CHECK(b4 == 2048);
  CHECK(dev.mallocs == 3);
  pool.reset_peak();
  CHECK(pool.stats().peak == pool.stats().in_use);
  pool.release(p2, b2);
  pool.release(p3, b3);
  pool.release(p4, b4);
  CHECK(pool.stats().in_use == 0);
  CHECK(dev.frees == 0);  // all cached
  pool.empty_cache();
  CHECK(dev.frees == 3);
  CHECK(dev.live == 0);
  s = pool.stats();
  CHECK(s.reserved == 0);
  CHECK(s.cached == 0);
}

TEST_CASE("caching pool: out of memory empties the cache and retries once", "[cuda]") {
  FakeDevice dev;
  dev.limit = 4096;
  CachingPool pool(dev.alloc(), dev.free());
  size_t b1 = 0, b2 = 0;
  void* p1 = pool.allocate(2048, b1);
  void* p2 = pool.allocate(2048, b2);
  REQUIRE(p1);
  REQUIRE(p2);
  pool.release(p1, b1);
  pool.release(p2, b2);  // 4096 cached, none free on the "device"
  size_t b3 = 0;
  void* p3 = pool.allocate(3000, b3);  // another bin: the driver fails, the cache goes, retry succeeds
  REQUIRE(p3 != nullptr);
  CHECK(b3 == 3072);
  CHECK(dev.frees == 2);
  CHECK(pool.stats().cached == 0);
  CHECK(pool.stats().reserved == 3072);
  size_t b4 = 123;
  CHECK(pool.allocate(2048, b4) == nullptr);  // nothing cached to give back: the caller reports it
  CHECK(b4 == 0);
  CHECK(pool.stats().in_use == 3072);
  pool.release(p3, b3);
}

TEST_CASE("the CUDA library loads without a driver and says why CUDA is off", "[cuda]") {
  const std::string path = library_or_skip();
  if (path.empty()) return;
  const CudaStatus& st = load_cuda_library(path);
  REQUIRE(st.attempted);
  INFO("reason: " << st.reason);
  CHECK(st.library_loaded);
  json::Value info = json::parse(cuda_info_json());
  REQUIRE(info.find("available"));
  CHECK(info.find("available")->b == st.available);
  // What the library can say without a driver: the libraries it was linked with.
  CHECK(info.find("runtime_version")->i >= 12000);
  CHECK(info.find("cudnn_version")->i >= 90000);
  CHECK(info.find("cublas_version")->s.find('.') != std::string::npos);
  if (st.available) {
    WARN("a GPU is usable here: the no-driver checks are skipped");
    CHECK(!info.find("devices")->items.empty());
    return;
  }
  CHECK(info.find("devices")->items.empty());
  CHECK(info.find("reason")->s == st.reason);
  const bool known = st.reason.rfind("no CUDA driver", 0) == 0 || st.reason.rfind("CUDA driver too old", 0) == 0 ||
                     st.reason.rfind("no CUDA device", 0) == 0;
  CHECK(known);
  CHECK(st.backends.empty());
  CHECK(backends().find("cuda:0") == nullptr);
  uint64_t a = 0, b = 0, c = 0;
  CHECK_FALSE(cuda_memory_stats(0, false, a, b, c));  // no device registered
  // Options are process-wide and accepted without devices; bad ones are value errors.
  CHECK_NOTHROW(cuda_set_option("allow_tf32", "0"));
  CHECK_NOTHROW(cuda_set_option("conv_workspace_limit", "1048576"));
  CHECK(test::kind_of([] { cuda_set_option("allow_tf32", "maybe"); }) == ErrorKind::value);
  CHECK(test::kind_of([] { cuda_set_option("conv_workspace_limit", "-3"); }) == ErrorKind::value);
  CHECK(test::kind_of([] { cuda_set_option("empty_cache", "0"); }) == ErrorKind::value);
  CHECK(test::kind_of([] { cuda_set_option("no_such_option", "1"); }) == ErrorKind::value);
}

TEST_CASE("the CUDA library's entry point refuses cleanly without a device", "[cuda]") {
  const std::string path = library_or_skip();
  if (path.empty()) return;
  if (load_cuda_library(path).available) {
    WARN("skipped: a GPU is usable here, so the library registers");
    return;
  }
  const std::vector<std::string> before = backends().names();
  try {
    load_backend_library(path);
    FAIL("registration succeeded without a device");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
    CHECK_THAT(e.what(), Catch::Contains("refused to register") && Catch::Contains(cuda_status().reason));
  }
  CHECK(backends().names() == before);
  // Another ABI is refused before CUDA is asked.
  std::string why;
  void* lib = open_shared_library(path, LibraryScope::local, why);
  REQUIRE(lib != nullptr);
  auto entry = reinterpret_cast<symnet_backend_register_fn>(find_library_symbol(lib, SYMNET_BACKEND_ENTRY));
  REQUIRE(entry != nullptr);
  symnet_host_api_v1 host = host_api();
  host.abi_version += 1;
  char error[256] = {0};
  CHECK(entry(&host, error, sizeof error) != 0);
  CHECK_THAT(std::string(error), Catch::Contains("ABI"));
  close_shared_library(lib);
}

TEST_CASE("errors thrown in the CUDA library are caught as symnet::Error, classified", "[cuda]") {
  const std::string path = library_or_skip();
  if (path.empty()) return;
  std::string why;
  void* lib = open_shared_library(path, LibraryScope::local, why);
  REQUIRE(lib != nullptr);
  // Only the C entry points are exported: the library's copies of engine code stay local.
  CHECK(find_library_symbol(lib, "symnet_cuda_info_v1") != nullptr);
  CHECK(find_library_symbol(lib, "_ZN6symnet15error_kind_nameENS_9ErrorKindE") == nullptr);
  using ThrowFn = void (*)(int, const char*);
  auto thrower = reinterpret_cast<ThrowFn>(find_library_symbol(lib, "symnet_cuda_test_throw_v1"));
  REQUIRE(thrower != nullptr);
  const int kMemoryAllocation = 2, kIllegalAddress = 700;  // cudaErrorMemoryAllocation, cudaErrorIllegalAddress
  try {
    thrower(kMemoryAllocation, "cudaMalloc");
    FAIL("nothing thrown");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::device_memory);
    CHECK_THAT(e.what(), Catch::StartsWith("cudaMalloc: ") && Catch::Contains("cudaErrorMemoryAllocation"));
  }
  try {
    thrower(kIllegalAddress, "cudaStreamSynchronize");
    FAIL("nothing thrown");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::device);
    CHECK_THAT(e.what(), Catch::Contains("cudaErrorIllegalAddress"));
  }
  close_shared_library(lib);
}

TEST_CASE("CUDA buffers: uploads, device copies, zero fill and downloads round-trip", "[cuda]") {
  const std::string path = library_or_skip();
  if (path.empty()) return;
  const CudaStatus& st = load_cuda_library(path);
  if (!st.available) {
    WARN("skipped (needs a GPU): " << st.reason);
    return;
  }
  const Backend& b = backends().get("cuda:0");
  const BufferType& t = b.buffer_type();
  CHECK_FALSE(t.is_host());
  std::vector<float> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.5f;
  auto a = t.allocate(x.size() * sizeof(float));
  auto c = t.allocate(x.size() * sizeof(float));
  CHECK(a->data() == nullptr);
  CHECK(a->device_ptr() != nullptr);
  a->upload(0, x.data(), x.size() * sizeof(float));
  c->fill_zero();
  c->copy_from(*a, 4 * sizeof(float), 0, 10 * sizeof(float));
  std::vector<float> y(x.size(), -1.0f);
  c->download_async(0, y.data(), y.size() * sizeof(float));
  b.synchronize();
  for (int i = 0; i < 10; ++i) CHECK(y[i] == x[i + 4]);
  for (size_t i = 10; i < y.size(); ++i) CHECK(y[i] == 0.0f);
  uint64_t in_use = 0, peak = 0, reserved = 0;
  REQUIRE(cuda_memory_stats(0, false, in_use, peak, reserved));
  CHECK(in_use >= 2 * x.size() * sizeof(float));
  CHECK(reserved >= in_use);
  CHECK(test::kind_of([&] { t.allocate(size_t(1) << 50); }) == ErrorKind::device_memory);
}
