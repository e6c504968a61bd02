// Tensor-core flash attention forward (FlashAttention-2 on mma.sync m16n8k16) for f16/bf16 q, k, v
// with D == Dv in {64, 80, 96, 128} (most models' head sizes up to 128: Phi-2 has 80, Phi-3-mini 96) and
// D = 192 with Dv = 128 (DeepSeek-V2/V3's MLA prefill: 128 + 64 rotary dimensions for Q K^T, 128 for V),
// with or without an additive mask (MASK kernels: below). NVIDIA-only (KP_GPU_HAS_MMA, a 32-lane warp):
// elsewhere the body is empty and attention_mma_eligible() says no, so attention.cu's portable kernels run.
//
// A block of 4 warps owns 64 query rows of one (batch, query head); K/V come from kv head h / (Hq/Hkv).
// Each warp owns 16 rows: its Q fragments are loaded once (ldmatrix; above D = 128 once per tile, from
// shared memory, where Q stays), S = Q K^T is built with mma.sync
// from a K tile in shared memory, the online softmax runs on the accumulator registers (a row lives in
// the 4 lanes of a quad: max and sum by two shuffles), P is re-packed from the C fragments into A
// fragments without shared memory, and O += P V reads V through ldmatrix.trans. K/V tiles of 64 keys
// are double-buffered with cp.async. Keys no row of the block sees (causality, kvLengths) are never
// loaded; tiles some rows do not fully see are masked element-wise. Blocks run the longest causal rows first.
//
// Numerics (src/numerics/bounds.ts, attentionBound, with no extra term for P): P must reach the
// tensor cores without the 2^-9 relative rounding of one 16-bit copy, which the bound does not cover
// when the output cancels. So P is split into 16-bit terms whose sum is P to (nearly) f32 accuracy:
// - bf16: p = h + m + l, each a bf16 rounding of what the previous ones leave. p has 24 significant
//   bits, h takes 8 and leaves at most 16, m takes 8 and leaves at most 8, which l holds exactly: the
//   sum is p exactly (short of f32's subnormal range, where the bound's floor applies). O += h V on the
//   tensor cores, and (m + l) V accumulates apart per 64-key tile before it is added to O.
// - f16: p is scaled by 2^15 (P <= 1, so at most 32768; values down to 2^-29 stay normal), h = f16(p),
//   and the remainder, scaled by 2^11 into the normal range, is a second f16 term accumulated apart and
//   added back times 2^-11: 22 significant bits (relative error <= 2^-22, absolute <= 2^-51). O carries
//   the 2^15, removed exactly before the division by l.
// Scores, the softmax statistics and the accumulators are f32; exp is exp2f (2 ulp, as expf) of scores
// pre-scaled by scale·log2(e) (attention_flash.cuh exp_score).
//
// With allow_p16 (AttentionOptions.allowP16) the caller accepts FlashAttention's numerics, which the
// bound then covers (one rounding of P to the input dtype): P goes to the tensor cores as one 16-bit
// copy (f16 still scaled by 2^15, so small probabilities keep their precision), half the P·V work of
// the split, and exp is the special-function unit's ex2.approx.ftz. l sums the unrounded P in f32 in
// both modes.
//
// MASK: each thread reads the mask of its own scores from global memory (a tile's 32 values a thread,
// after S = Q K^T, only for keys its row sees) and adds it to the scaled score; the softmax then works
// in natural units (attention_flash.cuh softmax_tile's NATURAL: a -FLT_MAX mask must not overflow to
// -inf). The mask is not staged in shared memory: a 64 x 64 f32 tile per buffer would not fit beside
// K and V at D = 128 on the 99 KiB parts (sm_86/89/120). A mask whose key stride exceeds 32-bit
// offsets takes the portable kernel.
//
// Semantics as src/reference/attention.ts and the portable kernel: a key hidden from a row (causality,
// kvLengths, a -inf score) never touches V for that row. The tensor cores would give 0 * Inf = NaN
// for a hidden key with a non-finite value, and a zero split term times an infinite value too: a tile
// whose V holds Inf or NaN (seen by each thread in its own copies, or'ed into the tile's barrier) is
// accumulated key by key in f32 instead, skipping hidden keys, as the portable kernel does. It skips
// every key whose p is 0, which also drops a probability that underflowed to 0 in f32 (under 2^-149,
// or 2^-126 with allowP16; f16 P16 rounds under 2^-39 to 0): where the reference multiplies its tiny
// but positive f64 p by an infinite V, this gives a finite column and the portable kernel (0 * Inf)
// NaN, both wrong. Telling an underflow from a hidden key cost two instructions a score (softmax_tile).
#include <algorithm>
#include <cmath>

