// host_callback: C++ callbacks registered as a host program would (R registers R code the
// same way); the gradient check differentiates through the registered backward callback.
#include <cmath>
#include <memory>

#include "engine/ops/host_callback.h"
#include "harness.h"

namespace symnet::test {

namespace {

double at(const TensorView& v, int64_t i) {
  return v.dtype == DType::f32 ? static_cast<double>(v.ptr<float>()[i]) : v.ptr<double>()[i];
}
void put(const TensorView& v, int64_t i, double x) {
  if (v.dtype == DType::f32) {
    v.ptr<float>()[i] = static_cast<float>(x);
  } else {
    v.ptr<double>()[i] = x;
  }
}

}  // namespace

void register_test_host_callbacks() {
  auto cube = std::make_shared<HostCallback>();
  cube->run = [](const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    for (int64_t i = 0; i < in[0].numel(); ++i) put(out[0], i, std::pow(at(in[0], i), 3));
  };
  cube->infer = [](const std::vector<TensorType>& in) {
    SN_CHECK(in.size() == 1, ErrorKind::value, "test_cube takes one input");
    return std::vector<TensorType>{in[0]};
  };
  register_host_callback("test_cube", cube);
  // inputs [x, y, dy] -> dx
  auto cube_grad = std::make_shared<HostCallback>();
  cube_grad->run = [](const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    for (int64_t i = 0; i < in[0].numel(); ++i) put(out[0], i, 3 * std::pow(at(in[0], i), 2) * at(in[2], i));
  };
  register_host_callback("test_cube_grad", cube_grad);
  auto scale_sum = std::make_shared<HostCallback>();
  scale_sum->run = [](const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    double s = 0;
    for (int64_t i = 0; i < in[0].numel(); ++i) {
      put(out[0], i, 2 * at(in[0], i));
      s += at(in[0], i);
    }
    put(out[1], 0, s);
  };
  register_host_callback("test_scale_sum", scale_sum);
}

void add_host_callback_cases(std::vector<OpCase>& cases) {
  register_test_host_callbacks();
  for (DType t : {DType::f32, DType::f64}) {
    OpCase c;
    c.op = "host_callback";
    c.label = std::string("cube with backward ") + dtype_name(t);
    c.attrs.set("callback", std::string("test_cube"));
    c.attrs.set("grad_callback", std::string("test_cube_grad"));
    c.inputs = {random_tensor(t, {2, 3}, 61, -2, 2)};
    c.tol = t == DType::f32 ? 1e-5 : 1e-12;
    c.reference = [t](const std::vector<Tensor>& in) {
      Tensor out(t, in[0].shape());
      for (int64_t i = 0; i < out.numel(); ++i) out.set_from_double(i, std::pow(in[0].get_as_double(i), 3));
      return std::vector<Tensor>{out};
    };
    cases.push_back(c);
  }
  {
    // Declared output types (no infer function): [4] -> [4], [] ; no backward, no gradient.
    OpCase c;
    c.op = "host_callback";
    c.label = "two outputs, declared types";
    c.attrs.set("callback", std::string("test_scale_sum"));
    c.attrs.set("output_dtypes", std::vector<std::string>{"float64", "float64"});
    c.attrs.set("output_ranks", std::vector<int64_t>{1, 0});
    c.attrs.set("output_shapes", std::vector<int64_t>{4});
    c.inputs = {random_tensor(DType::f64, {4}, 62)};
    c.grad = false;
    c.tol = 1e-12;
    c.reference = [](const std::vector<Tensor>& in) {
      Tensor y(DType::f64, {4}), s(DType::f64, {});
      double sum = 0;
      for (int64_t i = 0; i < 4; ++i) {
        y.set_from_double(i, 2 * in[0].get_as_double(i));
        sum += in[0].get_as_double(i);
      }
      s.set_from_double(0, sum);
      return std::vector<Tensor>{y, s};
    };
    cases.push_back(c);
  }
}

}  // namespace symnet::test
