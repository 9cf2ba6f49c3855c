// symnet's MPI communicator, built as its own shared library (symnet_mpi.so) when configure
// finds MPI and opened by the package at run time (dist/comm_library.h), so that symnet
// installs and loads on machines without MPI. Only MPI and the C interface in
// engine/dist/comm_abi.h: no engine code, no R.
// The C bindings only: MPI's deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <sched.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "engine/dist/comm_abi.h"

namespace {

// Messages of the control communicator (a second private copy of the world, never used
// for data): they arrive while a rank polls a collective, so a rank that failed or stalled
// is named rather than waited for.
enum Tag : int {
  kFailureTag = 1,  // payload: the failed rank's message (text)
  kWaitingTag = 2,  // payload: int64 sequence number of the collective the sender waits in
};

struct State {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Comm control = MPI_COMM_NULL;
  int rank = 0, size = 1;
  bool we_initialized = false;
  double timeout = 0;  // seconds; 0: wait without limit
  // Collectives started so far; equal on every rank that made the same calls.
  int64_t seq = 0;
  // The last collective each rank said it was waiting in (-1: none yet).
  std::vector<int64_t> peer_waiting;
  // A rank's failure (ours or another's): every later collective fails with it.
  bool broken = false;
  int failed_rank = -1;
  std::string failed_message;
  // Control messages in flight, each with its buffer, which MPI reads until the send
  // completes (a send to a rank that died never does).
  std::vector<std::pair<MPI_Request, std::shared_ptr<const std::string>>> sends;
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

// Forgets the control sends that have completed (their requests and buffers).
void sweep_sends(State* st) {
  size_t kept = 0;
  for (auto& s : st->sends) {
    int done = 0;
    MPI_Test(&s.first, &done, MPI_STATUS_IGNORE);
    if (!done) st->sends[kept++] = std::move(s);
  }
  st->sends.resize(kept);
}

// Sends `payload` to every other rank on the control communicator without waiting.
void post(State* st, int tag, std::string payload) {
  sweep_sends(st);
  auto buf = std::make_shared<const std::string>(std::move(payload));
  for (int r = 0; r < st->size; ++r) {
    if (r == st->rank) continue;
    MPI_Request req;
    if (MPI_Isend(buf->data(), static_cast<int>(buf->size()), MPI_CHAR, r, tag, st->control, &req) == MPI_SUCCESS)
      st->sends.emplace_back(req, buf);
  }
}

// Takes the control messages that have arrived: failures (the first one is kept) and the
// collectives other ranks wait in.
void drain_control(State* st) {
  for (;;) {
    int flag = 0;
    MPI_Status status;
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, st->control, &flag, &status) != MPI_SUCCESS || !flag) return;
    int n = 0;
    MPI_Get_count(&status, MPI_CHAR, &n);
    std::string buf(static_cast<size_t>(n > 0 ? n : 0), '\0');
    if (MPI_Recv(&buf[0], n, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, st->control, MPI_STATUS_IGNORE) !=
        MPI_SUCCESS)
      return;
    if (status.MPI_TAG == kFailureTag && !st->broken) {
      st->broken = true;
      st->failed_rank = status.MPI_SOURCE;
      st->failed_message = buf;
    } else if (status.MPI_TAG == kWaitingTag && buf.size() == sizeof(int64_t)) {
      int64_t seq = 0;
      std::memcpy(&seq, buf.data(), sizeof seq);
      if (seq > st->peer_waiting[static_cast<size_t>(status.MPI_SOURCE)])
        st->peer_waiting[static_cast<size_t>(status.MPI_SOURCE)] = seq;
    }
  }
}

int peer_failed(State* st, const char* call, char* error, size_t len) {
  if (error && len) {
    if (st->failed_rank == st->rank)
      std::snprintf(error, len, "%s: this rank failed earlier; the communicator cannot be used again", call);
    else
      std::snprintf(error, len, "%s: rank %d failed: %s", call, st->failed_rank, st->failed_message.c_str());
  }
  return 1;
}

// The ranks that have not said they wait in collective `seq`: those that died, hang or are
// still computing (the others wait with us).
std::string absent_ranks(const State* st, int64_t seq) {
  std::string out;
  for (int r = 0; r < st->size; ++r) {
    if (r == st->rank || st->peer_waiting[static_cast<size_t>(r)] >= seq) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(r);
  }
  return out;
}

