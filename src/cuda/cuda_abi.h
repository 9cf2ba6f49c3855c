// The C functions the CUDA backend library exports besides the backend entry point
// (backend/plugin.h), looked up by name after the library is opened. They work on machines
// without a driver or device too (they report why), so that the package can say exactly
// why CUDA is off. Plain C: the R glue and the benchmarks reach them through dlsym.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define SYMNET_CUDA_INFO "symnet_cuda_info_v1"
#define SYMNET_CUDA_MEMORY_STATS "symnet_cuda_memory_stats_v1"
#define SYMNET_CUDA_SET_OPTION "symnet_cuda_set_option_v1"

extern "C" {

// Writes a JSON object describing the CUDA installation and devices into `out` (at most
// `len` bytes, NUL included) and returns the length it needed (excluding the NUL):
// {"available": bool, "reason": "..." (why not, when not), "driver_version": int,
//  "runtime_version": int, "cublas_version": "x.y.z", "cudnn_version": int,
//  "devices": [{"index": 0, "name": "...", "total_memory": bytes, "free_memory": bytes,
//               "compute_capability": "9.0", "multiprocessors": n}, ...]}
typedef size_t (*symnet_cuda_info_fn)(char* out, size_t len);

// The caching allocator's figures for device `device`, in bytes: what tensors hold now,
// the most they held since the last reset, what the cache holds from the driver. With
// `reset_peak` non-zero the peak restarts from the current use. Returns 0 on success,
// non-zero for an unknown device.
typedef int (*symnet_cuda_memory_stats_fn)(int device, int reset_peak, uint64_t* in_use, uint64_t* peak,
                                           uint64_t* reserved);

// Sets a process-wide option of the backend ("allow_tf32" "0"/"1", "conv_workspace_limit"
// bytes, "empty_cache" on device index `value`); returns 0, or non-zero with a message in
// `error`.
typedef int (*symnet_cuda_set_option_fn)(const char* name, const char* value, char* error, size_t error_len);

}  // extern "C"
