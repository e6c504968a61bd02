// Cache-blocked, packed GEMM with the fused epilogue, instantiated once per ISA.
//
// Include from exactly one translation unit per ISA after defining:
//   KP_ISA       the namespace (generic | avx2 | avx512 | neon) and the variant's name
//   KP_GEMM_MR   microkernel rows, KP_GEMM_NR microkernel columns (a multiple of the vector width)
//   KP_GEMM_MC, KP_GEMM_KC, KP_GEMM_NC   cache blocks (MC % MR == 0, NC % NR == 0)
// The code is plain C++ written so that the compiler, given the unit's -m flags, keeps the
// MR x NR accumulator tile in vector registers and emits FMAs.
//
// Determinism: the op is split into fixed tiles of MC rows x NC columns per batch entry, never
// over K. Every output element is one f32 accumulator updated in k order (one fused multiply-add
// per k on FMA targets), followed by the same epilogue, whichever thread runs its tile, so results
// are bitwise identical for any thread count.
#pragma once
#include <cstdint>
#include <utility>

#include "convert.h"
#include "epilogue.h"
#include "isa_kernels.h"
#include "scratch.h"

#if !defined(KP_ISA) || !defined(KP_GEMM_MR) || !defined(KP_GEMM_NR) || !defined(KP_GEMM_MC) || \
    !defined(KP_GEMM_KC) || !defined(KP_GEMM_NC)
#error "gemm_impl.h needs KP_ISA and the KP_GEMM_* block sizes defined first"
#endif

#define KP_STR2(x) #x
#define KP_STR(x) KP_STR2(x)

