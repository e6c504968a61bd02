// NVIDIA-only companion of vendors/cuda.h: the tiled tensor maps (TMA descriptors) that the Hopper GEMM
// (kernels/gpu/gemm_wgmma.cu) loads through. cuTensorMapEncodeTiled is a driver function; the backend links
// the runtime statically and never the driver library, so the runtime looks it up (once) by name.
#pragma once
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <stdint.h>

typedef CUtensorMap kp_tensor_map;

// A rank-3 map of a 16-bit tensor: dims innermost first, strides (bytes) of dims 1 and 2, box
// {box0, box1, 1} stored with the 128-byte swizzle; reads outside the tensor fill zeros. false when the
// driver lacks the entry point or rejects the map (the caller then runs another kernel).
inline bool kp_encode_tensor_map_16bit(kp_tensor_map* map, bool bf16, const void* base, const uint64_t dims[3],
                                       const uint64_t strides[2], uint32_t box0, uint32_t box1) {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q);
#else
    const cudaError_t e = cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &fn, cudaEnableDefault, &q);
#endif
    if (e != cudaSuccess || q != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();  // not a launch error: the caller's launch check must not see it
      fn = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  if (!encode) return false;
  const cuuint64_t gdim[3] = {dims[0], dims[1], dims[2]};
  const cuuint64_t gstride[2] = {strides[0], strides[1]};
  const cuuint32_t box[3] = {box0, box1, 1};
  const cuuint32_t estride[3] = {1, 1, 1};
  return encode(map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3, const_cast<void*>(base),
                gdim, gstride, box, estride, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}
