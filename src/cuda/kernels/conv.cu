// Convolution on CUDA through cuDNN: the three products of a frame (forward, backward data,
// backward weight; see kernels/cpu/conv.h) for conv, conv_transpose and the gradient ops,
// NCHW / NCDHW, groups, strides, dilations and padding from the node (asymmetric padding,
// which cuDNN cannot express, through an explicitly padded copy in the workspace). The
// algorithm is chosen once, at compile time, from cuDNN's heuristics (v7 queries) within
// the device's workspace limit, deterministic for weight gradients; the kernel's workspace
// (KernelImpl::workspace) is what that algorithm needs for the node's batch. A run with a
// larger batch whose needs exceed it takes the algorithm that needs none instead.
#include <memory>
#include <string>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/conv_plan.h"
#include "cuda/kernels/supports.h"
#include "engine/ops/conv_geometry.h"

namespace symnet {
namespace cuda {

namespace {

enum class Product { forward, backward_data, backward_weight };

// ---- descriptors (owned for the duration of one call) ----------------------------------------

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc() { check_cudnn(cudnnCreateTensorDescriptor(&d), "cudnnCreateTensorDescriptor"); }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};
struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc() { check_cudnn(cudnnCreateFilterDescriptor(&d), "cudnnCreateFilterDescriptor"); }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};
struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc() { check_cudnn(cudnnCreateConvolutionDescriptor(&d), "cudnnCreateConvolutionDescriptor"); }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// The descriptors of one frame for batch N.
struct FrameDescs {
  TensorDesc big, small;
  FilterDesc w;
  ConvDesc conv;
};

void set_tensor(cudnnTensorDescriptor_t d, cudnnDataType_t dt, int64_t n, int64_t c, const CudnnDims& sp) {
  int dims[5], strides[5];
  const int nd = 2 + sp.n;
  dims[0] = static_cast<int>(n);
  dims[1] = static_cast<int>(c);
  for (int i = 0; i < sp.n; ++i) dims[2 + i] = sp.v[i];
  strides[nd - 1] = 1;
  for (int i = nd - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  check_cudnn(cudnnSetTensorNdDescriptor(d, dt, nd, dims, strides), "cudnnSetTensorNdDescriptor");
}

void describe(FrameDescs& f, const ConvGeom& g, int64_t N, cudnnDataType_t dt, bool tf32) {
  const CudnnFrame fr = cudnn_frame(g);
  set_tensor(f.big.d, dt, N, g.Cb, fr.big);
  set_tensor(f.small.d, dt, N, g.Cs, fr.small);
  int wdims[5];
  wdims[0] = static_cast<int>(g.Cs);
  wdims[1] = static_cast<int>(g.Cbg());
  for (int i = 0; i < fr.k.n; ++i) wdims[2 + i] = fr.k.v[i];
  check_cudnn(cudnnSetFilterNdDescriptor(f.w.d, dt, CUDNN_TENSOR_NCHW, 2 + fr.k.n, wdims), "cudnnSetFilterNdDescriptor");
  check_cudnn(cudnnSetConvolutionNdDescriptor(f.conv.d, fr.pad.n, fr.pad.v, fr.stride.v, fr.dil.v,
                                              CUDNN_CROSS_CORRELATION, dt),
              "cudnnSetConvolutionNdDescriptor");
  check_cudnn(cudnnSetConvolutionGroupCount(f.conv.d, static_cast<int>(g.G)), "cudnnSetConvolutionGroupCount");
  // FMA math keeps float32 exact (cuDNN's default math may use TF32 on Ampere and newer).
  check_cudnn(cudnnSetConvolutionMathType(f.conv.d, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
              "cudnnSetConvolutionMathType");
}

cudnnDataType_t cudnn_type(DType t) {
  if (t == DType::f32) return CUDNN_DATA_FLOAT;
  if (t == DType::f64) return CUDNN_DATA_DOUBLE;
  SN_THROW(ErrorKind::dtype, "convolution needs float32 or float64 on CUDA, got " << dtype_name(t));
}

// ---- the plan: geometry, algorithm and workspace, fixed at compile time ----------------------

struct ConvParams {
  ConvGeom g;          // the node's frame
  bool padded = false; // asymmetric padding: cuDNN runs on `pg` over a padded copy of the big side
  ConvGeom pg;         // what cuDNN sees (g itself unless padded)
  size_t pad_bytes = 0;  // the padded copy for `descs_n` samples, at the start of the workspace
  Product p = Product::forward;
  cudnnDataType_t dt = CUDNN_DATA_FLOAT;
  int algo = 0;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t of the product
  size_t workspace = 0;
  // The descriptors for the planned batch, made once (read-only afterwards); runs with
  // another batch describe their own.
  std::shared_ptr<FrameDescs> descs;
  int64_t descs_n = 0;
};

// Perf results of the v7 heuristics for the product, as candidates for choose_algorithm().
std::vector<AlgoCandidate> heuristics(const DeviceContext& dev, FrameDescs& f, Product p) {
  std::vector<AlgoCandidate> out;
  int returned = 0;
  if (p == Product::forward) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    check_cudnn(cudnnGetConvolutionForwardAlgorithm_v7(dev.cudnn, f.big.d, f.w.d, f.conv.d, f.small.d,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf),
                "cudnnGetConvolutionForwardAlgorithm_v7");
    for (int i = 0; i < returned; ++i)
      out.push_back({static_cast<int>(perf[i].algo), perf[i].status == CUDNN_STATUS_SUCCESS, perf[i].memory,
                     perf[i].determinism == CUDNN_DETERMINISTIC});
  } else if (p == Product::backward_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    check_cudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(dev.cudnn, f.w.d, f.small.d, f.conv.d, f.big.d,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf),
                "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    for (int i = 0; i < returned; ++i)
      out.push_back({static_cast<int>(perf[i].algo), perf[i].status == CUDNN_STATUS_SUCCESS, perf[i].memory,
                     perf[i].determinism == CUDNN_DETERMINISTIC});
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(dev.cudnn, f.big.d, f.small.d, f.conv.d, f.w.d,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned,
                                                              perf),
                "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    for (int i = 0; i < returned; ++i)
      out.push_back({static_cast<int>(perf[i].algo), perf[i].status == CUDNN_STATUS_SUCCESS, perf[i].memory,
                     perf[i].determinism == CUDNN_DETERMINISTIC});
  }
  return out;
}

// Workspace bytes of `algo` for the frame (cuDNN's own figure, not the heuristic's estimate).
size_t workspace_of(const DeviceContext& dev, FrameDescs& f, Product p, int algo) {
  size_t bytes = 0;
  if (p == Product::forward)
    check_cudnn(cudnnGetConvolutionForwardWorkspaceSize(dev.cudnn, f.big.d, f.w.d, f.conv.d, f.small.d,
                                                        static_cast<cudnnConvolutionFwdAlgo_t>(algo), &bytes),
                "cudnnGetConvolutionForwardWorkspaceSize");
  else if (p == Product::backward_data)
    check_cudnn(cudnnGetConvolutionBackwardDataWorkspaceSize(dev.cudnn, f.w.d, f.small.d, f.conv.d, f.big.d,
                                                             static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), &bytes),
                "cudnnGetConvolutionBackwardDataWorkspaceSize");
  else
    check_cudnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(dev.cudnn, f.big.d, f.small.d, f.conv.d, f.w.d,
                                                               static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
                                                               &bytes),
                "cudnnGetConvolutionBackwardFilterWorkspaceSize");
  return bytes;
}

