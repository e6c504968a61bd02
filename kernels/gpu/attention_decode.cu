// Decode attention (flash-decoding, bandwidth-bound): few query rows per (batch b, kv head hk) over
// long keys, e.g. Sq = 1 with MHA or GQA. The portable kernel in attention.cu gives each block R
// rows of one (b, hk); with one live row most of its threads idle. Here every thread streams K/V.
//
// A block (256 threads) serves one (b, hk), RB <= 4 of its (query head in the GQA group, query
// index) rows and one split of the keys. Its threads form lane groups of G = DMAX / 8 lanes (8, 16,
// 32: each divides any warp size, 32, 64 or 128 — nothing assumes 32): a group reads U keys per step,
// each lane 8 consecutive elements of each key's K and V rows (one 16-byte load for f16/bf16, two for
// f32), all loads issued before any is used. q (RB rows x 8 elements per lane) and the output
// accumulators stay in registers, so a K/V row read once serves every query head of the GQA group.
// The step's P = RB x U (row, key) dot products (P = 8, f32: 4) are summed over the group by a
// butterfly reduce-scatter of shuffles (P - 1 + log2(G / P) instead of P log2 G); each lane then owns
// one pair's score and does its online-softmax bookkeeping (in log2 units, exp2), and an all-gather
// gives every lane the P weights for its V columns. Each group keeps (m, l, acc) per row over its keys
// (the groups take the split's keys in interleaved steps); the groups' states are merged through
// shared memory in a fixed tree order. Rows beyond RB (up to kDecodeMaxRows) go to more blocks
// ("slices") that read the same keys, mostly from L2.
//
// Split-KV: grid.y splits the keys in chunks whose size comes from the shape only (plan_decode):
// each split writes (m, l, acc) to the workspace and decode_combine merges them in split order, so
// results are deterministic and do not depend on the device. One split writes the output directly.
//
// Unaligned K/V pointers or rows that are not a multiple of 16 bytes take scalar loads (the WIDE
// instance); q is read with scalar loads (once per block).
//
// Semantics match src/reference/attention.ts and attention.cu: keys past causality / kvLengths are
// never read; a key whose score is -inf never touches V; a NaN score makes the row NaN (NaN is never
// picked by the max, it reaches l); +inf scores give NaN; a row with no visible key, or only -inf
// scores, is 0 with lse = -inf.
#include "attention_args.cuh"
#include "attention_decode.h"
#include "common.cuh"

