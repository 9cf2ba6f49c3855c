// Shared test helpers and the registry-wide op case table.
#pragma once
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.h"
#include "engine/exec/executable.h"
#include "engine/ops/builder.h"
#include "engine/ops/registry.h"

namespace symnet::test {

struct OpCase {
  std::string op;
  AttrMap attrs;
  std::vector<Tensor> inputs;
  std::string label;
  std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)> reference;
  std::function<void(const std::vector<Tensor>& outputs)> check;
  bool grad = true;
  std::vector<int> grad_inputs;  // default: every float input
  double tol = 1e-5;
  double grad_tol = 1e-6;
};

Tensor make_tensor(DType t, Shape s, std::vector<double> values);
Tensor random_tensor(DType t, Shape s, uint64_t seed, double lo = -1, double hi = 1);
// Runs one op through compile + run on the CPU (no optimization passes).
std::vector<Tensor> run_op(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {});
// Runs a graph whose inputs are fed in order; optimize toggles the pass pipeline.
// The backend run_graph() uses unless told: SYMNET_TEST_TARGET (e.g. "sim", registered on
// first use) or "cpu". `SYMNET_TEST_TARGET=sim build/engine/engine_tests` runs the suite
// on the simulated device (tests that compile through run_graph or compile_on_target).
// SYMNET_TEST_TARGET=cuda (or cuda:N) opens the CUDA backend library (SYMNET_CUDA_LIBRARY, else
// the one this build made) and runs the suite on that GPU; without one it exits with the reason.
const std::string& default_target();
// The CUDA backend library the tests use: SYMNET_CUDA_LIBRARY, else this build's symnet_cuda
// ("" when it was not built).
std::string cuda_library_path();
std::vector<Tensor> run_graph(const Graph& g, const std::vector<Tensor>& feeds, bool optimize = true,
                              const std::string& target = default_target());
// Executable::compile for default_target() (options as given, target replaced): the engine
// tests that compile directly run on the simulated device too.
std::unique_ptr<Executable> compile_on_target(const Graph& g, const std::vector<TensorType>& types,
                                              CompileOptions opts = {});
// A body graph (for call, cond, scan) with these formal inputs and outputs.
GraphPtr body_of(std::vector<Value> inputs, std::vector<Value> outputs);
// One node of `op` on inputs x0, x1, ... of the given tensors' types (in that order).
Graph op_graph(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {});
// Copies an executable output into an owning tensor.
Tensor to_tensor(const TensorView& v);
void check_close(const Tensor& got, const Tensor& want, double tol);

// The kind of the symnet::Error that f throws (a test failure when it throws none).
ErrorKind kind_of(const std::function<void()>& f);
// Central finite differences in float64 against autodiff of sum(w * op(inputs)).
// The gradient check's graphs for a case: y = sum_k sum(w_k * out_k) and its gradients
// w.r.t. the float inputs `wrt` (outputs: y, then one gradient per wrt), on float64 feeds.
// `wrt` is empty when nothing is differentiable.
struct GradientGraph {
  Graph g, y;
  std::vector<Tensor> feeds;
  std::vector<int> wrt;
};
GradientGraph gradient_graph(const OpCase& c);
void check_gradients(const OpCase& c);
std::string case_name(const OpCase& c);

// Every family contributes its cases here (tests/engine/cases_<family>.cpp).
void add_elementwise_cases(std::vector<OpCase>& cases);
void add_reduce_cases(std::vector<OpCase>& cases);
void add_linalg_cases(std::vector<OpCase>& cases);
void add_nn_cases(std::vector<OpCase>& cases);
void add_shape_cases(std::vector<OpCase>& cases);
void add_index_cases(std::vector<OpCase>& cases);
void add_random_cases(std::vector<OpCase>& cases);
void add_fused_cases(std::vector<OpCase>& cases);
void add_internal_cases(std::vector<OpCase>& cases);
void add_conv_cases(std::vector<OpCase>& cases);
void add_pool_cases(std::vector<OpCase>& cases);
void add_norm_cases(std::vector<OpCase>& cases);
void add_call_cases(std::vector<OpCase>& cases);
void add_host_callback_cases(std::vector<OpCase>& cases);
// Registers the host callbacks the host_callback cases use: "test_cube" (x^3, with infer),
// "test_cube_grad" (3 x^2 dy) and "test_scale_sum" (two outputs: 2x and sum(x), declared types).
void register_test_host_callbacks();
void add_control_flow_cases(std::vector<OpCase>& cases);
void add_while_loop_cases(std::vector<OpCase>& cases);
void add_scan_cases(std::vector<OpCase>& cases);
void add_rnn_cases(std::vector<OpCase>& cases);
void add_collective_cases(std::vector<OpCase>& cases);  // single process: each is the identity
const std::vector<OpCase>& all_cases();

// Graph helpers shared by the pass tests.
size_t count_op(const Graph& g, const std::string& op);  // nodes of op `op` reachable from the outputs
Graph graph_of(std::vector<Value> inputs, std::vector<Value> outputs);  // with these inputs, in this order

// Runs node n's CPU kernel (parameters prepared as an executable would) on the given views.
void run_cpu_kernel(const Node& n, std::vector<TensorView> in, std::vector<TensorView> out);

}  // namespace symnet::test