// The algorithm that needs no workspace for each product (IMPLICIT_GEMM; ALGO_0 for the
// gradients: for weights it accumulates with atomics, so it is the fallback only).
int zero_workspace_algo(Product p) {
  if (p == Product::forward) return CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  if (p == Product::backward_data) return CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
  return CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
}

// The frame of a node: which tensors are big, small and w for its product.
ConvGeom frame_of(const Node& n, Product p, bool transposed) {
  const Shape& out = n.outputs.at(0).shape;
  const Shape& in0 = n.inputs.at(0).shape();
  const Shape& in1 = n.inputs.at(1).shape();
  switch (p) {
    case Product::forward: return conv_geometry(n.attrs, transposed, in0, out, in1);
    case Product::backward_data: return conv_geometry(n.attrs, transposed, out, in0, in1);
    case Product::backward_weight: return conv_geometry(n.attrs, transposed, in0, in1, out);
  }
  return {};
}

ConvParams plan(const Node& n, DeviceContext* dev, Product p, int transposed) {
  ConvParams cp;
  cp.p = p;
  cp.g = frame_of(n, p, transposed < 0 ? conv_frame_transposed(n.attrs) : transposed == 1);
  cp.dt = cudnn_type(n.outputs.at(0).dtype);
  std::string why;
  cp.pg = cp.g;
  if (!cudnn_supports(cp.g, &why)) {
    cp.padded = true;
    cp.pg = explicit_pad_frame(cp.g);
    SN_CHECK(cudnn_supports(cp.pg, &why), ErrorKind::unsupported, n.describe() << " on CUDA: " << why);
  }
  const int64_t N = cp.g.N > 0 ? cp.g.N : 1;  // an unknown batch is planned for one sample
  cp.descs = std::make_shared<FrameDescs>();
  cp.descs_n = N;
  FrameDescs& f = *cp.descs;
  describe(f, cp.pg, N, cp.dt, dev->allow_tf32);
  const std::vector<AlgoCandidate> cands = heuristics(*dev, f, p);
  int algo = choose_algorithm(cands, dev->conv_workspace_limit, p == Product::backward_weight);
  if (algo < 0) algo = zero_workspace_algo(p);
  cp.algo = algo;
  if (cp.padded) {
    const size_t es = cp.dt == CUDNN_DATA_DOUBLE ? 8 : 4;
    cp.pad_bytes = (static_cast<size_t>(N * cp.pg.Cb * cp.pg.big_vol()) * es + 255) / 256 * 256;
  }
  cp.workspace = cp.pad_bytes + workspace_of(*dev, f, p, algo);
  return cp;
}