namespace kp {
namespace gpu {

const char kDecodeVariant[] = "flash-decoding-split-kv-vec";

namespace {

constexpr int kDecThreads = 256;
constexpr int kVec = 8;                // K/V elements per lane of a key's row
constexpr int64_t kDecodeMaxRows = 16; // rows per (b, kv head) routed here
constexpr int kMaxRowsPerBlock = 4;    // rows one block keeps in registers
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.69314718055994531f;
constexpr int kDecodeMaxDim = 256;
constexpr int kCombineThreads = 128;
// Split so that the grid has at least this many blocks (a constant: the split, and so the result,
// must not depend on the device), in chunks of a multiple of kChunkAlign keys (whole steps of the
// block's lane groups), at least kChunkAlign. 256 blocks of 256 threads are about one wave on an H100
// (two blocks per SM): measured there, one full wave of long splits beats more, shorter ones
// (B4 H32 Skv4096 D128: 0.118 ms at 256 blocks, 0.119 at 512, 0.124 at 1024, 0.132 at 2048).
constexpr int64_t kTargetBlocks = 256;
constexpr int64_t kChunkAlign = 256;
constexpr int64_t kMaxSplits = 65535;  // grid.y

struct DecArgs : AttnOperands {
  float* ws;  // splits > 1: [rows][splits][2 + dv] (m in log2 units, l, acc)
  float scale_log2;  // scale * log2 e
  int32_t splits, slices, vec;
  int32_t chunk;  // keys per split
};

KP_GPU_DEVICE KP_GPU_INLINE int64_t dec_row_base(int layout, int64_t b, int64_t h, int64_t s, int64_t H, int64_t S, int64_t E) {
  return layout == KP_LAYOUT_BSHD ? ((b * S + s) * H + h) * E : ((b * H + h) * S + s) * E;
}

// The raw bits of 8 elements [c0, c0 + 8) of a row at element offset off (n elements long), zero past
// n or when !ok. vec: one 16-byte load (f16/bf16) or two (f32); otherwise scalar loads, as f32 bits.
KP_GPU_DEVICE KP_GPU_INLINE void load_row8(const void* p, int dt, bool vec, int64_t off, int c0, int64_t n, bool ok,
                                           uint4& x0, uint4& x1) {
  x0 = make_uint4(0u, 0u, 0u, 0u);
  x1 = x0;
  if (!ok || c0 >= n) return;
  if (vec) {
    if (dt == KP_F32) {
      const uint4* s = reinterpret_cast<const uint4*>(static_cast<const float*>(p) + off + c0);
      x0 = s[0];
      if (c0 + 4 < n) x1 = s[1];
    } else {
      x0 = *reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(p) + off + c0);
    }
  } else {
    float f[kVec];
#pragma unroll
    for (int j = 0; j < kVec; ++j) f[j] = c0 + j < n ? load_el(p, dt, off + c0 + j) : 0.0f;
    x0 = make_uint4(f32_bits(f[0]), f32_bits(f[1]), f32_bits(f[2]), f32_bits(f[3]));
    x1 = make_uint4(f32_bits(f[4]), f32_bits(f[5]), f32_bits(f[6]), f32_bits(f[7]));
  }
}

KP_GPU_DEVICE KP_GPU_INLINE void half2_f32(uint32_t w, int dt, float& lo, float& hi) {
  if (dt == KP_BF16) {
    // A NaN stays a NaN (quieting its bits changes no arithmetic result).
    lo = bits_f32(w << 16);
    hi = bits_f32(w & 0xffff0000u);
  } else {
    lo = f16_to_f32(static_cast<uint16_t>(w & 0xffffu));
    hi = f16_to_f32(static_cast<uint16_t>(w >> 16));
  }
}

// A butterfly reduce-scatter within groups of G lanes: v[0..P) are each lane's partial sums; returns
// the full sum of v[lane / (G / P)] (P <= G, powers of two). P - 1 + log2(G / P) shuffles instead of
// P log2(G).
template <int P, int G>
KP_GPU_DEVICE KP_GPU_INLINE float reduce_scatter(float (&v)[P], int lane) {
#pragma unroll
  for (int n = P, off = G / 2; n > 1; n /= 2, off /= 2) {
    const bool upper = (lane & off) != 0;  // keeps the upper half of the n values
#pragma unroll
    for (int i = 0; i < n / 2; ++i) {
      const float send = upper ? v[i] : v[i + n / 2];
      const float keep = upper ? v[i + n / 2] : v[i];
      v[i] = keep + kp_gpu_shfl_xor(send, off, G);
    }
  }
  float s = v[0];
#pragma unroll
  for (int off = G / (2 * P); off >= 1; off /= 2) s += kp_gpu_shfl_xor(s, off, G);
  return s;
}

// The inverse: x[i] = the `own` value of the lanes whose bits at offsets O0, 2 O0, ... spell i (the
// other lane bits equal to this lane's).
template <int N, int O0, int G>
KP_GPU_DEVICE KP_GPU_INLINE void all_gather(float own, int lane, float (&x)[N]) {
  x[0] = own;
#pragma unroll
  for (int c = 1, o = O0; c < N; c *= 2, o *= 2) {
    const bool hi = (lane & o) != 0;
#pragma unroll
    for (int i = 0; i < c; ++i) {
      const float mine = x[i];
      const float other = kp_gpu_shfl_xor(mine, o, G);
      x[i] = hi ? other : mine;
      x[i + c] = hi ? mine : other;
    }
  }
}

// Raw 16-byte K/V chunks of one key: WIDE (f32, or any dtype through scalar loads) takes two.
template <bool WIDE>
struct Chunk;
template <>
struct Chunk<false> {
  uint4 x;
  KP_GPU_DEVICE KP_GPU_INLINE void load(const void* p, int dt, bool vec, int64_t off, int c0, int64_t n, bool ok) {
    (void)dt;
    (void)vec;
    x = make_uint4(0u, 0u, 0u, 0u);
    if (ok && c0 < n) x = *reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(p) + off + c0);
  }
  KP_GPU_DEVICE KP_GPU_INLINE void to_f32(int dt, float* f) const {
    half2_f32(x.x, dt, f[0], f[1]);
    half2_f32(x.y, dt, f[2], f[3]);
    half2_f32(x.z, dt, f[4], f[5]);
    half2_f32(x.w, dt, f[6], f[7]);
  }
};
template <>
struct Chunk<true> {
  uint4 x0, x1;
  KP_GPU_DEVICE KP_GPU_INLINE void load(const void* p, int dt, bool vec, int64_t off, int c0, int64_t n, bool ok) {
    load_row8(p, dt, vec, off, c0, n, ok, x0, x1);
  }
  KP_GPU_DEVICE KP_GPU_INLINE void to_f32(int dt, float* f) const {
    (void)dt;
    f[0] = bits_f32(x0.x), f[1] = bits_f32(x0.y), f[2] = bits_f32(x0.z), f[3] = bits_f32(x0.w);
    f[4] = bits_f32(x1.x), f[5] = bits_f32(x1.y), f[6] = bits_f32(x1.z), f[7] = bits_f32(x1.w);
  }
};

// WIDE: f32 K/V through 16-byte loads, or any dtype through scalar loads (!a.vec); otherwise f16/bf16
// through one 16-byte load per lane and key, the dtype a template argument (BF16): with it read at run
// time every K/V element went through both conversions (f16's subnormal path included) and a select,
// ~3,400 SASS instructions a step for 8 keys, which made the kernel issue-bound at ~73 % of an H100's
// HBM (scripts/sass.sh).
template <int DMAX, int RB, bool WIDE, bool BF16>
// At most 128 registers: two blocks (16 warps) per SM on 64K-register parts, the occupancy measured.
#define KP_DECODE_BOUNDS kDecThreads, 2
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(KP_DECODE_BOUNDS) decode_attention(DecArgs a) {
  constexpr int G = DMAX / kVec;       // lanes per key
  constexpr int NG = kDecThreads / G;  // lane groups per block
  constexpr int P = WIDE ? 4 : 8;      // (row, key) pairs a group scores per step
  constexpr int U = P / RB;            // keys per group and step
  constexpr int LPP = G / P;           // lanes holding each pair's score after the reduce-scatter
  constexpr int SLOTS = NG / 2;
  static_assert(P <= G && U >= 1 && RB * U == P, "pairs per step");
  __shared__ float red_acc[SLOTS * RB * DMAX];
  __shared__ float red_ml[SLOTS * RB * 2];

  const int tid = static_cast<int>(kp_gpu_thread_x());
  const int lane = tid % G, grp = tid / G;
  const int c0 = lane * kVec;
  // After the reduce-scatter this lane owns pair own = r * U + u: row own_r of the block, key u of the step.
  const int own = lane / LPP, own_r = own / U, own_u = own % U;
  int64_t bx = kp_gpu_block_x();
  const int64_t slice = bx % a.slices;
  bx /= a.slices;
  const int64_t hk = bx % a.hkv, b = bx / a.hkv;
  const int split = static_cast<int>(kp_gpu_block_y());
  const int64_t group = a.hq / a.hkv, nr = group * a.sq;
  const int64_t L = a.kv_lengths ? a.kv_lengths[b] : a.skv;
  const float ninf = -__int_as_float(0x7f800000);
  const bool vec = a.vec != 0;
  const int dt = WIDE ? a.dtype : (BF16 ? KP_BF16 : KP_F16);  // a constant on the 16-bit path

  float qv[RB][kVec], acc[RB][kVec];
  int kend = 0, own_end = 0;  // the block's and the own row's visible keys: [0, end) (skv <= 2^30)
  int64_t own_moff = 0;       // the own row's mask offset
#pragma unroll
  for (int r = 0; r < RB; ++r) {
    const int64_t rr = slice * RB + r;
    const bool real = rr < nr;
    const int64_t g = real ? rr / a.sq : 0, i = real ? rr % a.sq : 0, h = hk * group + g;
    int64_t e = L;
    if (a.causal == KP_CAUSAL_BOTTOM_RIGHT) e = min(e, i + L - a.sq + 1);
    else if (a.causal == KP_CAUSAL_TOP_LEFT) e = min(e, i + 1);
    const int end = real ? static_cast<int>(max(e, static_cast<int64_t>(0))) : 0;
    kend = max(kend, end);
    if (r == own_r) {
      own_end = end;
      own_moff = a.ms[0] * b + a.ms[1] * h + a.ms[2] * i;
    }
    const int64_t qoff = dec_row_base(a.layout, b, h, i, a.hq, a.sq, a.d);
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      qv[r][j] = real && c0 + j < a.d ? load_el(a.q, dt, qoff + c0 + j) : 0.0f;
      acc[r][j] = 0.0f;
    }
  }
  // Softmax state of the own row over the own key column u, in log2 units (scores times log2 e):
  // m is the row's running max (every lane of the row holds it), l the own column's share of the sum.
  float m = ninf, l = 0.0f;