// Completes a nonblocking collective, or fails after the state's timeout: a rank that died
// or stopped calling collectives would otherwise leave this one blocked forever. A failure
// another rank notified ends the wait at once. Polls tightly at first (most collectives
// finish within microseconds), then yields the core. A rank still waiting after a second
// says so to the others, so that a timeout can name the ranks that never arrived.
int wait(State* st, MPI_Request* req, const char* call, char* error, size_t len) {
  const int64_t seq = ++st->seq;
  const double start = MPI_Wtime();
  bool announced = false;
  for (long spins = 0;; ++spins) {
    int done = 0;
    const int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return failed(rc, call, error, len);
    if (done) return 0;
    if (spins > 1000) {
      if (spins % 16 == 0) {
        drain_control(st);
        // the collective can never complete: the failed rank will not join it
        if (st->broken) return peer_failed(st, call, error, len);
      }
      const double waited = MPI_Wtime() - start;
      if (!announced && waited > 1.0) {
        announced = true;
        post(st, kWaitingTag, std::string(reinterpret_cast<const char*>(&seq), sizeof seq));
      }
      if (st->timeout > 0 && waited > st->timeout) {
        drain_control(st);
        if (st->broken) return peer_failed(st, call, error, len);
        const std::string absent = absent_ranks(st, seq);
        if (error && len) {
          if (absent.empty())
            std::snprintf(error, len,
                          "%s did not complete within %g s although every rank is waiting in a collective: the "
                          "ranks called different collectives (the job should be stopped)",
                          call, st->timeout);
          else
            std::snprintf(error, len,
                          "%s did not complete within %g s: rank(s) %s never reached it (died, hung, or stopped "
                          "calling the same collectives; the job should be stopped)",
                          call, st->timeout, absent.c_str());
        }
        // no later collective can succeed either: the pending one cannot be cancelled
        st->broken = true;
        st->failed_rank = st->rank;
        return 1;
      }
      // MPI progresses a nonblocking collective only inside MPI calls (each round of a large
      // all-reduce needs a test), so while a transfer may still be running the loop only
      // yields the core; past a second it is waiting for a peer and naps.
      if (waited < 1.0) {
        sched_yield();
      } else {
        const struct timespec nap = {0, waited < 10.0 ? 100000L : 1000000L};
        nanosleep(&nap, nullptr);
      }
    }
  }
}

// A collective may start only on a communicator no failure has broken.
int usable(State* st, const char* call, char* error, size_t len) {
  if (!st->broken) drain_control(st);
  if (!st->broken) return 0;
  if (st->failed_rank == st->rank && error && len) {
    std::snprintf(error, len,
                  "%s: this rank failed earlier (an error it told the others about, or a collective that "
                  "timed out); the communicator cannot be used again (stop the job)",
                  call);
    return 1;
  }
  return peer_failed(st, call, error, len);
}

// MPI counts are int: long buffers go in pieces of at most 2^30 elements.
constexpr int64_t kPiece = int64_t(1) << 30;

int allreduce(void* s, void* buf, int64_t count, int dtype, int reduce, char* error, size_t len) {
  State* st = static_cast<State*>(s);
  if (usable(st, "allreduce", error, len)) return 1;
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
  if (usable(st, "broadcast", error, len)) return 1;
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
  if (usable(st, "allgather", error, len)) return 1;
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
  if (usable(st, "barrier", error, len)) return 1;
  MPI_Request req;
  const int rc = MPI_Ibarrier(st->comm, &req);
  if (rc != MPI_SUCCESS) return failed(rc, "MPI_Ibarrier", error, len);
  return wait(st, &req, "barrier", error, len);
}

int set_timeout(void* s, double seconds, char*, size_t) {
  static_cast<State*>(s)->timeout = seconds > 0 ? seconds : 0;
  return 0;
}

int notify_failure(void* s, const char* message, double grace, char*, size_t) {
  State* st = static_cast<State*>(s);
  if (st->broken && st->failed_rank != st->rank) return 0;  // another rank's failure: they know
  st->broken = true;
  st->failed_rank = st->rank;
  post(st, kFailureTag, message ? message : "");
  // Small messages leave at once; a rank that died never takes them, so give up after grace.
  const double start = MPI_Wtime();
  for (;;) {
    sweep_sends(st);
    if (st->sends.empty() || MPI_Wtime() - start > grace) break;
    const struct timespec nap = {0, 1000000L};
    nanosleep(&nap, nullptr);
  }
  return 0;
}

int peer_failure(void* s, int* rank, char* message, size_t len) {
  State* st = static_cast<State*>(s);
  if (!st->broken) drain_control(st);
  if (!st->broken || st->failed_rank == st->rank || st->failed_rank < 0) return 0;
  if (rank) *rank = st->failed_rank;
  put(message, len, st->failed_message.c_str());
  return 1;
}

void abort_job(void* s, int code) { MPI_Abort(static_cast<State*>(s)->comm, code); }

int finalize(void* s, char* error, size_t len) {
  State* st = static_cast<State*>(s);
  int rc = MPI_SUCCESS;
  // Control sends still pending went to ranks that stopped taking messages: let them go
  // (their buffers stay allocated: MPI may still read them).
  sweep_sends(st);
  for (auto& s : st->sends) {
    if (s.first != MPI_REQUEST_NULL) MPI_Request_free(&s.first);
    new std::shared_ptr<const std::string>(s.second);  // deliberately kept alive
  }
  // A broken communicator may have a collective pending forever: freeing it could wait.
  if (!st->broken) {
    drain_control(st);
    if (st->control != MPI_COMM_NULL) MPI_Comm_free(&st->control);
    if (st->comm != MPI_COMM_NULL) rc = MPI_Comm_free(&st->comm);
  }
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
int symnet_comm_open_v2(uint32_t host_abi_version, symnet_comm_v2* out, char* error, size_t len) {
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
  if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(MPI_COMM_WORLD, &st->control);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(st->control, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) {
    delete st;
    return failed(rc, "MPI_Comm_dup", error, len);
  }
  MPI_Comm_rank(st->comm, &st->rank);
  MPI_Comm_size(st->comm, &st->size);
  st->peer_waiting.assign(static_cast<size_t>(st->size), -1);
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
  out->notify_failure = notify_failure;
  out->peer_failure = peer_failure;
  return 0;
}

}  // extern "C"
