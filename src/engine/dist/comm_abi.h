// The C interface of a separately built communicator library (symnet_mpi: MPI; later NCCL).
// Plain C structs and function pointers, so the library and the package need not share a
// compiler or a C++ standard library, only this header's version.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Version 2 added notify_failure and peer_failure (a rank that fails tells the others).
#define SYMNET_COMM_ABI_VERSION 2u
#define SYMNET_COMM_ENTRY "symnet_comm_open_v2"
// The entry point of libraries built for an older interface, to name the mismatch.
#define SYMNET_COMM_ENTRY_V1 "symnet_comm_open_v1"

extern "C" {

// Element types and reductions a communicator must support.
enum symnet_comm_dtype { SYMNET_COMM_F32 = 0, SYMNET_COMM_F64 = 1, SYMNET_COMM_I32 = 2, SYMNET_COMM_I64 = 3,
                         SYMNET_COMM_U8 = 4 };
enum symnet_comm_reduce { SYMNET_COMM_SUM = 0, SYMNET_COMM_MAX = 1, SYMNET_COMM_MIN = 2 };

// Every call returns 0 on success; otherwise it writes a message (at most error_len bytes,
// NUL included) to `error`. Calls are collective (every rank makes them in the same order)
// except notify_failure and peer_failure.
struct symnet_comm_v2 {
  uint32_t abi_version;  // SYMNET_COMM_ABI_VERSION of the library
  void* state;
  int rank;
  int size;
  char description[256];  // implementation and version, e.g. "Open MPI v4.1.4 (MPI 3.1)"
  // In place: buf (count elements) becomes the reduction over ranks.
  int (*allreduce)(void* state, void* buf, int64_t count, int dtype, int reduce, char* error, size_t error_len);
  // bytes of buf on `root` copied to every rank's buf.
  int (*broadcast)(void* state, void* buf, int64_t bytes, int root, char* error, size_t error_len);
  // recv (size * bytes) = every rank's send (bytes each), in rank order.
  int (*allgather)(void* state, const void* send, void* recv, int64_t bytes, char* error, size_t error_len);
  int (*barrier)(void* state, char* error, size_t error_len);
  // Ends the whole job (a failed rank must not leave the others waiting forever).
  void (*abort)(void* state, int code);
  // Releases the communicator (MPI_Finalize when the library initialised MPI).
  int (*finalize)(void* state, char* error, size_t error_len);
  // A collective that has not completed after `seconds` (> 0) fails instead of waiting
  // forever for a rank that died or stopped answering; 0 waits without limit.
  int (*set_timeout)(void* state, double seconds, char* error, size_t error_len);
  // Tells every other rank that this one failed and why (not collective). Their pending and
  // later collectives then fail naming this rank and `message` instead of waiting for it.
  // Returns once the notices have left, or after `grace_seconds` for ranks that take none.
  // The communicator is broken afterwards: every collective fails.
  int (*notify_failure)(void* state, const char* message, double grace_seconds, char* error, size_t error_len);
  // The failure another rank notified (returns 1 and fills rank and message), else 0.
  int (*peer_failure)(void* state, int* rank, char* message, size_t message_len);
};

// The library's entry point: fills `out` (abi_version and everything else) or fails.
typedef int (*symnet_comm_open_fn)(uint32_t host_abi_version, symnet_comm_v2* out, char* error, size_t error_len);

}  // extern "C"
