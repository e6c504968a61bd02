// The few vector operations attention needs, for the ISA of the including translation unit, plus a
// vectorised exp built only from them.
//
// The unit picks the vector flavour by defining one of KP_ATT_AVX512, KP_ATT_AVX2, KP_ATT_NEON before
// including attention_impl.h (none: portable 4-wide code). It is keyed to the unit, not to compiler
// macros, so that the "generic" unit on aarch64 stays the portable path it is meant to test.
//
// Everything sits in the unit's own namespace (kp::cpu::KP_ISA) inside an anonymous one: no inline
// symbol compiled with AVX-512 flags can be merged into code that runs on a CPU without it.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(KP_ATT_AVX512) || defined(KP_ATT_AVX2)
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() to their masked builtins, which
// -Wmaybe-uninitialized reports at the header's lines once inlined (GCC PR 105593): silence it there.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#elif defined(KP_ATT_NEON)
#include <arm_neon.h>
#endif

#ifndef KP_ISA
#error "attention_simd.h needs KP_ISA defined first"
#endif

namespace kp::cpu::KP_ISA {
namespace {

#if defined(KP_ATT_AVX512)
using V = __m512;
constexpr int W = 16;
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, V x) { _mm512_storeu_ps(p, x); }
inline V vset1(float x) { return _mm512_set1_ps(x); }
inline V vzero() { return _mm512_setzero_ps(); }
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vmax(V a, V b) { return _mm512_max_ps(a, b); }  // maxps is exactly a > b ? a : b
inline V vsel_eq(V a, V b, V t, V f) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ), f, t); }
inline V vsel_lt(V a, V b, V t, V f) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), f, t); }
inline float vhsum(V a) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}
// Float with the bits (bits(t) << 23) + (127 << 23): see vexp.
inline V vpow2_magic(V t) {
  const __m512i i = _mm512_slli_epi32(_mm512_castps_si512(t), 23);
  return _mm512_castsi512_ps(_mm512_add_epi32(i, _mm512_set1_epi32(127 << 23)));
}
// out[k] = sum of a[k] for k < 4, as one fused transpose-and-add tree (each sum in a fixed order).
inline void vhsum4(V a0, V a1, V a2, V a3, float* out) {
  const V x01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
  const V x23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
  // per 128-bit lane: [a0, a1, a2, a3] partial sums
  const V y = _mm512_add_ps(_mm512_shuffle_ps(x01, x23, 0x44), _mm512_shuffle_ps(x01, x23, 0xEE));
  const V z = _mm512_add_ps(y, _mm512_shuffle_f32x4(y, y, 0x4E));
  const V u = _mm512_add_ps(z, _mm512_shuffle_f32x4(z, z, 0xB1));
  _mm_storeu_ps(out, _mm512_castps512_ps128(u));
}

#elif defined(KP_ATT_AVX2)
using V = __m256;
constexpr int W = 8;
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, V x) { _mm256_storeu_ps(p, x); }
inline V vset1(float x) { return _mm256_set1_ps(x); }
inline V vzero() { return _mm256_setzero_ps(); }
inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
inline V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V vmax(V a, V b) { return _mm256_max_ps(a, b); }
inline V vsel_eq(V a, V b, V t, V f) { return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
inline V vsel_lt(V a, V b, V t, V f) { return _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
inline float vhsum(V a) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}
inline V vpow2_magic(V t) {
  const __m256i i = _mm256_slli_epi32(_mm256_castps_si256(t), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(i, _mm256_set1_epi32(127 << 23)));
}
inline void vhsum4(V a0, V a1, V a2, V a3, float* out) {
  const V x01 = _mm256_add_ps(_mm256_unpacklo_ps(a0, a1), _mm256_unpackhi_ps(a0, a1));
  const V x23 = _mm256_add_ps(_mm256_unpacklo_ps(a2, a3), _mm256_unpackhi_ps(a2, a3));
  const V y = _mm256_add_ps(_mm256_shuffle_ps(x01, x23, 0x44), _mm256_shuffle_ps(x01, x23, 0xEE));
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(y), _mm256_extractf128_ps(y, 1)));
}

#elif defined(KP_ATT_NEON)
using V = float32x4_t;
constexpr int W = 4;
inline V vload(const float* p) { return vld1q_f32(p); }
inline void vstore(float* p, V x) { vst1q_f32(p, x); }
inline V vset1(float x) { return vdupq_n_f32(x); }
inline V vzero() { return vdupq_n_f32(0.0f); }
inline V vadd(V a, V b) { return vaddq_f32(a, b); }
inline V vsub(V a, V b) { return vsubq_f32(a, b); }
inline V vmul(V a, V b) { return vmulq_f32(a, b); }
inline V vfma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
inline V vmax(V a, V b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }  // fmax would propagate NaN
inline V vsel_eq(V a, V b, V t, V f) { return vbslq_f32(vceqq_f32(a, b), t, f); }
inline V vsel_lt(V a, V b, V t, V f) { return vbslq_f32(vcltq_f32(a, b), t, f); }
inline float vhsum(V a) { return vaddvq_f32(a); }
inline V vpow2_magic(V t) {
  const int32x4_t i = vshlq_n_s32(vreinterpretq_s32_f32(t), 23);
  return vreinterpretq_f32_s32(vaddq_s32(i, vdupq_n_s32(127 << 23)));
}
inline void vhsum4(V a0, V a1, V a2, V a3, float* out) {
  vst1q_f32(out, vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3)));
}