namespace kp::cpu::KP_ISA {
namespace {

constexpr int MR = KP_GEMM_MR;
constexpr int NR = KP_GEMM_NR;
constexpr int64_t MC = KP_GEMM_MC;
constexpr int64_t KC = KP_GEMM_KC;
constexpr int64_t NC = KP_GEMM_NC;
static_assert(MC % MR == 0 && NC % NR == 0, "cache blocks must hold whole microtiles");

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

inline float madd(float a, float b, float c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

// c (R x NR, row stride ldc) = (load ? c : 0) + a_panel * b_panel over kc.
// a: kc groups of R floats; b: kc groups of NR floats (see the pack functions).
template <int R>
inline void microkernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* __restrict c,
                        int64_t ldc, bool load) {
  float acc[R][NR];
  if (load) {
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] = c[i * ldc + j];
  } else {
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] = 0.0f;
  }
  for (int64_t p = 0; p < kc; ++p) {
    const float* bp = b + p * NR;
    const float* ap = a + p * R;
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const float ai = ap[i];
      for (int j = 0; j < NR; ++j) acc[i][j] = madd(ai, bp[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = acc[i][j];
}

using MicroFn = void (*)(int64_t, const float*, const float*, float*, int64_t, bool);

// Partial row panels at the bottom edge get a kernel of their own height, so a 1-row GEMV-like
// problem does not pay for MR rows.
template <int... R>
struct MicroTable {
  static constexpr MicroFn fns[sizeof...(R)] = {&microkernel<R + 1>...};
};
template <int... R>
constexpr MicroFn MicroTable<R...>::fns[sizeof...(R)];

template <int... I>
constexpr const MicroFn* micro_table(std::integer_sequence<int, I...>) {
  return MicroTable<I...>::fns;
}

struct SrcF32 {
  using T = float;
  static constexpr bool kIsF32 = true;
  static float get(T x) { return x; }
};
struct SrcF16 {
  using T = uint16_t;
  static constexpr bool kIsF32 = false;
  static float get(T x) { return f16_to_f32(x); }
};
struct SrcBF16 {
  using T = uint16_t;
  static constexpr bool kIsF32 = false;
  static float get(T x) { return bf16_to_f32(x); }
};

// Packs rows [0, mb) x k-range [0, kc) of A (element (i, p) at src[i*rs + p*cs]) into row panels
// of MR (the last one of its own height r): panel at dst + ir*kc, element (i, p) at [p*r + i].
template <class S>
void pack_a(const void* src_v, int64_t rs, int64_t cs, int64_t mb, int64_t kc, float* __restrict dst) {
  const typename S::T* src = static_cast<const typename S::T*>(src_v);
  for (int64_t ir = 0; ir < mb; ir += MR) {
    const int64_t r = min64(MR, mb - ir);
    float* __restrict d = dst + ir * kc;
    const typename S::T* __restrict s = src + ir * rs;
    if (cs == 1) {
      for (int64_t i = 0; i < r; ++i)
        for (int64_t p = 0; p < kc; ++p) d[p * r + i] = S::get(s[i * rs + p]);
    } else if (S::kIsF32 && r == MR) {
      for (int64_t p = 0; p < kc; ++p) __builtin_memcpy(d + p * MR, s + p * cs, MR * sizeof(float));
    } else {
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t i = 0; i < r; ++i) d[p * r + i] = S::get(s[p * cs + i * rs]);
    }
  }
}

// Distance between packed B panels: one panel plus a cache line, so that the panels written
// side by side while packing row by row do not all map to the same L1 set (kc*NR floats is a
// multiple of 4 KiB for the usual kc).
inline int64_t b_panel_stride(int64_t kc) { return kc * NR + 16; }

// Packs k-range [0, kc) x columns [0, nb) of B (element (p, j) at src[p*rs + j*cs]) into column
// panels of NR, zero-padded past nb: panel q at dst + q*b_panel_stride(kc), element (p, j) at
// [p*NR + j].
template <class S>
void pack_b(const void* src_v, int64_t rs, int64_t cs, int64_t kc, int64_t nb, float* __restrict dst) {
  const typename S::T* src = static_cast<const typename S::T*>(src_v);
  const int64_t ps = b_panel_stride(kc);
  const int64_t full = nb / NR * NR;
  if (cs == 1) {
    // Row by row, so B is read along its contiguous rows.
    for (int64_t p = 0; p < kc; ++p) {
      const typename S::T* __restrict s = src + p * rs;
      for (int64_t jr = 0; jr < full; jr += NR) {
        float* __restrict d = dst + jr / NR * ps + p * NR;
        // A fixed-size memcpy is inlined as vector moves; GCC would otherwise turn the f32 loop
        // into a memmove call per 128 bytes.
        if constexpr (S::kIsF32) __builtin_memcpy(d, s + jr, NR * sizeof(float));
        else
          for (int j = 0; j < NR; ++j) d[j] = S::get(s[jr + j]);
      }
      if (full < nb) {
        float* __restrict d = dst + full / NR * ps + p * NR;
        for (int64_t j = 0; j < NR; ++j) d[j] = full + j < nb ? S::get(s[full + j]) : 0.0f;
      }
    }
    return;
  }
  for (int64_t jr = 0; jr < nb; jr += NR) {
    const int64_t nr = min64(NR, nb - jr);
    float* __restrict d = dst + jr / NR * ps;
    const typename S::T* __restrict s = src + jr * cs;
    for (int64_t j = 0; j < nr; ++j)
      for (int64_t p = 0; p < kc; ++p) d[p * NR + j] = S::get(s[j * cs + p * rs]);
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t j = nr; j < NR; ++j) d[p * NR + j] = 0.0f;
  }
}

using PackFn = void (*)(const void*, int64_t, int64_t, int64_t, int64_t, float*);

PackFn pack_a_for(kp_dtype dt) {
  return dt == KP_F16 ? &pack_a<SrcF16> : dt == KP_BF16 ? &pack_a<SrcBF16> : &pack_a<SrcF32>;
}
PackFn pack_b_for(kp_dtype dt) {
  return dt == KP_F16 ? &pack_b<SrcF16> : dt == KP_BF16 ? &pack_b<SrcBF16> : &pack_b<SrcF32>;
}

struct Blocks {
  int64_t batch, mblocks, nblocks;
};

Blocks blocks_of(const kp_matmul_desc& d) {
  Blocks b{1, (d.m + MC - 1) / MC, (d.n + NC - 1) / NC};
  for (int i = 0; i < d.batch_rank; ++i) b.batch *= d.batch_shape[i];
  return b;
}

int64_t gemm_tasks(const kp_matmul_desc& d) {
  if (d.m <= 0 || d.n <= 0) return 0;
  const Blocks b = blocks_of(d);
  return b.batch * b.mblocks * b.nblocks;
}

// out rows [m0, m0+mb) x cols [n0, n0+nb) from the f32 accumulator tile c (row stride ldc).
void epilogue_tile(const kp_matmul_desc& d, const MatmulArgs& args, int64_t batch_index, int64_t r_off, int64_t m0,
                   int64_t mb, int64_t n0, int64_t nb, float* c, int64_t ldc, float* bias_row, float* res_row) {
  if (d.has_bias) load_row_f32(static_cast<const char*>(args.bias) + n0 * dtype_size(d.bias_dtype), d.bias_dtype, nb,
                               bias_row);
  const int64_t out_size = dtype_size(d.out_dtype);
  for (int64_t i = 0; i < mb; ++i) {
    float* row = c + i * ldc;
    if (d.alpha != 1.0f) {
      const float alpha = d.alpha;
      for (int64_t j = 0; j < nb; ++j) row[j] = alpha * row[j];
    }
    if (d.has_bias)
      for (int64_t j = 0; j < nb; ++j) row[j] = row[j] + bias_row[j];
    apply_activation(d.activation, row, nb);
    if (d.has_residual) {
      const int64_t base = r_off + (m0 + i) * d.r_row_stride + n0 * d.r_col_stride;
      if (d.r_col_stride == 1) {
        load_row_f32(static_cast<const char*>(args.residual) + base * dtype_size(d.residual_dtype), d.residual_dtype,
                     nb, res_row);
      } else {
        for (int64_t j = 0; j < nb; ++j)
          res_row[j] = load_f32(args.residual, d.residual_dtype, base + j * d.r_col_stride);
      }
      const float beta = d.beta;
      for (int64_t j = 0; j < nb; ++j) row[j] = row[j] + beta * res_row[j];
    }
    const int64_t o = (batch_index * d.m + m0 + i) * d.n + n0;
    store_row_f32(static_cast<char*>(args.out) + o * out_size, d.out_dtype, nb, row);
  }
}

void gemm_task(const kp_matmul_desc& d, const MatmulArgs& args, int64_t task) {
  static thread_local Scratch scratch;
  const Blocks bl = blocks_of(d);
  const int64_t ni = task % bl.nblocks;
  task /= bl.nblocks;
  const int64_t mi = task % bl.mblocks;
  const int64_t bt = task / bl.mblocks;

  // Operand offsets of this batch entry (row-major over batch_shape; stride 0 broadcasts).
  int64_t a_off = 0, b_off = 0, r_off = 0;
  for (int64_t rem = bt, i = d.batch_rank - 1; i >= 0; --i) {
    const int64_t idx = rem % d.batch_shape[i];
    rem /= d.batch_shape[i];
    a_off += idx * d.a_batch_stride[i];
    b_off += idx * d.b_batch_stride[i];
    if (d.has_residual) r_off += idx * d.r_batch_stride[i];
  }

  const int64_t m0 = mi * MC, mb = min64(MC, d.m - m0);
  const int64_t n0 = ni * NC, nb = min64(NC, d.n - n0);
  const int64_t ldc = (nb + NR - 1) / NR * NR;
  const int64_t kc_max = min64(KC, d.k > 0 ? d.k : 1);

  const size_t a_sz = scratch_round(static_cast<size_t>(MC * kc_max));
  const size_t b_sz = scratch_round(static_cast<size_t>(ldc / NR * b_panel_stride(kc_max)));
  const size_t c_sz = scratch_round(static_cast<size_t>(MC * ldc));
  const size_t row_sz = scratch_round(static_cast<size_t>(NC));
  float* ap = scratch.get(a_sz + b_sz + c_sz + 2 * row_sz);
  float* bp = ap + a_sz;
  float* c = bp + b_sz;
  float* bias_row = c + c_sz;
  float* res_row = bias_row + row_sz;

  const int64_t esz = dtype_size(d.dtype);
  // A is [M,K] (rs K, cs 1) or, transposed, [K,M] (rs 1, cs M); B likewise [K,N] or [N,K].
  const int64_t a_rs = d.trans_a ? 1 : d.k, a_cs = d.trans_a ? d.m : 1;
  const int64_t b_rs = d.trans_b ? 1 : d.n, b_cs = d.trans_b ? d.k : 1;
  const char* a_base = static_cast<const char*>(args.a) + (a_off + m0 * a_rs) * esz;
  const char* b_base = static_cast<const char*>(args.b) + (b_off + n0 * b_cs) * esz;
  const PackFn pa = pack_a_for(d.dtype);
  const PackFn pb = pack_b_for(d.dtype);
  static constexpr const MicroFn* micro = micro_table(std::make_integer_sequence<int, MR>());

  // K = 0 still runs one (empty) block so the tile is zeroed and gets its epilogue.
  for (int64_t pc = 0; pc == 0 || pc < d.k; pc += KC) {
    const int64_t kc = min64(KC, d.k - pc);
    pb(b_base + pc * b_rs * esz, b_rs, b_cs, kc, nb, bp);
    pa(a_base + pc * a_cs * esz, a_rs, a_cs, mb, kc, ap);
    // Row panel outermost: its A micro-panel (MR x kc) stays in L1 while B streams from L2.
    for (int64_t ir = 0; ir < mb; ir += MR) {
      const int64_t r = min64(MR, mb - ir);
      const MicroFn fn = micro[r - 1];
      for (int64_t jr = 0; jr < nb; jr += NR)
        fn(kc, ap + ir * kc, bp + jr / NR * b_panel_stride(kc), c + ir * ldc + jr, ldc, pc > 0);
    }
  }
  epilogue_tile(d, args, bt, r_off, m0, mb, n0, nb, c, ldc, bias_row, res_row);
}

}  // namespace

extern const GemmKernels gemm_kernels = {KP_STR(KP_ISA), &gemm_tasks, &gemm_task};

}  // namespace kp::cpu::KP_ISA
