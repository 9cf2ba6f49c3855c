// The backend's error raisers (cuda_context.h), for programs that link the kernels of
// src/cuda/kernels without the backend's own .cu files (kernel_table_check.cu,
// test_kernel_cases.cu built by hand). The backend defines the real ones, which classify
// out-of-memory apart; these report every failure as an internal error with the library's
// message.
#include "cuda/cuda_context.h"

namespace symnet {
namespace cuda {

void throw_cuda(cudaError_t e, const char* what) {
  SN_THROW(ErrorKind::internal, what << ": " << cudaGetErrorString(e));
}
void throw_cublas(cublasStatus_t s, const char* what) {
  SN_THROW(ErrorKind::internal, what << ": cuBLAS status " << static_cast<int>(s));
}
void throw_cudnn(cudnnStatus_t s, const char* what) {
  SN_THROW(ErrorKind::internal, what << ": " << cudnnGetErrorString(s));
}

}  // namespace cuda
}  // namespace symnet