// ---- kernels --------------------------------------------------------------------------------

template <class T>
__global__ void add_bias_dev(T* y, const T* bias, int64_t total, int64_t C, int64_t inner) {
  for (int64_t i = global_thread(); i < total; i += grid_threads()) y[i] += bias[(i / inner) % C];
}

void add_bias(const KernelContext& k, const TensorView& y, const TensorView& bias) {
  const int64_t total = y.numel(), C = y.shape.at(1);
  if (total == 0 || C == 0) return;
  const int64_t inner = total / (y.shape[0] * C);
  dispatch_float(y.dtype, "conv bias", [&](auto tag) {
    using T = decltype(tag);
    add_bias_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(y.ptr<T>(), bias.ptr<const T>(), total, C, inner);
    check_launch("conv bias");
  });
}

// The big side of `count` samples and its padded copy (frame `pg`, coordinate j of the copy
// = coordinate j - pb of the tensor): pad_in copies into the copy, zero outside the tensor;
// crop_out copies back, zero where no window reached.
struct PadFrame {
  int64_t C;
  int64_t big[3], pbig[3], pb[3];
};

template <class T>
__global__ void pad_in_dev(const T* x, T* buf, int64_t total, PadFrame f) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    int64_t r = t;
    const int64_t j2 = r % f.pbig[2];
    r /= f.pbig[2];
    const int64_t j1 = r % f.pbig[1];
    r /= f.pbig[1];
    const int64_t j0 = r % f.pbig[0];
    r /= f.pbig[0];  // r = n * C + c
    const int64_t i0 = j0 - f.pb[0], i1 = j1 - f.pb[1], i2 = j2 - f.pb[2];
    const bool inside = i0 >= 0 && i0 < f.big[0] && i1 >= 0 && i1 < f.big[1] && i2 >= 0 && i2 < f.big[2];
    buf[t] = inside ? x[((r * f.big[0] + i0) * f.big[1] + i1) * f.big[2] + i2] : T(0);
  }
}

