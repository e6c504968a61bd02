// The Hopper (sm_90a) flash attention on wgmma (attention_wgmma.cu), behind attention_mma.cu's plan and
// launch: the same operands, semantics and variants' numerics as the mma.sync kernel.
#pragma once
#include "kernels.h"

namespace kp {
namespace gpu {

// Keys per K/V tile: 128 with allow_p16 (a 64 x 128 score tile and its one 16-bit P fit the registers
// beside O: half the per-tile costs per key), 64 for P split into terms (three 16-bit copies of P with
// bf16). Not for f16 at D = 128: there ptxas packs the last P fragments between the P V MMAs, fences
// them apart (C7519) and so splits the group, and wait_group 1 then waits for most of P V too.
KP_GPU_HOST_DEVICE constexpr int attention_wgmma_keys(bool allow_p16, bool bf16, int d) { return allow_p16 && (bf16 || d != 128) ? 128 : 64; }
// Below this many query rows per head the tensor-core kernels' 64- and 128-row blocks sit mostly idle
// and decoding's split-KV kernels do better; KERNELPORT_GPU_ATTENTION=mma or =wgmma lifts it.
constexpr int64_t kMinQueryRows = 16;
bool attention_wgmma_eligible(const DeviceCaps& caps, const kp_attention_desc& d);
const char* attention_wgmma_variant(const DeviceCaps& caps, const kp_attention_desc& d);
bool is_attention_wgmma_variant(const char* variant);
int attention_wgmma_tile_keys(const DeviceCaps& caps, const kp_attention_desc& d);
size_t attention_wgmma_smem(const DeviceCaps& caps, const kp_attention_desc& d);
void launch_attention_wgmma(kp_gpu_stream_t stream, const AttentionPlan& plan, const kp_attention_desc& d, const void* q,
                            const void* k, const void* v, const int32_t* kv_lengths, void* out, float* lse);

}  // namespace gpu
}  // namespace kp
