// matmul (NumPy semantics) and gemm (ONNX Gemm). CPU kernels: kernels/cpu/gemm.cpp.
//
// Gradients use gemm's transpose flags where the operands are matrices, so the common
// dense-layer backward pass never materializes a transposed copy.
#include <cmath>

#include "engine/base/error.h"
#include "engine/ops/builder.h"
#include "engine/ops/infer_util.h"

namespace symnet {

namespace {

bool dims_match(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

bool flag_attr(const AttrMap& a, const std::string& k) {
  int64_t v = a.get_int(k, 0);
  SN_CHECK(v == 0 || v == 1, ErrorKind::attr, "attribute '" << k << "' must be 0 or 1, got " << v);
  return v == 1;
}

Value gemm(const Value& a, const Value& b, double alpha, bool ta, bool tb) {
  AttrMap at{{"transA", int64_t(ta)}, {"transB", int64_t(tb)}};
  if (alpha != 1) at.set("alpha", alpha);
  return op::apply("gemm", {a, b}, at);
}

// Swaps the last two axes.
Value transpose_last2(const Value& x) {
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.rank(); ++i) perm.push_back(i);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return op::transpose(x, perm);
}

// Reduces a batched gradient back to the operand it belongs to.
Value fit_to(const Value& grad, const Value& like) {
  if (grad.shape() == like.shape() && shape_known(like.shape())) return grad;
  return op::sum_to(grad, like);
}

std::vector<TensorType> matmul_infer(const InferContext& c) {
  require_same_dtype(c, 0, 1);
  DType t = c.in(0).dtype;
  SN_CHECK(is_float(t) || t == DType::i32 || t == DType::i64, ErrorKind::dtype,
           "matmul needs floating-point or int32/int64 inputs, not " << dtype_name(t));
  const Shape& a = c.in(0).shape;
  const Shape& b = c.in(1).shape;
  SN_CHECK(!a.empty() && !b.empty(), ErrorKind::shape,
           "matmul needs inputs of rank 1 or more, got " << shape_str(a) << " and " << shape_str(b));
  const size_t ra = a.size(), rb = b.size();
  int64_t ka = a[ra - 1], kb = rb >= 2 ? b[rb - 2] : b[0];
  SN_CHECK(dims_match(ka, kb), ErrorKind::shape,
           "matmul: inner dimensions differ (" << shape_str(a) << " x " << shape_str(b) << ": " << ka
                                               << " vs " << kb << ")");
  Shape ab(a.begin(), a.end() - std::min<size_t>(ra, 2));
  Shape bb(b.begin(), b.end() - std::min<size_t>(rb, 2));
  Shape out;
  try {
    out = broadcast_shapes(ab, bb);
  } catch (const Error&) {
    SN_THROW(ErrorKind::shape, "matmul: batch dimensions of " << shape_str(a) << " and " << shape_str(b)
                                                              << " cannot be broadcast");
  }
  if (ra >= 2) out.push_back(a[ra - 2]);
  if (rb >= 2) out.push_back(b[rb - 1]);
  return {{t, out}};
}

std::vector<Value> matmul_grad(const GradContext& c) {
  const Value& A = c.in(0);
  const Value& B = c.in(1);
  const Value& g = c.grad();
  const int64_t ra = A.rank(), rb = B.rank();
  if (ra == 2 && rb == 2) return {gemm(g, B, 1, false, true), gemm(A, g, 1, true, false)};
  const int64_t K = A.shape().back(), N = rb >= 2 ? B.shape().back() : -1;
  if (ra > 2 && rb == 2 && K >= 0 && N >= 0) {
    // [..., m, k] x [k, n]: one [(...m), k] GEMM each way instead of a batch of them.
    Value gf = op::reshape(g, {-1, N});
    Value af = op::reshape(A, {-1, K});
    return {op::reshape_like(gemm(gf, B, 1, false, true), A), gemm(af, gf, 1, true, false)};
  }
  Value A2 = ra == 1 ? op::unsqueeze(A, {0}) : A;
  Value B2 = rb == 1 ? op::unsqueeze(B, {1}) : B;
  Value g2 = g;
  const int64_t rg = g.rank();
  if (ra == 1 && rb == 1) g2 = op::unsqueeze(g, {0, 1});
  else if (ra == 1) g2 = op::unsqueeze(g, {rg - 1});
  else if (rb == 1) g2 = op::unsqueeze(g, {rg});
  Value dA = fit_to(op::matmul(g2, transpose_last2(B2)), A2);
  Value dB = fit_to(op::matmul(transpose_last2(A2), g2), B2);
  if (ra == 1) dA = op::reshape_like(dA, A);
  if (rb == 1) dB = op::reshape_like(dB, B);
  return {dA, dB};
}

std::vector<TensorType> gemm_infer(const InferContext& c) {
  require_float(c, 0);
  require_same_dtype(c, 0, 1);
  if (c.num_inputs() > 2) require_same_dtype(c, 0, 2);
  require_rank(c, 0, 2, 2);
  require_rank(c, 1, 2, 2);
  bool ta = flag_attr(c.attrs, "transA"), tb = flag_attr(c.attrs, "transB");
  for (const char* k : {"alpha", "beta"})
    SN_CHECK(std::isfinite(c.attrs.get_float(k, 1.0)), ErrorKind::attr, "attribute '" << k << "' must be finite");
  const Shape& a = c.in(0).shape;
  const Shape& b = c.in(1).shape;
  int64_t M = ta ? a[1] : a[0], Ka = ta ? a[0] : a[1];
  int64_t Kb = tb ? b[1] : b[0], N = tb ? b[0] : b[1];
  SN_CHECK(dims_match(Ka, Kb), ErrorKind::shape,
           "gemm: inner dimensions differ (A " << shape_str(a) << (ta ? " transposed" : "") << ", B "
                                               << shape_str(b) << (tb ? " transposed" : "") << ")");
  if (c.num_inputs() > 2) {
    const Shape& cs = c.in(2).shape;
    bool ok = cs.size() <= 2;
    Shape mn{M, N};
    for (size_t i = 0; ok && i < cs.size(); ++i) {
      int64_t d = cs[i], t = mn[2 - cs.size() + i];
      ok = d == 1 || dims_match(d, t);
    }
    SN_CHECK(ok, ErrorKind::shape,
             "gemm: C of shape " << shape_str(cs) << " does not broadcast to [" << M << ", " << N << "]");
  }
  return {{c.in(0).dtype, {M, N}}};
}

std::vector<Value> gemm_grad(const GradContext& c) {
  const AttrMap& at = c.node.attrs;
  const bool ta = at.get_int("transA", 0) == 1, tb = at.get_int("transB", 0) == 1;
  const double alpha = at.get_float("alpha", 1.0), beta = at.get_float("beta", 1.0);
  const Value& A = c.in(0);
  const Value& B = c.in(1);
  const Value& g = c.grad();
  std::vector<Value> out(c.node.inputs.size());
  out[0] = ta ? gemm(B, g, alpha, tb, true) : gemm(g, B, alpha, false, !tb);
  out[1] = tb ? gemm(g, A, alpha, true, ta) : gemm(A, g, alpha, !ta, false);
  if (out.size() > 2) {
    Value gc = beta == 1 ? g : op::mul(g, op::scalar_like(beta, g));
    out[2] = fit_to(gc, c.in(2));
  }
  return out;
}

}  // namespace

void register_linalg_ops(Registry& r) {
  OpSchema m;
  m.name = "matmul";
  m.min_inputs = m.max_inputs = 2;
  m.flags = kPure;
  m.infer = matmul_infer;
  m.grad = matmul_grad;
  m.with_attrs({});
  r.add(std::move(m));

  OpSchema g;
  g.name = "gemm";
  g.min_inputs = 2;
  g.max_inputs = 3;
  g.flags = kPure;
  g.infer = gemm_infer;
  g.grad = gemm_grad;
  // alpha op(A) op(B) + beta C from transpose, matmul, mul and add.
  g.decompose = [](const Node& n, const std::vector<Value>& in) {
    const AttrMap& a = n.attrs;
    Value A = a.get_int("transA", 0) == 1 ? op::transpose(in[0], {1, 0}) : in[0];
    Value B = a.get_int("transB", 0) == 1 ? op::transpose(in[1], {1, 0}) : in[1];
    Value y = op::matmul(A, B);
    const double alpha = a.get_float("alpha", 1.0), beta = a.get_float("beta", 1.0);
    if (alpha != 1) y = op::mul(y, op::scalar_like(alpha, y));
    if (in.size() > 2 && in[2].defined())
      y = op::add(y, beta == 1 ? in[2] : op::mul(in[2], op::scalar_like(beta, in[2])));
    return std::vector<Value>{y};
  };
  g.with_attrs({{"alpha", AttrKind::float_, false, "scale of A B (default 1)"},
                {"beta", AttrKind::float_, false, "scale of C (default 1)"},
                {"transA", AttrKind::int_, false, "1 transposes A (default 0)"},
                {"transB", AttrKind::int_, false, "1 transposes B (default 0)"}});
  r.add(std::move(g));
}

}  // namespace symnet
