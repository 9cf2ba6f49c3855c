// CUDA, cuBLAS and cuDNN failures as engine errors: running out of memory is its own kind
// (R: symnet_device_memory_error) so that callers can free memory or shrink a batch and
// retry; everything else is a device error naming the call and the library's message.
#include <sstream>

#include "cuda/cuda_context.h"

namespace symnet {
namespace cuda {

void throw_cuda(cudaError_t e, const char* what) {
  // Clears the runtime's sticky "last error" so the next check does not report this one
  // again; errors that corrupt the context stay sticky whatever we do.
  cudaGetLastError();
  std::ostringstream msg;
  msg << what << ": " << cudaGetErrorString(e) << " (" << cudaGetErrorName(e) << ")";
  throw Error(e == cudaErrorMemoryAllocation ? ErrorKind::device_memory : ErrorKind::device, msg.str());
}

void throw_cublas(cublasStatus_t s, const char* what) {
  std::ostringstream msg;
  msg << what << ": cuBLAS " << cublasGetStatusString(s) << " (" << cublasGetStatusName(s) << ")";
  throw Error(s == CUBLAS_STATUS_ALLOC_FAILED ? ErrorKind::device_memory : ErrorKind::device, msg.str());
}

void throw_cudnn(cudnnStatus_t s, const char* what) {
  std::ostringstream msg;
  msg << what << ": cuDNN " << cudnnGetErrorString(s);
  throw Error(s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED ? ErrorKind::device_memory : ErrorKind::device,
              msg.str());
}

}  // namespace cuda
}  // namespace symnet
