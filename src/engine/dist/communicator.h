// A group of processes that reduce, broadcast and gather tensors together: what the
// collective ops (ops/collective.cpp) run on. The process has one world communicator: a
// single-rank one until the host installs another (R: dist_init() opens the MPI library);
// a thread may override it for its own scope (the engine tests run ranks as threads).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/base/dtype.h"

namespace symnet {

enum class CommReduce { sum, max, min };

// What a rank that failed told the others (Communicator::notify_failure).
struct PeerFailure {
  int rank = -1;
  std::string message;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string description() const = 0;
  // In place over `count` elements of `dtype`. Errors throw Error(runtime) naming the call.
  virtual void allreduce(void* buf, int64_t count, DType dtype, CommReduce op) = 0;
  virtual void broadcast(void* buf, int64_t bytes, int root) = 0;
  // recv holds size() * bytes: rank r's send at offset r * bytes.
  virtual void allgather(const void* send, void* recv, int64_t bytes) = 0;
  virtual void barrier() = 0;
  // Seconds after which a collective that has not completed fails with Error(comm); 0: no
  // limit. Communicators whose collectives cannot hang (one process) ignore it.
  virtual void set_timeout(double seconds) { (void)seconds; }
  // Not collective: tells the other ranks that this one failed, so that their collectives
  // fail naming it instead of waiting for it. The communicator is unusable afterwards.
  // Communicators of one process have no one to tell.
  virtual void notify_failure(const std::string& message) { (void)message; }
  // The failure another rank notified, if any.
  virtual bool peer_failure(PeerFailure* out) const {
    (void)out;
    return false;
  }
};

// The communicator collective kernels use on this thread: the thread's override if any,
// else the world (a single-rank communicator unless set_world_communicator() was called).
Communicator& current_communicator();
// Replaces the world communicator (null: back to the single-rank one).
void set_world_communicator(std::shared_ptr<Communicator> comm);
std::shared_ptr<Communicator> world_communicator();

// Makes `comm` this thread's communicator while alive.
class ScopedCommunicator {
 public:
  explicit ScopedCommunicator(Communicator* comm);
  ~ScopedCommunicator();
  ScopedCommunicator(const ScopedCommunicator&) = delete;
  ScopedCommunicator& operator=(const ScopedCommunicator&) = delete;

 private:
  Communicator* previous_;
};

// The element types collectives move: f32, f64, i32, i64, u8 and bool (as bytes).
bool comm_supports_dtype(DType t);

}  // namespace symnet
