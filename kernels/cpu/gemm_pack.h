// Packing for the blocked GEMM (part of gemm_impl.h; needs the ISA's MR, NR, cvt_row).
//
// A strip of W lines (W rows of A or W columns of B) over kc values of k is stored as one panel:
// element (k, w) at [k * W + w], zero padded past the last valid line, which is the order the
// microkernel reads. 16-bit inputs are converted to f32 here (cvt_row: F16C / shifts), so the
// microkernel only ever sees f32.
//
// Packed regions hold a band of lines over all of K, ordered [k block][panel][kc][W]: the panels a
// tile needs at one k block are contiguous (no cache-set aliasing between them), and the panel of
// line l at k block pc starts at region + pc * width_pad + l * kc (l a multiple of W).
#pragma once
#include <cstdint>

namespace kp::cpu::KP_ISA {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Source element (w, k) of the strip at src + (w * sw + k * sk) elements of dt; one of sw, sk is 1.
// tmp: at least kc floats.
template <int W>
void pack_panel(const char* src, kp_dtype dt, int64_t sw, int64_t sk, int64_t valid, int64_t kc,
                float* __restrict dst, float* __restrict tmp) {
  const int64_t esz = dtype_size(dt);
  if (sw == 1) {  // each k is a contiguous run of the W lines (B [K,N], or A transposed)
    for (int64_t p = 0; p < kc; ++p) {
      float* __restrict d = dst + p * W;
      cvt_row(src + p * sk * esz, dt, valid, d);
      for (int64_t w = valid; w < W; ++w) d[w] = 0.0f;
    }
    return;
  }
  // Each line is contiguous along k (A [M,K], or B transposed): convert a line, then transpose it in.
  for (int64_t w = 0; w < valid; ++w) {
    const char* line = src + w * sw * esz;
    const float* s;
    if (sk == 1 && dt == KP_F32) {
      s = reinterpret_cast<const float*>(line);
    } else if (sk == 1) {
      cvt_row(line, dt, kc, tmp);
      s = tmp;
    } else {  // neither stride is 1: not produced by any descriptor, kept for safety
      for (int64_t p = 0; p < kc; ++p) tmp[p] = load_f32(line, dt, p * sk);
      s = tmp;
    }
    for (int64_t p = 0; p < kc; ++p) dst[p * W + w] = s[p];
  }
  for (int64_t w = valid; w < W; ++w)
    for (int64_t p = 0; p < kc; ++p) dst[p * W + w] = 0.0f;
}

// Packs lines [l0, l0 + lines) of a band of `valid` lines (padded width width_pad) over all of K
// into the region layout above. src: the band's line 0 at k = 0.
template <int W>
void pack_band(const char* src, kp_dtype dt, int64_t sw, int64_t sk, int64_t l0, int64_t lines, int64_t valid,
               int64_t k, int64_t kc_block, int64_t width_pad, float* region, float* tmp) {
  const int64_t esz = dtype_size(dt);
  for (int64_t pc = 0; pc < k; pc += kc_block) {
    const int64_t kc = min64(kc_block, k - pc);
    for (int64_t l = l0; l < l0 + lines && l < valid; l += W)
      pack_panel<W>(src + (l * sw + pc * sk) * esz, dt, sw, sk, min64(W, valid - l), kc,
                    region + pc * width_pad + l * kc, tmp);
  }
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
