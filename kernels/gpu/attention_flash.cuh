// What the tensor-core flash attention kernels share (attention_mma.cu on mma.sync, attention_wgmma.cu on
// wgmma): their arguments, which keys a query row sees, and the per-tile work on accumulator fragments.
// Both hold a tile of scores in the same layout, mma.sync m16n8k16's C fragment repeated over 8-key
// column tiles (wgmma's D is that layout too): a thread holds rows g and g + 8 of its warp's 16
// (g = lane / 4) at columns 2t and 2t + 1 (t = lane % 4) of each tile, s[tile][e] with e < 2 for row g.
// The numerics of these steps (P's split into 16-bit terms, or its one rounding with allowP16) are
// explained at the top of attention_mma.cu.
#pragma once
#include <stdint.h>

#include <type_traits>

#include "attention_order.h"
#include "exact_div.h"
#include "common.cuh"
#include "ptx.cuh"

namespace kp {
namespace gpu {

// Not AttnOperands (attention.cu's): typed 16-bit pointers and nothing these kernels do not read; the
// D = 128 kernels sit at the register limit, and the larger parameter block tipped one into spilling.
struct MmaAttnArgs {
  const uint16_t* q;
  const uint16_t* k;
  const uint16_t* v;
  void* out;
  float* lse;
  const int32_t* kv_lengths;
  int64_t batch, hq, hkv, sq, skv;
  int64_t row_blocks;
  int32_t causal, layout, out_dtype;
  int32_t head_group;  // query heads per group of the launch order (attention_item)
  float scale;
};

// Filled from the descriptor for blocks of `rows` query rows, launched in groups of head_group heads.
inline MmaAttnArgs mma_attention_args(const kp_attention_desc& d, int rows, int head_group, const void* q, const void* k,
                                      const void* v, const int32_t* kv_lengths, void* out, float* lse) {
  MmaAttnArgs a;
  a.q = static_cast<const uint16_t*>(q);
  a.k = static_cast<const uint16_t*>(k);
  a.v = static_cast<const uint16_t*>(v);
  a.out = out;
  a.lse = d.return_lse ? lse : nullptr;
  a.kv_lengths = d.has_kv_lengths ? kv_lengths : nullptr;
  a.batch = d.batch;
  a.hq = d.hq;
  a.hkv = d.hkv;
  a.sq = d.sq;
  a.skv = d.skv;
  a.row_blocks = (d.sq + rows - 1) / rows;
  a.causal = d.causal;
  a.layout = d.layout;
  a.out_dtype = d.out_dtype;
  a.head_group = head_group;
  a.scale = d.scale;
  return a;
}

// The additive mask of the masked kernels (attention_mma.cu's MASK), a kernel parameter of its own:
// in MmaAttnArgs its fields tipped the unmasked D = 128 kernels into spilling. Element (b, h, i, j) at
// mask + b ms0 + h ms1 + i ms2 + j ms3, ms3 a 32-bit stride (the plan checks that key offsets fit).
struct MaskArgs {
  const float* mask;  // nullptr: no mask
  int64_t ms0, ms1, ms2;
  int32_t ms3;
};
inline MaskArgs mask_args(const kp_attention_desc& d, const float* mask) {
  return MaskArgs{d.has_mask ? mask : nullptr, d.mask_stride[0], d.mask_stride[1], d.mask_stride[2],
                  static_cast<int32_t>(d.mask_stride[3])};
}

// What block bx computes (attention_item's order): batch entry b, query head h, first query row i0.
struct BlockItem {
  int64_t b, h, i0;
};
KP_GPU_HOST_DEVICE inline BlockItem block_item(const MmaAttnArgs& a, uint32_t bx, int rows) {
  uint32_t rb, bh;
  attention_item(bx, static_cast<uint32_t>(a.batch * a.hq), static_cast<uint32_t>(a.row_blocks), a.head_group, rb, bh);
  const uint32_t hq = static_cast<uint32_t>(a.hq);
  return BlockItem{bh / hq, bh % hq, static_cast<int64_t>(rb) * rows};
}

// Calls f(std::bool_constant<BF16>, std::bool_constant<P16>) with the descriptor's flags as constants:
// the kernels' template instantiation, once.
template <class F>
void with_bf16_p16(bool bf16, bool p16, F f) {
  if (bf16) p16 ? f(std::true_type{}, std::true_type{}) : f(std::true_type{}, std::false_type{});
  else p16 ? f(std::false_type{}, std::true_type{}) : f(std::false_type{}, std::false_type{});
}

// Keys [0, end(i)) are what query row i of batch entry b sees (kvLengths, then causality).
struct KeyRange {
  int64_t len, sq;
  int32_t causal;
  KP_GPU_HOST_DEVICE int64_t end(int64_t i) const {
    int64_t e = len;
    const int64_t c = causal == KP_CAUSAL_BOTTOM_RIGHT ? i + len - sq + 1 : i + 1;
    if (causal != KP_CAUSAL_NONE && c < e) e = c;
    return e > 0 ? e : 0;
  }
};
KP_GPU_HOST_DEVICE inline KeyRange key_range(const MmaAttnArgs& a, int64_t b) {
  int64_t L = a.kv_lengths ? a.kv_lengths[b] : a.skv;
  L = L < 0 ? 0 : (L > a.skv ? a.skv : L);
  return KeyRange{L, a.sq, a.causal};
}

// Floats per row of store_rows' stage: 8 of skew keep a half-warp's 8-byte writes on distinct banks.
KP_GPU_HOST_DEVICE constexpr int stage_ld(int d) { return d + 8; }
// Shared memory store_rows needs for `rows` query rows of head size d.
KP_GPU_HOST_DEVICE constexpr size_t stage_bytes(int rows, int d) { return static_cast<size_t>(rows) * stage_ld(d) * 4; }

#if defined(KP_GPU_HAS_MMA)
namespace {

// Two f32 values as a 16-bit pair (round to nearest even): lo in the low half, as fragments hold them.
template <bool BF16>
__device__ __forceinline__ uint32_t pack_pair(float lo, float hi) {
  return BF16 ? cvt_pack_bf16x2(lo, hi) : cvt_pack_f16x2(lo, hi);
}
template <bool BF16>
__device__ __forceinline__ float pair_lo(uint32_t r) {
  return BF16 ? __uint_as_float(r << 16) : cvt_f16_lo_to_f32(r);
}
template <bool BF16>
__device__ __forceinline__ float pair_hi(uint32_t r) {
  return BF16 ? __uint_as_float(r & 0xffff0000u) : cvt_f16_hi_to_f32(r);
}

// P's scaling into the f16 range (f16: 2^15) and its remainder's (f16: 2^11); 1 for bf16.
template <bool BF16>
constexpr float kHiScale = BF16 ? 1.0f : 32768.0f;
template <bool BF16>
constexpr float kLoScale = BF16 ? 1.0f : 2048.0f;

// Two probabilities (adjacent keys of one row) as the 16-bit terms h + m (+ l).
template <bool BF16>
__device__ __forceinline__ void split_pair(float x, float y, uint32_t& h, uint32_t& m, uint32_t& l) {
  x *= kHiScale<BF16>;
  y *= kHiScale<BF16>;
  h = pack_pair<BF16>(x, y);
  x -= pair_lo<BF16>(h);  // exact: the rounding error of h
  y -= pair_hi<BF16>(h);
  if constexpr (BF16) {
    m = pack_pair<BF16>(x, y);
    x -= pair_lo<BF16>(m);
    y -= pair_hi<BF16>(m);
    l = pack_pair<BF16>(x, y);  // exact: at most 8 significant bits remain
  } else {
    m = pack_pair<BF16>(x * kLoScale<BF16>, y * kLoScale<BF16>);
    l = 0;
  }
}

// exp of a score difference in log2 units (softmax_tile folds log2(e) into the scale: one rounding of
// the product, as large as the scaled score's own, which the score term of the bound covers). exp2f is
// as accurate as expf (2 ulp) at a third of its instructions (no range reduction: expf is exp2 of a
// product it rounds with care). With P16 the special-function unit alone: P is rounded to 16 bits
// next, far coarser than its last-bit error, and the probabilities under 2^-126 it flushes to 0 are
// below what a 16-bit P keeps of them (f16 P is scaled by 2^15: its smallest is 2^-39) or within the
// bound's 2 u_p of the row's largest (bf16).
template <bool P16>
__device__ __forceinline__ float exp_score(float x) {
  if constexpr (P16) return exp2_approx(x);
  else return exp2f(x);
}

// fmaxf never picks a NaN operand; the running max starts at -inf and is never NaN. One instruction,
// where `b > a ? b : a` took two.
__device__ __forceinline__ float max_nonan(float a, float b) { return fmaxf(a, b); }

// A row's key limit (keys from it on hidden), relative to the tile, clamped to its NT8 * 8 keys and taken
// relative to this thread's first column: each key's test is then a 32-bit compare with a constant.
template <int NT8>
__device__ __forceinline__ int tile_limit(int64_t lim, int t4) {
  return static_cast<int>(lim < 0 ? 0 : (lim > NT8 * 8 ? NT8 * 8 : lim)) - 2 * t4;
}

// The running softmax statistics of a thread's two rows (the max in log2 units; natural units in the
// masked kernels, softmax_tile's NATURAL).
struct RowStats {
  float m_a, m_b, l_a, l_b;
};

// One tile of raw scores s (NT8 tiles of 8 keys) becomes P in place: masked where the tile is `partial`
// (keys from lim_a / lim_b on hidden from rows g / g + 8), exponentiated against the rows' new maxima,
// summed into the rows' l. Returns in corr the factors that rescale the rows' outputs. A key that
// contributes nothing (hidden, a -inf score) has p = +0, as has a probability that underflows; the
// key-by-key path skips every p = 0.
//
// Per score one max, one multiply, one subtraction, the exp and one add:
// - the row's max of s * c (c = scale times log2 e) is its max of s times c, or its min times
//   c for c < 0, bit for bit (rounding is monotonic): one product per row, not per score;
// - the exponent is round(s c) - m, two roundings (__fmul_rn keeps the compiler from fusing them): the
//   row's largest score then has exactly 0, so p <= 1. One fma(s, c, -m) would be an instruction less
//   but leaves the max key s c - round(s c), up to half an ulp of m: 2^4 at raw scores of 10^8 (f16
//   q, k of a few thousand), which overflowed f16's P (x 2^15) to Inf, and p = Inf or 0 beyond;
// - no per-score test for hidden keys: a hidden raw score is the infinity whose product with c is -inf,
//   which the max never picks; a row that sees no key yet has m = -inf and exponentiates against 0
//   instead (so -inf - -inf never makes a NaN). That needs c != 0 (inf * 0 = NaN): scale 0 goes to the
//   portable kernel (attention_mma_eligible).
// NATURAL (the masked kernels): s already holds scale * score + mask (mask_scores), hidden keys -inf,
// and the rows' maxima stay in natural units: the exponent is round(s - m) * log2 e, rounded. Scaling
// s into log2 units first would overflow to -inf for the scores a mask of -FLT_MAX (PyTorch's
// finfo.min padding) gives, making a row that is all such keys empty where the reference averages
// it; s - m <= 0 does not overflow, and the row's largest score still gets exactly 0.
template <int NT8, bool P16, bool NATURAL = false>
__device__ __forceinline__ void softmax_tile(float (&s)[NT8][4], RowStats& st, bool partial, int64_t lim_a, int64_t lim_b,
                                             float scale, int t4, float& corr_a, float& corr_b) {
  const float inf = __int_as_float(0x7f800000);
  const float c = NATURAL ? 1.44269504088896341f : scale * 1.44269504088896341f;
  const bool flip = !NATURAL && c < 0.0f;
  const float hidden = flip ? inf : -inf;
  // Uniform across the block: a branch around the mask (its tests, computed for every tile, were a
  // tenth of the tile loop's instructions).
  const int la = tile_limit<NT8>(lim_a, t4), lb = tile_limit<NT8>(lim_b, t4);
  if (partial) {
#pragma unroll
    for (int n = 0; n < NT8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        if (n * 8 + (e & 1) >= (e < 2 ? la : lb)) s[n][e] = hidden;
  }
  // fminf / fmaxf never pick a NaN operand (a NaN score reaches the row through exp and the sum instead).
  auto best = [&](float x, float y) { return flip ? fminf(x, y) : fmaxf(x, y); };
  float ba = hidden, bb = hidden;
#pragma unroll
  for (int n = 0; n < NT8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if (e < 2) ba = best(ba, s[n][e]);
      else bb = best(bb, s[n][e]);
    }
#pragma unroll
  for (int off = 1; off <= 2; off *= 2) {
    ba = best(ba, __shfl_xor_sync(0xffffffffu, ba, off));
    bb = best(bb, __shfl_xor_sync(0xffffffffu, bb, off));
  }
  // a difference of maxima in the maxima's units as an exponent in log2 units
  auto log2_units = [&](float x) { return NATURAL ? __fmul_rn(x, c) : x; };
  const float mx_a = max_nonan(st.m_a, NATURAL ? ba : ba * c), mx_b = max_nonan(st.m_b, NATURAL ? bb : bb * c);
  corr_a = st.m_a == mx_a ? 1.0f : exp_score<P16>(log2_units(st.m_a - mx_a));
  corr_b = st.m_b == mx_b ? 1.0f : exp_score<P16>(log2_units(st.m_b - mx_b));
  const float ma = mx_a == -inf ? 0.0f : mx_a, mb = mx_b == -inf ? 0.0f : mx_b;
  float sum_a = 0.0f, sum_b = 0.0f;
#pragma unroll
  for (int n = 0; n < NT8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float m = e < 2 ? ma : mb;
      s[n][e] = exp_score<P16>(NATURAL ? __fmul_rn(s[n][e] - m, c) : __fmul_rn(s[n][e], c) - m);
      if (e < 2) sum_a += s[n][e];
      else sum_b += s[n][e];
    }
#pragma unroll
  for (int off = 1; off <= 2; off *= 2) {
    sum_a += __shfl_xor_sync(0xffffffffu, sum_a, off);
    sum_b += __shfl_xor_sync(0xffffffffu, sum_b, off);
  }
  st.l_a = st.l_a * corr_a + sum_a;
  st.l_b = st.l_b * corr_b + sum_b;
  st.m_a = mx_a;
  st.m_b = mx_b;
}

// The masked kernels' scores in natural units, as softmax_tile<..., NATURAL> takes them: a tile of raw
// scores s (keys j0.. of rows g and g + 8, whose mask rows start at mrow_a / mrow_b) becomes
// scale * s + mask (one rounding), and the keys from lim_a / lim_b on (which those rows do not see)
// -inf without reading their mask, as the portable kernel does: a hidden key's NaN mask changes
// nothing. Offsets into a mask row are 32-bit (the plan checks that they fit).
template <int NT8>
__device__ __forceinline__ void mask_scores(float (&s)[NT8][4], const float* mrow_a, const float* mrow_b, int32_t ms3, int64_t j0,
                                            int64_t lim_a, int64_t lim_b, float scale, int t4) {
  const float ninf = -__int_as_float(0x7f800000);
  const int la = tile_limit<NT8>(lim_a - j0, t4), lb = tile_limit<NT8>(lim_b - j0, t4);
  const int key0 = static_cast<int>(j0) + 2 * t4;
#pragma unroll
  for (int n = 0; n < NT8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int j = n * 8 + (e & 1);
      const bool seen = j < (e < 2 ? la : lb);
      s[n][e] = seen ? fmaf(s[n][e], scale, (e < 2 ? mrow_a : mrow_b)[(key0 + j) * ms3]) : ninf;
    }
}

// O onto the rows' new maxima. Skipped by a warp none of whose 16 rows found a larger score in the tile
// (multiplying by 1 changes nothing): most tiles once a row has seen a few hundred keys.
template <int NT>
__device__ __forceinline__ void rescale_rows(float (&o)[NT][4], float corr_a, float corr_b) {
  if (!__any_sync(0xffffffffu, corr_a != 1.0f || corr_b != 1.0f)) return;
#pragma unroll
  for (int n = 0; n < NT; ++n) {
    o[n][0] *= corr_a;
    o[n][1] *= corr_a;
    o[n][2] *= corr_b;
    o[n][3] *= corr_b;
  }
}

// P as A fragments of m16n8k16 (and of wgmma's register A): k-step kk covers keys 16kk.. (score tiles 2kk
// and 2kk + 1); fragment f takes tile 2kk + f/2's pair of row g (f even) or g + 8. P16: one 16-bit
// copy in ph; else the split terms ph + pm (+ pl).
template <int NT8, bool BF16, bool P16>
__device__ __forceinline__ void pack_p(const float (&s)[NT8][4], uint32_t (&ph)[NT8 / 2][4], uint32_t (&pm)[NT8 / 2][4],
                                       uint32_t (&pl)[NT8 / 2][4]) {
#pragma unroll
  for (int kk = 0; kk < NT8 / 2; ++kk)
#pragma unroll
    for (int f = 0; f < 4; ++f) {
      const float* sv = s[2 * kk + f / 2] + (f % 2) * 2;
      if constexpr (P16) ph[kk][f] = pack_pair<BF16>(sv[0] * kHiScale<BF16>, sv[1] * kHiScale<BF16>);
      else split_pair<BF16>(sv[0], sv[1], ph[kk][f], pm[kk][f], pl[kk][f]);
    }
}

// s[n][e] x kHiScale from pack_p's fragments (the tile's P as the MMAs take it): P16's one term, or f16's
// two split terms (h + m 2^-11, to 22 bits; bf16's three terms do not come here).
template <int NT8, bool BF16, bool P16>
__device__ __forceinline__ float packed_p(const uint32_t (&ph)[NT8 / 2][4], const uint32_t (&pm)[NT8 / 2][4], int n, int e) {
  static_assert(P16 || !BF16, "bf16's split P keeps its f32 scores");
  const int kk = n / 2, f = (n % 2) * 2 + (e >> 1);
  auto term = [&](uint32_t w) { return (e & 1) ? pair_hi<BF16>(w) : pair_lo<BF16>(w); };
  if constexpr (P16) return term(ph[kk][f]);
  else return term(ph[kk][f]) + term(pm[kk][f]) * (1.0f / kLoScale<BF16>);
}

// O += P V key by key in f32, keys with p = 0 skipped (hidden ones among them: softmax_tile): for a V
// tile holding Inf or NaN (see attention_mma.cu). p(n, e): the thread's probability s[n][e] of the
// tile's score layout times kHiScale, from the f32 scores or from the 16-bit terms the MMAs take; ps:
// this warp's 16 x PASS f32 scratch (the keys go through it PASS at a time); v_pair(j, n): the 16-bit
// pair of V row j at columns 8n + 2t.
template <int KEYS, int PASS, int NT, bool BF16, class PScaled, class VPair>
__device__ __forceinline__ void pv_keywise(float (&o)[NT][4], PScaled p, float* ps, int g, int t4, VPair v_pair) {
  static_assert(KEYS % PASS == 0 && PASS % 8 == 0, "whole 8-key tiles per pass");
#pragma unroll
  for (int k0 = 0; k0 < KEYS; k0 += PASS) {
    __syncwarp();
#pragma unroll
    for (int n = k0 / 8; n < (k0 + PASS) / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) ps[(g + (e >> 1) * 8) * PASS + n * 8 - k0 + 2 * t4 + (e & 1)] = p(n, e);
    __syncwarp();
#pragma unroll 1
    for (int j = 0; j < PASS; ++j) {
      const float pa = ps[g * PASS + j], pb = ps[(g + 8) * PASS + j];
      const bool live_a = pa != 0.0f, live_b = pb != 0.0f;  // a NaN p is live: it makes the row NaN
#pragma unroll
      for (int n = 0; n < NT; ++n) {
        const uint32_t w = v_pair(k0 + j, n);
        const float v0 = pair_lo<BF16>(w), v1 = pair_hi<BF16>(w);
        if (live_a) {
          o[n][0] = fmaf(pa, v0, o[n][0]);
          o[n][1] = fmaf(pa, v1, o[n][1]);
        }
        if (live_b) {
          o[n][2] = fmaf(pb, v0, o[n][2]);
          o[n][3] = fmaf(pb, v1, o[n][3]);
        }
      }
    }
  }
}

// Two outputs as a 16-bit pair: the hardware's round-to-nearest-even conversion, and the library's NaN
// rule (f32_to_bf16 / f32_to_f16: payload kept, quieted) where one is NaN, where cvt gives its
// canonical NaN.
template <bool BF16>
__device__ __forceinline__ uint32_t out_pair(float lo, float hi) {
  if (lo != lo || hi != hi) {
    const uint32_t l16 = BF16 ? f32_to_bf16(lo) : f32_to_f16(lo), h16 = BF16 ? f32_to_bf16(hi) : f32_to_f16(hi);
    return l16 | (h16 << 16);
  }
  return pack_pair<BF16>(lo, hi);
}

// The block's rows i0 .. i0 + rows - 1 of head (b, h) out (this thread holds ra and ra + 8), and their
// lse. Rows with no visible key (or only -inf scores) are 0 with lse -inf; a NaN l makes the row NaN.
// The values go through `stage` (stage_bytes of shared memory, free once the tile loop is done) and
// the block stores whole rows from there in a loop that is not unrolled: the output dtype's three
// conversions are then a few instructions once, not unrolled per element (which had made them over
// half of the kernel's code, mostly never run), and the stores are coalesced.
// WIDE (the wgmma kernel): the division too, in that loop, exact (the bits of v / l) at a multiply and
// two fmas an output past one reciprocal a step (div_by), 4 outputs (8 or 16 bytes) a step, one loop
// per output dtype: 64 IEEE divisions a thread, each its own reciprocal, were ~900 of the ~2,700
// instructions a warp spent here, and 32 steps of one 4-byte store with a software conversion another
// ~1,500 (SASS of the allowP16 kernel). Not for the mma.sync kernels: there ptxas then spilled inside
// the tile loop of the D = 64 allowP16 kernel (sm_80/89 or sm_90a, depending on where the block's item
// was held); they keep the divisions up front and a step of 2 outputs.
// NATURAL: the rows' maxima are in natural units (the masked kernels), not log2 units.
template <int NT, bool BF16, bool P16, bool WIDE = false, bool NATURAL = false>
__device__ __forceinline__ void store_rows(const MmaAttnArgs& a, int64_t b, int64_t h, int64_t i0, int rows, int64_t ra, int t4,
                                           const float (&o)[NT][4], const RowStats& st, float* stage, int tid, int threads) {
  constexpr int D = NT * 8, LDS = stage_ld(D);
  static_assert(LDS > D, "WIDE: a row's l sits in its skew");
  cp_async_wait<0>();
  __syncthreads();  // every warp is done with the shared memory the stage reuses
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t i = ra + 8 * half;
    if (i >= a.sq) continue;
    const float l = half ? st.l_b : st.l_a, m = half ? st.m_b : st.m_a;
    const bool empty = l == 0.0f;
    float* row = stage + (i - i0) * LDS;
#pragma unroll
    for (int n = 0; n < NT; ++n) {
      // o carries kHiScale: removed exactly (a power of two) before the division by l
      const float v0 = o[n][half * 2] * (1.0f / kHiScale<BF16>), v1 = o[n][half * 2 + 1] * (1.0f / kHiScale<BF16>);
      *reinterpret_cast<float2*>(row + n * 8 + 2 * t4) =
          WIDE ? make_float2(v0, v1) : empty ? make_float2(0.0f, 0.0f) : make_float2(v0 / l, v1 / l);
    }
    if (WIDE && t4 == 0) row[D] = l;
    if (a.lse && t4 == 0)
      a.lse[(b * a.hq + h) * a.sq + i] = empty ? -__int_as_float(0x7f800000) : (NATURAL ? m : m * 0.693147180559945309f) + logf(l);
  }
  __syncthreads();
  const bool bshd = a.layout == KP_LAYOUT_BSHD;
  const int64_t q_rs = bshd ? a.hq * D : D;  // out's row stride (Dv == D)
  const int64_t q_off = bshd ? (b * a.sq * a.hq + h) * D : (b * a.hq + h) * a.sq * D;
  const int n_rows = static_cast<int>(min(static_cast<int64_t>(rows), a.sq - i0));
  if constexpr (!WIDE) {
#pragma unroll 1
    for (int e = tid; e < n_rows * (D / 2); e += threads) {
      const int r = e / (D / 2), c = (e % (D / 2)) * 2;
      const float2 v = *reinterpret_cast<const float2*>(stage + r * LDS + c);
      const int64_t at = q_off + (i0 + r) * q_rs + c;  // even: 8-byte (f32) or 4-byte (16-bit) aligned
      if (a.out_dtype == KP_F32) {
        *reinterpret_cast<float2*>(static_cast<float*>(a.out) + at) = v;
      } else {
        const bool f16 = a.out_dtype == KP_F16;
        const uint32_t lo = f16 ? f32_to_f16(v.x) : f32_to_bf16(v.x), hi = f16 ? f32_to_f16(v.y) : f32_to_bf16(v.y);
        *reinterpret_cast<uint32_t*>(static_cast<uint16_t*>(a.out) + at) = lo | (hi << 16);
      }
    }
  } else {
    // Each step 4 outputs of one row divided by its l (no visible key, l = 0: 0). out is 16-byte
    // aligned (attention_mma_aligned) and a row's 4-output groups start at multiples of 4 elements.
    auto rows_of_4 = [&](auto store4) {
#pragma unroll 1
      for (int e = tid; e < n_rows * (D / 4); e += threads) {
        const int r = e / (D / 4), c = (e % (D / 4)) * 4;
        const float l = stage[r * LDS + D];
        float4 x = *reinterpret_cast<const float4*>(stage + r * LDS + c);
        if (div_by_exact(x.x, l) && div_by_exact(x.y, l) && div_by_exact(x.z, l) && div_by_exact(x.w, l)) {
          const float rl = 1.0f / l;
          x = make_float4(div_by(x.x, l, rl), div_by(x.y, l, rl), div_by(x.z, l, rl), div_by(x.w, l, rl));
        } else {  // rare (0, Inf, NaN, tiny values; no key): IEEE divisions, in place, one division's code
          float* p = stage + r * LDS + c;
#pragma unroll 1
          for (int j = 0; j < 4; ++j) p[j] = l == 0.0f ? 0.0f : p[j] / l;
          x = *reinterpret_cast<const float4*>(p);
        }
        store4(q_off + (i0 + r) * q_rs + c, x);
      }
    };
    if (a.out_dtype == KP_F32) {
      rows_of_4([&](int64_t at, const float4& x) { *reinterpret_cast<float4*>(static_cast<float*>(a.out) + at) = x; });
    } else if (a.out_dtype == KP_BF16) {
      rows_of_4([&](int64_t at, const float4& x) {
        *reinterpret_cast<uint2*>(static_cast<uint16_t*>(a.out) + at) = make_uint2(out_pair<true>(x.x, x.y), out_pair<true>(x.z, x.w));
      });
    } else {
      rows_of_4([&](int64_t at, const float4& x) {
        *reinterpret_cast<uint2*>(static_cast<uint16_t*>(a.out) + at) = make_uint2(out_pair<false>(x.x, x.y), out_pair<false>(x.z, x.w));
      });
    }
  }
}

}  // namespace
#endif  // KP_GPU_HAS_MMA

}  // namespace gpu
}  // namespace kp
