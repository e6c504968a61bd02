// Decode attention (Sq <= kDecodeMaxSq): split-KV, so a handful of query rows still spreads a long KV
// cache over every thread, and each K/V byte is read once for all query heads of its GQA group.
//
// Phase 0, one task = (batch b, kv head hk, split s): the keys [s*split, (s+1)*split) of that head
// against all G*Sq query rows of its group (head-major: q = g*Sq + i). Scores are dot products (keys
// are few per query, so no packing), the online softmax runs over chunks of kKC keys (lanes = keys),
// then O += P V with the values on lanes. The task leaves its unnormalised (m, l, O) per query row
// in the workspace, or, when the row's visible keys fit one split, writes the output directly.
// Phase 1, one task = (b, hk): combines the splits in split order: M = max m_s,
// O = sum O_s exp(m_s - M) / sum l_s exp(m_s - M).
//
// The split size is fixed (kSplit keys, only raised, as a function of the shape, when one head's
// partials would exceed kMaxHeadWorkspace), so splits, their order and the combine are the same
// for any thread count: results are bitwise identical. Rounds bound the workspace: each round runs
// both phases for up to pairs_per_round (b, hk) pairs.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "attention_common.h"
#include "isa_kernels.h"
#include "scratch.h"

namespace kp::cpu::KP_ISA {
namespace {

constexpr int64_t kDecodeMaxSq = 8;                      // Sq up to this takes the split-KV path
constexpr int64_t kSplit = 256;                          // keys per split
constexpr int64_t kKC = 64;                              // keys per softmax chunk inside a split
constexpr int64_t kQG = 4;                               // query rows per dot-product / P.V group (vhsum4)
constexpr int64_t kMaxRoundWorkspace = 1 << 20;          // floats of partials per round (4 MiB)
constexpr int64_t kMaxHeadWorkspace = 4 << 20;           // floats of partials for one (b, hk)
static_assert(kSplit % kKC == 0 && kKC % 16 == 0 && kKC % 4 == 0, "chunks tile a split; a chunk is whole vectors");
static_assert(kQG == 4, "dots / dots4 reduce four query rows at once");
#if defined(KP_ATT_AVX512) || defined(KP_ATT_NEON)
constexpr int kNE = 4;  // value vectors per P.V tile: kQG x kNE accumulators
#else
constexpr int kNE = 2;
#endif

struct DecodeGeom {
  int64_t group, nq, nqp;        // query rows per (b, hk): G * Sq, and padded to kQG
  int64_t split, nsplit;         // keys per split; splits of the longest row
  int64_t pairs, pairs_per_round, rounds;
  int64_t slot;                  // floats per (split, query row) partial: m, l, O[Dv]
};

inline DecodeGeom decode_geom(const kp_attention_desc& d) {
  DecodeGeom g;
  g.group = d.hq / d.hkv;
  g.nq = g.group * d.sq;
  g.nqp = cdiv(g.nq, kQG) * kQG;
  g.slot = 2 + d.dv;
  g.split = kSplit;
  const int64_t per_split = g.nq * g.slot;
  const int64_t max_splits = max64(2, kMaxHeadWorkspace / per_split);
  if (cdiv(d.skv, g.split) > max_splits) g.split = cdiv(cdiv(d.skv, max_splits), kKC) * kKC;
  g.nsplit = max64(1, cdiv(d.skv, g.split));
  g.pairs = d.batch * d.hkv;
  if (g.nsplit == 1) {
    g.pairs_per_round = g.pairs, g.rounds = 1;  // every row fits one split: no partials, no combine
  } else {
    g.pairs_per_round = min64(g.pairs, max64(1, kMaxRoundWorkspace / (g.nsplit * per_split)));
    g.rounds = cdiv(g.pairs, g.pairs_per_round);
  }
  return g;
}

inline AttentionPlan decode_plan(const kp_attention_desc& d) {
  const DecodeGeom g = decode_geom(d);
  AttentionPlan p;
  p.rounds = g.rounds;
  p.tasks[0] = g.pairs_per_round * g.nsplit;
  p.tasks[1] = g.nsplit > 1 ? g.pairs_per_round : 0;
  p.workspace_floats = g.nsplit > 1 ? static_cast<size_t>(g.pairs_per_round * g.nsplit * g.nq * g.slot) : 0;
  return p;
}

// out[x] = scale * q_x . k for the kQG query rows q (row stride ld) and one key row k.
inline void dots(int64_t D, const float* __restrict q, int64_t ld, const float* __restrict k, float scale,
                 float* __restrict out) {
  V a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
  int64_t c = 0;
  for (; c + W <= D; c += W) {
    const V kv = vload(k + c);
    a0 = vfma(kv, vload(q + c), a0);
    a1 = vfma(kv, vload(q + ld + c), a1);
    a2 = vfma(kv, vload(q + 2 * ld + c), a2);
    a3 = vfma(kv, vload(q + 3 * ld + c), a3);
  }
  float s[4];
  vhsum4(a0, a1, a2, a3, s);
  for (; c < D; ++c)
    for (int x = 0; x < 4; ++x) s[x] = sfma(q[x * ld + c], k[c], s[x]);
  for (int x = 0; x < 4; ++x) out[x] = s[x] * scale;
}

// out[y][x] = scale * q_x . k_y for kQG query rows and 4 key rows (stride ldk): each loaded query
// vector serves 4 keys, so the loop is bound by FMAs rather than by loads.
inline void dots4(int64_t D, const float* __restrict q, int64_t ld, const float* __restrict k, int64_t ldk, float scale,
                  float (*__restrict out)[kQG]) {
  V a[4][kQG];
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < kQG; ++x) a[y][x] = vzero();
  int64_t c = 0;
  for (; c + W <= D; c += W) {
    V qv[kQG];
    for (int x = 0; x < kQG; ++x) qv[x] = vload(q + x * ld + c);
    for (int y = 0; y < 4; ++y) {
      const V kv = vload(k + y * ldk + c);
      for (int x = 0; x < kQG; ++x) a[y][x] = vfma(kv, qv[x], a[y][x]);
    }
  }
  for (int y = 0; y < 4; ++y) {
    float s[4];
    vhsum4(a[y][0], a[y][1], a[y][2], a[y][3], s);
    for (int64_t cc = c; cc < D; ++cc)
      for (int x = 0; x < 4; ++x) s[x] = sfma(q[x * ld + cc], k[y * ldk + cc], s[x]);
    for (int x = 0; x < 4; ++x) out[y][x] = s[x] * scale;
  }
}

// o[x][e .. e + NE*W) = corr[x] * o[x][..] + sum_j p[x][j] * v[j][e ..] for the kQG rows x.
// SKIP_ZERO: a zero weight is skipped, so a masked key's NaN/Inf value cannot leak through 0 * v.
template <int NE, bool SKIP_ZERO>
inline void pv_group(int64_t nk, const float* __restrict p, const float* __restrict vb, int64_t ldv, int64_t e,
                     const float* __restrict corr, float* __restrict o, int64_t ldo) {
  V acc[kQG][NE];
  for (int x = 0; x < kQG; ++x) {
    const V c = vset1(corr[x]);
    for (int y = 0; y < NE; ++y) acc[x][y] = vmul(vload(o + x * ldo + e + y * W), c);
  }
  for (int64_t j = 0; j < nk; ++j) {
    V vv[NE];
    for (int y = 0; y < NE; ++y) vv[y] = vload(vb + j * ldv + e + y * W);
    for (int x = 0; x < kQG; ++x) {
      const float pj = p[x * kKC + j];
      if (SKIP_ZERO && pj == 0.0f) continue;
      const V b = vset1(pj);
      for (int y = 0; y < NE; ++y) acc[x][y] = vfma(b, vv[y], acc[x][y]);
    }
  }
  for (int x = 0; x < kQG; ++x)
    for (int y = 0; y < NE; ++y) vstore(o + x * ldo + e + y * W, acc[x][y]);
}

template <bool SKIP_ZERO>
inline void pv_chunk(int64_t nk, int64_t nqp, int64_t Dv, const float* p, const float* vb, int64_t ldv,
                     const float* corr, float* o) {
  for (int64_t q0 = 0; q0 < nqp; q0 += kQG) {
    const float* pq = p + q0 * kKC;
    float* oq = o + q0 * Dv;
    int64_t e = 0;
    for (; e + kNE * W <= Dv; e += kNE * W) pv_group<kNE, SKIP_ZERO>(nk, pq, vb, ldv, e, corr + q0, oq, Dv);
    for (; e + W <= Dv; e += W) pv_group<1, SKIP_ZERO>(nk, pq, vb, ldv, e, corr + q0, oq, Dv);
    for (; e < Dv; ++e)  // the last Dv % W columns
      for (int x = 0; x < kQG; ++x) {
        float a = oq[x * Dv + e] * corr[q0 + x];
        for (int64_t j = 0; j < nk; ++j) {
          const float pj = pq[x * kKC + j];
          if (SKIP_ZERO && pj == 0.0f) continue;
          a = sfma(pj, vb[j * ldv + e], a);
        }
        oq[x * Dv + e] = a;
      }
  }
}

// Online softmax of one query row over a chunk: s holds kKC scores (entries past nk are -inf),
// which become the weights. Returns the factor the row's old sum and output are scaled by.
inline float softmax_chunk(float* __restrict s, float& m, float& l) {
  V mv = vset1(m);
  for (int64_t j = 0; j < kKC; j += W) mv = vmax(vload(s + j), mv);  // a NaN score is never the max
  const float mx = vhmax(mv);
  const float c = m == mx ? 1.0f : sexp(m - mx);  // -inf == -inf: nothing seen yet
  // vexp(-inf) is exactly 0; a max still at -inf (every score -inf) subtracts 0 to avoid -inf - -inf.
  const V mxv = vset1(mx == -INFINITY ? 0.0f : mx);
  V sum = vzero();
  for (int64_t j = 0; j < kKC; j += W) {
    const V e = vexp(vsub(vload(s + j), mxv));
    vstore(s + j, e);
    sum = vadd(sum, e);
  }
  l = l * c + vhsum(sum);
  m = mx;
  return c;
}

// Writes one finished row: out = O / l (0 for a fully masked row) and lse = m + log l.
inline void finish_row(const kp_attention_desc& d, const AttentionArgs& args, int64_t b, int64_t h, int64_t i, float m,
                       float l, const float* o, float* tmp) {
  const bool empty = l == 0.0f;
  if (d.dv > 0) {
    for (int64_t e = 0; e < d.dv; ++e) tmp[e] = empty ? 0.0f : o[e] / l;
    const RowAddr oa = row_addr(d.layout, b, h, d.hq, d.sq, d.dv);
    store_row_f32(static_cast<char*>(args.out) + (oa.base + i * oa.stride) * dtype_size(d.out_dtype), d.out_dtype,
                  d.dv, tmp);
  }
  if (args.lse) args.lse[(b * d.hq + h) * d.sq + i] = empty ? -INFINITY : m + std::log(l);
}

// Splits that hold keys of batch row b (at least 1, so a row with no visible key is still written).
inline int64_t splits_of(const DecodeGeom& g, const Visibility& vis, int64_t sq) {
  return max64(1, cdiv(vis.end(sq - 1), g.split));
}

void decode_task(const kp_attention_desc& d, const AttentionArgs& args, int64_t round, int64_t task) {
  static thread_local Scratch scratch;
  const DecodeGeom g = decode_geom(d);
  const int64_t local = task / g.nsplit, s = task % g.nsplit;
  const int64_t pair = round * g.pairs_per_round + local;
  if (local >= g.pairs_per_round || pair >= g.pairs) return;
  const int64_t b = pair / d.hkv, hk = pair % d.hkv;
  const Visibility vis = visibility(d, args, b);
  const int64_t ns = splits_of(g, vis, d.sq);
  if (s >= ns) return;
  const int64_t ks = s * g.split, ke = min64(vis.end(d.sq - 1), ks + g.split);
  const int64_t D = d.d, Dv = d.dv, nqp = g.nqp;
  const bool convert = d.dtype != KP_F32;

  const size_t q_sz = scratch_round(static_cast<size_t>(nqp * D));
  const size_t s_sz = scratch_round(static_cast<size_t>(nqp * kKC));
  const size_t o_sz = scratch_round(static_cast<size_t>(nqp * Dv));
  const size_t r_sz = scratch_round(static_cast<size_t>(nqp));
  const size_t kb_sz = convert ? scratch_round(static_cast<size_t>(kKC * D)) : 0;
  const size_t vb_sz = convert ? scratch_round(static_cast<size_t>(kKC * Dv)) : 0;
  const size_t tmp_sz = scratch_round(static_cast<size_t>(max64(D, Dv)));
  float* q = scratch.get(q_sz + s_sz + 2 * o_sz + 3 * r_sz + kb_sz + vb_sz + tmp_sz);
  float* sc = q + q_sz;   // scores, then weights: [nqp][kKC]
  float* o = sc + s_sz;   // [nqp][Dv]
  float* obak = o + o_sz; // o before the current chunk
  float* m = obak + o_sz;
  float* l = m + r_sz;
  float* corr = l + r_sz;
  float* kbuf = corr + r_sz;
  float* vbuf = kbuf + kb_sz;
  float* tmp = vbuf + vb_sz;

  // Query rows of the whole group, f32, padded with zero rows to a multiple of kQG.
  const int64_t qsz = dtype_size(d.dtype);
  for (int64_t x = 0; x < nqp; ++x) {
    float* qr = q + x * D;
    if (x < g.nq) {
      const RowAddr qa = row_addr(d.layout, b, hk * g.group + x / d.sq, d.hq, d.sq, D);
      load_row_f32(static_cast<const char*>(args.q) + (qa.base + (x % d.sq) * qa.stride) * qsz, d.dtype, D, qr);
    } else {
      for (int64_t c = 0; c < D; ++c) qr[c] = 0.0f;
    }
    m[x] = -INFINITY, l[x] = 0.0f;
  }
  for (int64_t x = 0; x < nqp * Dv; ++x) o[x] = 0.0f;

  const RowAddr ka = row_addr(d.layout, b, hk, d.hkv, d.skv, D);
  const RowAddr va = row_addr(d.layout, b, hk, d.hkv, d.skv, Dv);
  const float ninf = -INFINITY;
  for (int64_t j0 = ks; j0 < ke; j0 += kKC) {
    const int64_t nk = min64(kKC, ke - j0);
    const Rows K = f32_rows(args.k, d.dtype, ka.base + j0 * ka.stride, ka.stride, nk, D, kbuf);
    // Decode is bound by memory: keep the next chunk's K and V rows streaming in (one row each per
    // key of this chunk) while this one computes.
    const int64_t pf_rows = min64(kKC, ke - j0 - kKC);
    for (int64_t q0 = 0; q0 < nqp; q0 += kQG) {
      float out[kQG];
      int64_t j = 0;
      for (; j + 4 <= nk; j += 4) {
        for (int64_t y = j; q0 == 0 && y < j + 4 && y < pf_rows; ++y) {
          prefetch_rows(args.k, d.dtype, ka.base + (j0 + kKC + y) * ka.stride, 0, 1, D);
          if (Dv > 0) prefetch_rows(args.v, d.dtype, va.base + (j0 + kKC + y) * va.stride, 0, 1, Dv);
        }
        float o4[4][kQG];
        dots4(D, q + q0 * D, D, K.p + j * K.ld, K.ld, d.scale, o4);
        for (int y = 0; y < 4; ++y)
          for (int x = 0; x < kQG; ++x) sc[(q0 + x) * kKC + j + y] = o4[y][x];
      }
      for (; j < nk; ++j) {  // the last nk % 4 keys (prefetching is over by then: nk < kKC)
        dots(D, q + q0 * D, D, K.p + j * K.ld, d.scale, out);
        for (int x = 0; x < kQG; ++x) sc[(q0 + x) * kKC + j] = out[x];
      }
    }
    for (int64_t x = 0; x < nqp; ++x) {
      float* sr = sc + x * kKC;
      for (int64_t j = nk; j < kKC; ++j) sr[j] = ninf;
      if (x >= g.nq) continue;
      const int64_t h = hk * g.group + x / d.sq, i = x % d.sq;
      if (args.mask) {
        const int64_t* ms = d.mask_stride;
        const float* mr = args.mask + ms[0] * b + ms[1] * h + ms[2] * i + ms[3] * j0;
        for (int64_t j = 0; j < nk; ++j) sr[j] += mr[j * ms[3]];
      }
      for (int64_t j = max64(vis.end(i) - j0, 0); j < nk; ++j) sr[j] = ninf;  // causally hidden from this row
    }
    for (int64_t x = 0; x < nqp; ++x) corr[x] = softmax_chunk(sc + x * kKC, m[x], l[x]);
    if (Dv > 0) {
      // Plain FMAs first; only if the outputs stop being finite (a NaN/Inf value, which a zero weight
      // must not turn into 0 * v = NaN, or a NaN score) is the chunk redone skipping zero weights.
      // Checking the few accumulators is cheaper than scanning the values before use.
      const Rows Vb = f32_rows(args.v, d.dtype, va.base + j0 * va.stride, va.stride, nk, Dv, vbuf);
      std::memcpy(obak, o, static_cast<size_t>(nqp * Dv) * sizeof(float));
      pv_chunk<false>(nk, nqp, Dv, sc, Vb.p, Vb.ld, corr, o);
      if (!all_finite(o, Dv, nqp, Dv)) {
        std::memcpy(o, obak, static_cast<size_t>(nqp * Dv) * sizeof(float));
        pv_chunk<true>(nk, nqp, Dv, sc, Vb.p, Vb.ld, corr, o);
      }
    }
  }

  if (ns == 1) {  // the whole row in this task: no partials
    for (int64_t x = 0; x < g.nq; ++x)
      finish_row(d, args, b, hk * g.group + x / d.sq, x % d.sq, m[x], l[x], o + x * Dv, tmp);
    return;
  }
  float* ws = args.workspace + (local * g.nsplit + s) * g.nq * g.slot;
  for (int64_t x = 0; x < g.nq; ++x) {
    float* w = ws + x * g.slot;
    w[0] = m[x], w[1] = l[x];
    for (int64_t e = 0; e < Dv; ++e) w[2 + e] = o[x * Dv + e];
  }
}

void decode_combine(const kp_attention_desc& d, const AttentionArgs& args, int64_t round, int64_t task) {
  static thread_local Scratch scratch;
  const DecodeGeom g = decode_geom(d);
  const int64_t pair = round * g.pairs_per_round + task;
  if (task >= g.pairs_per_round || pair >= g.pairs) return;
  const int64_t b = pair / d.hkv, hk = pair % d.hkv;
  const int64_t ns = splits_of(g, visibility(d, args, b), d.sq);
  if (ns == 1) return;  // finished by its only split
  const int64_t Dv = d.dv;
  float* o = scratch.get(2 * scratch_round(static_cast<size_t>(Dv)));
  float* tmp = o + scratch_round(static_cast<size_t>(Dv));
  const float* ws = args.workspace + task * g.nsplit * g.nq * g.slot;
  for (int64_t x = 0; x < g.nq; ++x) {
    // m is never NaN (see softmax_chunk); a NaN l propagates through the sums.
    float mx = -INFINITY;
    for (int64_t s = 0; s < ns; ++s) mx = ws[(s * g.nq + x) * g.slot] > mx ? ws[(s * g.nq + x) * g.slot] : mx;
    float l = 0.0f;
    for (int64_t e = 0; e < Dv; ++e) o[e] = 0.0f;
    for (int64_t s = 0; s < ns; ++s) {
      const float* w = ws + (s * g.nq + x) * g.slot;
      if (w[0] == -INFINITY) continue;  // nothing visible in this split: l = 0, O = 0
      const float f = sexp(w[0] - mx);
      l = sfma(w[1], f, l);
      for (int64_t e = 0; e < Dv; ++e) o[e] = sfma(w[2 + e], f, o[e]);
    }
    finish_row(d, args, b, hk * g.group + x / d.sq, x % d.sq, mx, l, o, tmp);
  }
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