template <class T>
__global__ void crop_out_dev(const T* buf, T* x, int64_t total, PadFrame f) {
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    int64_t r = t;
    const int64_t i2 = r % f.big[2];
    r /= f.big[2];
    const int64_t i1 = r % f.big[1];
    r /= f.big[1];
    const int64_t i0 = r % f.big[0];
    r /= f.big[0];
    const int64_t j0 = i0 + f.pb[0], j1 = i1 + f.pb[1], j2 = i2 + f.pb[2];
    const bool covered = j0 < f.pbig[0] && j1 < f.pbig[1] && j2 < f.pbig[2];
    x[t] = covered ? buf[((r * f.pbig[0] + j0) * f.pbig[1] + j1) * f.pbig[2] + j2] : T(0);
  }
}

PadFrame pad_frame(const ConvParams& cp) {
  PadFrame f;
  f.C = cp.g.Cb;
  for (int d = 0; d < 3; ++d) {
    f.big[d] = cp.g.big[d];
    f.pbig[d] = cp.pg.big[d];
    f.pb[d] = cp.g.pb[d];
  }
  return f;
}

// Copies between a big-side tensor of `count` samples and its padded copy (to_copy: into it).
void pad_copy(const KernelContext& k, const ConvParams& cp, const void* src, void* dst, int64_t count, bool to_copy) {
  const PadFrame f = pad_frame(cp);
  const int64_t total = count * cp.g.Cb * (to_copy ? cp.pg.big_vol() : cp.g.big_vol());
  if (total == 0) return;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    if (to_copy)
      pad_in_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(static_cast<const T*>(src), static_cast<T*>(dst),
                                                                        total, f);
    else
      crop_out_dev<T><<<blocks_for(total), kThreads, 0, stream_of(k)>>>(static_cast<const T*>(src),
                                                                          static_cast<T*>(dst), total, f);
    check_launch("conv padding");
  };
  if (cp.dt == CUDNN_DATA_DOUBLE) run(double{});
  else run(float{});
}

