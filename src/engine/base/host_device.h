// SN_HD marks functions compiled for both the host and a CUDA device: the elementwise
// functors (math/elementwise_functors.h) and the Philox generator (kernels/cpu/philox.h)
// are written once and called by the CPU loops and the CUDA kernels alike. For g++ it
// expands to nothing, so the CPU build is unchanged.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define SN_HD __host__ __device__
#else
#define SN_HD
#endif
