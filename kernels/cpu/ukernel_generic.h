// Portable microkernel (gemm_generic.cpp, built with no ISA flags: SSE2 on x86-64).
//
// Plain C++ that the compiler vectorises: a 4 x 8 tile is 8 xmm accumulators, which leaves room
// in the 16 xmm registers so nothing spills. Multiply and add stay separate where the baseline
// has no FMA (x86-64), fused where it does (aarch64).
#pragma once
#include <cstdint>
#include <cstring>

#include "convert.h"

namespace kp::cpu::KP_ISA {
namespace {

constexpr int MR = 4;
constexpr int NR = 8;

inline float gmadd(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

// See ukernel_avx512.h for the contract.
inline void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, const float* c_in,
                    int64_t ldi, float* c_out, int64_t ldo) {
  float acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = c_in ? c_in[i * ldi + j] : 0.0f;
  for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      const float ai = a[i];
      for (int j = 0; j < NR; ++j) acc[i][j] = gmadd(ai, b[j], acc[i][j]);
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c_out[i * ldo + j] = acc[i][j];
}

inline void cvt_row(const void* src, kp_dtype dt, int64_t n, float* __restrict dst) {
  if (dt == KP_F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  if (dt == KP_F16)
    for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
