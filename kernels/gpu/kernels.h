// Host-callable launchers of the GPU kernels (kernels/gpu/*.cu), written against the vendor-neutral
// layer. They choose a variant from the device's capabilities and the descriptor, enqueue it on the
// stream and return its name; launch errors are left for the caller's kp_gpu_last_error() check.
// They never allocate: a launcher that needs workspace says how much (…_workspace) and takes it.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../../native/gpu/runtime.h"
#include "kernelport.h"

namespace kp {
namespace gpu {

struct DeviceCaps {
  int cc_major = 0, cc_minor = 0;
  int warp_size = 0;         // read from the device
  int multiprocessors = 0;
  int smem_optin = 0;        // bytes of shared memory a block may opt in to
  int64_t l2_bytes = 0;      // 0: unknown
  // Forced GEMM path (KERNELPORT_GPU_GEMM): 0 auto, 1 portable SIMT tiles only, 2 mma.sync tensor cores
  // whenever the shape allows (never wgmma), 3 the sm_90a wgmma kernel whenever it can run, else as auto,
  // 4 the same in 2-block clusters sharing B tiles by TMA multicast on every shape (=wgmma-cluster; auto
  // takes them where the tiles are 256 wide), 5 in 2 × 2 clusters sharing B along M and A along N
  // (=wgmma-cluster2x2). 3 runs the wgmma kernel without clusters.
  int gemm_mode = 0;
  // Split-K of the wgmma GEMM (KERNELPORT_GPU_GEMM_SPLITK): 0 (auto) and 1 never (slower where
  // measured), n > 1 n splits wherever the batch is 1 (gemm_wgmma.cu).
  int gemm_splitk = 0;
  // Forced attention path: 0 auto, 1 the portable SIMT kernels only (KERNELPORT_GPU_ATTENTION=simt),
  // 2 mma.sync tensor cores whenever the descriptor allows, however few the query rows (=mma; never
  // wgmma), 3 the sm_90a wgmma kernel whenever it can run, however few the query rows, D = 64 too, else as
  // auto (=wgmma; auto takes it for D = 128 only, attention_wgmma.cu).
  int attention_mode = 0;
  // Keys per tile of the sm_90a wgmma attention (KERNELPORT_GPU_ATTENTION_KEYS): 0 auto (64, or 128 with
  // allowP16 except f16 at D = 128), 64 the allowP16 kernel on 64-key tiles too: an A/B of the tile size.
  int attention_keys = 0;
  // Query heads per group of the tensor-core attention's launch order (KERNELPORT_GPU_ATTENTION_GROUP):
  // 0 auto (attention_head_group), else that many (at most every head: the order before groups).
  int attention_group = 0;
};

// The capabilities an op is planned with: its descriptor's own kernel choice (the gpu_* fields, set by
// autotuning) in place of the process-wide one from the environment, where it makes one (non-zero).
inline DeviceCaps op_caps(DeviceCaps c, const kp_matmul_desc& d) {
  if (d.gpu_kernel) c.gemm_mode = d.gpu_kernel;
  if (d.gpu_split_k) c.gemm_splitk = d.gpu_split_k;
  return c;
}
inline DeviceCaps op_caps(DeviceCaps c, const kp_attention_desc& d) {
  if (d.gpu_kernel) c.attention_mode = d.gpu_kernel;
  if (d.gpu_key_tile) c.attention_keys = d.gpu_key_tile;
  return c;
}

// What matmul will run for d (no launch). Never null.
const char* matmul_variant(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
// Outputs per block (rows x columns) of the GEMM tile matmul_variant names; 0 x 0 for the GEMV.
struct GemmTile {
  int m, n;
};
GemmTile matmul_tile(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
// The workspace launch_matmul needs for d (split-K's partial sums; 0: none), and the launch.
size_t matmul_workspace(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
const char* launch_matmul(const DeviceCaps& caps, kp_gpu_stream_t stream, const kp_matmul_desc& d, const void* a,
                          const void* b, const void* bias, const void* residual, void* out, void* workspace);

// Attention: split-KV decoding writes partial results to a workspace of attention_workspace() bytes
// (0: no split for this descriptor). kv_lengths_host gives the lengths (or nullptr: all skv).
struct AttentionPlan {
  const char* variant;
  int dmax;               // head-dim bucket (D and Dv both <= dmax)
  int splits;             // 1: one pass; > 1: split-KV with a deterministic combine
  int64_t split_keys;     // keys per split
  int tile_keys;          // keys per shared-memory tile (32, 16 or 8: the largest that fits; 64 on tensor cores)
  int head_group;         // tensor-core kernels: heads per group of their launch order (attention_flash.cuh)
  size_t smem;            // dynamic shared memory bytes
  size_t workspace;       // bytes
  const char* unsupported;  // non-null: why this descriptor cannot run here
};
AttentionPlan plan_attention(const DeviceCaps& caps, const kp_attention_desc& d, const int32_t* kv_lengths_host);
const char* launch_attention(const DeviceCaps& caps, kp_gpu_stream_t stream, const AttentionPlan& plan,
                             const kp_attention_desc& d, const void* q, const void* k, const void* v,
                             const int32_t* kv_lengths, const float* mask, void* out, float* lse, void* workspace);

// Enqueues a kernel that faults (tests of the device-lost path; KERNELPORT_GPU_INJECT_FAULT).
const char* launch_fault(kp_gpu_stream_t stream);

}  // namespace gpu
}  // namespace kp