  const int kstart = split * a.chunk;
  const int kstop = min(kend, kstart + a.chunk);
  const bool bshd = a.layout == KP_LAYOUT_BSHD;
  const int64_t kstride = bshd ? a.hkv * a.d : a.d;
  const int64_t vstride = bshd ? a.hkv * a.dv : a.dv;
  int64_t koff = dec_row_base(a.layout, b, hk, 0, a.hkv, a.skv, a.d) + (kstart + grp * U) * kstride;
  int64_t voff = dec_row_base(a.layout, b, hk, 0, a.hkv, a.skv, a.dv) + (kstart + grp * U) * vstride;
  const int64_t kstep = NG * U * kstride, vstep = NG * U * vstride;

  // Every lane runs the same number of steps: the shuffles below see whole warps.
  for (int j0 = kstart; j0 < kstop; j0 += NG * U, koff += kstep, voff += vstep) {
    const int key0 = j0 + grp * U;
    Chunk<WIDE> kc[U], vc[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const bool ok = key0 + u < kstop;
      kc[u].load(a.k, dt, vec, koff + u * kstride, c0, a.d, ok);
      vc[u].load(a.v, dt, vec, voff + u * vstride, c0, a.dv, ok);
    }
    float part[P];  // [r][u]: this lane's share of the dot products
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float kf[kVec];
      kc[u].to_f32(dt, kf);
#pragma unroll
      for (int r = 0; r < RB; ++r) {
        float d0 = 0.0f;
#pragma unroll
        for (int j = 0; j < kVec; ++j) d0 = fmaf(qv[r][j], kf[j], d0);
        part[r * U + u] = d0;
      }
    }
    float sc = reduce_scatter<P, G>(part, lane) * a.scale_log2;
    const int key = key0 + own_u;
    const bool visible = key < kstop && key < own_end;
    if (visible && a.mask) sc = fmaf(a.mask[own_moff + key * a.ms[3]], kLog2e, sc);
    sc = visible ? sc : ninf;
    float mx = sc > m ? sc : m;  // NaN is never picked
#pragma unroll
    for (int o = LPP; o < LPP * U; o *= 2) {
      const float t = kp_gpu_shfl_xor(mx, o, G);
      mx = t > mx ? t : mx;
    }
    const float corr = m == mx ? 1.0f : exp2f(m - mx);
    const bool live = sc != ninf;              // hidden or -inf: never touches V
    const float p = live ? exp2f(sc - mx) : -1.0f;  // NaN stays NaN; -1 marks a dead pair
    l = l * corr + (live ? p : 0.0f);
    m = mx;
    float pa[P], ca[RB];
    all_gather<P, LPP, G>(p, lane, pa);
    all_gather<RB, LPP * U, G>(corr, lane, ca);
#pragma unroll
    for (int r = 0; r < RB; ++r)
      if (ca[r] != 1.0f)
#pragma unroll
        for (int j = 0; j < kVec; ++j) acc[r][j] *= ca[r];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float vf[kVec];
      vc[u].to_f32(dt, vf);
#pragma unroll
      for (int r = 0; r < RB; ++r) {
        const float pr = pa[r * U + u];
        if (pr < 0.0f) continue;
#pragma unroll
        for (int j = 0; j < kVec; ++j) acc[r][j] = fmaf(pr, vf[j], acc[r][j]);
      }
    }
  }
  // The own row's sum over its key columns, then every row's (m, l) in every lane.
