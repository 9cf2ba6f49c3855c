// Generators without inputs (fill, eye, range: deterministic, kPure) and random ops
// (kRandom: never CSE'd or folded; Philox keyed by seed and node name, see philox.h).
// CPU kernels: kernels/cpu/random_kernels.cpp.
#include <cmath>

#include "engine/base/error.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

using Types = std::vector<TensorType>;

Shape known_shape(const AttrMap& a) {
  Shape s = a.get_ints("shape");
  for (int64_t d : s) SN_CHECK(d >= 0, ErrorKind::attr, "'shape' entries must be non-negative, got " << shape_str(s));
  return s;
}

DType dtype_attr(const AttrMap& a, DType def) {
  DType t = a.has("dtype") ? dtype_from_name(a.get_string("dtype")) : def;
  SN_CHECK(is_core_dtype(t), ErrorKind::dtype, "'dtype' " << dtype_name(t) << " is not supported");
  return t;
}

DType float_dtype_attr(const AttrMap& a, DType def) {
  DType t = dtype_attr(a, def);
  SN_CHECK(t == DType::f32 || t == DType::f64, ErrorKind::dtype,
           "'dtype' must be float32 or float64, not " << dtype_name(t));
  return t;
}

void check_seed(const AttrMap& a) {
  if (a.has("seed")) a.get_int("seed");
}

double finite_attr(const AttrMap& a, const char* k, double def) {
  double v = a.get_float(k, def);
  SN_CHECK(std::isfinite(v), ErrorKind::attr, "'" << k << "' must be finite, got " << v);
  return v;
}

void check_uniform(const AttrMap& a) {
  double lo = finite_attr(a, "low", 0.0), hi = finite_attr(a, "high", 1.0);
  SN_CHECK(lo < hi, ErrorKind::attr, "'low' (" << lo << ") must be below 'high' (" << hi << ")");
  check_seed(a);
}

void check_normal(const AttrMap& a) {
  finite_attr(a, "mean", 0.0);
  double sd = finite_attr(a, "std", 1.0);
  SN_CHECK(sd >= 0, ErrorKind::attr, "'std' must be non-negative, got " << sd);
  check_seed(a);
}

Types infer_fill(const InferContext& c) {
  c.attrs.get_float("value");
  return {{dtype_attr(c.attrs, DType::f32), known_shape(c.attrs)}};
}

Types infer_eye(const InferContext& c) {
  int64_t n = c.attrs.get_int("n"), m = c.attrs.get_int("m", n);
  c.attrs.get_int("k", 0);
  SN_CHECK(n >= 0 && m >= 0, ErrorKind::attr, "'n' and 'm' must be non-negative, got " << n << ", " << m);
  return {{dtype_attr(c.attrs, DType::f32), {n, m}}};
}

Types infer_range(const InferContext& c) {
  double start = finite_attr(c.attrs, "start", 0.0), limit = finite_attr(c.attrs, "limit", 0.0),
         delta = finite_attr(c.attrs, "delta", 1.0);
  SN_CHECK(c.attrs.has("limit"), ErrorKind::attr, "range needs 'limit'");
  SN_CHECK(delta != 0, ErrorKind::attr, "'delta' must not be 0");
  double n = std::max(0.0, std::ceil((limit - start) / delta));
  SN_CHECK(n < 9.0e15, ErrorKind::attr, "range from " << start << " to " << limit << " by " << delta << " is too long");
  return {{dtype_attr(c.attrs, DType::f32), {static_cast<int64_t>(n)}}};
}

// Default output dtype of the *_like ops: the input's when floating, else float32.
DType like_dtype(const InferContext& c) {
  return float_dtype_attr(c.attrs, is_float(c.in(0).dtype) ? c.in(0).dtype : DType::f32);
}

const AttrSpec kSeed{"seed", AttrKind::int_, false, "fixes the stream (default: the function's seed)"};
const AttrSpec kDtype{"dtype", AttrKind::string, false, "element type of the output"};
const AttrSpec kShape{"shape", AttrKind::ints, true, "shape of the output"};

OpSchema def(const std::string& name, int n_in, unsigned flags, InferFn infer, std::vector<AttrSpec> attrs) {
  OpSchema d;
  d.name = name;
  d.min_inputs = d.max_inputs = n_in;
  d.flags = flags;
  d.infer = std::move(infer);
  d.with_attrs(std::move(attrs));
  return d;
}

}  // namespace

void register_random_ops(Registry& r) {
  const AttrSpec kLow{"low", AttrKind::float_, false, "default 0"}, kHigh{"high", AttrKind::float_, false, "default 1"};
  const AttrSpec kMean{"mean", AttrKind::float_, false, "default 0"}, kStd{"std", AttrKind::float_, false, "default 1"};
  r.add(def("fill", 0, kPure, infer_fill, {kShape, kDtype, {"value", AttrKind::float_, true, "the fill value"}}));
  r.add(def("eye", 0, kPure, infer_eye,
            {{"n", AttrKind::int_, true, "rows"}, {"m", AttrKind::int_, false, "columns (default n)"},
             {"k", AttrKind::int_, false, "diagonal offset (default 0)"}, kDtype}));
  r.add(def("range", 0, kPure, infer_range,
            {{"start", AttrKind::float_, false, "default 0"}, {"limit", AttrKind::float_, true, "end (excluded)"},
             {"delta", AttrKind::float_, false, "step (default 1)"}, kDtype}));

  r.add(def("random_uniform", 0, kRandom,
            [](const InferContext& c) {
              check_uniform(c.attrs);
              return Types{{float_dtype_attr(c.attrs, DType::f32), known_shape(c.attrs)}};
            },
            {kShape, kDtype, kSeed, kLow, kHigh}));
  r.add(def("random_normal", 0, kRandom,
            [](const InferContext& c) {
              check_normal(c.attrs);
              return Types{{float_dtype_attr(c.attrs, DType::f32), known_shape(c.attrs)}};
            },
            {kShape, kDtype, kSeed, kMean, kStd}));
  // Ops with inputs: the output does not vary smoothly with them, so their gradient is zero.
  r.add(def("random_uniform_like", 1, kRandom | kZeroGrad,
            [](const InferContext& c) {
              check_uniform(c.attrs);
              return Types{{like_dtype(c), c.in(0).shape}};
            },
            {kDtype, kSeed, kLow, kHigh}));
  r.add(def("random_normal_like", 1, kRandom | kZeroGrad,
            [](const InferContext& c) {
              check_normal(c.attrs);
              return Types{{like_dtype(c), c.in(0).shape}};
            },
            {kDtype, kSeed, kMean, kStd}));
  r.add(def("random_bernoulli", 1, kRandom | kZeroGrad,
            [](const InferContext& c) {
              require_float(c, 0);
              check_seed(c.attrs);
              return Types{{dtype_attr(c.attrs, c.in(0).dtype), c.in(0).shape}};
            },
            {kDtype, kSeed}));
}

}  // namespace symnet
