// What the hand-built wgmma GEMM programs (wgmma_check.cu, wgmma_trace.cu) share: a CUDA call checked
// (exit 2 with the error), the device's capabilities with a forced GEMM path, and a matmul timed by events.
#pragma once
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>

#include "../../kernels/gpu/kernels.h"

#define CK(x)                                                                              \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(2);                                                                        \
    }                                                                                      \
  } while (0)

// Device 0's capabilities as the backend reads them, with KERNELPORT_GPU_GEMM's mode and
// KERNELPORT_GPU_GEMM_SPLITK's split count.
inline kp::gpu::DeviceCaps device_caps(int mode, int splitk = 0) {
  kp::gpu::DeviceCaps c;
  int dev = 0;
  CK(cudaGetDevice(&dev));
  CK(cudaDeviceGetAttribute(&c.cc_major, cudaDevAttrComputeCapabilityMajor, dev));
  CK(cudaDeviceGetAttribute(&c.cc_minor, cudaDevAttrComputeCapabilityMinor, dev));
  CK(cudaDeviceGetAttribute(&c.warp_size, cudaDevAttrWarpSize, dev));
  CK(cudaDeviceGetAttribute(&c.multiprocessors, cudaDevAttrMultiProcessorCount, dev));
  CK(cudaDeviceGetAttribute(&c.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  c.gemm_mode = mode;
  c.gemm_splitk = splitk;
  return c;
}

// Milliseconds per launch of iters back-to-back matmuls on the default stream, after `warmup`; *variant
// names the kernel that ran.
inline float time_matmul(const kp::gpu::DeviceCaps& c, const kp_matmul_desc& d, const void* a, const void* b, const void* bias,
                         const void* res, void* out, void* ws, int warmup, int iters, const char** variant) {
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int i = 0; i < warmup; ++i) kp::gpu::launch_matmul(c, 0, d, a, b, bias, res, out, ws);
  CK(cudaEventRecord(e0));
  for (int i = 0; i < iters; ++i) *variant = kp::gpu::launch_matmul(c, 0, d, a, b, bias, res, out, ws);
  CK(cudaEventRecord(e1));
  CK(cudaEventSynchronize(e1));
  CK(cudaGetLastError());
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, e0, e1));
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  return ms / iters;
}