#pragma unroll
  for (int o = LPP; o < LPP * U; o *= 2) l += kp_gpu_shfl_xor(l, o, G);
  float mr[RB], lr[RB];
  all_gather<RB, LPP * U, G>(m, lane, mr);
  all_gather<RB, LPP * U, G>(l, lane, lr);

  // The groups' states, merged pairwise in a fixed order: group g takes group g + stride.
#pragma unroll
  for (int stride = SLOTS; stride >= 1; stride /= 2) {
    if (grp >= stride && grp < 2 * stride) {
      const int slot = grp - stride;
#pragma unroll
      for (int r = 0; r < RB; ++r) {
#pragma unroll
        for (int j = 0; j < kVec; ++j) red_acc[(slot * RB + r) * DMAX + c0 + j] = acc[r][j];
        if (lane == 0) {
          red_ml[(slot * RB + r) * 2] = mr[r];
          red_ml[(slot * RB + r) * 2 + 1] = lr[r];
        }
      }
    }
    kp_gpu_sync_block();
    if (grp < stride) {
#pragma unroll
      for (int r = 0; r < RB; ++r) {
        const float mo = red_ml[(grp * RB + r) * 2], lo = red_ml[(grp * RB + r) * 2 + 1];
        const float M = mo > mr[r] ? mo : mr[r];
        const float fa = mr[r] == M ? 1.0f : exp2f(mr[r] - M);
        const float fb = mo == M ? 1.0f : exp2f(mo - M);
        lr[r] = lr[r] * fa + lo * fb;
#pragma unroll
        for (int j = 0; j < kVec; ++j) acc[r][j] = acc[r][j] * fa + red_acc[(grp * RB + r) * DMAX + c0 + j] * fb;
        mr[r] = M;
      }
    }
    kp_gpu_sync_block();
  }
  if (grp != 0) return;

