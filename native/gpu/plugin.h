/*
 * The GPU backend plugin interface: what a GPU backend library (libkernelport_cuda.so, later
 * libkernelport_musa.so) exports to the core. Plain C so that the library may be built by another
 * compiler (nvcc, the MUSA SDK's mcc) than the core, and no C++ exception ever crosses the boundary:
 * every call returns a kp_status and leaves its message in the plugin's thread-local last_error().
 *
 * The library exports exactly one symbol:
 *     const kp_gpu_plugin* kp_backend_register(uint32_t plugin_abi, uint32_t core_abi);
 * It returns NULL when either version differs from the ones it was built with; the core checks the
 * table's versions and struct_size as well, and refuses a mismatch with a message naming both.
 *
 * Threading: create/destroy/matmul/attention/read run on the device's queue thread; alloc, free and
 * write may run on any thread (the JS thread uploads, whichever thread drops a buffer's last
 * reference frees it). Descriptors arrive checked against the buffers' sizes (native/src/api.cpp).
 */
#ifndef KERNELPORT_GPU_PLUGIN_H
#define KERNELPORT_GPU_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include "kernelport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to kp_gpu_plugin or to the descriptors it reads. 2: the
 * descriptors' second revision (kp_matmul_desc.allow_tf32 and max_threads): a plugin reads the
 * descriptor the core hands it at its own header's offsets, so a plugin and a core of different
 * revisions must refuse each other rather than read fields the other never wrote. 3: copy. 4: the
 * descriptors' third revision (the gpu_kernel, gpu_split_k and gpu_key_tile kernel choices). */
#define KP_GPU_PLUGIN_ABI 4

typedef struct kp_gpu_plugin {
  uint32_t struct_size;  /* sizeof(kp_gpu_plugin) the library was built with */
  uint32_t plugin_abi;   /* KP_GPU_PLUGIN_ABI the library was built with */
  uint32_t core_abi;     /* KP_ABI_VERSION (descriptor layouts) the library was built with */
  const char* name;      /* "cuda" */
  const char* variants;  /* comma-separated kernel variants compiled in */
  const char* (*last_error)(void);
  /* device_index: the vendor ordinal. The state is per device (stream, allocator cache, staging). */
  kp_status (*create)(int32_t device_index, void** state);
  void (*destroy)(void* state);
  /* KP_ERR_OUT_OF_MEMORY names the bytes requested and free. */
  kp_status (*alloc)(void* state, size_t bytes, void** out);
  void (*free)(void* state, void* ptr);
  /* Host -> device, complete when it returns (a later op on any thread sees the data). */
  kp_status (*write)(void* state, void* dst, const void* src, size_t bytes);
  /* Device -> host after every op enqueued before it, complete when it returns. */
  kp_status (*read)(void* state, const void* src, void* dst, size_t bytes);
  kp_status (*matmul)(void* state, const kp_matmul_desc* d, const void* a, const void* b, const void* bias,
                      const void* residual, void* out);
  /* kv_lengths: device pointer (or NULL); kv_lengths_host: the same values on the host, already checked. */
  kp_status (*attention)(void* state, const kp_attention_desc* d, const void* q, const void* k, const void* v,
                         const int32_t* kv_lengths, const int32_t* kv_lengths_host, const float* mask, void* out,
                         float* lse);
  /* The kernel variant a descriptor would run with (op 0: matmul, kp_matmul_desc; 1: attention). */
  kp_status (*explain)(void* state, int32_t op, const void* desc, char* out, size_t cap);
  /* Waits until the device has finished every op enqueued so far; reports an asynchronous kernel fault. */
  kp_status (*sync)(void* state);
  /* Device -> device: `rows` runs of row_bytes, dst_stride / src_stride bytes apart, ordered like an op
   * (after the kernels enqueued before it, before later ones), on the queue thread; returns once
   * enqueued. Nothing written overlaps what is read. */
  kp_status (*copy)(void* state, void* dst, size_t dst_stride, const void* src, size_t src_stride, size_t row_bytes, size_t rows);
} kp_gpu_plugin;

typedef const kp_gpu_plugin* (*kp_backend_register_fn)(uint32_t plugin_abi, uint32_t core_abi);

#ifdef __cplusplus
}
#endif

#endif /* KERNELPORT_GPU_PLUGIN_H */
