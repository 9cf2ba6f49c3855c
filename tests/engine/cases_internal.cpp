#include <cstring>

#include "harness.h"

namespace symnet::test {

void add_internal_cases(std::vector<OpCase>& cases) {
  Tensor x = random_tensor(DType::f32, {2, 3, 4}, 1);
  Tensor like_b = Tensor(DType::f32, {3, 1});
  OpCase s;
  s.op = "sum_to";
  s.label = "[2,3,4] -> [3,1]";
  s.inputs = {x, like_b};
  s.grad_inputs = {0};
  s.reference = [](const std::vector<Tensor>& in) {
    Tensor out(DType::f32, {3, 1});
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 3; ++b)
        for (int c = 0; c < 4; ++c)
          out.set_from_double(b, out.get_as_double(b) + in[0].get_as_double((a * 3 + b) * 4 + c));
    return std::vector<Tensor>{out};
  };
  cases.push_back(s);

  OpCase b;
  b.op = "broadcast_like";
  b.label = "[3,1] -> [2,3,4]";
  b.inputs = {random_tensor(DType::f64, {3, 1}, 2), Tensor(DType::f64, {2, 3, 4})};
  b.grad_inputs = {0};
  b.reference = [](const std::vector<Tensor>& in) {
    Tensor out(DType::f64, {2, 3, 4});
    for (int a = 0; a < 2; ++a)
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 4; ++c) out.set_from_double((a * 3 + r) * 4 + c, in[0].get_as_double(r));
    return std::vector<Tensor>{out};
  };
  cases.push_back(b);
  // A per-channel value spread over each plane (a global pooling's gradient), in each
  // element width the kernel fills with a typed loop: 1 (bool), 4 (float32), 8 (int64).
  for (DType t : {DType::boolean, DType::f32, DType::i64}) {
    OpCase pc;
    pc.op = "broadcast_like";
    pc.label = std::string("[2,3,1,1] -> [2,3,5,7] ") + dtype_name(t);
    pc.inputs = {random_tensor(t, {2, 3, 1, 1}, 5, -4, 4), Tensor(t, {2, 3, 5, 7})};
    pc.grad = false;
    pc.reference = [t](const std::vector<Tensor>& in) {
      Tensor out(t, {2, 3, 5, 7});
      for (int64_t i = 0; i < out.numel(); ++i) out.set_from_double(i, in[0].get_as_double(i / 35));
      return std::vector<Tensor>{out};
    };
    cases.push_back(pc);
  }

  OpCase r;
  r.op = "reshape_like";
  r.inputs = {random_tensor(DType::f32, {2, 6}, 3), Tensor(DType::f32, {3, 4})};
  r.grad_inputs = {0};
  r.reference = [](const std::vector<Tensor>& in) {
    Tensor out = in[0].clone();
    Tensor o(DType::f32, {3, 4});
    std::memcpy(o.data(), out.data(), out.bytes());
    return std::vector<Tensor>{o};
  };
  cases.push_back(r);

  OpCase f;
  f.op = "fill_like";
  f.attrs.set("value", 2.5);
  f.inputs = {Tensor(DType::f64, {2, 2})};
  f.reference = [](const std::vector<Tensor>&) {
    return std::vector<Tensor>{make_tensor(DType::f64, {2, 2}, {2.5, 2.5, 2.5, 2.5})};
  };
  cases.push_back(f);
}

}  // namespace symnet::test
