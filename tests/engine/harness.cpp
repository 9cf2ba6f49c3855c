#include "harness.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>

#include "engine/backend/cuda_library.h"
#include "engine/cpu/sim_backend.h"
#include "engine/passes/passes.h"

namespace symnet::test {

Tensor make_tensor(DType t, Shape s, std::vector<double> values) {
  return Tensor::from_doubles(t, std::move(s), values);
}

Tensor random_tensor(DType t, Shape s, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Tensor out(t, std::move(s));
  for (int64_t i = 0; i < out.numel(); ++i) {
    double v = u(rng);
    if (is_integer(t)) v = std::floor(v);
    out.set_from_double(i, v);
  }
  return out;
}

Tensor to_tensor(const TensorView& v) {
  Tensor t(v.dtype, v.shape);
  if (t.bytes()) std::memcpy(t.data(), v.data, t.bytes());
  return t;
}

// The build's CUDA library, set by CMake on this file only; builds outside CMake (the
// cross-compiler syntax checks) have none.
#ifndef SYMNET_CUDA_LIBRARY_DEFAULT
#define SYMNET_CUDA_LIBRARY_DEFAULT ""
#endif

std::string cuda_library_path() {
  const char* env = std::getenv("SYMNET_CUDA_LIBRARY");
  return env && *env ? env : SYMNET_CUDA_LIBRARY_DEFAULT;
}

const std::string& default_target() {
  static const std::string target = [] {
    const char* t = std::getenv("SYMNET_TEST_TARGET");
    std::string name = t && *t ? t : "cpu";
    if (is_sim_backend(name)) register_sim_backend();
    if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
      if (name == "cuda") name = "cuda:0";
      const std::string path = cuda_library_path();
      const CudaStatus& st = load_cuda_library(path.empty() ? "(no CUDA library built)" : path);
      if (!st.available || !backends().find(name)) {
        // Every case would fail for the same reason: say it once and stop.
        std::fprintf(stderr, "SYMNET_TEST_TARGET=%s: CUDA is not usable: %s\n", name.c_str(),
                     st.available ? "no such device" : st.reason.c_str());
        std::exit(2);
      }
    }
    return name;
  }();
  return target;
}

GraphPtr body_of(std::vector<Value> inputs, std::vector<Value> outputs) {
  auto g = std::make_shared<Graph>();
  g->inputs = std::move(inputs);
  g->outputs = std::move(outputs);
  return g;
}

std::unique_ptr<Executable> compile_on_target(const Graph& g, const std::vector<TensorType>& types,
                                              CompileOptions opts) {
  opts.target = default_target();
  return Executable::compile(g, types, opts);
}

std::vector<Tensor> run_graph(const Graph& g, const std::vector<Tensor>& feeds, bool optimize,
                              const std::string& target) {
  std::vector<TensorType> types;
  std::vector<TensorView> views;
  for (const Tensor& f : feeds) {
    types.push_back({f.dtype(), f.shape()});
    views.push_back(f.view());
  }
  CompileOptions opts;
  opts.optimize = optimize;
  opts.target = target;
  auto ex = Executable::compile(g, types, opts);
  ex->run(views);
  std::vector<Tensor> out;
  for (size_t i = 0; i < ex->num_outputs(); ++i) out.push_back(to_tensor(ex->output(i)));
  return out;
}

Graph op_graph(const std::string& op_name, const std::vector<Tensor>& inputs, const AttrMap& attrs) {
  std::vector<Value> ins;
  for (size_t i = 0; i < inputs.size(); ++i)
    ins.push_back(op::input("x" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  std::vector<Value> outs = make_node(op_name, ins, attrs);
  Graph g = Graph::from_outputs(outs);
  g.inputs = ins;  // keep feed order = argument order
  return g;
}

std::vector<Tensor> run_op(const std::string& op_name, const std::vector<Tensor>& inputs, const AttrMap& attrs) {
  return run_graph(op_graph(op_name, inputs, attrs), inputs, false);
}

void check_close(const Tensor& got, const Tensor& want, double tol) {
  INFO("got " << dtype_name(got.dtype()) << shape_str(got.shape()) << ", want " << dtype_name(want.dtype())
              << shape_str(want.shape()));
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  for (int64_t i = 0; i < got.numel(); ++i) {
    double a = got.get_as_double(i), b = want.get_as_double(i);
    if (std::isnan(b)) {
      INFO("element " << i);
      REQUIRE(std::isnan(a));
      continue;
    }
    if (std::isinf(b)) {
      INFO("element " << i);
      REQUIRE(a == b);
      continue;
    }
    if (std::abs(a - b) > tol * (1 + std::abs(b))) {
      FAIL("element " << i << ": got " << a << ", want " << b << " (tol " << tol << ")");
    }
  }
}

std::string case_name(const OpCase& c) {
  std::ostringstream o;
  o << c.op;
  if (!c.label.empty()) o << " [" << c.label << "]";
  o << " (";
  for (size_t i = 0; i < c.inputs.size(); ++i)
    o << (i ? ", " : "") << dtype_name(c.inputs[i].dtype()) << shape_str(c.inputs[i].shape());
  o << ")";
  return o.str();
}

GradientGraph gradient_graph(const OpCase& c) {
  GradientGraph gg;
  std::vector<Tensor>& x = gg.feeds;
  std::vector<int>& wrt = gg.wrt;
  wrt = c.grad_inputs;
  // Float inputs in float64, so the check measures the rules, not rounding.
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& t = c.inputs[i];
    if (is_float(t.dtype())) {
      Tensor d(DType::f64, t.shape());
      convert_elements(t.data(), t.dtype(), d.data(), DType::f64, t.numel());
      x.push_back(d);
      if (c.grad_inputs.empty()) wrt.push_back(static_cast<int>(i));
    } else {
      x.push_back(t);
    }
  }
  if (wrt.empty()) return gg;
  std::vector<Value> ins;
  for (size_t i = 0; i < x.size(); ++i) ins.push_back(op::input("x" + std::to_string(i), x[i].dtype(), x[i].shape()));
  std::vector<Value> outs = make_node(c.op, ins, c.attrs);
  // y = sum_k sum(w_k * out_k) with fixed random weights, over float outputs.
  Value y;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!is_float(outs[k].dtype())) continue;
    Tensor w = random_tensor(outs[k].dtype(), outs[k].shape(), 1000 + k, 0.5, 1.5);
    Value term = op::reduce_sum(op::mul(outs[k], op::constant(w)));
    y = y.defined() ? op::add(y, term) : term;
  }
  if (!y.defined()) {
    wrt.clear();
    return gg;
  }
  std::vector<Value> wrt_vals;
  for (int i : wrt) wrt_vals.push_back(ins[i]);
  std::vector<Value> grads = gradients(y, wrt_vals);
  gg.g = Graph::from_outputs({y});
  gg.g.outputs.insert(gg.g.outputs.end(), grads.begin(), grads.end());
  gg.g.inputs = ins;
  gg.y = Graph::from_outputs({y});
  gg.y.inputs = ins;
  return gg;
}

