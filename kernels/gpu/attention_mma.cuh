// The tensor-core flash attention (attention_mma.cu on mma.sync; attention_wgmma.cu on sm_90's wgmma),
// as plan_attention / launch_attention in attention.cu route to it.
#pragma once
#include "kernels.h"

namespace kp {
namespace gpu {

// Whether a tensor-core kernel takes this descriptor on this device (pointer alignment aside: the
// plan is made without buffers, see attention_mma_aligned), and which one.
bool attention_mma_eligible(const DeviceCaps& caps, const kp_attention_desc& d);
AttentionPlan plan_attention_mma(const DeviceCaps& caps, const kp_attention_desc& d);
bool is_attention_mma_plan(const AttentionPlan& p);
// cp.async moves 16 bytes: q, k and v must start on a 16-byte boundary (their rows then do: D is a
// multiple of 8), and so must out (its rows are stored 8 or 16 bytes at a time).
bool attention_mma_aligned(const void* q, const void* k, const void* v, const void* out);
const char* launch_attention_mma(kp_gpu_stream_t stream, const AttentionPlan& plan, const kp_attention_desc& d,
                                 const void* q, const void* k, const void* v, const int32_t* kv_lengths, const float* mask,
                                 void* out, float* lse);

}  // namespace gpu
}  // namespace kp