#pragma unroll
  for (int r = 0; r < RB; ++r) {
    const int64_t rr = slice * RB + r;
    if (rr >= nr) break;
    const int64_t g = rr / a.sq, i = rr % a.sq, h = hk * group + g;
    const int64_t row = (b * a.hq + h) * a.sq + i;
    if (a.splits == 1) {
      const bool empty = lr[r] == 0.0f;  // no visible key, or only -inf scores; a NaN l propagates
      const int64_t ooff = dec_row_base(a.layout, b, h, i, a.hq, a.sq, a.dv);
#pragma unroll
      for (int j = 0; j < kVec; ++j)
        if (c0 + j < a.dv) store_el(a.out, a.out_dtype, ooff + c0 + j, empty ? 0.0f : acc[r][j] / lr[r]);
      if (a.lse && lane == 0) a.lse[row] = empty ? ninf : mr[r] * kLn2 + logf(lr[r]);
    } else {
      float* w = a.ws + (row * a.splits + split) * (2 + a.dv);
      if (lane == 0) {
        w[0] = mr[r];
        w[1] = lr[r];
      }
#pragma unroll
      for (int j = 0; j < kVec; ++j)
        if (c0 + j < a.dv) w[2 + c0 + j] = acc[r][j];
    }
  }
}

// Merges the splits of each row in split order: a block per row, a thread per output column.
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kCombineThreads) decode_combine(DecArgs a) {
  const int64_t row = kp_gpu_block_x();
  const int64_t W = 2 + a.dv;
  const float* w = a.ws + row * a.splits * W;
  const float ninf = -__int_as_float(0x7f800000);
  float M = ninf;
  for (int s = 0; s < a.splits; ++s) {
    const float ms = w[s * W];
    M = ms > M ? ms : M;
  }
  const int64_t i = row % a.sq, h = (row / a.sq) % a.hq, b = row / a.sq / a.hq;
  const int64_t ooff = dec_row_base(a.layout, b, h, i, a.hq, a.sq, a.dv);
  for (int64_t c = kp_gpu_thread_x(); c < a.dv; c += kCombineThreads) {
    float L = 0.0f, o = 0.0f;
    for (int s = 0; s < a.splits; ++s) {
      const float* ws = w + s * W;
      const float f = ws[0] == M ? 1.0f : exp2f(ws[0] - M);  // an empty split (m = -inf) weighs nothing
      L += ws[1] * f;
      o += ws[2 + c] * f;
    }
    const bool empty = L == 0.0f;
    store_el(a.out, a.out_dtype, ooff + c, empty ? 0.0f : o / L);
    if (a.lse && c == 0) a.lse[row] = empty ? ninf : M * kLn2 + logf(L);
  }
}