void check_gradients(const OpCase& c) {
  GradientGraph gg = gradient_graph(c);
  if (gg.wrt.empty()) return;
  std::vector<Tensor>& x = gg.feeds;
  const std::vector<int>& wrt = gg.wrt;
  const Graph& g = gg.g;
  const Graph& gy = gg.y;
  std::vector<Tensor> res = run_graph(g, x, false);
  const double h = 1e-6;
  for (size_t j = 0; j < wrt.size(); ++j) {
    Tensor& xi = x[wrt[j]];
    const Tensor& analytic = res[1 + j];
    REQUIRE(analytic.shape() == xi.shape());
    for (int64_t e = 0; e < xi.numel(); ++e) {
      double orig = xi.get_as_double(e);
      xi.set_from_double(e, orig + h);
      double fp = run_graph(gy, x, false)[0].get_as_double(0);
      xi.set_from_double(e, orig - h);
      double fm = run_graph(gy, x, false)[0].get_as_double(0);
      xi.set_from_double(e, orig);
      double fd = (fp - fm) / (2 * h);
      double an = analytic.get_as_double(e);
      if (std::abs(fd - an) > c.grad_tol * 10 * (1 + std::abs(fd)) + 1e-6) {
        FAIL(case_name(c) << ": d/d input " << wrt[j] + 1 << " element " << e << ": autodiff " << an
                          << ", finite difference " << fd);
      }
    }
  }
}

const std::vector<OpCase>& all_cases() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> c;
    add_internal_cases(c);
    add_elementwise_cases(c);
    add_reduce_cases(c);
    add_linalg_cases(c);
    add_nn_cases(c);
    add_shape_cases(c);
    add_index_cases(c);
    add_random_cases(c);
    add_fused_cases(c);
    add_conv_cases(c);
    add_pool_cases(c);
    add_norm_cases(c);
    add_call_cases(c);
    add_host_callback_cases(c);
    add_control_flow_cases(c);
    add_while_loop_cases(c);
    add_scan_cases(c);
    add_rnn_cases(c);
    add_collective_cases(c);
    return c;
  }();
  return cases;
}

size_t count_op(const Graph& g, const std::string& op) {
  size_t n = 0;
  for (const NodePtr& node : g.topo_order()) n += node->op_name() == op;
  return n;
}

Graph graph_of(std::vector<Value> inputs, std::vector<Value> outputs) {
  Graph g = Graph::from_outputs(std::move(outputs));
  g.inputs = std::move(inputs);
  return g;
}

void run_cpu_kernel(const Node& n, std::vector<TensorView> in, std::vector<TensorView> out) {
  const KernelImpl* impl = cpu_backend().kernel(n.op_name());
  REQUIRE(impl != nullptr);
  std::shared_ptr<const void> params = impl->prepare ? impl->prepare(n) : nullptr;
  Tensor ws;
  size_t bytes = impl->workspace ? impl->workspace(n) : 0;
  if (bytes) ws = Tensor(DType::u8, {static_cast<int64_t>(bytes)});
  KernelContext k;
  k.in = std::move(in);
  k.out = std::move(out);
  k.params = params.get();
  k.workspace = bytes ? ws.data() : nullptr;
  RunContext run;
  k.run = &run;
  impl->fn(k);
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("no symnet::Error thrown");
  return ErrorKind::internal;
}

}  // namespace symnet::test
