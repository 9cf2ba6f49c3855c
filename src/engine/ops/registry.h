// Registration of every op family's schemas (ir/op_schema.h) into the process-wide
// registry. One function per family, all called from register_all_ops() in
// ops/registry.cpp, so the R build and the CMake test build see the same set. Kernels are
// registered separately, per backend (cpu/).
#pragma once
#include "engine/ir/op_schema.h"

namespace symnet {

void register_all_ops(Registry& r);

void register_source_ops(Registry& r);       // input, constant, variable
void register_elementwise_ops(Registry& r);  // unary/binary math, comparisons, logic, where, cast
void register_reduce_ops(Registry& r);       // sum, mean, ..., argmax, cumsum
void register_linalg_ops(Registry& r);       // matmul, gemm
void register_shape_ops(Registry& r);        // reshape, transpose, slice, concat, ...
void register_index_ops(Registry& r);        // gather, scatter, one_hot, ...
void register_nn_ops(Registry& r);           // softmax, log_softmax, losses
void register_collective_ops(Registry& r);   // allreduce, broadcast, allgather, reduce_scatter, comm_rank
void register_random_ops(Registry& r);       // random uniform/normal/bernoulli
void register_conv_ops(Registry& r);         // conv, conv_transpose
void register_pool_ops(Registry& r);         // max/avg/global pooling, lrn
void register_norm_ops(Registry& r);         // batch_norm, layer_norm, dropout
void register_rnn_ops(Registry& r);          // rnn, lstm, gru (ONNX) and their _grad ops
void register_internal_ops(Registry& r);     // sum_to, broadcast_like, reshape_like, fill_like
void register_fused_ops(Registry& r);        // fused_elementwise (made by the CPU's fusion)
void register_per_sample_ops(Registry& r);   // fused_per_sample (made by the CPU's per-sample fusion)
void register_host_callback_ops(Registry& r);  // host_callback (a function the host registers by name)
void register_call_ops(Registry& r);         // call (a body run on the node's inputs; inlined by optimize)
void register_control_flow_ops(Registry& r);  // cond (one of two bodies, by a predicate)
void register_while_loop_ops(Registry& r);    // while_loop (a body run while a cond holds)
void register_scan_ops(Registry& r);          // scan (a body looped over sequences, carrying states)

}  // namespace symnet