// One cuDNN call of the product over samples [n0, n0 + count) (all of them when not padded).
// `accumulate`: weight gradients add to what earlier sample ranges wrote.
void cudnn_product(KernelContext& k, const ConvParams& cp, int64_t n0, int64_t count, bool accumulate) {
  const DeviceContext& dev = device_of(k);
  std::unique_ptr<FrameDescs> own;
  if (count != cp.descs_n || !cp.descs) {
    own = std::make_unique<FrameDescs>();
    describe(*own, cp.pg, count, cp.dt, dev.allow_tf32);
  }
  FrameDescs& f = own ? *own : *cp.descs;
  int algo = cp.algo;
  size_t ws = cp.workspace - cp.pad_bytes;
  if (count > cp.descs_n && workspace_of(dev, f, cp.p, algo) > ws) {
    algo = zero_workspace_algo(cp.p);
    ws = 0;
  }
  void* wsp = ws ? static_cast<char*>(k.workspace) + cp.pad_bytes : nullptr;
  void* pad = cp.padded ? k.workspace : nullptr;
  const size_t es = cp.dt == CUDNN_DATA_DOUBLE ? 8 : 4;
  const int64_t big_sample = cp.g.Cb * cp.g.big_vol(), small_sample = cp.g.Cs * cp.g.small_vol();
  const double one_d = 1.0, zero_d = 0.0;
  const float one_f = 1.0f, zero_f = 0.0f;
  const void* one = cp.dt == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&one_d) : &one_f;
  const void* zero = cp.dt == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&zero_d) : &zero_f;
  const void* beta = accumulate ? one : zero;
  auto at = [es](const void* base, int64_t elements) {
    return static_cast<const char*>(base) + static_cast<size_t>(elements) * es;
  };
  const TensorView& out = k.out[0];
  switch (cp.p) {
    case Product::forward: {
      // x = in[0] (big), w = in[1] -> y (small)
      const void* x = at(k.in[0].data, n0 * big_sample);
      if (pad) {
        pad_copy(k, cp, x, pad, count, true);
        x = pad;
      }
      check_cudnn(cudnnConvolutionForward(dev.cudnn, one, f.big.d, x, f.w.d, k.in[1].data, f.conv.d,
                                          static_cast<cudnnConvolutionFwdAlgo_t>(algo), wsp, ws, zero, f.small.d,
                                          const_cast<char*>(at(out.data, n0 * small_sample))),
                  "cudnnConvolutionForward");
      break;
    }
    case Product::backward_data: {
      // dy = in[0] (small), w = in[1] -> dx (big)
      void* dx = const_cast<char*>(at(out.data, n0 * big_sample));
      check_cudnn(cudnnConvolutionBackwardData(dev.cudnn, one, f.w.d, k.in[1].data, f.small.d,
                                               at(k.in[0].data, n0 * small_sample), f.conv.d,
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), wsp, ws, zero,
                                               f.big.d, pad ? pad : dx),
                  "cudnnConvolutionBackwardData");
      if (pad) pad_copy(k, cp, pad, dx, count, false);
      break;
    }
    case Product::backward_weight: {
      // x = in[0] (big), dy = in[1] (small) -> dw
      const void* x = at(k.in[0].data, n0 * big_sample);
      if (pad) {
        pad_copy(k, cp, x, pad, count, true);
        x = pad;
      }
      check_cudnn(cudnnConvolutionBackwardFilter(dev.cudnn, one, f.big.d, x, f.small.d,
                                                 at(k.in[1].data, n0 * small_sample), f.conv.d,
                                                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), wsp, ws, beta,
                                                 f.w.d, out.data),
                  "cudnnConvolutionBackwardFilter");
      break;
    }
  }
}

// Runs the planned product; `bias` (may be null) is added over the output's channels. A
// padded frame runs in sample ranges of the planned batch, the size of its padded copy.
void run_product(KernelContext& k, const TensorView* bias) {
  const ConvParams& cp = op_params<ConvParams>(k);
  const TensorView& out = k.out[0];
  const TensorView& big = cp.p == Product::backward_data ? out : k.in[0];
  const int64_t N = big.shape.at(0);
  if (out.numel() == 0) return;
  if (N == 0) {  // an empty batch: zero weight gradients (cuDNN takes no empty tensors)
    check_cuda(cudaMemsetAsync(out.data, 0, out.bytes(), stream_of(k)), "cudaMemsetAsync");
    return;
  }
  const int64_t step = cp.padded ? cp.descs_n : N;
  for (int64_t n0 = 0; n0 < N; n0 += step) cudnn_product(k, cp, n0, std::min(step, N - n0), n0 > 0);
  if (bias) add_bias(k, out, *bias);
}

void conv_with_bias_kernel(KernelContext& k) { run_product(k, k.in.size() > 2 ? &k.in[2] : nullptr); }
void conv_product_kernel(KernelContext& k) { run_product(k, nullptr); }

