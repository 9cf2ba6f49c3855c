// Shape ops that move data on CUDA: transpose, slice (+ gradient), concat, split, stack,
// tile, as strided copies (strided_index.h) by element width, with the CPU's resolved
// attributes (ops/shape_attrs.h). Pure reshapes are in elementwise.cu (in place).
#include <vector>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/strided_index.h"
#include "engine/kernels/cpu/shape_kernels.h"  // ShapeParams (header-only struct)
#include "engine/ops/shape_attrs.h"

namespace symnet {
namespace cuda {

namespace {

template <class U>
__global__ void strided_copy_dev(const U* src, int64_t src_off, U* dst, int64_t dst_off, StridedCopy c) {
  for (int64_t i = global_thread(); i < c.n; i += grid_threads()) {
    int64_t so, dof;
    c.offsets(i, so, dof);
    dst[dst_off + dof] = src[src_off + so];
  }
}

// The CPU's strided_copy (kernels/cpu/shape_kernels.h) on the device's stream.
void strided_copy(const KernelContext& k, const void* src, int64_t src_off, const std::vector<int64_t>& src_strides,
                  void* dst, int64_t dst_off, const std::vector<int64_t>& dst_strides, const Shape& shape, size_t es) {
  StridedCopy c;
  SN_CHECK(make_strided_copy(shape, src_strides, dst_strides, c), ErrorKind::unsupported,
           "CUDA strided copy of " << shape_str(shape) << ": more than " << kMaxIndexDims << " separate dimensions");
  if (c.n == 0) return;
  const cudaStream_t s = stream_of(k);
  const unsigned blocks = blocks_for(c.n);
  switch (es) {
    case 1:
      strided_copy_dev<uint8_t><<<blocks, kThreads, 0, s>>>(static_cast<const uint8_t*>(src), src_off,
                                                            static_cast<uint8_t*>(dst), dst_off, c);
      break;
    case 2:
      strided_copy_dev<uint16_t><<<blocks, kThreads, 0, s>>>(static_cast<const uint16_t*>(src), src_off,
                                                             static_cast<uint16_t*>(dst), dst_off, c);
      break;
    case 4:
      strided_copy_dev<uint32_t><<<blocks, kThreads, 0, s>>>(static_cast<const uint32_t*>(src), src_off,
                                                             static_cast<uint32_t*>(dst), dst_off, c);
      break;
    case 8:
      strided_copy_dev<unsigned long long><<<blocks, kThreads, 0, s>>>(
          static_cast<const unsigned long long*>(src), src_off, static_cast<unsigned long long*>(dst), dst_off, c);
      break;
    default: SN_THROW(ErrorKind::dtype, "CUDA strided copy: no kernel for " << es << "-byte elements");
  }
  check_launch("strided copy");
}

std::vector<int64_t> strides_of(const Shape& s) { return shape_strides(s); }

void transpose_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const std::vector<int64_t>& perm = op_params<ShapeParams>(k).perm;
  std::vector<int64_t> xs = strides_of(x.shape), src(r);
  for (int64_t i = 0; i < r; ++i) src[i] = xs[perm[i]];
  strided_copy(k, x.data, 0, src, y.data, 0, strides_of(y.shape), y.shape, dtype_size(y.dtype));
}

void slice_layout(const Shape& full, const SliceSpec& s, int64_t& off, std::vector<int64_t>& strides) {
  std::vector<int64_t> fs = strides_of(full);
  off = 0;
  strides.assign(full.size(), 0);
  for (size_t d = 0; d < full.size(); ++d) {
    off += s.start[d] * fs[d];
    strides[d] = s.step[d] * fs[d];
  }
}

void slice_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  int64_t off;
  std::vector<int64_t> src;
  slice_layout(x.shape, op_params<ShapeParams>(k).slice, off, src);
  strided_copy(k, x.data, off, src, y.data, 0, strides_of(y.shape), y.shape, dtype_size(y.dtype));
}

void slice_grad_kernel(KernelContext& k) {
  const TensorView &g = k.in[0], &y = k.out[0];
  if (y.bytes()) check_cuda(cudaMemsetAsync(y.data, 0, y.bytes(), stream_of(k)), "cudaMemsetAsync");
  int64_t off;
  std::vector<int64_t> dst;
  slice_layout(y.shape, op_params<ShapeParams>(k).slice, off, dst);
  strided_copy(k, g.data, 0, strides_of(g.shape), y.data, off, dst, g.shape, dtype_size(y.dtype));
}

void concat_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const int64_t axis = op_params<ShapeParams>(k).axis;
  const std::vector<int64_t> ys = strides_of(y.shape);
  int64_t off = 0;
  for (const TensorView& x : k.in) {
    strided_copy(k, x.data, 0, strides_of(x.shape), y.data, off * ys[axis], ys, x.shape, dtype_size(y.dtype));
    off += x.shape[axis];
  }
}

