// The CUDA backend's kernel table: bind_cuda_kernels (cuda_context.h) adds every family of
// this folder for one device. Op names, attributes, dtypes and in-place pairs are the CPU's
// (src/engine/cpu/bind_*.cpp); kernels queue on the device's stream only, never
// synchronize and never allocate (scratch comes from KernelImpl::workspace).
//
// Ops with CUDA kernels:
//   elementwise.cu  neg abs sign reciprocal exp log log1p expm1 sqrt rsqrt square sin cos tan
//                   asin acos atan sinh cosh tanh sigmoid hard_sigmoid relu leaky_relu elu selu
//                   celu softplus softsign gelu erf floor ceil round clip isnan isinf
//                   logical_not add sub mul div pow mod minimum maximum equal not_equal less
//                   less_equal greater greater_equal logical_and logical_or logical_xor where
//                   cast identity stop_gradient reshape flatten squeeze unsqueeze reshape_like
//                   broadcast_like expand fill fill_like range eye
//   reduce.cu       reduce_sum reduce_mean reduce_prod reduce_max reduce_min reduce_l1
//                   reduce_l2 reduce_logsumexp reduce_variance sum_to argmax argmin
//   softmax.cu      softmax log_softmax softmax_cross_entropy softmax_cross_entropy_grad
//                   softmax_cross_entropy_prob sigmoid_cross_entropy
//   gemm.cu         matmul (cuBLAS for floats, direct kernel for int32/int64) gemm
//   conv.cu         conv conv_transpose conv_forward_like conv_grad_input conv_grad_weight
//                   (cuDNN; asymmetric padding through a padded copy in the workspace)
//   pool.cu         max_pool max_pool_grad max_pool_gather avg_pool avg_pool_grad
//                   global_avg_pool global_max_pool
//   norm.cu         batch_norm batch_norm_grad layer_norm layer_norm_grad
//   random.cu       dropout random_uniform random_uniform_like random_normal
//                   random_normal_like random_bernoulli
//   shape.cu        transpose slice slice_grad concat split split_like stack tile
//   index.cu        gather gather_grad gather_elements scatter_elements one_hot
//   misc.cu         cumsum pad pad_grad tile_grad lrn lrn_window_sum
//
// Left to decomposition or CPU placement (no CUDA kernel yet): the recurrent ops
// (rnn/lstm/gru and their gradients), fused groups (fused_elementwise, fused_per_sample,
// conv_clip: the CPU's lowering only), control flow (cond, scan, while_loop), collectives
// and host_callback. Optimizers need no kernel of their own: their updates are graphs of
// the elementwise ops above.
#include "cuda/kernels/common.cuh"

namespace symnet {
namespace cuda {

void bind_cuda_kernels(Backend& b, DeviceContext* dev) {
  bind_elementwise(b, dev);
  bind_reduce(b, dev);
  bind_nn(b, dev);
  bind_linalg(b, dev);
  bind_conv(b, dev);
  bind_pool(b, dev);
  bind_norm(b, dev);
  bind_shape(b, dev);
  bind_index(b, dev);
  bind_misc(b, dev);
  bind_random(b, dev);
}

}  // namespace cuda
}  // namespace symnet