const char* algo_name(Product p, int algo) {
  static const char* fwd[] = {"implicit_gemm", "implicit_precomp_gemm", "gemm", "direct", "fft", "fft_tiling",
                              "winograd", "winograd_nonfused"};
  static const char* bwd[] = {"algo_0", "algo_1", "fft", "fft_tiling", "winograd", "winograd_nonfused"};
  static const char* filt[] = {"algo_0", "algo_1", "fft", "algo_3", "winograd", "winograd_nonfused", "fft_tiling"};
  if (p == Product::forward && algo >= 0 && algo < 8) return fwd[algo];
  if (p == Product::backward_data && algo >= 0 && algo < 6) return bwd[algo];
  if (p == Product::backward_weight && algo >= 0 && algo < 7) return filt[algo];
  return "other";
}

KernelImpl conv_impl(KernelFn fn, DeviceContext* dev, Product p, int transposed) {
  KernelImpl k = cuda_kernel<ConvParams>(fn, dev, [dev, p, transposed](const Node& n) { return plan(n, dev, p, transposed); });
  k.workspace = [dev, p, transposed](const Node& n) { return plan(n, dev, p, transposed).workspace; };
  k.algorithm = [dev, p, transposed](const Node& n) {
    return std::string("cudnn_") + algo_name(p, plan(n, dev, p, transposed).algo);
  };
  return k;
}

}  // namespace

bool cuda_kernel_supports(const Node& n, std::string* why) {
  auto refuse = [why](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  auto half = [](DType t) { return t == DType::f16 || t == DType::bf16; };
  for (const Value& v : n.inputs)
    if (v.defined() && half(v.dtype())) return refuse(std::string("no CUDA kernel computes in ") + dtype_name(v.dtype()));
  for (const TensorType& t : n.outputs)
    if (half(t.dtype)) return refuse(std::string("no CUDA kernel computes in ") + dtype_name(t.dtype));
  const std::string& op = n.op_name();
  Product p;
  int transposed;
  if (op == "conv") p = Product::forward, transposed = 0;
  else if (op == "conv_transpose") p = Product::backward_data, transposed = 1;
  else if (op == "conv_forward_like") p = Product::forward, transposed = -1;
  else if (op == "conv_grad_input") p = Product::backward_data, transposed = -1;
  else if (op == "conv_grad_weight") p = Product::backward_weight, transposed = -1;
  else return true;
  // Only a frame whose channels and extents are known can be judged here (the batch may be
  // unknown); otherwise prepare() decides at compile time.
  auto spatial_known = [](const TensorType& t) {
    if (!t.rank_known() || t.shape.size() < 3) return false;
    for (size_t d = 1; d < t.shape.size(); ++d)
      if (t.shape[d] < 0) return false;
    return true;
  };
  if (n.inputs.size() < 2 || n.outputs.empty()) return true;
  if (!spatial_known(n.inputs[0].type()) || !spatial_known(n.inputs[1].type()) || !spatial_known(n.outputs[0]))
    return true;
  std::string reason;
  try {
    const ConvGeom g = frame_of(n, p, transposed < 0 ? conv_frame_transposed(n.attrs) : transposed == 1);
    if (!cudnn_supports(g, &reason) && !cudnn_supports(explicit_pad_frame(g), &reason)) return refuse(reason);
  } catch (const Error&) {
    return true;  // attributes the frame cannot be resolved from: prepare() reports them
  }
  return true;
}

void bind_conv(Backend& b, DeviceContext* dev) {
  b.add_kernel("conv", conv_impl(conv_with_bias_kernel, dev, Product::forward, 0));
  b.add_kernel("conv_transpose", conv_impl(conv_with_bias_kernel, dev, Product::backward_data, 1));
  b.add_kernel("conv_forward_like", conv_impl(conv_product_kernel, dev, Product::forward, -1));
  b.add_kernel("conv_grad_input", conv_impl(conv_product_kernel, dev, Product::backward_data, -1));
  b.add_kernel("conv_grad_weight", conv_impl(conv_product_kernel, dev, Product::backward_weight, -1));
}

}  // namespace cuda
}  // namespace symnet
