// Communicators from separately built libraries (comm_abi.h): src/mpi/symnet_mpi.cpp links
// MPI, which many machines lack, so the package opens it only when distributed training is
// asked for, and reports why it cannot instead of failing to load.
#pragma once
#include <memory>
#include <string>

#include "engine/dist/comm_abi.h"
#include "engine/dist/communicator.h"

namespace symnet {

class LibraryCommunicator;

// Opens the library at `path` and its communicator (for MPI: MPI_Init_thread). Throws
// Error(unsupported) naming the library and the reason: not found, a missing dependency as
// the system loader reports it, no entry point, another ABI, or the library's own refusal.
std::shared_ptr<LibraryCommunicator> open_communicator_library(const std::string& path);

class LibraryCommunicator final : public Communicator {
 public:
  // The library stays loaded for the life of the process (MPI cannot start twice).
  explicit LibraryCommunicator(const symnet_comm_v2& api);
  ~LibraryCommunicator() override;
  int rank() const override;
  int size() const override;
  std::string description() const override;
  void allreduce(void* buf, int64_t count, DType dtype, CommReduce op) override;
  void broadcast(void* buf, int64_t bytes, int root) override;
  void allgather(const void* send, void* recv, int64_t bytes) override;
  void barrier() override;
  void set_timeout(double seconds) override;
  void notify_failure(const std::string& message) override;
  bool peer_failure(PeerFailure* out) const override;
  // Ends every process of the job (after a fatal error on this one).
  void abort(int code);
  // Releases the communicator; later calls are errors. Idempotent.
  void finalize();
  bool finalized() const { return finalized_; }

 private:
  void check_open(const char* what) const;
  std::unique_ptr<symnet_comm_v2> api_;
  bool finalized_ = false;
};

}  // namespace symnet
