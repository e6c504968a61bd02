// v / l with IEEE's bits at a multiply and two fmas, for many v over one l: the attention kernels'
// output divides each row by its l (attention_flash.cuh store_rows). Host and device code, so the
// plan test checks the bits against the division.
#pragma once
#include <math.h>

#include "kernels.h"

namespace kp {
namespace gpu {

// Whether div_by(v, l, 1 / l) is v / l bit for bit: l in [1, 2^64) (an attention row's l is at least
// 1: its largest score adds exactly 1) and v neither 0, subnormal, tiny, Inf nor NaN.
KP_GPU_HOST_DEVICE inline bool div_by_exact(float v, float l) {
  const float av = fabsf(v);
  return l >= 1.0f && l < 0x1p64f && av >= 0x1p-60f && av <= 3.4028234e38f;
}

// v / l from r = 1 / l (correctly rounded): the remainder v - q0 l is exact (an fma), and one
// correction from it rounds the quotient correctly while it stays normal (Markstein). Quotients near
// the subnormal range do differ, hence div_by_exact's range.
KP_GPU_HOST_DEVICE inline float div_by(float v, float l, float r) {
#if defined(__CUDA_ARCH__)
  const float q0 = __fmul_rn(v, r);
  return __fmaf_rn(__fmaf_rn(-q0, l, v), r, q0);
#else
  const float q0 = v * r;
  return fmaf(fmaf(-q0, l, v), r, q0);
#endif
}

}  // namespace gpu
}  // namespace kp
