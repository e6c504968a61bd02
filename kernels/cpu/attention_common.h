// What both attention paths (prefill tiles and split-KV decode) share: tensor addressing in either
// layout, which keys a query row may see, and reading a block of K or V rows as f32.
#pragma once
#include <cmath>
#include <cstdint>

#include "attention_simd.h"
#include "convert.h"
#include "isa_kernels.h"

namespace kp::cpu::KP_ISA {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Element offset of row (b, h, s = 0) and the stride between consecutive s, for a [B,H,S,E] (bhsd)
// or [B,S,H,E] (bshd) tensor.
struct RowAddr {
  int64_t base, stride;
};
inline RowAddr row_addr(kp_layout layout, int64_t b, int64_t h, int64_t H, int64_t S, int64_t E) {
  if (layout == KP_LAYOUT_BSHD) return {(b * S * H + h) * E, H * E};
  return {(b * H + h) * S * E, E};
}

// Keys query row i of batch row b may see: [0, end(i)). Monotone non-decreasing in i, so the last
// row of a block bounds the keys a block reads, and the first row tells whether all rows see a key.
struct Visibility {
  int64_t len, sq;
  kp_causal causal;
  int64_t end(int64_t i) const {
    int64_t e = len;
    if (causal == KP_CAUSAL_BOTTOM_RIGHT) e = min64(e, i + len - sq + 1);
    else if (causal == KP_CAUSAL_TOP_LEFT) e = min64(e, i + 1);
    return max64(e, 0);
  }
};
inline Visibility visibility(const kp_attention_desc& d, const AttentionArgs& args, int64_t b) {
  return {args.kv_lengths ? args.kv_lengths[b] : d.skv, d.sq, d.causal};
}

// n rows of E elements starting at element `first` (row stride `stride`) of a q/k/v tensor, as f32
// rows of stride >= E. f32 tensors are read in place (no copy) unless `pad` asks for a row stride
// rounded up to whole vectors; 16-bit ones are converted. Copies go to buf ([n][ld], tail zeroed).
struct Rows {
  const float* p;
  int64_t ld;
};
inline Rows f32_rows(const void* base, kp_dtype dt, int64_t first, int64_t stride, int64_t n, int64_t E, float* buf,
                     bool pad = false) {
  const int64_t ld = pad ? cdiv(E, W) * W : E;
  if (dt == KP_F32 && ld == E) return {static_cast<const float*>(base) + first, stride};
  const char* src = static_cast<const char*>(base);
  const int64_t es = dtype_size(dt);
  for (int64_t j = 0; j < n; ++j) {
    float* r = buf + j * ld;
    load_row_f32(src + (first + j * stride) * es, dt, E, r);
    for (int64_t e = E; e < ld; ++e) r[e] = 0.0f;
  }
  return {buf, ld};
}

// Asks for n rows of E elements (as f32_rows addresses them) to be brought into L2 ahead of use.
inline void prefetch_rows(const void* base, kp_dtype dt, int64_t first, int64_t stride, int64_t n, int64_t E) {
  const char* src = static_cast<const char*>(base);
  const int64_t es = dtype_size(dt);
  for (int64_t j = 0; j < n; ++j) {
    const char* r = src + (first + j * stride) * es;
    for (int64_t x = 0; x < E * es; x += 64) __builtin_prefetch(r + x, 0, 2);
  }
}

// Whether every element of n rows of E floats is finite: x * 0 is 0 for finite x and NaN for
// Inf/NaN, and a NaN anywhere survives the sums (four of them, so the adds are not one serial chain).
inline bool all_finite(const float* p, int64_t ld, int64_t n, int64_t E) {
  const V zero = vzero();
  V a0 = zero, a1 = zero, a2 = zero, a3 = zero;
  float tail = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    const float* r = p + j * ld;
    int64_t e = 0;
    for (; e + 4 * W <= E; e += 4 * W) {
      a0 = vadd(a0, vmul(vload(r + e), zero));
      a1 = vadd(a1, vmul(vload(r + e + W), zero));
      a2 = vadd(a2, vmul(vload(r + e + 2 * W), zero));
      a3 = vadd(a3, vmul(vload(r + e + 3 * W), zero));
    }
    for (; e + W <= E; e += W) a0 = vadd(a0, vmul(vload(r + e), zero));
    for (; e < E; ++e) tail += r[e] * 0.0f;
  }
  return vhsum(vadd(vadd(a0, a1), vadd(a2, a3))) + tail == 0.0f;
}

// The scalar exp with exactly the vector kernel's rounding (for the few per-row factors).
inline float sexp(float x) {
  float t[W];
  vstore(t, vexp(vset1(x)));
  return t[0];
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
