// aarch64 NEON microkernel and row conversions (gemm_neon.cpp only; NEON and FMA are baseline).
//
// 8 x 12 tile: 24 q-register accumulators + 3 B vectors + 2 A vectors of the 32 registers. The
// A values are used by lane (FMLA by element), so no broadcast instructions: per k step 5 loads
// feed 24 FMAs.
#pragma once
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "convert.h"

namespace kp::cpu::KP_ISA {
namespace {

constexpr int MR = 8;
constexpr int NR = 12;

#define KP_NEON_ROW(i, av, lane)                             \
  c[i][0] = vfmaq_laneq_f32(c[i][0], b0, av, lane);          \
  c[i][1] = vfmaq_laneq_f32(c[i][1], b1, av, lane);          \
  c[i][2] = vfmaq_laneq_f32(c[i][2], b2, av, lane);

// See ukernel_avx512.h for the contract.
inline void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, const float* c_in,
                    int64_t ldi, float* c_out, int64_t ldo) {
  float32x4_t c[MR][3];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 3; ++j) c[i][j] = c_in ? vld1q_f32(c_in + i * ldi + 4 * j) : vdupq_n_f32(0.0f);
  for (int64_t p = 0; p < kc; ++p) {
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    KP_NEON_ROW(0, a0, 0) KP_NEON_ROW(1, a0, 1) KP_NEON_ROW(2, a0, 2) KP_NEON_ROW(3, a0, 3)
    KP_NEON_ROW(4, a1, 0) KP_NEON_ROW(5, a1, 1) KP_NEON_ROW(6, a1, 2) KP_NEON_ROW(7, a1, 3)
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 3; ++j) vst1q_f32(c_out + i * ldo + 4 * j, c[i][j]);
}
#undef KP_NEON_ROW

// f16 through FCVTL (ARMv8 base: exact, NaN quieted); bf16 by shifting, NaN quieted.
inline void cvt_row(const void* src, kp_dtype dt, int64_t n, float* __restrict dst) {
  if (dt == KP_F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  if (dt == KP_F16) {
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(s + i))));
    for (; i < n; ++i) dst[i] = f16_to_f32(s[i]);
    return;
  }
  const uint32x4_t abs_mask = vdupq_n_u32(0x7fffffffu), inf = vdupq_n_u32(0x7f800000u), quiet = vdupq_n_u32(0x00400000u);
  for (; i + 4 <= n; i += 4) {
    uint32x4_t u = vshll_n_u16(vld1_u16(s + i), 16);
    const uint32x4_t nan = vcgtq_u32(vandq_u32(u, abs_mask), inf);
    u = vorrq_u32(u, vandq_u32(nan, quiet));
    vst1q_f32(dst + i, vreinterpretq_f32_u32(u));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
