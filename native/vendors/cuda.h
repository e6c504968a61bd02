// NVIDIA CUDA mapping of the vendor-neutral GPU layer (native/gpu/runtime.h). Nothing outside this
// header names a CUDA API.
#pragma once
#include <cuda_runtime.h>
#include <cstddef>

typedef cudaError_t kp_gpu_error_t;
typedef cudaStream_t kp_gpu_stream_t;
typedef cudaEvent_t kp_gpu_event_t;
#define kp_gpu_success cudaSuccess
#define kp_gpu_not_ready cudaErrorNotReady
#define KP_GPU_VENDOR_NAME "CUDA"
// The tensor-core GEMM (kernels/gpu/gemm_mma.cu, mma.sync) may be chosen on this vendor's parts.
#define KP_GPU_VENDOR_HAS_MMA_SYNC 1

#define KP_GPU_GLOBAL __global__
#define KP_GPU_DEVICE __device__
#define KP_GPU_HOST_DEVICE __host__ __device__
#define KP_GPU_INLINE __forceinline__
#define KP_GPU_NOINLINE __noinline__
#define KP_GPU_LAUNCH(kernel, grid, block, smem, stream) kernel<<<(grid), (block), (smem), (stream)>>>
#define KP_GPU_LAUNCH_BOUNDS(threads) __launch_bounds__(threads)
#define KP_GPU_EXTERN_SMEM(type, name, align) extern __shared__ __align__(align) type name[]
// A launch in thread-block clusters of cluster.x × cluster.y blocks (sm_90): KP_GPU_LAUNCH_CLUSTER(k, grid,
// block, smem, stream, cluster)(args...). Errors go where a <<<>>> launch's do (cudaGetLastError).
template <class... P>
struct kp_gpu_cluster_launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  dim3 cluster;
  template <class... A>
  void operator()(A&&... args) const {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = cluster.x;
    attr[0].val.clusterDim.y = cluster.y;
    attr[0].val.clusterDim.z = cluster.z;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    (void)cudaLaunchKernelEx(&cfg, kernel, static_cast<P>(args)...);
  }
};
template <class... P>
kp_gpu_cluster_launcher<P...> kp_gpu_cluster_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                                                      dim3 cluster) {
  return kp_gpu_cluster_launcher<P...>{kernel, grid, block, smem, s, cluster};
}
#define KP_GPU_LAUNCH_CLUSTER(kernel, grid, block, smem, stream, cluster) \
  kp_gpu_cluster_launch(kernel, grid, block, smem, stream, cluster)

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define KP_GPU_HAS_MMA 1
#endif

// ---- host ----------------------------------------------------------------------------------------
inline kp_gpu_error_t kp_gpu_set_device(int i) { return cudaSetDevice(i); }
inline kp_gpu_error_t kp_gpu_device_count(int* n) { return cudaGetDeviceCount(n); }
inline kp_gpu_error_t kp_gpu_device_attribute(int* v, int attr, int dev) {
  // attr: enum kp_gpu_attr (runtime.h), in declaration order.
  static const cudaDeviceAttr map[] = {cudaDevAttrWarpSize,          cudaDevAttrMultiProcessorCount,
                                       cudaDevAttrComputeCapabilityMajor, cudaDevAttrComputeCapabilityMinor,
                                       cudaDevAttrMaxSharedMemoryPerBlockOptin, cudaDevAttrL2CacheSize};
  return cudaDeviceGetAttribute(v, map[attr], dev);
}
inline kp_gpu_error_t kp_gpu_mem_info(size_t* free_bytes, size_t* total) { return cudaMemGetInfo(free_bytes, total); }
inline kp_gpu_error_t kp_gpu_malloc(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
inline kp_gpu_error_t kp_gpu_free(void* p) { return cudaFree(p); }
inline kp_gpu_error_t kp_gpu_malloc_host(void** p, size_t bytes) { return cudaMallocHost(p, bytes); }
inline kp_gpu_error_t kp_gpu_free_host(void* p) { return cudaFreeHost(p); }
inline kp_gpu_error_t kp_gpu_memcpy_h2d_async(void* dst, const void* src, size_t n, kp_gpu_stream_t s) {
  return cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s);
}
inline kp_gpu_error_t kp_gpu_memcpy_d2h_async(void* dst, const void* src, size_t n, kp_gpu_stream_t s) {
  return cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s);
}
inline kp_gpu_error_t kp_gpu_memcpy_d2d_async(void* dst, const void* src, size_t n, kp_gpu_stream_t s) {
  return cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, s);
}
inline kp_gpu_error_t kp_gpu_memcpy2d_d2d_async(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t rows,
                                                kp_gpu_stream_t s) {
  return cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, cudaMemcpyDeviceToDevice, s);
}
inline kp_gpu_error_t kp_gpu_memset_async(void* dst, int v, size_t n, kp_gpu_stream_t s) { return cudaMemsetAsync(dst, v, n, s); }
inline kp_gpu_error_t kp_gpu_stream_create(kp_gpu_stream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamNonBlocking); }
inline kp_gpu_error_t kp_gpu_stream_destroy(kp_gpu_stream_t s) { return cudaStreamDestroy(s); }
inline kp_gpu_error_t kp_gpu_stream_sync(kp_gpu_stream_t s) { return cudaStreamSynchronize(s); }
inline kp_gpu_error_t kp_gpu_event_create(kp_gpu_event_t* e) { return cudaEventCreateWithFlags(e, cudaEventDisableTiming); }
inline kp_gpu_error_t kp_gpu_event_destroy(kp_gpu_event_t e) { return cudaEventDestroy(e); }
inline kp_gpu_error_t kp_gpu_event_record(kp_gpu_event_t e, kp_gpu_stream_t s) { return cudaEventRecord(e, s); }
inline kp_gpu_error_t kp_gpu_event_query(kp_gpu_event_t e) { return cudaEventQuery(e); }
inline kp_gpu_error_t kp_gpu_last_error() { return cudaGetLastError(); }
inline const char* kp_gpu_error_name(kp_gpu_error_t e) { return cudaGetErrorName(e); }
inline const char* kp_gpu_error_string(kp_gpu_error_t e) { return cudaGetErrorString(e); }
inline bool kp_gpu_error_is_oom(kp_gpu_error_t e) { return e == cudaErrorMemoryAllocation; }
// Errors after which the context is unusable: every later call fails the same way.
inline bool kp_gpu_error_is_sticky(kp_gpu_error_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
      return true;
    default:
      return false;
  }
}
template <class K>
inline kp_gpu_error_t kp_gpu_set_max_dynamic_smem(K* kernel, int bytes) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

// ---- device --------------------------------------------------------------------------------------
#if defined(__CUDACC__)
#define kp_gpu_sync_block() __syncthreads()
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
