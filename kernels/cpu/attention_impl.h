// FlashAttention-style scaled dot-product attention, instantiated once per ISA.
//
// Include from exactly one translation unit per ISA after defining KP_ISA (the namespace and the
// variant's name). Plain C++ arranged so that the inner loops run over a fixed-width block of keys
// (scores) or of value columns (P.V) and vectorise under the unit's -m flags.
//
// One task = (batch b, query head h, block of BQ query rows). It walks the keys in blocks of BK,
// keeps a running max m and sum l per row (online softmax) and an f32 accumulator, and never holds
// more than a BQ x BK block of scores. Tasks are fixed by the descriptor, so any thread count gives
// bitwise identical results.
#pragma once
#include <math.h>

#include <cstdint>

#include "convert.h"
#include "isa_kernels.h"
#include "scratch.h"

#ifndef KP_ISA
#error "attention_impl.h needs KP_ISA defined first"
#endif

#define KP_STR2(x) #x
#define KP_STR(x) KP_STR2(x)

namespace kp::cpu::KP_ISA {
namespace {

constexpr int64_t BQ = 64;  // query rows per task
constexpr int64_t BK = 64;  // keys per block
constexpr int64_t VW = 16;  // value columns are padded to a multiple of this

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

inline float madd(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

// Element offsets of row (b, h, s) and the stride between consecutive s, for a [B,H,S,E] (bhsd)
// or [B,S,H,E] (bshd) tensor.
struct RowAddr {
  int64_t base, stride;
};
inline RowAddr row_addr(kp_layout layout, int64_t b, int64_t h, int64_t H, int64_t S, int64_t E) {
  if (layout == KP_LAYOUT_BSHD) return {(b * S * H + h) * E, H * E};
  return {(b * H + h) * S * E, E};
}

int64_t attention_tasks(const kp_attention_desc& d) {
  if (d.batch <= 0 || d.hq <= 0 || d.sq <= 0 || (d.dv <= 0 && !d.return_lse)) return 0;  // Dv = 0 still has an lse
  return d.batch * d.hq * ((d.sq + BQ - 1) / BQ);
}

// s[0, BK) = q . k_j for the BK keys of a transposed block kt ([D][BK]); the BK-wide sums live
// in registers while d runs, each one accumulated in d order.
inline void score_row(int64_t D, const float* __restrict q, const float* __restrict kt, float* __restrict s) {
  float a[BK];
  for (int j = 0; j < BK; ++j) a[j] = 0.0f;
  for (int64_t c = 0; c < D; ++c) {
    const float qc = q[c];
    const float* kc = kt + c * BK;
    for (int j = 0; j < BK; ++j) a[j] = madd(qc, kc[j], a[j]);
  }
  for (int j = 0; j < BK; ++j) s[j] = a[j];
}

// acc[0, W) += sum_j p[j] * v[j*ldv + 0..W); W fixed so the W-wide accumulator lives in registers.
template <int W>
inline void pv_chunk(int64_t n, const float* __restrict p, const float* __restrict v, int64_t ldv,
                     float* __restrict acc) {
  float a[W];
  for (int e = 0; e < W; ++e) a[e] = acc[e];
  for (int64_t j = 0; j < n; ++j) {
    const float pj = p[j];
    const float* vj = v + j * ldv;
    for (int e = 0; e < W; ++e) a[e] = madd(pj, vj[e], a[e]);
  }
  for (int e = 0; e < W; ++e) acc[e] = a[e];
}

void attention_task(const kp_attention_desc& d, const AttentionArgs& args, int64_t task) {
  static thread_local Scratch scratch;
  const int64_t nqb = (d.sq + BQ - 1) / BQ;
  const int64_t qb = task % nqb;
  const int64_t h = (task / nqb) % d.hq;
  const int64_t b = task / nqb / d.hq;
  const int64_t hk = h / (d.hq / d.hkv);  // GQA: consecutive query heads share a kv head
  const int64_t i0 = qb * BQ, nq = min64(BQ, d.sq - i0);
  const int64_t D = d.d, Dv = d.dv, ldv = (Dv + VW - 1) / VW * VW;
  const int64_t L = args.kv_lengths ? args.kv_lengths[b] : d.skv;

  // Keys row i may see: [0, visible_end(i)). Monotone in i, so the last row bounds the block loop
  // and blocks past it are never touched.
  auto visible_end = [&](int64_t i) -> int64_t {
    int64_t e = L;
    if (d.causal == KP_CAUSAL_BOTTOM_RIGHT) e = min64(e, i + L - d.sq + 1);
    else if (d.causal == KP_CAUSAL_TOP_LEFT) e = min64(e, i + 1);
    return max64(e, 0);
  };
  const int64_t kv_end = visible_end(i0 + nq - 1);

  const size_t q_sz = scratch_round(static_cast<size_t>(BQ * D));
  const size_t kt_sz = scratch_round(static_cast<size_t>(D * BK));
  const size_t v_sz = scratch_round(static_cast<size_t>(BK * ldv));
  const size_t acc_sz = scratch_round(static_cast<size_t>(BQ * ldv));
  const size_t row_sz = scratch_round(static_cast<size_t>(max64(D, Dv)));
  float* qf = scratch.get(q_sz + kt_sz + v_sz + acc_sz + row_sz + 3 * scratch_round(BQ) + scratch_round(BK));
  float* kt = qf + q_sz;     // K block transposed: [D][BK], so scores vectorise over keys
  float* vb = kt + kt_sz;    // V block: [BK][ldv]
  float* acc = vb + v_sz;    // [BQ][ldv]
  float* tmp = acc + acc_sz; // one converted row
  float* m = tmp + row_sz;
  float* l = m + scratch_round(BQ);
  float* s = l + scratch_round(BQ);  // scores, then probabilities, of one row: [BK]

  const int64_t qsz = dtype_size(d.dtype);
  const RowAddr qa = row_addr(d.layout, b, h, d.hq, d.sq, D);
  const RowAddr ka = row_addr(d.layout, b, hk, d.hkv, d.skv, D);
  const RowAddr va = row_addr(d.layout, b, hk, d.hkv, d.skv, Dv);
  const char* qp = static_cast<const char*>(args.q);
  const char* kp = static_cast<const char*>(args.k);
  const char* vp = static_cast<const char*>(args.v);

  for (int64_t r = 0; r < nq; ++r) {
    load_row_f32(qp + (qa.base + (i0 + r) * qa.stride) * qsz, d.dtype, D, qf + r * D);
    m[r] = -INFINITY;
    l[r] = 0.0f;
    for (int64_t e = 0; e < ldv; ++e) acc[r * ldv + e] = 0.0f;
  }

  for (int64_t j0 = 0; j0 < kv_end; j0 += BK) {
    const int64_t nk = min64(BK, kv_end - j0);
    for (int64_t j = 0; j < BK; ++j) {
      if (j < nk) {
        load_row_f32(kp + (ka.base + (j0 + j) * ka.stride) * qsz, d.dtype, D, tmp);
        for (int64_t c = 0; c < D; ++c) kt[c * BK + j] = tmp[c];
        load_row_f32(vp + (va.base + (j0 + j) * va.stride) * qsz, d.dtype, Dv, vb + j * ldv);
        for (int64_t e = Dv; e < ldv; ++e) vb[j * ldv + e] = 0.0f;
      } else {  // zero pad so the fixed-width score loop reads defined values
        for (int64_t c = 0; c < D; ++c) kt[c * BK + j] = 0.0f;
      }
    }

    for (int64_t r = 0; r < nq; ++r) {
      const int64_t i = i0 + r;
      const int64_t cnt = min64(nk, visible_end(i) - j0);
      if (cnt <= 0) continue;  // this whole block is masked for the row

      score_row(D, qf + r * D, kt, s);
      const float scale = d.scale;
      for (int64_t j = 0; j < cnt; ++j) s[j] = s[j] * scale;
      if (args.mask) {
        const float* mrow = args.mask + d.mask_stride[0] * b + d.mask_stride[1] * h + d.mask_stride[2] * i +
                            d.mask_stride[3] * j0;
        const int64_t ms = d.mask_stride[3];
        for (int64_t j = 0; j < cnt; ++j) s[j] = s[j] + mrow[j * ms];
      }

      // NaN scores are not picked by the max; they reach p (and so l and the output) below.
      float mx = m[r];
      for (int64_t j = 0; j < cnt; ++j) mx = s[j] > mx ? s[j] : mx;
      // m == mx covers both -inf (nothing seen yet, exp(-inf - -inf) would be NaN) and no change.
      const float corr = m[r] == mx ? 1.0f : expf(m[r] - mx);
      float sum = 0.0f;
      bool masked = false;
      for (int64_t j = 0; j < cnt; ++j) {
        const bool off = s[j] == -INFINITY;
        masked |= off;
        const float p = off ? 0.0f : expf(s[j] - mx);
        s[j] = p;
        sum += p;
      }
      l[r] = l[r] * corr + sum;
      m[r] = mx;

      float* a = acc + r * ldv;
      if (corr != 1.0f)
        for (int64_t e = 0; e < ldv; ++e) a[e] = a[e] * corr;
      if (masked) {
        // A key masked with -inf contributes nothing, even when its value row holds NaN/Inf
        // (padding): skip it instead of adding 0 * v.
        for (int64_t j = 0; j < cnt; ++j) {
          if (s[j] == 0.0f) continue;
          const float* vj = vb + j * ldv;
          for (int64_t e = 0; e < ldv; ++e) a[e] = madd(s[j], vj[e], a[e]);
        }
      } else {
        int64_t e0 = 0;
        for (; e0 + 4 * VW <= ldv; e0 += 4 * VW) pv_chunk<4 * VW>(cnt, s, vb + e0, ldv, a + e0);
        for (; e0 < ldv; e0 += VW) pv_chunk<VW>(cnt, s, vb + e0, ldv, a + e0);
      }
    }
  }

  const RowAddr oa = row_addr(d.layout, b, h, d.hq, d.sq, Dv);
  const int64_t osz = dtype_size(d.out_dtype);
  char* op = static_cast<char*>(args.out);
  for (int64_t r = 0; r < nq; ++r) {
    // l == 0: no visible key, or every visible score was -inf. NaN l (a NaN score) propagates.
    const bool empty = l[r] == 0.0f;
    const float lr = l[r];
    float* a = acc + r * ldv;
    for (int64_t e = 0; e < Dv; ++e) tmp[e] = empty ? 0.0f : a[e] / lr;
    store_row_f32(op + (oa.base + (i0 + r) * oa.stride) * osz, d.out_dtype, Dv, tmp);
    if (args.lse) args.lse[(b * d.hq + h) * d.sq + i0 + r] = empty ? -INFINITY : m[r] + logf(lr);
  }
}

}  // namespace

extern const AttentionKernels attention_kernels = {KP_STR(KP_ISA), &attention_tasks, &attention_task};

}  // namespace kp::cpu::KP_ISA
