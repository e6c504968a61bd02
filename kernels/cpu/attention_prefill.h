// Prefill attention (Sq above the decode threshold): FlashAttention with register-tiled
// microkernels (attention_tiles.h).
//
// One task = (batch b, kv head hk, up to kHeadsPerTask query heads of its GQA group, block of kBQ
// query rows). It walks the keys the block can see in blocks of kBK: each K/V block is located (or,
// for 16-bit inputs, converted) once and used by every query head of the task, then per head:
// S^T = K Q^T, masks, the online softmax in f32, O^T = corr * O^T + V^T P^T. Key blocks past the
// last row's causal/length limit are never touched; inside the diagonal block the keys a row may not
// see get -inf before the softmax. Tasks depend only on the descriptor, so any thread count gives
// bitwise identical results.
#pragma once
#include <cmath>
#include <cstdint>

#include "attention_common.h"
#include "attention_tiles.h"
#include "scratch.h"

namespace kp::cpu::KP_ISA {
namespace {

constexpr int64_t kBQ = 64;            // query rows per task: the lanes of kBQ / W vectors
constexpr int64_t kBK = 64;            // keys per block
constexpr int64_t kHeadsPerTask = 4;   // query heads of one GQA group sharing a task's K/V blocks
static_assert(kBQ % (kNV * W) == 0, "a query block is a whole number of column tiles");

struct PrefillGeom {
  int64_t group, head_chunks, qblocks;
};
inline PrefillGeom prefill_geom(const kp_attention_desc& d) {
  const int64_t group = d.hq / d.hkv;
  return {group, cdiv(group, kHeadsPerTask), cdiv(d.sq, kBQ)};
}

inline int64_t prefill_tasks(const kp_attention_desc& d) {
  const PrefillGeom g = prefill_geom(d);
  return d.batch * d.hkv * g.head_chunks * g.qblocks;
}

// Online softmax over the nk x kBQ block of scores st (lanes = query rows), in place: st becomes
// the weights P^T, m / l the running max and sum, corr the factor the old output must be scaled by.
// A NaN score never becomes the max (vmax keeps the old value), so it reaches p, l and the output.
inline void softmax_block(int64_t nk, float* __restrict st, float* __restrict m, float* __restrict l,
                          float* __restrict corr) {
  const V one = vset1(1.0f), zero = vzero(), ninf = vset1(-INFINITY);
  for (int64_t v = 0; v < kBQ; v += W) {
    const V mo = vload(m + v);
    V mx = mo;
    for (int64_t j = 0; j < nk; ++j) mx = vmax(vload(st + j * kBQ + v), mx);
    // mo == mx covers both "no change" and -inf == -inf (nothing seen yet: exp(-inf - -inf) is NaN).
    const V c = vsel_eq(mo, mx, one, vexp(vsub(mo, mx)));
    // vexp(-inf) is exactly 0, so a -inf score needs no select; only a row whose max is still -inf
    // (every score so far -inf) would compute -inf - -inf = NaN: subtract 0 there instead.
    const V mxs = vsel_eq(mx, ninf, zero, mx);
    V sum = zero;
    for (int64_t j = 0; j < nk; ++j) {
      float* p = st + j * kBQ + v;
      const V e = vexp(vsub(vload(p), mxs));
      vstore(p, e);
      sum = vadd(sum, e);
    }
    vstore(l + v, vfma(vload(l + v), c, sum));
    vstore(m + v, mx);
    vstore(corr + v, c);
  }
}

void prefill_task(const kp_attention_desc& d, const AttentionArgs& args, int64_t task) {
  static thread_local Scratch scratch;
  const PrefillGeom geom = prefill_geom(d);
  // Query blocks are the slowest-varying index, last (longest causal rows) first: the big tasks
  // start early and the small ones fill in at the end.
  const int64_t per_qb = d.batch * d.hkv * geom.head_chunks;
  const int64_t qb = geom.qblocks - 1 - task / per_qb;
  int64_t rest = task % per_qb;
  const int64_t hc = rest % geom.head_chunks;
  rest /= geom.head_chunks;
  const int64_t hk = rest % d.hkv, b = rest / d.hkv;
  const int64_t g0 = hk * geom.group + hc * kHeadsPerTask;  // first query head of the task
  const int64_t ng = min64(kHeadsPerTask, geom.group - hc * kHeadsPerTask);
  const int64_t i0 = qb * kBQ, nq = min64(kBQ, d.sq - i0);
  const int64_t D = d.d, Dv = d.dv, Dvp = cdiv(Dv, W) * W;  // O rows and V rows are whole vectors
  const Visibility vis = visibility(d, args, b);
  const int64_t kv_end = vis.end(i0 + nq - 1);
  const bool convert = d.dtype != KP_F32;
  constexpr int64_t kVecs = kBQ / W;

  const size_t qt_sz = scratch_round(static_cast<size_t>(ng * D * kBQ));
  const size_t o_sz = scratch_round(static_cast<size_t>(ng * kBQ * Dvp));
  const size_t ml_sz = scratch_round(static_cast<size_t>(ng * kBQ));
  const size_t st_sz = scratch_round(static_cast<size_t>(kBK * kBQ));
  const size_t kb_sz = convert ? scratch_round(static_cast<size_t>(kBK * D)) : 0;
  const size_t vb_sz = scratch_round(static_cast<size_t>(kBK * Dvp));
  const size_t tmp_sz = scratch_round(static_cast<size_t>(max64(D, Dv)));
  float* qt = scratch.get(qt_sz + o_sz + 2 * ml_sz + st_sz + scratch_round(kBQ) + kb_sz + vb_sz + tmp_sz);
  float* o = qt + qt_sz;      // per head O: [kBQ][Dvp]
  float* m = o + o_sz;        // per head [kBQ]
  float* l = m + ml_sz;       // per head [kBQ]
  float* st = l + ml_sz;      // S^T, then P^T: [kBK][kBQ]
  float* corr = st + st_sz;   // [kBQ]
  float* kbuf = corr + scratch_round(kBQ);
  float* vbuf = kbuf + kb_sz;
  float* tmp = vbuf + vb_sz;  // one converted row

  // Q^T per head, [D][kBQ]; rows past the last query are zero (their lanes compute and are dropped).
  const int64_t qsz = dtype_size(d.dtype);
  const char* qp = static_cast<const char*>(args.q);
  for (int64_t gi = 0; gi < ng; ++gi) {
    float* q = qt + gi * D * kBQ;
    const RowAddr qa = row_addr(d.layout, b, g0 + gi, d.hq, d.sq, D);
    for (int64_t r = 0; r < kBQ; ++r) {
      if (r < nq) {
        load_row_f32(qp + (qa.base + (i0 + r) * qa.stride) * qsz, d.dtype, D, tmp);
        for (int64_t c = 0; c < D; ++c) q[c * kBQ + r] = tmp[c];
      } else {
        for (int64_t c = 0; c < D; ++c) q[c * kBQ + r] = 0.0f;
      }
    }
  }
  for (int64_t x = 0; x < ng * kBQ * Dvp; ++x) o[x] = 0.0f;
  for (int64_t x = 0; x < ng * kBQ; ++x) m[x] = -INFINITY, l[x] = 0.0f;

  const RowAddr ka = row_addr(d.layout, b, hk, d.hkv, d.skv, D);
  const RowAddr va = row_addr(d.layout, b, hk, d.hkv, d.skv, Dv);
  for (int64_t j0 = 0; j0 < kv_end; j0 += kBK) {
    const int64_t nk = min64(kBK, kv_end - j0);
    const Rows K = f32_rows(args.k, d.dtype, ka.base + j0 * ka.stride, ka.stride, nk, D, kbuf);
    Rows Vb{nullptr, 0};
    bool v_finite = true;
    if (Dv > 0) {
      Vb = f32_rows(args.v, d.dtype, va.base + j0 * va.stride, va.stride, nk, Dv, vbuf, true);
      v_finite = all_finite(Vb.p, Vb.ld, nk, Dv);
    }
    const bool all_see = vis.end(i0) >= j0 + nk;  // the first row sees the whole block, so every row does
    // The next block's K and V rows are asked for a few at a time between score tiles (a burst of
    // a thousand prefetches would stall on the miss queue), so they are in L2 when it starts.
    const int64_t pf_first = j0 + kBK, pf_rows = min64(kBK, max64(kv_end - pf_first, 0));
    const int64_t pf_step = cdiv(pf_rows, ng * cdiv(nk, kMRS));
    int64_t pf_next = 0;

    for (int64_t gi = 0; gi < ng; ++gi) {
      const int64_t h = g0 + gi;
      const float* q = qt + gi * D * kBQ;
      float* oh = o + gi * kBQ * Dvp;
      for (int64_t k0 = 0; k0 < nk; k0 += kMRS) {
        // Query vectors whose last row cannot see key j0 + k0 see none of this tile's keys: skip them
        // (the causal pass below gives them -inf).
        for (const int64_t pf_end = min64(pf_next + pf_step, pf_rows); pf_next < pf_end; ++pf_next) {
          prefetch_rows(args.k, d.dtype, ka.base + (pf_first + pf_next) * ka.stride, 0, 1, D);
          if (Dv > 0) prefetch_rows(args.v, d.dtype, va.base + (pf_first + pf_next) * va.stride, 0, 1, Dv);
        }
        int64_t vmin = 0;
        if (!all_see)
          while (vmin < kVecs && vis.end(i0 + vmin * W + W - 1) <= j0 + k0) ++vmin;
        for (int64_t col = 0; col < kVecs; col += kNV) {
          const int64_t start = max64(col, vmin), end = min64(col + kNV, kVecs);
          if (start >= end) continue;
          tile<ScoreTile>(min64(kMRS, nk - k0), end - start, D, q + start * W, kBQ, K.p + k0 * K.ld, K.ld, d.scale,
                          st + k0 * kBQ + start * W, kBQ);
        }
      }
      if (args.mask) {
        const int64_t* ms = d.mask_stride;
        for (int64_t r = 0; r < nq; ++r) {
          const float* mr = args.mask + ms[0] * b + ms[1] * h + ms[2] * (i0 + r) + ms[3] * j0;
          for (int64_t j = 0; j < nk; ++j) st[j * kBQ + r] += mr[j * ms[3]];
        }
      }
      if (!all_see) {
        // Key j is hidden from rows [0, rmin): a contiguous run of its S^T row (vis.end is monotone
        // in the row, so rmin only grows with j). Padding rows too: their skipped lanes must hold
        // defined values.
        int64_t rmin = 0;
        for (int64_t j = 0; j < nk; ++j) {
          while (rmin < kBQ && vis.end(i0 + rmin) <= j0 + j) ++rmin;
          float* row = st + j * kBQ;
          for (int64_t r = 0; r < rmin; ++r) row[r] = -INFINITY;
        }
      }
      softmax_block(nk, st, m + gi * kBQ, l + gi * kBQ, corr);
      for (int64_t col = 0; col < Dvp / W; col += kNV)
        for (int64_t r0 = 0; r0 < nq; r0 += kMRO) {
          const int64_t rows = min64(kMRO, nq - r0);
          // Keys past the tile's last row's limit have weight 0 for every row of the tile.
          const int64_t kn = all_see ? nk : min64(nk, max64(vis.end(i0 + r0 + rows - 1) - j0, 0));
          if (kn == 0) continue;  // no row sees a key of this block: corr is 1, nothing to add
          const int64_t nv = min64(kNV, Dvp / W - col);
          if (v_finite)
            tile<PvTile>(rows, nv, kn, st + r0, kBQ, Vb.p + col * W, Vb.ld, corr + r0, oh + r0 * Dvp + col * W, Dvp);
          else
            tile<PvTileSkipZero>(rows, nv, kn, st + r0, kBQ, Vb.p + col * W, Vb.ld, corr + r0, oh + r0 * Dvp + col * W,
                                 Dvp);
        }
    }
  }

  const int64_t osz = dtype_size(d.out_dtype);
  char* op = static_cast<char*>(args.out);
  for (int64_t gi = 0; gi < ng; ++gi) {
    const int64_t h = g0 + gi;
    const RowAddr oa = row_addr(d.layout, b, h, d.hq, d.sq, Dv);
    for (int64_t r = 0; r < nq; ++r) {
      // l == 0: no visible key, or every visible score was -inf. A NaN l (a NaN score) propagates.
      const float lr = l[gi * kBQ + r];
      const float* orow = o + (gi * kBQ + r) * Dvp;
      if (Dv > 0) {
        if (lr == 0.0f)
          for (int64_t e = 0; e < Dv; ++e) tmp[e] = 0.0f;
        else
          for (int64_t e = 0; e < Dv; ++e) tmp[e] = orow[e] / lr;
        store_row_f32(op + (oa.base + (i0 + r) * oa.stride) * osz, d.out_dtype, Dv, tmp);
      }
      if (args.lse) args.lse[(b * d.hq + h) * d.sq + i0 + r] = lr == 0.0f ? -INFINITY : m[gi * kBQ + r] + std::log(lr);
    }
  }
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
