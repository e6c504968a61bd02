// Moore Threads MUSA mapping of the vendor-neutral GPU layer (native/gpu/runtime.h): the same
// surface as vendors/cuda.h, written against the MUSA runtime (musa_runtime.h). Nothing outside this
// header names a MUSA API; the kernels in kernels/gpu/ and native/gpu/backend_gpu.cpp compile
// unchanged through it.
//
// Two compilers take this header:
//   - the MUSA SDK's compiler (mcc / clang -x musa, --cuda-gpu-arch=mp_21;mp_22;mp_31): the real
//     musa backend library (CMake option KP_MUSA);
//   - nvcc, with native/test/musa_on_cuda/ first on the include path: test-only headers of the same
//     names that map every MUSA name used here back onto CUDA (CMake option KP_MUSA_EMULATE). That
//     build proves the sources as they go through this header, and runs them on NVIDIA GPUs.
//
// Differences from CUDA that the kernels must respect:
//   - Warp size: mp_21 (MTT S80/S3000) and mp_22 (S4000) report 128-thread warps, mp_31 (S5000)
//     32. Kernels take the warp size from the device (DeviceCaps::warp_size); shuffles use widths
//     that divide it.
//   - No NVIDIA PTX: KP_GPU_HAS_MMA (mma.sync, ldmatrix, cp.async) is never defined here, and
//     KP_GPU_VENDOR_HAS_MMA_SYNC is 0 so the host never chooses the tensor-core GEMM. MUSA's own
//     tensor-core instructions (mp_22 / mp_31, through the SDK's MUTE/MUTLASS intrinsics) would sit
//     behind __MUSA_ARCH__ (210, 220, 310 in the device pass); this version has no such path: it
//     could be neither compiled nor run here, so the portable tiles are the MUSA kernels.
#pragma once
#include <musa_runtime.h>
// 16-bit types: the kernels convert bits themselves (kernels/gpu/common.cuh, the same rounding rules
// as the cpu backend), so nothing below uses __half / __mt_bfloat16; the headers come in for kernels
// that will. The driver API (musa.h) is never included: the core reads libmusa.so through dlsym
// (native/src/gpu_loader.cpp) and the backend library needs only the runtime.
#include <musa_fp16.h>
#include <musa_bf16.h>
#include <cstddef>

typedef musaError_t kp_gpu_error_t;
typedef musaStream_t kp_gpu_stream_t;
typedef musaEvent_t kp_gpu_event_t;
#define kp_gpu_success musaSuccess
#define kp_gpu_not_ready musaErrorNotReady
#define KP_GPU_VENDOR_NAME "MUSA"
// The NVIDIA tensor-core GEMM (kernels/gpu/gemm_mma.cu) is never eligible on MUSA.
#define KP_GPU_VENDOR_HAS_MMA_SYNC 0

#define KP_GPU_GLOBAL __global__
#define KP_GPU_DEVICE __device__
#define KP_GPU_HOST_DEVICE __host__ __device__
#define KP_GPU_INLINE __forceinline__
#define KP_GPU_NOINLINE __noinline__
#define KP_GPU_LAUNCH(kernel, grid, block, smem, stream) kernel<<<(grid), (block), (smem), (stream)>>>
#define KP_GPU_LAUNCH_BOUNDS(threads) __launch_bounds__(threads)
#define KP_GPU_EXTERN_SMEM(type, name, align) extern __shared__ __align__(align) type name[]

