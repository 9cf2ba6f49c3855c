#include "engine/dist/communicator.h"

#include <cstring>
#include <mutex>

#include "engine/base/error.h"

namespace symnet {

namespace {

// One process alone: every collective is the identity.
class SelfCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string description() const override { return "single process"; }
  void allreduce(void*, int64_t, DType, CommReduce) override {}
  void broadcast(void*, int64_t, int root) override {
    SN_CHECK(root == 0, ErrorKind::value, "broadcast root " << root << " does not exist in a single process");
  }
  void allgather(const void* send, void* recv, int64_t bytes) override {
    if (send != recv && bytes > 0) std::memmove(recv, send, static_cast<size_t>(bytes));
  }
  void barrier() override {}
};

std::mutex world_mutex;
std::shared_ptr<Communicator>& world_slot() {
  static std::shared_ptr<Communicator> world = std::make_shared<SelfCommunicator>();
  return world;
}
thread_local Communicator* thread_override = nullptr;

}  // namespace

std::shared_ptr<Communicator> world_communicator() {
  std::lock_guard<std::mutex> lock(world_mutex);
  return world_slot();
}

void set_world_communicator(std::shared_ptr<Communicator> comm) {
  std::lock_guard<std::mutex> lock(world_mutex);
  world_slot() = comm ? std::move(comm) : std::make_shared<SelfCommunicator>();
}

Communicator& current_communicator() {
  if (thread_override) return *thread_override;
  std::lock_guard<std::mutex> lock(world_mutex);
  return *world_slot();
}

ScopedCommunicator::ScopedCommunicator(Communicator* comm) : previous_(thread_override) { thread_override = comm; }
ScopedCommunicator::~ScopedCommunicator() { thread_override = previous_; }

bool comm_supports_dtype(DType t) {
  switch (t) {
    case DType::f32: case DType::f64: case DType::i32: case DType::i64: case DType::u8: case DType::boolean:
      return true;
    default:
      return false;
  }
}

}  // namespace symnet
