// Register-tiled microkernels of the prefill (flash) path.
//
//   scores  S^T[j][r] = scale * sum_c K[j][c] * Q^T[c][r]    (keys broadcast, query rows on lanes,
//                                                           Q^T packed [D][BQ] once per task)
//   output  O[r][e] = corr[r] * O[r][e] + sum_j P^T[j][r] * V[j][e]   (weights broadcast, values on lanes)
//
// With query rows on the lanes of S^T, the online softmax's per-row max, sum and rescale factor are
// plain vector operations (no horizontal reductions); O keeps rows contiguous so the output is
// written without a transpose, and a tile of MR rows stops at the last key its last row may see
// (causal blocks cost about half). K and V are read in place (any row stride: both layouts, and
// GQA's shared heads with no copy); 16-bit inputs are converted once per block for every query head
// that shares it.
#pragma once
#include <cstdint>

#include "attention_simd.h"

namespace kp::cpu::KP_ISA {
namespace {

// Tile shapes per vector flavour: MR broadcast rows (keys, or value columns) x NV vectors of query
// rows, sized so the MR*NV accumulators, NV loaded vectors and a broadcast fit the register file.
// kMRS: key rows of a score tile; kMRO: query rows of an output tile.
#if defined(KP_ATT_AVX512)
#ifndef KP_ATT_MRS
#define KP_ATT_MRS 6
#endif
#ifndef KP_ATT_MRO
#define KP_ATT_MRO 6
#endif
constexpr int kMRS = KP_ATT_MRS, kMRO = KP_ATT_MRO, kNV = 4;  // up to 24 accumulators of 32 zmm
#elif defined(KP_ATT_NEON)
constexpr int kMRS = 4, kMRO = 4, kNV = 4;  // 16 of 32 q registers
#else
constexpr int kMRS = 4, kMRO = 4, kNV = 2;  // 8 of 16 ymm (AVX2); the portable path
#endif
static_assert(kMRS <= 6 && kMRO <= 6 && kNV <= 4, "tile() instantiates up to 6 rows and 4 vectors");

// S^T rows [0, MR) (keys k, k + ldk, ...) x lanes [0, NV*W) of packed queries. Each score is one FMA
// chain over c in order, the same on every thread.
template <int MR, int NV>
struct ScoreTile {
  static void run(int64_t D, const float* __restrict qt, int64_t ldq, const float* __restrict k, int64_t ldk,
                  float scale, float* __restrict st, int64_t ldst) {
    if constexpr (MR <= kMRS && NV <= kNV) {
      V acc[MR][NV];
      for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) acc[i][v] = vzero();
      for (int64_t c = 0; c < D; ++c) {
        V q[NV];
        for (int v = 0; v < NV; ++v) q[v] = vload(qt + c * ldq + v * W);
        for (int i = 0; i < MR; ++i) {
          const V b = vset1(k[i * ldk + c]);
          for (int v = 0; v < NV; ++v) acc[i][v] = vfma(b, q[v], acc[i][v]);
        }
      }
      const V s = vset1(scale);
      for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) vstore(st + i * ldst + v * W, vmul(acc[i][v], s));
    }
  }
};

// O rows [0, MR) x value lanes [0, NV*W): rescaled by corr[i], plus the nk keys' P^T[j][i] * V[j][..].
// SKIP_ZERO: a zero weight leaves the accumulator untouched, so a masked key's NaN/Inf value cannot
// leak through 0 * v (used only for blocks whose V is not all finite).
template <int MR, int NV, bool SKIP_ZERO>
struct PvTileImpl {
  static void run(int64_t nk, const float* __restrict pt, int64_t ldp, const float* __restrict vb, int64_t ldv,
                  const float* __restrict corr, float* __restrict o, int64_t ldo) {
    if constexpr (MR <= kMRO && NV <= kNV) {
      V acc[MR][NV];
      for (int i = 0; i < MR; ++i) {
        const V c = vset1(corr[i]);
        for (int v = 0; v < NV; ++v) acc[i][v] = vmul(vload(o + i * ldo + v * W), c);
      }
      const V zero = vzero();
      for (int64_t j = 0; j < nk; ++j) {
        V x[NV];
        for (int v = 0; v < NV; ++v) x[v] = vload(vb + j * ldv + v * W);
        for (int i = 0; i < MR; ++i) {
          const V b = vset1(pt[j * ldp + i]);
          for (int v = 0; v < NV; ++v) {
            const V f = vfma(b, x[v], acc[i][v]);
            acc[i][v] = SKIP_ZERO ? vsel_eq(b, zero, acc[i][v], f) : f;
          }
        }
      }
      for (int i = 0; i < MR; ++i)
        for (int v = 0; v < NV; ++v) vstore(o + i * ldo + v * W, acc[i][v]);
    }
  }
};
template <int MR, int NV>
struct PvTile : PvTileImpl<MR, NV, false> {};
template <int MR, int NV>
struct PvTileSkipZero : PvTileImpl<MR, NV, true> {};

// Runtime (rows in [1, kMRS or kMRO], vectors in [1, kNV]) to a microkernel instance: the tails of a block
// run the same kernel with fewer rows or vectors instead of reading past the last key or column.
template <template <int, int> class K, int NV, typename... A>
inline void tile_rows(int64_t rows, A... a) {
  switch (rows) {
    case 1: K<1, NV>::run(a...); break;
    case 2: K<2, NV>::run(a...); break;
    case 3: K<3, NV>::run(a...); break;
    case 4: K<4, NV>::run(a...); break;
    case 5: K<5, NV>::run(a...); break;
    default: K<6, NV>::run(a...); break;
  }
}
template <template <int, int> class K, typename... A>
inline void tile(int64_t rows, int64_t nv, A... a) {
  switch (nv) {
    case 1: tile_rows<K, 1>(rows, a...); break;
    case 2: tile_rows<K, 2>(rows, a...); break;
    case 3: tile_rows<K, 3>(rows, a...); break;
    default: tile_rows<K, 4>(rows, a...); break;
  }
}

}  // namespace
}  // namespace kp::cpu::KP_ISA