#else
// Portable: four floats in a struct. Compilers vectorise the fixed-length loops; exactness does not
// depend on whether they do (no reassociation is allowed without -ffast-math).
struct V {
  float x[4];
};
constexpr int W = 4;
inline V vload(const float* p) {
  V r;
  std::memcpy(r.x, p, sizeof r.x);
  return r;
}
inline void vstore(float* p, V a) { std::memcpy(p, a.x, sizeof a.x); }
inline V vset1(float s) { return V{{s, s, s, s}}; }
inline V vzero() { return vset1(0.0f); }
#define KP_ATT_LANES(expr)                  \
  V r;                                      \
  for (int i = 0; i < 4; ++i) r.x[i] = expr; \
  return r
inline V vadd(V a, V b) { KP_ATT_LANES(a.x[i] + b.x[i]); }
inline V vsub(V a, V b) { KP_ATT_LANES(a.x[i] - b.x[i]); }
inline V vmul(V a, V b) { KP_ATT_LANES(a.x[i] * b.x[i]); }
inline V vfma(V a, V b, V c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  KP_ATT_LANES(__builtin_fmaf(a.x[i], b.x[i], c.x[i]));
#else
  KP_ATT_LANES(a.x[i] * b.x[i] + c.x[i]);
#endif
}
inline V vmax(V a, V b) { KP_ATT_LANES(a.x[i] > b.x[i] ? a.x[i] : b.x[i]); }
inline V vsel_eq(V a, V b, V t, V f) { KP_ATT_LANES(a.x[i] == b.x[i] ? t.x[i] : f.x[i]); }
inline V vsel_lt(V a, V b, V t, V f) { KP_ATT_LANES(a.x[i] < b.x[i] ? t.x[i] : f.x[i]); }
inline V vpow2_magic(V t) {
  V r;
  for (int i = 0; i < 4; ++i) {
    uint32_t u;
    std::memcpy(&u, &t.x[i], 4);
    u = (u << 23) + (127u << 23);
    std::memcpy(&r.x[i], &u, 4);
  }
  return r;
}
#undef KP_ATT_LANES
inline float vhsum(V a) { return (a.x[0] + a.x[1]) + (a.x[2] + a.x[3]); }
inline void vhsum4(V a0, V a1, V a2, V a3, float* out) {
  out[0] = vhsum(a0), out[1] = vhsum(a1), out[2] = vhsum(a2), out[3] = vhsum(a3);
}
#endif

// Scalar a * b + c, fused wherever the unit's ISA has FMA (the vector paths fuse too).
inline float sfma(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

inline float vhmax(V a) {  // lanes are never NaN where this is used (see the softmax)
  float t[W];
  vstore(t, a);
  float m = t[0];
  for (int i = 1; i < W; ++i) m = t[i] > m ? t[i] : m;
  return m;
}

// exp(x) to about 1 ulp (Cephes' expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial), for the
// softmax's arguments x = s - max <= 0 (or NaN). NaN stays NaN (vmax(lo, x) returns x when it is
// NaN); results below 2^-126, and exp(-inf), are exactly 0: weights under 1e-38 of the row's largest
// (always 1) are far below any error bound.
inline V vexp_poly(V xc, V& n) {
  // t = x log2(e) + 1.5 * 2^23 rounds n = round(x log2 e) into t's low mantissa bits.
  const V magic = vset1(12582912.0f);
  const V t = vfma(xc, vset1(1.44269504088896341f), magic);
  n = vsub(t, magic);
  V r = vfma(n, vset1(-0.693359375f), xc);  // ln2 in two parts, so r is exact to f32
  r = vfma(n, vset1(2.12194440e-4f), r);
  V p = vset1(1.9875691500e-4f);
  p = vfma(p, r, vset1(1.3981999507e-3f));
  p = vfma(p, r, vset1(8.3334519073e-3f));
  p = vfma(p, r, vset1(4.1665795894e-2f));
  p = vfma(p, r, vset1(1.6666665459e-1f));
  p = vfma(p, r, vset1(5.0000001201e-1f));
  return vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));  // e^r
}
#if defined(KP_ATT_AVX512)
// vscalefps multiplies by 2^n with proper underflow: below x = -104 the result rounds to 0, and the
// clamp at -104 turns -inf into that 0 with no extra select.
inline V vexp(V x) {
  const V xc = _mm512_max_ps(vset1(-104.0f), x);
  V n;
  const V p = vexp_poly(xc, n);
  return _mm512_scalef_ps(p, n);
}
#else
inline V vexp(V x) {
  const V lo = vset1(-87.33654475f);
  const V xc = vmax(lo, x);  // lo > x ? lo : x
  V n;
  const V p = vexp_poly(xc, n);
  // 2^n from n's bits in t = n + 1.5 * 2^23: (bits(t) << 23) + (127 << 23); n >= -126 after the clamp.
  return vsel_lt(x, lo, vzero(), vmul(p, vpow2_magic(vadd(n, vset1(12582912.0f)))));
}
#endif

}  // namespace
}  // namespace kp::cpu::KP_ISA
