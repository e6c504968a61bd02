// AVX2 + FMA microkernel and row conversions (gemm_avx2.cpp only; needs -mavx2 -mfma -mf16c).
//
// 6 x 16 tile: 12 ymm accumulators + 2 B vectors + 1 broadcast of the 16 registers (the classic
// BLIS Haswell shape). Per k step 2 loads + 6 broadcasts feed 12 FMAs: 6 cycles on two FMA pipes.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "convert.h"

namespace kp::cpu::KP_ISA {
namespace {

constexpr int MR = 6;
constexpr int NR = 16;

// See ukernel_avx512.h for the contract.
inline void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, const float* c_in,
                    int64_t ldi, float* c_out, int64_t ldo) {
  __m256 c0[MR], c1[MR];
  if (c_in) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      c0[i] = _mm256_loadu_ps(c_in + i * ldi);
      c1[i] = _mm256_loadu_ps(c_in + i * ldi + 8);
    }
  } else {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  }
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
    a += MR;
    b += NR;
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    _mm256_storeu_ps(c_out + i * ldo, c0[i]);
    _mm256_storeu_ps(c_out + i * ldo + 8, c1[i]);
  }
}

// See ukernel_avx512.h.
inline void cvt_row(const void* src, kp_dtype dt, int64_t n, float* __restrict dst) {
  if (dt == KP_F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  if (dt == KP_F16) {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
    for (; i < n; ++i) dst[i] = f16_to_f32(s[i]);
    return;
  }
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000),
                quiet = _mm256_set1_epi32(0x00400000);
  for (; i + 8 <= n; i += 8) {
    __m256i u = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    u = _mm256_or_si256(u, _mm256_and_si256(nan, quiet));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(u));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
