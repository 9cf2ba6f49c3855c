// symnet's MPI communicator, built as its own shared library (symnet_mpi.so) when configure
// finds MPI and opened by the package at run time (dist/comm_library.h), so that symnet
// installs and loads on machines without MPI. Only MPI and the C interface in
// engine/dist/comm_abi.h: no engine code, no R.
// The C bindings only: MPI's deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

#include "engine/dist/comm_abi.h"

namespace {

struct State {
  MPI_Comm comm = MPI_COMM_NULL;
  bool we_initialized = false;
  double timeout = 0;  // seconds; 0: wait without limit
};

void put(char* error, size_t len, const char* msg) {
  if (!error || len == 0) return;
  std::snprintf(error, len, "%s", msg);
}

// MPI's own text for an error code, prefixed with the call.
int failed(int code, const char* call, char* error, size_t len) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int n = 0;
  if (MPI_Error_string(code, text, &n) != MPI_SUCCESS) std::snprintf(text, sizeof text, "MPI error %d", code);
  if (error && len) std::snprintf(error, len, "%s: %s", call, text);
  return 1;
}

MPI_Datatype mpi_type(int dtype) {
  switch (dtype) {
    case SYMNET_COMM_F32: return MPI_FLOAT;
    case SYMNET_COMM_F64: return MPI_DOUBLE;
    case SYMNET_COMM_I32: return MPI_INT32_T;
    case SYMNET_COMM_I64: return MPI_INT64_T;
    default: return MPI_UINT8_T;
  }
}

size_t type_bytes(int dtype) {
  switch (dtype) {
    case SYMNET_COMM_F32: case SYMNET_COMM_I32: return 4;
    case SYMNET_COMM_F64: case SYMNET_COMM_I64: return 8;
    default: return 1;
  }
}

MPI_Op mpi_op(int reduce) {
  switch (reduce) {
    case SYMNET_COMM_MAX: return MPI_MAX;
    case SYMNET_COMM_MIN: return MPI_MIN;
    default: return MPI_SUM;
  }
}

// Completes a nonblocking collective, or fails after the state's timeout: a rank that died
// or stopped calling collectives would otherwise leave this one blocked forever. Polls
// tightly at first (most collectives finish within microseconds), then yields the core.
int wait(State* st, MPI_Request* req, const char* call, char* error, size_t len) {
  const double start = MPI_Wtime();
  for (long spins = 0;; ++spins) {
    int done = 0;
    const int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return failed(rc, call, error, len);
    if (done) return 0;
    if (spins > 1000) {
      const double waited = MPI_Wtime() - start;
      if (st->timeout > 0 && waited > st->timeout) {
        if (error && len)
          std::snprintf(error, len,
                        "%s did not complete within %g s: another rank died, failed or stopped calling the "
                        "same collectives (the job should be stopped)",
                        call, st->timeout);
        return 1;
      }
      const struct timespec nap = {0, spins > 100000 ? 1000000L : 50000L};
      nanosleep(&nap, nullptr);
    }
  }
}

// MPI counts are int: long buffers go in pieces of at most 2^30 elements.
constexpr int64_t kPiece = int64_t(1) << 30;

int allreduce(void* s, void* buf, int64_t count, int dtype, int reduce, char* error, size_t len) {
  State* st = static_cast<State*>(s);
  char* p = static_cast<char*>(buf);
  for (int64_t done = 0; done < count; done += kPiece) {
    const int n = static_cast<int>(count - done < kPiece ? count - done : kPiece);
    MPI_Request req;
    const int rc = MPI_Iallreduce(MPI_IN_PLACE, p + done * static_cast<int64_t>(type_bytes(dtype)), n,
                                  mpi_type(dtype), mpi_op(reduce), st->comm, &req);
    if (rc != MPI_SUCCESS) return failed(rc, "MPI_Iallreduce", error, len);
    if (wait(st, &req, "allreduce", error, len)) return 1;
  }
  return 0;
}