#include "attention_mma.cuh"
#include "attention_flash.cuh"
#include "attention_wgmma.cuh"

namespace kp {
namespace gpu {
namespace {

constexpr int kWarps = 4;
constexpr int kRows = kWarps * 16;  // query rows per block
constexpr int kKeys = 64;           // keys per K/V tile
constexpr int kMmaThreads = kWarps * 32;
const char kMmaVariant[] = "flash-attention-mma-m16n8k16";
const char kMmaP16Variant[] = "flash-attention-mma-m16n8k16-p16";
const char kMmaMaskVariant[] = "flash-attention-mma-m16n8k16-mask";
const char kMmaP16MaskVariant[] = "flash-attention-mma-m16n8k16-p16-mask";

// Shared rows are padded by 8 halves: an odd number of 16-byte units for every D above, so ldmatrix's
// eight 16-byte row reads of a matrix hit distinct banks.
KP_GPU_HOST_DEVICE constexpr int row_ld(int64_t d) { return static_cast<int>(d) + 8; }
constexpr size_t kScratchBytes = static_cast<size_t>(kWarps) * 16 * kKeys * sizeof(float);
KP_GPU_HOST_DEVICE constexpr size_t q_bytes(int64_t d) { return static_cast<size_t>(kRows) * row_ld(d) * 2; }
// Above D = 128 the Q fragments are not held in registers (KS x 4 of them, 48 at D = 192, made ptxas
// spill 150-300 bytes): each K step reads its fragment from shared memory, where Q then stays.
KP_GPU_HOST_DEVICE constexpr bool q_in_smem(int64_t d) { return d > 128; }
// Q, then (once its fragments are in registers) the f32 P scratch of tiles with non-finite V; Q and
// the scratch side by side where Q stays.
KP_GPU_HOST_DEVICE constexpr size_t region0_bytes(int64_t d) {
  return q_in_smem(d) ? q_bytes(d) + kScratchBytes : q_bytes(d) > kScratchBytes ? q_bytes(d) : kScratchBytes;
}
// + K and V, two buffers each.
KP_GPU_HOST_DEVICE constexpr size_t mma_smem_bytes(int64_t d, int64_t dv) {
  return region0_bytes(d) + 2 * static_cast<size_t>(kKeys) * (row_ld(d) + row_ld(dv)) * 2;
}
// D = 192 / Dv = 128 in the 99 KiB of sm_86 / sm_89 / sm_120 (L20, RTX 4090D, RTX 5090D), where the layout
// above (125 KiB) does not fit: one V buffer, loaded once the previous tile's P V is done and waited
// for only after this tile's Q K^T and softmax, and the P scratch of tiles with non-finite V in the K
// buffer whose Q K^T is done. Q, two K buffers, one V buffer: 92 KiB. Same arithmetic, same bits.
KP_GPU_HOST_DEVICE constexpr size_t one_v_smem_bytes(int64_t d, int64_t dv) {
  return q_bytes(d) + static_cast<size_t>(kKeys) * (2 * row_ld(d) + row_ld(dv)) * 2;
}
KP_GPU_HOST_DEVICE constexpr size_t kernel_smem_bytes(int64_t d, int64_t dv, bool one_v) {
  return one_v ? one_v_smem_bytes(d, dv) : mma_smem_bytes(d, dv);
}
// The layout a part's opt-in shared memory takes (0: neither fits).
size_t smem_plan_bytes(const DeviceCaps& caps, int64_t d, int64_t dv) {
  const size_t optin = caps.smem_optin > 0 ? static_cast<size_t>(caps.smem_optin) : 0;
  if (optin >= mma_smem_bytes(d, dv)) return mma_smem_bytes(d, dv);
  if (d != dv && optin >= one_v_smem_bytes(d, dv)) return one_v_smem_bytes(d, dv);
  return 0;
}
static_assert(stage_bytes(kRows, 64) <= mma_smem_bytes(64, 64) && stage_bytes(kRows, 80) <= mma_smem_bytes(80, 80) &&
                  stage_bytes(kRows, 96) <= mma_smem_bytes(96, 96) && stage_bytes(kRows, 128) <= mma_smem_bytes(128, 128) &&
                  stage_bytes(kRows, 128) <= mma_smem_bytes(192, 128) && stage_bytes(kRows, 128) <= one_v_smem_bytes(192, 128) &&
                  kScratchBytes <= static_cast<size_t>(kKeys) * row_ld(192) * 2,
              "the output stage fits the shared memory; the one-V layout's scratch fits a K buffer");

#if defined(KP_GPU_HAS_MMA)
// kKeys rows of CHUNKS 16-byte chunks (CHUNKS a multiple of 8) from src (row stride rs, key j0 on) into
// dst (rows LDX halves apart) with cp.async; zeros from kend on (finite, and every row's mask hides
// them). Eight threads a row, 128 bytes of it each step: one base address a thread and constant
// offsets, where computing each copy's row and chunk (24 chunks do not divide 128 threads) made the
// D = 192 kernels spill.
constexpr int kCopyRowsPerRound = kMmaThreads / 8;
// f(r, c, row, chunk) for each copy of thread tid: round r, its chunk c; copy_rows and the V check
// (which must read back the very copies its thread made) both walk this.
template <int CHUNKS, class F>
__device__ __forceinline__ void copy_rows_slots(int tid, F f) {
  static_assert(CHUNKS % 8 == 0 && kKeys % kCopyRowsPerRound == 0, "whole rows a round");
#pragma unroll
  for (int r = 0; r < kKeys / kCopyRowsPerRound; ++r)
#pragma unroll
    for (int c = 0; c < CHUNKS / 8; ++c) f(r, c, tid / 8 + kCopyRowsPerRound * r, tid % 8 + 8 * c);
}
template <int CHUNKS, int LDX>
__device__ __forceinline__ void copy_rows(uint16_t* dst, const uint16_t* src, const uint16_t* any, int64_t rs, int64_t j0,
                                          int64_t kend, int tid) {
  const uint16_t* p = src + (j0 + tid / 8) * rs + (tid % 8) * 8;
  const int left = static_cast<int>(min(kend - j0, static_cast<int64_t>(kKeys)));
  copy_rows_slots<CHUNKS>(tid, [&](int r, int c, int row, int ch) {
    const bool ok = row < left;
    cp_async16(smem_addr(dst + row * LDX + ch * 8), ok ? p + r * kCopyRowsPerRound * rs + 64 * c : any, ok);
  });
}
#endif

// P16: P rounded once to 16 bits (allow_p16), else split to f32 accuracy (see the top). MASK: an
// additive mask (mk). ONE_V: one V buffer (one_v_smem_bytes; D != Dv only).
template <int D, int DV, bool BF16, bool P16, bool MASK, bool ONE_V>
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kMmaThreads) flash_mma(MmaAttnArgs a, MaskArgs mk) {
#if defined(KP_GPU_HAS_MMA)
  static_assert(!ONE_V || D != DV, "one V buffer for the split head sizes only");
  constexpr int LD = row_ld(D), LDV = row_ld(DV);  // Q and K rows; V rows
  constexpr int CH = D / 8, CHV = DV / 8;          // 16-byte chunks per row
  constexpr int NT = DV / 8;  // 8-column output tiles
  constexpr int KS = D / 16;  // k-steps of Q K^T
  static_assert(D % 16 == 0 && DV % 16 == 0 && (kKeys * D / 8) % kMmaThreads == 0 && (kKeys * DV / 8) % kMmaThreads == 0,
                "whole k-steps; whole 16-byte copies per thread");
  constexpr int TILE = kKeys * LD, TILEV = kKeys * LDV;
  constexpr bool QS = q_in_smem(D);
  KP_GPU_EXTERN_SMEM(unsigned char, smem_raw, 16);
  uint16_t* Qs = reinterpret_cast<uint16_t*>(smem_raw);
  float* scratch = reinterpret_cast<float*>(smem_raw + (QS ? q_bytes(D) : 0));  // ONE_V: a K buffer instead
  uint16_t* Ks = reinterpret_cast<uint16_t*>(smem_raw + (ONE_V ? q_bytes(D) : region0_bytes(D)));
  uint16_t* Vs = Ks + 2 * TILE;
  const float ninf = -__int_as_float(0x7f800000);

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int g = lane / 4, t4 = lane % 4;
  const BlockItem item = block_item(a, blockIdx.x, kRows);
  const int64_t b = item.b, h = item.h, hk = h / (a.hq / a.hkv);
  const bool bshd = a.layout == KP_LAYOUT_BSHD;
  const int64_t q_rs = bshd ? a.hq * D : D;  // row strides (K as Q; V and out with DV)
  const int64_t kv_rs = bshd ? a.hkv * D : D;
  const int64_t q_off = bshd ? (b * a.sq * a.hq + h) * D : (b * a.hq + h) * a.sq * D;
  // head hk's first element of K (row size D) or V (DV)
  auto kv_offset = [&](int64_t e) { return bshd ? (b * a.skv * a.hkv + hk) * e : (b * a.hkv + hk) * a.skv * e; };
  const uint16_t* Q = a.q + q_off;
  const uint16_t* K = a.k + kv_offset(D);
  const uint16_t* V = a.v + kv_offset(DV);

  const KeyRange keys = key_range(a, b);
  const int64_t i0 = item.i0;
  const int64_t kend = keys.end(min(i0 + kRows, a.sq) - 1);  // no row of the block sees a key from here on
  const int64_t kall = keys.end(i0);                          // every row sees the keys before this
  const int ntiles = static_cast<int>((kend + kKeys - 1) / kKeys);
  // The lane's rows g and g + 8 of its warp's 16. Rows past Sq see what the last row sees and are never stored.
  const int64_t ra = i0 + warp * 16 + g, rbb = ra + 8;
  const int64_t end_a = keys.end(min(ra, a.sq - 1)), end_b = keys.end(min(rbb, a.sq - 1));
  const float* mrow_a = nullptr;
  const float* mrow_b = nullptr;
  if constexpr (MASK) {
    const float* mbh = mk.mask + b * mk.ms0 + h * mk.ms1;
    mrow_a = mbh + min(ra, a.sq - 1) * mk.ms2;
    mrow_b = mbh + min(rbb, a.sq - 1) * mk.ms2;
  }

  // Where the threads divide into whole rows (D 64 and 128), a thread copies chunk tid % CH of rows
  // tid / CH + RPC r: a loop-invariant offset and stride, a 64-bit add and a 32-bit row test per copy
  // (as attention_wgmma.cu); D 80 and 96 compute each copy's row and chunk.
  constexpr bool kWholeRows = kMmaThreads % CH == 0;
  constexpr int RPC = kWholeRows ? kMmaThreads / CH : 1;
  const int crow = tid / CH;
  const int64_t coff = crow * kv_rs + (tid % CH) * 8, cstep = RPC * kv_rs;
  // Head sizes apart (DeepSeek's 192 / 128): each operand its own rows and chunks (generic lambdas:
  // instantiated only there, copy_rows wants whole 128-byte steps).
  auto load_k = [&](auto buf, int64_t j0) { copy_rows<CH, LD>(Ks + buf * TILE, K, a.k, kv_rs, j0, kend, tid); };
  auto load_v = [&](auto buf, int64_t j0) { copy_rows<CHV, LDV>(Vs + buf * TILEV, V, a.v, bshd ? a.hkv * DV : DV, j0, kend, tid); };
  auto load_kv = [&](int buf, int64_t j0) {
    uint16_t* ks = Ks + buf * TILE;
    uint16_t* vs = Vs + buf * TILEV;
    if constexpr (D != DV) {
      load_k(buf, j0);
      load_v(buf, j0);
    } else if constexpr (kWholeRows) {
      const int64_t o = j0 * kv_rs + coff;
      const int left = static_cast<int>(min(kend - j0, static_cast<int64_t>(kKeys)));  // rows that exist
#pragma unroll
      for (int r = 0; r < kKeys / RPC; ++r) {
        const bool ok = crow + RPC * r < left;  // zeros past kend: finite, and every row's mask hides them
        const int at = (crow + RPC * r) * LD + (tid % CH) * 8;
        cp_async16(smem_addr(ks + at), ok ? K + o + r * cstep : a.k, ok);
        cp_async16(smem_addr(vs + at), ok ? V + o + r * cstep : a.v, ok);
      }
    } else {
#pragma unroll
      for (int r = 0; r < kKeys * CH / kMmaThreads; ++r) {
        const int c = tid + kMmaThreads * r, row = c / CH, ch = c % CH;
        const int64_t j = j0 + row;
        const bool ok = j < kend;  // zeros past it: finite, and every row's mask hides them
        cp_async16(smem_addr(ks + row * LD + ch * 8), ok ? K + j * kv_rs + ch * 8 : a.k, ok);
        cp_async16(smem_addr(vs + row * LD + ch * 8), ok ? V + j * kv_rs + ch * 8 : a.v, ok);
      }
    }
  };
  // Whether this thread's own V copies of a tile hold Inf or NaN (an all-ones exponent): after
  // cp.async.wait_group a thread sees its own copies.
  auto v_nonfinite = [&](int buf) -> int {
    constexpr uint32_t E = BF16 ? 0x7f807f80u : 0x7c007c00u, ONE = BF16 ? 0x00800080u : 0x04000400u;
    const uint16_t* vs = Vs + buf * TILEV;
    uint32_t acc = 0;
    auto check = [&](int row, int ch) {
      const uint4 w = *reinterpret_cast<const uint4*>(vs + row * LDV + ch * 8);
      acc |= ((w.x & E) + ONE) | ((w.y & E) + ONE) | ((w.z & E) + ONE) | ((w.w & E) + ONE);
    };
    if constexpr (D != DV) {
      copy_rows_slots<CHV>(tid, [&](int, int, int row, int ch) { check(row, ch); });  // copy_rows' own copies
    } else {
#pragma unroll
      for (int r = 0; r < kKeys * CHV / kMmaThreads; ++r) {
        const int c = tid + kMmaThreads * r;
        check(c / CHV, c % CHV);
      }
    }
    return (acc & 0x80008000u) != 0;
  };

#pragma unroll
  for (int r = 0; r < kRows * CH / kMmaThreads; ++r) {
    const int c = tid + kMmaThreads * r, row = c / CH, ch = c % CH;
    const bool ok = i0 + row < a.sq;
    cp_async16(smem_addr(Qs + row * LD + ch * 8), ok ? Q + (i0 + row) * q_rs + ch * 8 : a.q, ok);
  }
  cp_async_commit();
  if constexpr (ONE_V) {
    if (ntiles > 0) load_k(0, 0);
    cp_async_commit();
    if (ntiles > 0) load_v(0, 0);
    cp_async_commit();
    cp_async_wait<2>();  // Q (the first group) has landed
  } else {
    if (ntiles > 0) load_kv(0, 0);
    cp_async_commit();
    cp_async_wait<1>();  // Q (the first group) has landed
  }
  __syncthreads();
  auto q_fragment = [&](int kk, uint32_t (&f)[4]) { ldmatrix_x4(smem_addr(Qs + (warp * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8), f); };
  uint32_t qf[QS ? 1 : KS][4];
  if constexpr (!QS)
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) q_fragment(kk, qf[kk]);

  float o[NT][4];
#pragma unroll
  for (int n = 0; n < NT; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[n][e] = 0.0f;
  RowStats st{ninf, ninf, 0.0f, 0.0f};

#pragma unroll 1
  for (int t = 0; t < ntiles; ++t) {
    const int buf = t & 1;
    int v_bad = 0;
    if constexpr (ONE_V) {
      cp_async_wait<1>();  // K of tile t (V's, committed after it, may still be in flight)
      __syncthreads();     // K visible to all; every warp done with tile t - 1 (its K buffer is refilled next)
      if (t + 1 < ntiles) load_k(buf ^ 1, static_cast<int64_t>(t + 1) * kKeys);
    } else {
      cp_async_wait<0>();
      // Tile t is visible to all, every warp is done with tile t - 1 (its buffer is refilled next), and
      // the Q fragments are in registers (region 0 may serve as scratch; where Q stays in shared memory the
      // scratch is beside it).
      v_bad = __syncthreads_or(v_nonfinite(buf));
      if (t + 1 < ntiles) load_kv(buf ^ 1, static_cast<int64_t>(t + 1) * kKeys);
    }
    cp_async_commit();
    const int64_t j0 = static_cast<int64_t>(t) * kKeys;
    const uint16_t* ks = Ks + buf * TILE;
    const uint16_t* vs = Vs + (ONE_V ? 0 : buf * TILEV);

    float s[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
      uint32_t qa[4];
      if constexpr (QS) q_fragment(kk, qa);
      else
#pragma unroll
        for (int e = 0; e < 4; ++e) qa[e] = qf[kk][e];
#pragma unroll
      for (int np = 0; np < kKeys / 16; ++np) {
        uint32_t r[4];
        ldmatrix_x4(smem_addr(ks + (np * 16 + (lane % 8) + (lane / 16) * 8) * LD + kk * 16 + ((lane / 8) % 2) * 8), r);
        const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
        mma16816<BF16>(s[2 * np], qa, b0);
        mma16816<BF16>(s[2 * np + 1], qa, b1);
      }
    }

    // Hide the keys a row does not see (MASK: and add the mask, in natural units; else only on tiles some
    // row does not fully see, scaling into log2 units), exponentiate, rescale O.
    float corr_a, corr_b;
    if constexpr (MASK) {
      mask_scores<kKeys / 8>(s, mrow_a, mrow_b, mk.ms3, j0, end_a, end_b, a.scale, t4);
      softmax_tile<kKeys / 8, P16, true>(s, st, false, 0, 0, a.scale, t4, corr_a, corr_b);
    } else {
      softmax_tile<kKeys / 8, P16>(s, st, j0 + kKeys > kall, end_a - j0, end_b - j0, a.scale, t4, corr_a, corr_b);
    }
    rescale_rows(o, corr_a, corr_b);
    float* tile_scratch = scratch;
    if constexpr (ONE_V) {
      cp_async_wait<1>();  // V of tile t (the next K may still be in flight)
      // V visible to all, and every warp's Q K^T done: this tile's K buffer is the P scratch.
      v_bad = __syncthreads_or(v_nonfinite(0));
      tile_scratch = reinterpret_cast<float*>(Ks + buf * TILE);
    }

    if (!v_bad) {
      uint32_t ph[kKeys / 16][4], pm[kKeys / 16][4], pl[kKeys / 16][4];
      pack_p<kKeys / 8, BF16, P16>(s, ph, pm, pl);
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        float lo[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
        for (int kk = 0; kk < kKeys / 16; ++kk) {
          uint32_t r[4];
          ldmatrix_x4_trans(smem_addr(vs + (kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * LDV + np * 16 + (lane / 16) * 8), r);
          const uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
          mma16816<BF16>(o[2 * np], ph[kk], b0);
          mma16816<BF16>(o[2 * np + 1], ph[kk], b1);
          if constexpr (!P16) {
            mma16816<BF16>(lo[0], pm[kk], b0);
            mma16816<BF16>(lo[1], pm[kk], b1);
          }
          if constexpr (!P16 && BF16) {
            mma16816<BF16>(lo[0], pl[kk], b0);
            mma16816<BF16>(lo[1], pl[kk], b1);
          }
        }
        if constexpr (!P16)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            o[2 * np][e] += lo[0][e] * (1.0f / kLoScale<BF16>);
            o[2 * np + 1][e] += lo[1][e] * (1.0f / kLoScale<BF16>);
          }
      }
    } else {
      // Inf or NaN in this V tile: f32 products key by key, hidden keys skipped (see the top).
      pv_keywise<kKeys, kKeys, NT, BF16>(o, [&](int n, int e) { return s[n][e] * kHiScale<BF16>; }, tile_scratch + warp * 16 * kKeys, g, t4, [&](int j, int n) {
        return *reinterpret_cast<const uint32_t*>(vs + j * LDV + n * 8 + 2 * t4);
      });
    }
    if constexpr (ONE_V) {
      __syncthreads();  // every warp done with V (and the scratch): the next V over it
      if (t + 1 < ntiles) load_v(0, static_cast<int64_t>(t + 1) * kKeys);
      cp_async_commit();
    }
  }
  store_rows<NT, BF16, P16, false, MASK>(a, b, h, i0, kRows, ra, t4, o, st, reinterpret_cast<float*>(smem_raw), tid, kMmaThreads);
#endif
}
template <int D, int DV, bool BF16, bool P16, bool MASK, bool ONE_V>
void launch_one(kp_gpu_stream_t stream, const MmaAttnArgs& a, const MaskArgs& mk, int64_t blocks) {
  // Per call: the attribute belongs to the current device's context; a failure shows up as the launch error.
  constexpr size_t smem = kernel_smem_bytes(D, DV, ONE_V);
  (void)kp_gpu_set_max_dynamic_smem(flash_mma<D, DV, BF16, P16, MASK, ONE_V>, static_cast<int>(smem));
  KP_GPU_LAUNCH((flash_mma<D, DV, BF16, P16, MASK, ONE_V>), dim3(static_cast<unsigned>(blocks)), dim3(kMmaThreads), smem, stream)(a, mk);
}

template <int D, int DV, bool ONE_V>
void launch_layout(kp_gpu_stream_t stream, const MmaAttnArgs& a, const MaskArgs& mk, int64_t blocks, bool bf16, bool p16) {
  with_bf16_p16(bf16, p16, [&](auto b, auto p) {
    constexpr bool kBf16 = decltype(b)::value, kP16 = decltype(p)::value;
    if (mk.mask) launch_one<D, DV, kBf16, kP16, true, ONE_V>(stream, a, mk, blocks);
    else launch_one<D, DV, kBf16, kP16, false, ONE_V>(stream, a, mk, blocks);
  });
}

// one_v: the plan's layout is one_v_smem_bytes (D != Dv on a 99 KiB part).
template <int D, int DV = D>
void launch_d(kp_gpu_stream_t stream, const MmaAttnArgs& a, const MaskArgs& mk, int64_t blocks, bool bf16, bool p16, bool one_v) {
  if constexpr (D != DV) {
    if (one_v) return launch_layout<D, DV, true>(stream, a, mk, blocks, bf16, p16);
  }
  launch_layout<D, DV, false>(stream, a, mk, blocks, bf16, p16);
}

// The head sizes the kernels are instantiated for: D == Dv up to 128, and DeepSeek's MLA prefill
// (192 for Q K^T, 128 for V).
bool head_sizes_taken(int64_t d, int64_t dv) {
  return (d == dv && (d == 64 || d == 80 || d == 96 || d == 128)) || (d == 192 && dv == 128);
}

// The masked kernels index a mask row with 32-bit offsets (key * ms3) and keys as 32-bit values.
bool mask_offsets_fit(const kp_attention_desc& d) {
  if (!d.has_mask) return true;
  const int64_t s3 = d.mask_stride[3];
  return d.skv <= 0x7fffffff && s3 >= 0 && s3 <= 0x7fffffff && (d.skv <= 1 || s3 <= 0x7fffffff / (d.skv - 1));
}

// mma.sync: NVIDIA's and a 32-lane instruction: never on MUSA (compiled empty there), never on another
// warp width.
bool mma_sync_eligible(const DeviceCaps& caps, const kp_attention_desc& d) {
  if (!KP_GPU_VENDOR_HAS_MMA_SYNC) return false;
  if (caps.attention_mode == 1 || caps.cc_major < 8 || caps.warp_size != 32) return false;
  if (d.dtype != KP_F16 && d.dtype != KP_BF16) return false;
  if (!head_sizes_taken(d.d, d.dv) || !mask_offsets_fit(d)) return false;
  if (d.batch <= 0 || d.hq <= 0 || d.hkv <= 0 || d.hq % d.hkv != 0 || d.sq <= 0 || d.skv < 0) return false;
  if (smem_plan_bytes(caps, d.d, d.dv) == 0) return false;
  if ((d.sq + kRows - 1) / kRows * d.batch * d.hq > 0x7fffffff) return false;
  return caps.attention_mode == 2 || d.sq >= kMinQueryRows;
}

}  // namespace

bool attention_mma_eligible(const DeviceCaps& caps, const kp_attention_desc& d) {
  // Scale 0 (every visible key weighs the same) to the portable kernel: softmax_tile hides keys by an
  // infinite score whose product with the scale is -inf. So does a scale whose product with log2 e
  // overflows (|scale| > 2.3e38): a zero score times it would be NaN.
  if (d.scale == 0.0f || !(std::fabs(d.scale) <= 3.4028234e38f / 1.4426950408889634f)) return false;
  return attention_wgmma_eligible(caps, d) || mma_sync_eligible(caps, d);
}

AttentionPlan plan_attention_mma(const DeviceCaps& caps, const kp_attention_desc& d) {
  AttentionPlan p{};
  const bool wgmma = attention_wgmma_eligible(caps, d);
  p.variant = wgmma              ? attention_wgmma_variant(caps, d)
              : d.has_mask       ? (d.allow_p16 ? kMmaP16MaskVariant : kMmaMaskVariant)
              : d.allow_p16      ? kMmaP16Variant
                                 : kMmaVariant;
  p.dmax = static_cast<int>(d.d);
  p.splits = 1;
  p.split_keys = d.skv > 0 ? d.skv : 1;
  p.tile_keys = wgmma ? attention_wgmma_tile_keys(caps, d) : kKeys;
  p.smem = wgmma ? attention_wgmma_smem(caps, d) : smem_plan_bytes(caps, d.d, d.dv);
  p.head_group = caps.attention_group > 0 ? static_cast<int>(std::min<int64_t>(caps.attention_group, d.batch * d.hq))
                                          : attention_head_group(caps.l2_bytes, d);
  return p;
}

bool is_attention_mma_plan(const AttentionPlan& p) {
  return p.variant == kMmaVariant || p.variant == kMmaP16Variant || p.variant == kMmaMaskVariant ||
         p.variant == kMmaP16MaskVariant || is_attention_wgmma_variant(p.variant);
}

bool attention_mma_aligned(const void* q, const void* k, const void* v, const void* out) {
  return ((reinterpret_cast<uintptr_t>(q) | reinterpret_cast<uintptr_t>(k) | reinterpret_cast<uintptr_t>(v) | reinterpret_cast<uintptr_t>(out)) & 15u) == 0;
}

const char* launch_attention_mma(kp_gpu_stream_t stream, const AttentionPlan& plan, const kp_attention_desc& d,
                                 const void* q, const void* k, const void* v, const int32_t* kv_lengths, const float* mask,
                                 void* out, float* lse) {
  if (is_attention_wgmma_variant(plan.variant)) {
    launch_attention_wgmma(stream, plan, d, q, k, v, kv_lengths, out, lse);
    return plan.variant;
  }
  const MmaAttnArgs a = mma_attention_args(d, kRows, plan.head_group, q, k, v, kv_lengths, out, lse);
  const MaskArgs mk = mask_args(d, mask);
  const int64_t blocks = a.row_blocks * d.batch * d.hq;
  const bool bf16 = d.dtype == KP_BF16, p16 = plan.variant == kMmaP16Variant || plan.variant == kMmaP16MaskVariant;
  const bool one_v = d.d != d.dv && plan.smem == one_v_smem_bytes(d.d, d.dv);
  switch (d.d) {
    case 64: launch_d<64>(stream, a, mk, blocks, bf16, p16, one_v); break;
    case 80: launch_d<80>(stream, a, mk, blocks, bf16, p16, one_v); break;
    case 96: launch_d<96>(stream, a, mk, blocks, bf16, p16, one_v); break;
    case 192: launch_d<192, 128>(stream, a, mk, blocks, bf16, p16, one_v); break;
    default: launch_d<128>(stream, a, mk, blocks, bf16, p16, one_v); break;
  }
  return plan.variant;
}

}  // namespace gpu
}  // namespace kp
