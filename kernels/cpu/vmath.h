// Branch-free f32 exp and the activations built on it, written so that a loop over an array
// vectorises under each ISA unit's flags (selects instead of branches, no libm calls).
//
// Accuracy: exp about 1 ulp on its range (Cephes expf polynomial, Cody-Waite reduction). GELU uses
// the complementary error function of Numerical Recipes' erfcc (relative error < 1.2e-7 everywhere),
// so the negative tail is accurate relative to its own tiny value, not just absolutely; the matmul
// bound only needs a few u relative to |x| (src/numerics/bounds.ts). Limits at -inf are 0 (selected
// explicitly: the formulas give -inf * 0), NaN propagates, relu keeps NaN.
// Internal linkage: included by units built with different ISA flags.
#pragma once
#include <cstdint>
#include <cstring>

namespace kp::cpu {
namespace vm {

static inline float madd(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

static inline float bits_to_f32(int32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// e^x. Clamped to [-87.3, 88.0] first (e^-87.3 is the smallest normal; above 88 2^n would overflow
// the exponent field), so the result is finite for finite x; NaN stays NaN (comparisons are false).
static inline float exp(float x) {
  x = x < -87.3365f ? -87.3365f : x;
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln 2) by the 1.5 * 2^23 trick (round to nearest even, no libm call).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = madd(n, -0.693359375f, x);  // ln 2 split in two (Cody-Waite): n * hi is exact
  r = madd(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = madd(p, r, 1.3981999507e-3f);
  p = madd(p, r, 8.3334519073e-3f);
  p = madd(p, r, 4.1665795894e-2f);
  p = madd(p, r, 1.6666665459e-1f);
  p = madd(p, r, 5.0000001201e-1f);
  p = madd(p, r * r, r + 1.0f);
  return p * bits_to_f32((static_cast<int32_t>(n) + 127) << 23);
}

static inline float relu(float x) { return x < 0.0f ? 0.0f : x; }  // NaN passes through

// 0.5 x (1 + erf(x / sqrt 2)) = x (1 - Q) for x >= 0 and x Q for x < 0, with Q = erfc(|x|/sqrt 2) / 2.
static inline float gelu(float x) {
  const float z = (x < 0.0f ? -x : x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = madd(p, t, -0.82215223f);
  p = madd(p, t, 1.48851587f);
  p = madd(p, t, -1.13520398f);
  p = madd(p, t, 0.27886807f);
  p = madd(p, t, -0.18628806f);
  p = madd(p, t, 0.09678418f);
  p = madd(p, t, 0.37409196f);
  p = madd(p, t, 1.00002368f);
  p = madd(p, t, -1.26551223f);
  const float q = 0.5f * t * exp(p - z * z);
  const float y = x * (x < 0.0f ? q : 1.0f - q);
  return x == -__builtin_inff() ? 0.0f : y;
}

// x * sigmoid(t) for t = x or 2u below. Where e^-t passes exp's clamp at 88, x / (1 + e^88) would be
// x * 6e-39, not small at all for x near -FLT_MAX; the true value there is under |x| e^-88, as good as
// -0 for the bound (and -0 is what it rounds to from x < -104 on).
static inline float times_sigmoid(float x, float t) {
  const float y = x / (1.0f + exp(-t));
  return t < -88.0f ? -0.0f : y;  // NaN: the comparison is false, y is NaN
}

// 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
static inline float gelu_tanh(float x) {
  const float u = 0.79788456080286535588f * madd(0.044715f * x, x * x, x);
  return x == -__builtin_inff() ? 0.0f : times_sigmoid(x, 2.0f * u);
}

static inline float silu(float x) { return x == -__builtin_inff() ? 0.0f : times_sigmoid(x, x); }

}  // namespace vm
}  // namespace kp::cpu