// ---- host ----------------------------------------------------------------------------------------
inline kp_gpu_error_t kp_gpu_set_device(int i) { return musaSetDevice(i); }
inline kp_gpu_error_t kp_gpu_device_count(int* n) { return musaGetDeviceCount(n); }
inline kp_gpu_error_t kp_gpu_device_attribute(int* v, int attr, int dev) {
  // attr: enum kp_gpu_attr (runtime.h), in declaration order.
  static const musaDeviceAttr map[] = {musaDevAttrWarpSize,          musaDevAttrMultiProcessorCount,
                                       musaDevAttrComputeCapabilityMajor, musaDevAttrComputeCapabilityMinor,
                                       musaDevAttrMaxSharedMemoryPerBlockOptin, musaDevAttrL2CacheSize};
  return musaDeviceGetAttribute(v, map[attr], dev);
}
inline kp_gpu_error_t kp_gpu_mem_info(size_t* free_bytes, size_t* total) { return musaMemGetInfo(free_bytes, total); }
inline kp_gpu_error_t kp_gpu_malloc(void** p, size_t bytes) { return musaMalloc(p, bytes); }
inline kp_gpu_error_t kp_gpu_free(void* p) { return musaFree(p); }
inline kp_gpu_error_t kp_gpu_malloc_host(void** p, size_t bytes) { return musaMallocHost(p, bytes); }
inline kp_gpu_error_t kp_gpu_free_host(void* p) { return musaFreeHost(p); }
inline kp_gpu_error_t kp_gpu_memcpy_h2d_async(void* dst, const void* src, size_t n, kp_gpu_stream_t s) {
  return musaMemcpyAsync(dst, src, n, musaMemcpyHostToDevice, s);
}
inline kp_gpu_error_t kp_gpu_memcpy_d2h_async(void* dst, const void* src, size_t n, kp_gpu_stream_t s) {
  return musaMemcpyAsync(dst, src, n, musaMemcpyDeviceToHost, s);
}
inline kp_gpu_error_t kp_gpu_memcpy_d2d_async(void* dst, const void* src, size_t n, kp_gpu_stream_t s) {
  return musaMemcpyAsync(dst, src, n, musaMemcpyDeviceToDevice, s);
}
inline kp_gpu_error_t kp_gpu_memcpy2d_d2d_async(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t rows,
                                                kp_gpu_stream_t s) {
  return musaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, musaMemcpyDeviceToDevice, s);
}
inline kp_gpu_error_t kp_gpu_memset_async(void* dst, int v, size_t n, kp_gpu_stream_t s) { return musaMemsetAsync(dst, v, n, s); }
inline kp_gpu_error_t kp_gpu_stream_create(kp_gpu_stream_t* s) { return musaStreamCreateWithFlags(s, musaStreamNonBlocking); }
inline kp_gpu_error_t kp_gpu_stream_destroy(kp_gpu_stream_t s) { return musaStreamDestroy(s); }
inline kp_gpu_error_t kp_gpu_stream_sync(kp_gpu_stream_t s) { return musaStreamSynchronize(s); }
inline kp_gpu_error_t kp_gpu_event_create(kp_gpu_event_t* e) { return musaEventCreateWithFlags(e, musaEventDisableTiming); }
inline kp_gpu_error_t kp_gpu_event_destroy(kp_gpu_event_t e) { return musaEventDestroy(e); }
inline kp_gpu_error_t kp_gpu_event_record(kp_gpu_event_t e, kp_gpu_stream_t s) { return musaEventRecord(e, s); }
inline kp_gpu_error_t kp_gpu_event_query(kp_gpu_event_t e) { return musaEventQuery(e); }
inline kp_gpu_error_t kp_gpu_last_error() { return musaGetLastError(); }
inline const char* kp_gpu_error_name(kp_gpu_error_t e) { return musaGetErrorName(e); }
inline const char* kp_gpu_error_string(kp_gpu_error_t e) { return musaGetErrorString(e); }
inline bool kp_gpu_error_is_oom(kp_gpu_error_t e) { return e == musaErrorMemoryAllocation; }
// Errors after which the context is unusable: every later call fails the same way. The MUSA runtime
// keeps CUDA's error names for these (musa_runtime_api's musaError enum).
inline bool kp_gpu_error_is_sticky(kp_gpu_error_t e) {
  switch (e) {
    case musaErrorIllegalAddress:
    case musaErrorLaunchFailure:
    case musaErrorHardwareStackError:
    case musaErrorIllegalInstruction:
    case musaErrorMisalignedAddress:
    case musaErrorInvalidAddressSpace:
    case musaErrorInvalidPc:
    case musaErrorAssert:
    case musaErrorECCUncorrectable:
    case musaErrorLaunchTimeout:
    case musaErrorContextIsDestroyed:
    case musaErrorDevicesUnavailable:
      return true;
    default:
      return false;
  }
}
template <class K>
inline kp_gpu_error_t kp_gpu_set_max_dynamic_smem(K* kernel, int bytes) {
  return musaFuncSetAttribute(reinterpret_cast<const void*>(kernel), musaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

// ---- device --------------------------------------------------------------------------------------
// __MUSACC__: the MUSA compiler is compiling (host and device passes), like __CUDACC__.
#if defined(__MUSACC__)
#define kp_gpu_sync_block() __syncthreads()
// A butterfly within groups of `width` lanes (width divides the warp: 32 on mp_31, 128 on mp_21/22).
// The member mask names the lanes of the first 32; MUSA's __shfl_xor_sync, like the kernels here,
// only exchanges within the `width`-lane segment, which every lane of a row group reaches together.
__device__ __forceinline__ float kp_gpu_shfl_xor(float v, int lane_mask, int width) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask, width);
}
__device__ __forceinline__ unsigned kp_gpu_thread_x() { return threadIdx.x; }
__device__ __forceinline__ unsigned kp_gpu_block_x() { return blockIdx.x; }
__device__ __forceinline__ unsigned kp_gpu_block_y() { return blockIdx.y; }
__device__ __forceinline__ unsigned kp_gpu_block_z() { return blockIdx.z; }
__device__ __forceinline__ unsigned kp_gpu_block_dim_x() { return blockDim.x; }
__device__ __forceinline__ unsigned kp_gpu_grid_dim_x() { return gridDim.x; }
__device__ __forceinline__ unsigned kp_gpu_grid_dim_y() { return gridDim.y; }
__device__ __forceinline__ unsigned kp_gpu_grid_dim_z() { return gridDim.z; }
#define kp_gpu_atomic_max_shared(p, v) atomicMax((p), (v))
#endif
