// Rcpp glue of distributed training: opening the MPI communicator library (dist_init()),
// the process's rank and group, and the collectives R code needs outside compiled graphs
// (parameters broadcast from rank 0, metrics averaged, barriers).
#include "r_glue.h"

#include <cstring>
#include <memory>
#include <vector>

#include "engine/dist/comm_library.h"

using namespace symnet;

namespace {

// The communicator dist_init() opened, kept to finalize it; the engine's world points at it.
std::shared_ptr<LibraryCommunicator>& opened() {
  static std::shared_ptr<LibraryCommunicator> comm;
  return comm;
}

Rcpp::List info_of(const Communicator& c, bool distributed) {
  return Rcpp::List::create(Rcpp::Named("rank") = c.rank(), Rcpp::Named("size") = c.size(),
                            Rcpp::Named("description") = c.description(),
                            Rcpp::Named("distributed") = distributed);
}

}  // namespace

// Opens the communicator library at `path` (MPI_Init_thread when MPI is not yet running) and
// makes it the world of every compiled function. Once per process.
// [[Rcpp::export]]
Rcpp::List cpp_dist_open(std::string path) {
  SN_R_BEGIN
  if (opened() && !opened()->finalized()) return info_of(*opened(), true);
  if (opened()) {
    symnet_r::raise_error(ErrorKind::comm, "the communicator was finalized; MPI cannot start again in this process");
  }
  opened() = open_communicator_library(path);
  set_world_communicator(opened());
  return info_of(*opened(), true);
  SN_R_END
  return Rcpp::List();
}

// Seconds after which a collective that has not completed is a comm error (0: no limit).
// [[Rcpp::export]]
void cpp_dist_set_timeout(double seconds) {
  SN_R_BEGIN
  world_communicator()->set_timeout(seconds);
  SN_R_END
}

// [[Rcpp::export]]
Rcpp::List cpp_dist_info() {
  SN_R_BEGIN
  const bool live = opened() && !opened()->finalized();
  return info_of(*world_communicator(), live);
  SN_R_END
  return Rcpp::List();
}

// [[Rcpp::export]]
void cpp_dist_barrier() {
  SN_R_BEGIN
  world_communicator()->barrier();
  SN_R_END
}

// In place on a copy of `x` (doubles): the sum, max or min over ranks.
// [[Rcpp::export]]
Rcpp::NumericVector cpp_dist_allreduce(Rcpp::NumericVector x, std::string op) {
  SN_R_BEGIN
  Rcpp::NumericVector out = Rcpp::clone(x);
  const CommReduce r = op == "max" ? CommReduce::max : op == "min" ? CommReduce::min : CommReduce::sum;
  world_communicator()->allreduce(out.begin(), out.size(), DType::f64, r);
  return out;
  SN_R_END
  return Rcpp::NumericVector();
}

// Root's bytes on every rank. Every rank passes its own vector; only root's length matters,
// so the length travels first.
// [[Rcpp::export]]
Rcpp::RawVector cpp_dist_broadcast_raw(Rcpp::RawVector x, int root) {
  SN_R_BEGIN
  std::shared_ptr<Communicator> c = world_communicator();
  double n = static_cast<double>(x.size());
  c->broadcast(&n, sizeof n, root);
  Rcpp::RawVector out(static_cast<R_xlen_t>(n));
  if (c->rank() == root && x.size()) std::memcpy(RAW(out), RAW(x), static_cast<size_t>(x.size()));
  c->broadcast(RAW(out), static_cast<int64_t>(n), root);
  return out;
  SN_R_END
  return Rcpp::RawVector();
}

// Every rank's bytes, in rank order: the lengths first, then the bytes padded to the longest.
// [[Rcpp::export]]
Rcpp::List cpp_dist_allgather_raw(Rcpp::RawVector x) {
  SN_R_BEGIN
  std::shared_ptr<Communicator> c = world_communicator();
  const int n = c->size();
  std::vector<double> lengths(static_cast<size_t>(n));
  const double mine = static_cast<double>(x.size());
  c->allgather(&mine, lengths.data(), sizeof mine);
  double longest = 0;
  for (double l : lengths) longest = l > longest ? l : longest;
  const size_t width = static_cast<size_t>(longest);
  std::vector<unsigned char> send(width, 0), recv(width * static_cast<size_t>(n));
  if (x.size()) std::memcpy(send.data(), RAW(x), static_cast<size_t>(x.size()));
  if (width) c->allgather(send.data(), recv.data(), static_cast<int64_t>(width));
  Rcpp::List out(n);
  for (int r = 0; r < n; ++r) {
    Rcpp::RawVector part(static_cast<R_xlen_t>(lengths[static_cast<size_t>(r)]));
    if (part.size()) std::memcpy(RAW(part), recv.data() + static_cast<size_t>(r) * width, static_cast<size_t>(part.size()));
    out[r] = part;
  }
  return out;
  SN_R_END
  return Rcpp::List();
}

// Ends MPI in this process (at the end of a script; R's exit calls it too).
// [[Rcpp::export]]
void cpp_dist_finalize() {
  SN_R_BEGIN
  if (!opened() || opened()->finalized()) return;
  set_world_communicator(nullptr);
  opened()->finalize();
  SN_R_END
}

// Tells the other ranks that this one failed (its error message), so that their collectives
// fail naming it instead of waiting for it.
// [[Rcpp::export]]
void cpp_dist_notify_failure(std::string message) {
  SN_R_BEGIN
  world_communicator()->notify_failure(message);
  SN_R_END
}

// The failure another rank notified: list(rank, message), or NULL.
// [[Rcpp::export]]
SEXP cpp_dist_peer_failure() {
  SN_R_BEGIN
  PeerFailure f;
  if (!world_communicator()->peer_failure(&f)) return R_NilValue;
  return Rcpp::List::create(Rcpp::Named("rank") = f.rank, Rcpp::Named("message") = f.message);
  SN_R_END
  return R_NilValue;
}

// Stops every process of the job (a rank that failed must not leave the others waiting).
// [[Rcpp::export]]
void cpp_dist_abort(int code) {
  SN_R_BEGIN
  if (opened() && !opened()->finalized()) opened()->abort(code);
  SN_R_END
}
