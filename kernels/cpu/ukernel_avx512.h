// AVX-512F microkernel and row conversions (gemm_avx512.cpp only; needs -mavx512f -mf16c).
//
// 12 x 32 tile: 24 zmm accumulators + 2 B vectors + 1 broadcast of the 32 registers. Per k step:
// 2 vector loads and 12 broadcasts feed 24 FMAs, so the FMA pipe (one 512-bit FMA per cycle on
// Zen 4's double-pumped units, two on Xeon) is the bottleneck, not the load ports.
#pragma once
// GCC 12's _mm512_cvtph_ps expands _mm512_undefined_ps, which -Wmaybe-uninitialized reports at
// every inlined use; the value is fully overwritten, so the warning is noise in this unit.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "convert.h"

namespace kp::cpu::KP_ISA {
namespace {

constexpr int MR = 12;
constexpr int NR = 32;

// c_out (MR x NR, row stride ldo) = (c_in ? c_in (row stride ldi) : 0) + a_panel * b_panel over kc.
// a: kc groups of MR floats; b: kc groups of NR floats (packed, zero padded). Every element is
// one FMA chain in k order, so the result does not depend on where the tile sits.
inline void ukernel(int64_t kc, const float* __restrict a, const float* __restrict b, const float* c_in,
                    int64_t ldi, float* c_out, int64_t ldo) {
  __m512 c0[MR], c1[MR];
  if (c_in) {
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      c0[i] = _mm512_loadu_ps(c_in + i * ldi);
      c1[i] = _mm512_loadu_ps(c_in + i * ldi + 16);
    }
  } else {
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += MR;
    b += NR;
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    _mm512_storeu_ps(c_out + i * ldo, c0[i]);
    _mm512_storeu_ps(c_out + i * ldo + 16, c1[i]);
  }
}

// n elements of dtype dt (f32 / f16 / bf16) to f32. F16C converts f16 exactly (subnormals
// included; a signalling NaN comes out quiet, as f16_to_f32 does); bf16 is a 16-bit shift plus
// the same NaN quieting.
inline void cvt_row(const void* src, kp_dtype dt, int64_t n, float* __restrict dst) {
  if (dt == KP_F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  if (dt == KP_F16) {
    for (; i + 16 <= n; i += 16)
      _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i))));
    for (; i < n; ++i) dst[i] = f16_to_f32(s[i]);
    return;
  }
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000),
                quiet = _mm512_set1_epi32(0x00400000);
  for (; i + 16 <= n; i += 16) {
    __m512i u = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i))), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, abs_mask), inf);
    u = _mm512_mask_or_epi32(u, nan, u, quiet);
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(u));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
