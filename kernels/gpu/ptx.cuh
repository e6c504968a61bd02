// NVIDIA PTX shared by the tensor-core GEMMs (gemm_mma.cu, gemm_tf32.cu): asynchronous global ->
// shared copies. Only where KP_GPU_HAS_MMA is defined (sm_80+ device passes of the CUDA build);
// MUSA never sees them (vendors/musa.h).
#pragma once
#include "common.cuh"

#if defined(KP_GPU_HAS_MMA)
namespace kp {
namespace gpu {
namespace {

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;  // 0: fill the 16 bytes with zeros, read nothing
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

}  // namespace
}  // namespace gpu
}  // namespace kp
#endif
