// CPU kernels of the recurrent ops (ops/rnn.cpp describes inputs, outputs and the saved
// state). One forward and one backward kernel serve rnn, lstm and gru; the cell type and
// everything else comes from the RnnSpec the binding resolved at compile time.
//
// Forward: per direction, the input projection of all steps is one GEMM written into the
// reserve (W and R transposed once into the workspace, so no GEMM transposes an operand); then the batch is split over the threads and each thread runs the whole time
// loop on its slice (batch elements are independent, so steps need no synchronization):
// per step one recurrent GEMM (two for gru without linear_before_reset) and one fused,
// vectorizable pass of gate math per row. Backward: the same split over the batch for the
// reverse-time loop (gate gradients per step and the state gradient GEMM), then the weight
// gradients as GEMMs over all steps at once.
#pragma once
#include <cstddef>

#include "engine/backend/kernel.h"
#include "engine/base/dtype.h"
#include "engine/math/rnn_spec.h"

namespace symnet {

void rnn_forward_kernel(KernelContext& k);   // params: RnnSpec
void rnn_backward_kernel(KernelContext& k);  // params: RnnSpec

// Scratch bytes for seq steps, batch elements, input size and X's dtype.
size_t rnn_forward_workspace(const RnnSpec& s, int64_t seq, int64_t batch, int64_t input, DType t);
size_t rnn_backward_workspace(const RnnSpec& s, int64_t seq, int64_t batch, int64_t input, DType t);

}  // namespace symnet
