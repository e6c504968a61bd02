// What every portable attention kernel (attention.cu, attention_decode.cu) reads of a call: the operands
// and the descriptor's shape, filled once from kp_attention_desc. Each kernel's argument struct derives
// from it and adds its own planning fields, so the kernels keep reading a.q, a.sq, a.mask, ...
#pragma once
#include <stdint.h>
#include "kernelport.h"

namespace kp {
namespace gpu {

struct AttnOperands {
  const void* q;
  const void* k;
  const void* v;
  int32_t dtype, out_dtype, layout, causal;
  int64_t batch, hq, hkv, sq, skv, d, dv;
  float scale;
  const int32_t* kv_lengths;  // nullptr: every batch entry sees all skv keys
  const float* mask;          // nullptr: no additive mask
  int64_t ms[4];              // the mask's strides
  void* out;
  float* lse;  // nullptr: not asked for
};

inline AttnOperands attention_operands(const kp_attention_desc& d, const void* q, const void* k, const void* v,
                                       const int32_t* kv_lengths, const float* mask, void* out, float* lse) {
  AttnOperands a;
  a.q = q;
  a.k = k;
  a.v = v;
  a.dtype = d.dtype;
  a.out_dtype = d.out_dtype;
  a.layout = d.layout;
  a.causal = d.causal;
  a.batch = d.batch;
  a.hq = d.hq;
  a.hkv = d.hkv;
  a.sq = d.sq;
  a.skv = d.skv;
  a.d = d.d;
  a.dv = d.dv;
  a.scale = d.scale;
  a.kv_lengths = d.has_kv_lengths ? kv_lengths : nullptr;
  a.mask = d.has_mask ? mask : nullptr;
  for (int i = 0; i < 4; ++i) a.ms[i] = d.mask_stride[i];
  a.out = out;
  a.lse = d.return_lse ? lse : nullptr;
  return a;
}

}  // namespace gpu
}  // namespace kp