struct DecShape {
  int dmax;    // 64, 128 or 256 (>= d, dv)
  int rb;      // rows per block: 1, 2 or 4
  int slices;  // blocks per (b, kv head, split)
  int step;    // keys a block takes per step
};

DecShape decode_shape(const kp_attention_desc& d) {
  DecShape s{};
  const int64_t x = d.d > d.dv ? d.d : d.dv;
  s.dmax = x <= 64 ? 64 : x <= 128 ? 128 : 256;
  const int64_t rows = d.hq / d.hkv * d.sq;
  s.rb = rows <= 1 ? 1 : rows <= 2 ? 2 : kMaxRowsPerBlock;
  s.slices = static_cast<int>((rows + s.rb - 1) / s.rb);
  s.step = kDecThreads / (s.dmax / kVec) * (8 / s.rb);  // 16-bit K/V (f32: half)
  return s;
}

template <int DMAX, int RB>
void launch_rb(kp_gpu_stream_t stream, const DecArgs& a, int64_t blocks) {
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(a.splits));
  // Wide: f32 K/V, or scalar loads of any dtype (unaligned or odd rows).
  if (a.dtype == KP_F32 || !a.vec) KP_GPU_LAUNCH((decode_attention<DMAX, RB, true, false>), grid, dim3(kDecThreads), 0, stream)(a);
  else if (a.dtype == KP_BF16) KP_GPU_LAUNCH((decode_attention<DMAX, RB, false, true>), grid, dim3(kDecThreads), 0, stream)(a);
  else KP_GPU_LAUNCH((decode_attention<DMAX, RB, false, false>), grid, dim3(kDecThreads), 0, stream)(a);
}

template <int DMAX>
void launch_dmax(kp_gpu_stream_t stream, const DecArgs& a, int rb, int64_t blocks) {
  switch (rb) {
    case 1: launch_rb<DMAX, 1>(stream, a, blocks); break;
    case 2: launch_rb<DMAX, 2>(stream, a, blocks); break;
    default: launch_rb<DMAX, 4>(stream, a, blocks); break;
  }
}

}  // namespace