int broadcast(void* s, void* buf, int64_t bytes, int root, char* error, size_t len) {
  State* st = static_cast<State*>(s);
  char* p = static_cast<char*>(buf);
  for (int64_t done = 0; done < bytes; done += kPiece) {
    const int n = static_cast<int>(bytes - done < kPiece ? bytes - done : kPiece);
    MPI_Request req;
    const int rc = MPI_Ibcast(p + done, n, MPI_BYTE, root, st->comm, &req);
    if (rc != MPI_SUCCESS) return failed(rc, "MPI_Ibcast", error, len);
    if (wait(st, &req, "broadcast", error, len)) return 1;
  }
  return 0;
}

int allgather(void* s, const void* send, void* recv, int64_t bytes, char* error, size_t len) {
  State* st = static_cast<State*>(s);
  if (bytes > INT_MAX) {
    put(error, len, "allgather of more than 2 GiB per rank is not supported");
    return 1;
  }
  MPI_Request req;
  const int rc = MPI_Iallgather(send, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes), MPI_BYTE,
                                st->comm, &req);
  if (rc != MPI_SUCCESS) return failed(rc, "MPI_Iallgather", error, len);
  return wait(st, &req, "allgather", error, len);
}

int barrier(void* s, char* error, size_t len) {
  State* st = static_cast<State*>(s);
  MPI_Request req;
  const int rc = MPI_Ibarrier(st->comm, &req);
  if (rc != MPI_SUCCESS) return failed(rc, "MPI_Ibarrier", error, len);
  return wait(st, &req, "barrier", error, len);
}

int set_timeout(void* s, double seconds, char*, size_t) {
  static_cast<State*>(s)->timeout = seconds > 0 ? seconds : 0;
  return 0;
}

void abort_job(void* s, int code) { MPI_Abort(static_cast<State*>(s)->comm, code); }

int finalize(void* s, char* error, size_t len) {
  State* st = static_cast<State*>(s);
  int rc = MPI_SUCCESS;
  if (st->comm != MPI_COMM_NULL) rc = MPI_Comm_free(&st->comm);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (st->we_initialized && !finalized) {
    const int frc = MPI_Finalize();
    if (rc == MPI_SUCCESS) rc = frc;
  }
  delete st;
  return rc == MPI_SUCCESS ? 0 : failed(rc, "MPI_Finalize", error, len);
}

}  // namespace

extern "C" {

#if defined(_WIN32)
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
int symnet_comm_open_v1(uint32_t host_abi_version, symnet_comm_v1* out, char* error, size_t len) {
  if (host_abi_version != SYMNET_COMM_ABI_VERSION) {
    put(error, len, "the package and symnet_mpi were built from different versions (reinstall symnet)");
    return 1;
  }
  State* st = new (std::nothrow) State();
  if (!st) {
    put(error, len, "out of memory");
    return 1;
  }
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) {
    delete st;
    put(error, len, "MPI was already finalized in this process; it cannot start again (restart R)");
    return 1;
  }
  if (!initialized) {
    // Collectives are called from one thread at a time (the thread running the graph).
    int provided = 0;
    const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) {
      delete st;
      return failed(rc, "MPI_Init_thread", error, len);
    }
    st->we_initialized = true;
  }
  // A private copy of the world: symnet's messages never mix with the application's own MPI
  // traffic, and errors are returned to us instead of aborting the job.
  int rc = MPI_Comm_dup(MPI_COMM_WORLD, &st->comm);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(st->comm, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) {
    delete st;
    return failed(rc, "MPI_Comm_dup", error, len);
  }
  std::memset(out, 0, sizeof *out);
  out->abi_version = SYMNET_COMM_ABI_VERSION;
  out->state = st;
  MPI_Comm_rank(st->comm, &out->rank);
  MPI_Comm_size(st->comm, &out->size);
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int n = 0, major = 0, minor = 0;
  MPI_Get_library_version(version, &n);
  MPI_Get_version(&major, &minor);
  // First line of the library's banner, e.g. "Open MPI v4.1.4, package: ..." up to the comma.
  for (char* c = version; *c; ++c)
    if (*c == '\n' || *c == ',') {
      *c = '\0';
      break;
    }
  std::snprintf(out->description, sizeof out->description, "%s (MPI %d.%d)", version, major, minor);
  out->allreduce = allreduce;
  out->broadcast = broadcast;
  out->allgather = allgather;
  out->barrier = barrier;
  out->abort = abort_job;
  out->finalize = finalize;
  out->set_timeout = set_timeout;
  return 0;
}

}  // extern "C"
