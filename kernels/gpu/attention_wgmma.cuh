// The Hopper (sm_90a) flash attention on wgmma (attention_wgmma.cu), behind attention_mma.cu's plan and
// launch: the same operands, semantics and variants' numerics as the mma.sync kernel.
#pragma once
#include "kernels.h"

namespace kp {
namespace gpu {

constexpr int kWgmmaAttentionKeys = 64;  // keys per K/V tile
// Below this many query rows per head the tensor-core kernels' 64- and 128-row blocks sit mostly idle
// and decoding's split-KV kernels do better; KERNELPORT_GPU_ATTENTION=mma or =wgmma lifts it.
constexpr int64_t kMinQueryRows = 16;
bool attention_wgmma_eligible(const DeviceCaps& caps, const kp_attention_desc& d);
const char* attention_wgmma_variant(bool allow_p16);
bool is_attention_wgmma_variant(const char* variant);
size_t attention_wgmma_smem(int64_t d);
void launch_attention_wgmma(kp_gpu_stream_t stream, const char* variant, const kp_attention_desc& d, const void* q,
                            const void* k, const void* v, const int32_t* kv_lengths, void* out, float* lse);

}  // namespace gpu
}  // namespace kp