bool decode_eligible(const DeviceCaps& caps, const kp_attention_desc& d) {
  if (caps.attention_mode == 1) return false;
  if (d.batch < 1 || d.hq < 1 || d.hkv < 1 || d.hq % d.hkv != 0 || d.sq < 1 || d.skv < 1) return false;
  if (d.skv > (int64_t(1) << 30)) return false;  // key indices are 32-bit in the kernel
  if (d.d < 1 || d.dv < 1 || d.d > kDecodeMaxDim || d.dv > kDecodeMaxDim) return false;
  if (d.dtype != KP_F32 && d.dtype != KP_F16 && d.dtype != KP_BF16) return false;
  if (d.hq / d.hkv * d.sq > kDecodeMaxRows) return false;
  const DecShape s = decode_shape(d);
  if (caps.warp_size <= 0 || caps.warp_size % (s.dmax / kVec) != 0) return false;
  if (d.batch * d.hkv * s.slices > 0x7fffffff || d.batch * d.hq * d.sq > 0x7fffffff) return false;
  return true;
}

AttentionPlan plan_decode(const DeviceCaps& caps, const kp_attention_desc& d) {
  (void)caps;
  const DecShape s = decode_shape(d);
  AttentionPlan p{};
  p.variant = kDecodeVariant;
  p.dmax = s.dmax;
  p.tile_keys = s.step;
  p.smem = 0;  // static: the groups' merge buffer
  // The split, from the shape only: enough blocks to fill any part several times over, in chunks of
  // whole steps.
  const int64_t base = d.batch * d.hkv * s.slices;
  const int64_t want = (kTargetBlocks + base - 1) / base;
  int64_t chunk = (d.skv + want - 1) / want;
  chunk = (chunk + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
  if ((d.skv + chunk - 1) / chunk > kMaxSplits) chunk = ((d.skv + kMaxSplits - 1) / kMaxSplits + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
  p.splits = static_cast<int>((d.skv + chunk - 1) / chunk);
  p.split_keys = p.splits == 1 ? d.skv : chunk;
  p.workspace = p.splits > 1 ? static_cast<size_t>(d.batch * d.hq * d.sq) * p.splits * static_cast<size_t>(2 + d.dv) * sizeof(float) : 0;
  return p;
}

const char* launch_decode(const DeviceCaps& caps, kp_gpu_stream_t stream, const AttentionPlan& plan,
                          const kp_attention_desc& d, const void* q, const void* k, const void* v,
                          const int32_t* kv_lengths, const float* mask, void* out, float* lse, void* workspace) {
  (void)caps;
  const DecShape s = decode_shape(d);
  DecArgs a;
  static_cast<AttnOperands&>(a) = attention_operands(d, q, k, v, kv_lengths, mask, out, lse);
  a.scale_log2 = d.scale * kLog2e;
  a.ws = static_cast<float*>(workspace);
  a.splits = plan.splits;
  a.chunk = static_cast<int32_t>(plan.split_keys);
  a.slices = s.slices;
  const int64_t es = d.dtype == KP_F32 ? 4 : 2;
  const auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; };
  a.vec = aligned(k) && aligned(v) && (d.d * es) % 16 == 0 && (d.dv * es) % 16 == 0;
  const int64_t blocks = d.batch * d.hkv * s.slices;
  switch (s.dmax) {
    case 64: launch_dmax<64>(stream, a, s.rb, blocks); break;
    case 128: launch_dmax<128>(stream, a, s.rb, blocks); break;
    default: launch_dmax<256>(stream, a, s.rb, blocks); break;
  }
  if (plan.splits > 1)
    KP_GPU_LAUNCH(decode_combine, dim3(static_cast<unsigned>(d.batch * d.hq * d.sq)), dim3(kCombineThreads), 0, stream)(a);
  return plan.variant;
}

}  // namespace gpu
}  // namespace kp
