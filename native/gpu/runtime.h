// The vendor-neutral GPU layer. Kernels (kernels/gpu/) and the GPU backend's host side
// (native/gpu/backend_gpu.cpp) are written against the names below only; a vendor header maps them:
//
//   native/vendors/cuda.h   NVIDIA CUDA runtime (nvcc)
//   native/vendors/musa.h   Moore Threads MUSA runtime (mcc), the MUSA issue
//   native/vendors/emu.h    the CPU emulator (g++; tests only): kernels run on fibers, PTX emulated
//
// Host API (each returns kp_gpu_error_t; kp_gpu_success on success):
//   kp_gpu_set_device(i), kp_gpu_device_count(&n), kp_gpu_device_attribute(&v, KP_GPU_ATTR_*, dev),
//   kp_gpu_mem_info(&free, &total), kp_gpu_malloc(&p, bytes), kp_gpu_free(p),
//   kp_gpu_malloc_host(&p, bytes) (pinned), kp_gpu_free_host(p),
//   kp_gpu_memcpy_h2d_async / _d2h_async / _d2d_async(dst, src, bytes, stream), kp_gpu_memset_async,
//   kp_gpu_memcpy2d_d2d_async(dst, dst_pitch, src, src_pitch, width, rows, stream) (pitches >= width),
//   kp_gpu_stream_create(&s) (non-blocking), kp_gpu_stream_destroy, kp_gpu_stream_sync,
//   kp_gpu_event_create(&e) (no timing), kp_gpu_event_destroy, kp_gpu_event_record(e, s),
//   kp_gpu_event_query(e) (kp_gpu_success when done, kp_gpu_not_ready when not),
//   kp_gpu_last_error() (and clears it), kp_gpu_error_name(e), kp_gpu_error_string(e),
//   kp_gpu_error_is_oom(e), kp_gpu_error_is_sticky(e) (the context is lost: every later call fails),
//   kp_gpu_set_max_dynamic_smem(kernel, bytes).
// Launch: KP_GPU_LAUNCH(kernel, grid, block, smem_bytes, stream)(args...); KP_GPU_LAUNCH_BOUNDS(threads).
// Dynamic shared memory, in a kernel body: KP_GPU_EXTERN_SMEM(type, name, alignment) declares `name`
// as the block's array of `type`.
//
// Device side: KP_GPU_GLOBAL, KP_GPU_DEVICE, KP_GPU_HOST_DEVICE, KP_GPU_INLINE, KP_GPU_NOINLINE, kp_gpu_sync_block(),
// kp_gpu_shfl_xor(v, lane_mask, width) (a butterfly within groups of `width` lanes; width must divide
// the warp size, which kernels receive as a parameter: never assume 32 lanes),
// kp_gpu_thread_x() / kp_gpu_block_x/y/z() / kp_gpu_block_dim_x() / kp_gpu_grid_dim_z().
// KP_GPU_HAS_MMA is defined (device pass) where the NVIDIA tensor-core instructions (mma.sync,
// ldmatrix, cp.async) exist; code using them sits behind it with a portable fallback.
#pragma once

#if defined(KP_GPU_VENDOR_EMU)
#include "../vendors/emu.h"
#elif defined(KP_GPU_VENDOR_MUSA)
#include "../vendors/musa.h"
#else
#include "../vendors/cuda.h"
#endif

enum kp_gpu_attr {
  KP_GPU_ATTR_WARP_SIZE,
  KP_GPU_ATTR_MULTIPROCESSORS,
  KP_GPU_ATTR_CC_MAJOR,
  KP_GPU_ATTR_CC_MINOR,
  KP_GPU_ATTR_SMEM_PER_BLOCK_OPTIN,
  KP_GPU_ATTR_L2_BYTES,
};
