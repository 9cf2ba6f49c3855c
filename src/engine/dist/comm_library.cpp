#include "engine/dist/comm_library.h"

#include "engine/base/error.h"
#include "engine/base/shared_library.h"
#include "engine/dist/comm_abi.h"

namespace symnet {

namespace {

int comm_dtype(DType t) {
  switch (t) {
    case DType::f32: return SYMNET_COMM_F32;
    case DType::f64: return SYMNET_COMM_F64;
    case DType::i32: return SYMNET_COMM_I32;
    case DType::i64: return SYMNET_COMM_I64;
    case DType::u8: case DType::boolean: return SYMNET_COMM_U8;
    default: SN_THROW(ErrorKind::dtype, "collectives do not support " << dtype_name(t));
  }
}

int comm_reduce(CommReduce op) {
  switch (op) {
    case CommReduce::sum: return SYMNET_COMM_SUM;
    case CommReduce::max: return SYMNET_COMM_MAX;
    case CommReduce::min: return SYMNET_COMM_MIN;
  }
  return SYMNET_COMM_SUM;
}

[[noreturn]] void fail(const char* call, const symnet_comm_v2& api, const char* error) {
  SN_THROW(ErrorKind::comm, call << " failed on rank " << api.rank << " of " << api.size << ": "
                                 << (error[0] ? error : "no reason given"));
}

}  // namespace

std::shared_ptr<LibraryCommunicator> open_communicator_library(const std::string& path) {
  std::string why;
  // Global scope: MPI implementations open their own plugins, which look up libmpi's symbols.
  void* lib = open_shared_library(path, LibraryScope::global, why);
  SN_CHECK(lib != nullptr, ErrorKind::unsupported, "cannot load communicator library '" << path << "': " << why);
  auto open = reinterpret_cast<symnet_comm_open_fn>(find_library_symbol(lib, SYMNET_COMM_ENTRY));
  if (!open) {
    const bool older = find_library_symbol(lib, SYMNET_COMM_ENTRY_V1) != nullptr;
    close_shared_library(lib);
    SN_CHECK(!older, ErrorKind::unsupported,
             "communicator library '" << path << "' was built for an older interface (ABI 1, this package "
                                      << SYMNET_COMM_ABI_VERSION << "): reinstall symnet");
    SN_THROW(ErrorKind::unsupported,
             "'" << path << "' is not a symnet communicator library (no " << SYMNET_COMM_ENTRY << " entry point)");
  }
  symnet_comm_v2 api{};
  char error[512] = {0};
  if (open(SYMNET_COMM_ABI_VERSION, &api, error, sizeof error) != 0) {
    close_shared_library(lib);
    SN_THROW(ErrorKind::unsupported,
             "communicator library '" << path << "' could not start: " << (error[0] ? error : "no reason given"));
  }
  if (api.abi_version != SYMNET_COMM_ABI_VERSION || !api.allreduce || !api.broadcast || !api.allgather ||
      !api.barrier || !api.abort || !api.finalize || !api.set_timeout || !api.notify_failure ||
      !api.peer_failure || api.size < 1 || api.rank < 0 || api.rank >= api.size) {
    // Not closed: the library may have initialised state (MPI) that its code still owns.
    SN_THROW(ErrorKind::unsupported, "communicator library '" << path << "' was built for another interface (ABI "
                                                              << api.abi_version << ", this package "
                                                              << SYMNET_COMM_ABI_VERSION << ")");
  }
  api.description[sizeof api.description - 1] = '\0';
  return std::make_shared<LibraryCommunicator>(api);
}

LibraryCommunicator::LibraryCommunicator(const symnet_comm_v2& api) : api_(new symnet_comm_v2(api)) {}

// The library stays loaded (MPI cannot be initialised twice in a process); finalizing is
// the owner's explicit step, because MPI_Finalize at static destruction may run after the
// runtime it needs is gone.
LibraryCommunicator::~LibraryCommunicator() = default;

int LibraryCommunicator::rank() const { return api_->rank; }
int LibraryCommunicator::size() const { return api_->size; }
std::string LibraryCommunicator::description() const { return api_->description; }

void LibraryCommunicator::check_open(const char* what) const {
  SN_CHECK(!finalized_, ErrorKind::comm, what << " after the communicator was finalized");
}

void LibraryCommunicator::allreduce(void* buf, int64_t count, DType dtype, CommReduce op) {
  check_open("allreduce");
  char error[512] = {0};
  if (api_->allreduce(api_->state, buf, count, comm_dtype(dtype), comm_reduce(op), error, sizeof error) != 0)
    fail("allreduce", *api_, error);
}

void LibraryCommunicator::broadcast(void* buf, int64_t bytes, int root) {
  check_open("broadcast");
  SN_CHECK(root >= 0 && root < api_->size, ErrorKind::value,
           "broadcast root " << root << " is not a rank (0 to " << api_->size - 1 << ")");
  char error[512] = {0};
  if (api_->broadcast(api_->state, buf, bytes, root, error, sizeof error) != 0) fail("broadcast", *api_, error);
}

void LibraryCommunicator::allgather(const void* send, void* recv, int64_t bytes) {
  check_open("allgather");
  char error[512] = {0};
  if (api_->allgather(api_->state, send, recv, bytes, error, sizeof error) != 0) fail("allgather", *api_, error);
}

void LibraryCommunicator::barrier() {
  check_open("barrier");
  char error[512] = {0};
  if (api_->barrier(api_->state, error, sizeof error) != 0) fail("barrier", *api_, error);
}

void LibraryCommunicator::set_timeout(double seconds) {
  check_open("set_timeout");
  SN_CHECK(seconds >= 0, ErrorKind::value, "the timeout must be >= 0 seconds, got " << seconds);
  char error[512] = {0};
  if (api_->set_timeout(api_->state, seconds, error, sizeof error) != 0) fail("set_timeout", *api_, error);
}

// Best effort: a failure while telling the others must not hide the error being reported.
void LibraryCommunicator::notify_failure(const std::string& message) {
  if (finalized_) return;
  char error[512] = {0};
  // a few seconds for the notices to leave; a rank that is gone takes none
  api_->notify_failure(api_->state, message.c_str(), 5.0, error, sizeof error);
}

bool LibraryCommunicator::peer_failure(PeerFailure* out) const {
  if (finalized_) return false;
  char message[1024] = {0};
  int rank = -1;
  if (api_->peer_failure(api_->state, &rank, message, sizeof message) != 1) return false;
  if (out) {
    out->rank = rank;
    out->message = message;
  }
  return true;
}

void LibraryCommunicator::abort(int code) {
  if (!finalized_) api_->abort(api_->state, code);
}

void LibraryCommunicator::finalize() {
  if (finalized_) return;
  finalized_ = true;
  char error[512] = {0};
  if (api_->finalize(api_->state, error, sizeof error) != 0) fail("finalize", *api_, error);
}

}  // namespace symnet
