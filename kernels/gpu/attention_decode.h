// The bandwidth-bound decode attention kernel (kernels/gpu/attention_decode.cu): few query rows per
// (batch, kv head) over long keys. plan_attention / launch_attention (attention.cu) route an eligible
// descriptor here; everything else, and every descriptor under KERNELPORT_GPU_ATTENTION=simt, stays on
// the portable flash / split-KV kernels there.
#pragma once
#include "kernels.h"

namespace kp {
namespace gpu {

// The variant name of a decode plan; plan.variant points at this very array (is_decode_plan).
extern const char kDecodeVariant[];

// Whether d runs on the decode kernel on this device: (hq / hkv) * sq <= 16 rows per (b, kv head),
// 1 <= d, dv <= 256, skv >= 1, a warp the lane groups divide, attention_mode 0.
bool decode_eligible(const DeviceCaps& caps, const kp_attention_desc& d);
// The plan of an eligible descriptor: split count and keys per split from the shape alone.
AttentionPlan plan_decode(const DeviceCaps& caps, const kp_attention_desc& d);
inline bool is_decode_plan(const AttentionPlan& p) { return p.variant == kDecodeVariant; }
const char* launch_decode(const DeviceCaps& caps, kp_gpu_stream_t stream, const AttentionPlan& plan,
                          const kp_attention_desc& d, const void* q, const void* k, const void* v,
                          const int32_t* kv_lengths, const float* mask, void* out, float* lse, void* workspace);

}  // namespace gpu
}  // namespace kp