void split_kernel(KernelContext& k) {
  const TensorView& x = k.in[0];
  const int64_t axis = op_params<ShapeParams>(k).axis;
  const std::vector<int64_t> xs = strides_of(x.shape);
  int64_t off = 0;
  for (const TensorView& y : k.out) {
    strided_copy(k, x.data, off * xs[axis], xs, y.data, 0, strides_of(y.shape), y.shape, dtype_size(x.dtype));
    off += y.shape[axis];
  }
}

void stack_kernel(KernelContext& k) {
  const TensorView& y = k.out[0];
  const int64_t axis = op_params<ShapeParams>(k).axis;
  const std::vector<int64_t> ys = strides_of(y.shape);
  for (size_t i = 0; i < k.in.size(); ++i) {
    Shape s = k.in[i].shape;
    s.insert(s.begin() + axis, 1);
    strided_copy(k, k.in[i].data, 0, strides_of(s), y.data, static_cast<int64_t>(i) * ys[axis], ys, s,
                 dtype_size(y.dtype));
  }
}

void tile_kernel(KernelContext& k) {
  const TensorView &x = k.in[0], &y = k.out[0];
  // y viewed as [r0, d0, r1, d1, ...]: x repeated along the r axes (stride 0).
  const std::vector<int64_t>& reps = op_params<ShapeParams>(k).repeats;
  const std::vector<int64_t> xs = strides_of(x.shape);
  Shape s;
  std::vector<int64_t> src;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    s.push_back(reps.at(d));
    s.push_back(x.shape[d]);
    src.push_back(0);
    src.push_back(xs[d]);
  }
  strided_copy(k, x.data, 0, src, y.data, 0, strides_of(s), s, dtype_size(y.dtype));
}

KernelImpl shape_impl(KernelFn fn, DeviceContext* dev, std::function<ShapeParams(const Node&)> read) {
  return cuda_kernel<ShapeParams>(fn, dev, std::move(read));
}

ShapeParams axis_of(const Node& n, const Shape& ref) {
  ShapeParams p;
  p.axis = normalize_axis(n.attrs.get_int("axis", 0), static_cast<int64_t>(ref.size()));
  return p;
}

ShapeParams slice_of(const Node& n, const Shape& full) {
  ShapeParams p;
  p.slice = resolve_slice(full, n.attrs);
  return p;
}

}  // namespace

void bind_shape(Backend& b, DeviceContext* dev) {
  b.add_kernel("transpose", shape_impl(transpose_kernel, dev, [](const Node& n) {
                 ShapeParams p;
                 p.perm = resolve_perm(n.attrs, n.inputs.at(0).rank());
                 return p;
               }));
  b.add_kernel("slice", shape_impl(slice_kernel, dev, [](const Node& n) { return slice_of(n, n.inputs.at(0).shape()); }));
  b.add_kernel("slice_grad",
               shape_impl(slice_grad_kernel, dev, [](const Node& n) { return slice_of(n, n.outputs.at(0).shape); }));
  b.add_kernel("concat", shape_impl(concat_kernel, dev, [](const Node& n) { return axis_of(n, n.outputs.at(0).shape); }));
  b.add_kernel("split", shape_impl(split_kernel, dev, [](const Node& n) { return axis_of(n, n.inputs.at(0).shape()); }));
  b.add_kernel("split_like",
               shape_impl(split_kernel, dev, [](const Node& n) { return axis_of(n, n.inputs.at(0).shape()); }));
  b.add_kernel("stack", shape_impl(stack_kernel, dev, [](const Node& n) { return axis_of(n, n.outputs.at(0).shape); }));
  b.add_kernel("tile", shape_impl(tile_kernel, dev, [](const Node& n) {
                 ShapeParams p;
                 p.repeats = n.attrs.get_ints("repeats");
                 return p;
               }));
}

}  // namespace cuda
}  // namespace symnet
