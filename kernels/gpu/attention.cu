// Flash attention forward (FlashAttention-2 style, portable SIMT) and split-KV decoding.
//
// A block serves one (batch b, kv head hk) and R query rows of that head's group: rows are the
// flattened (query head in the GQA group, query index), so decoding (Sq = 1) with GQA still fills
// a block with the group's heads, which share every K/V tile. Each row is owned by TPR consecutive
// threads ("a row group"): each thread holds a strided slice of q and of the output accumulator in
// registers; a score is the slices' partial dot products summed by a butterfly of shuffles within
// the row group (width TPR, which divides any warp size: 32, 64 or 128 — nothing assumes 32).
// Keys go through shared memory in tiles of up to 32 (as f32), with an online softmax per row
// (running max m, sum l). The tile is the largest of 32, 16, 8 keys whose K/V/score buffers fit the
// device's per-block shared memory (plan_attention), so the large head dimensions fit parts with
// little of it (MUSA mp_21) as well as those with much. Tiles past the block's last visible key (causality, kvLengths) are never loaded:
// causal tiles are skipped. Keys beyond a row's own limit or masked with -inf never touch V.
//
// Split-KV (flash-decoding): when there are few rows, grid.y splits the keys in fixed chunks of
// kSplitKeys; each split writes (m, l, acc) to a workspace and a combine kernel merges them in split
// order. The split depends only on the shape: results are deterministic.
//
// Where the tensor cores take a descriptor (f16/bf16, D == Dv in {64, 80, 96, 128} or 192 / 128, Sq >= 16, sm_80+,
// 32-lane warps), plan_attention hands it to attention_mma.cu instead.
//
// Semantics match src/reference/attention.ts: a NaN score makes the row NaN (NaN is never picked by
// the max, it reaches l); +inf scores give NaN; a row with no visible key, or only -inf scores, is 0
// with lse = -inf.
#include "attention_mma.cuh"
#include "attention_args.cuh"
#include "attention_decode.h"
#include "common.cuh"
#include "kernels.h"

namespace kp {
namespace gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kTileKeys = 32;  // the largest key tile (bit mask `live` below has 32 bits)
constexpr int64_t kSplitKeys = 256;
constexpr int64_t kMaxSplits = 65535;  // grid.y
// Split only when the grid would be smaller than this many blocks (a constant: the split, and so the
// result, must not depend on the device).
constexpr int64_t kSplitBelowBlocks = 512;

struct AttnArgs : AttnOperands {
  int32_t splits;
  int64_t split_keys;
  int32_t tile_keys;  // keys per shared-memory tile: 32, 16 or 8
  float* ws;  // splits > 1: [rows][splits][2 + dv] (m, l, acc)
};

KP_GPU_DEVICE KP_GPU_INLINE int64_t row_base(int layout, int64_t b, int64_t h, int64_t s, int64_t H, int64_t S, int64_t E) {
  return layout == KP_LAYOUT_BSHD ? ((b * S + s) * H + h) * E : ((b * H + h) * S + s) * E;
}

template <int DMAX, int TPR>
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kThreads) flash_forward(AttnArgs a) {
  constexpr int R = kThreads / TPR;  // rows per block
  constexpr int PT = DMAX / TPR;     // q / accumulator elements per thread
  KP_GPU_EXTERN_SMEM(float, smem, 16);
  const int TK = a.tile_keys;
  float* Ks = smem;            // [TK][d]
  float* Vs = smem + TK * a.d; // [TK][dv]
  float* S = Vs + TK * a.dv;   // [R][TK + 1] scores
  __shared__ int block_end;

  const int tid = static_cast<int>(kp_gpu_thread_x());
  const int lane = tid % TPR;
  const int64_t group = a.hq / a.hkv, grows = group * a.sq;
  const int64_t nrb = (grows + R - 1) / R;
  int64_t bx = kp_gpu_block_x();
  const int64_t rb = bx % nrb;
  bx /= nrb;
  const int64_t hk = bx % a.hkv, b = bx / a.hkv;
  const int split = static_cast<int>(kp_gpu_block_y());

  const int64_t r = rb * R + tid / TPR;
  const bool active = r < grows;
  const int64_t rr = active ? r : grows - 1;  // inactive rows shadow a real one and store nothing
  const int64_t g = rr / a.sq, i = rr % a.sq, h = hk * group + g;
  const int64_t L = a.kv_lengths ? a.kv_lengths[b] : a.skv;
  int64_t row_end = L;
  if (a.causal == KP_CAUSAL_BOTTOM_RIGHT) row_end = min(row_end, i + L - a.sq + 1);
  else if (a.causal == KP_CAUSAL_TOP_LEFT) row_end = min(row_end, i + 1);
  row_end = max(row_end, static_cast<int64_t>(0));

  if (tid == 0) block_end = 0;
  kp_gpu_sync_block();
  if (active) kp_gpu_atomic_max_shared(&block_end, static_cast<int>(row_end));
  kp_gpu_sync_block();
  const int64_t kstart = static_cast<int64_t>(split) * a.split_keys;
  const int64_t kstop = min(static_cast<int64_t>(block_end), kstart + a.split_keys);

  const int64_t D = a.d, Dv = a.dv;
  const float ninf = -__int_as_float(0x7f800000);
  float qv[PT], acc[PT];
  const int64_t qoff = row_base(a.layout, b, h, i, a.hq, a.sq, D);
#pragma unroll
  for (int t = 0; t < PT; ++t) {
    const int64_t c = lane + TPR * t;
    qv[t] = c < D ? load_el(a.q, a.dtype, qoff + c) : 0.0f;
    acc[t] = 0.0f;
  }
  float m = ninf, l = 0.0f;
  const float* mrow = a.mask ? a.mask + a.ms[0] * b + a.ms[1] * h + a.ms[2] * i : nullptr;

  for (int64_t j0 = kstart; j0 < kstop; j0 += TK) {
    const int64_t nk = min(static_cast<int64_t>(TK), kstop - j0);
    kp_gpu_sync_block();  // the previous tile is consumed
    for (int64_t e = tid; e < TK * D; e += kThreads) {
      const int64_t j = e / D, c = e % D;
      Ks[e] = j < nk ? load_el(a.k, a.dtype, row_base(a.layout, b, hk, j0 + j, a.hkv, a.skv, D) + c) : 0.0f;
    }
    for (int64_t e = tid; e < TK * Dv; e += kThreads) {
      const int64_t j = e / Dv, c = e % Dv;
      Vs[e] = j < nk ? load_el(a.v, a.dtype, row_base(a.layout, b, hk, j0 + j, a.hkv, a.skv, Dv) + c) : 0.0f;
    }
    kp_gpu_sync_block();

    // Scores of this tile: each row group's lanes all hold the same sum after the butterfly; lane 0
    // keeps it in shared memory, so the key loops below stay loops (not unrolled into registers).
    float* srow = S + (tid / TPR) * (TK + 1);
    uint32_t live = 0;  // keys whose score is not -inf: only they touch V
    for (int j = 0; j < TK; ++j) {
      float part = 0.0f;
#pragma unroll
      for (int t = 0; t < PT; ++t) {
        const int64_t c = lane + TPR * t;
        if (c < D) part = fmaf(qv[t], Ks[j * D + c], part);
      }
#pragma unroll
      for (int off = TPR / 2; off >= 1; off /= 2) part += kp_gpu_shfl_xor(part, off, TPR);
      const int64_t key = j0 + j;
      const bool visible = j < nk && key < row_end;
      float sc = part * a.scale;
      if (visible && mrow) sc = sc + mrow[key * a.ms[3]];
      sc = visible ? sc : ninf;
      if (sc != ninf) live |= 1u << j;
      if (lane == 0) srow[j] = sc;
    }
    kp_gpu_sync_block();
    float mx = m;
    for (int j = 0; j < TK; ++j) {
      const float x = srow[j];
      mx = x > mx ? x : mx;  // NaN is never picked
    }
    const float corr = m == mx ? 1.0f : expf(m - mx);
    if (corr != 1.0f)
#pragma unroll
      for (int t = 0; t < PT; ++t) acc[t] *= corr;
    float sum = 0.0f;
    for (int j = 0; j < TK; ++j) {
      if (!((live >> j) & 1u)) continue;
      const float p = expf(srow[j] - mx);
      sum += p;
#pragma unroll
      for (int t = 0; t < PT; ++t) {
        const int64_t c = lane + TPR * t;
        if (c < Dv) acc[t] = fmaf(p, Vs[j * Dv + c], acc[t]);
      }
    }
    l = l * corr + sum;
    m = mx;
  }

  if (!active) return;
  const int64_t row = (b * a.hq + h) * a.sq + i;
  if (a.splits == 1) {
    const bool empty = l == 0.0f;  // no visible key, or only -inf scores; a NaN l propagates
    const int64_t ooff = row_base(a.layout, b, h, i, a.hq, a.sq, Dv);
#pragma unroll
    for (int t = 0; t < PT; ++t) {
      const int64_t c = lane + TPR * t;
      if (c < Dv) store_el(a.out, a.out_dtype, ooff + c, empty ? 0.0f : acc[t] / l);
    }
    if (a.lse && lane == 0) a.lse[row] = empty ? ninf : m + logf(l);
  } else {
    float* w = a.ws + (row * a.splits + split) * (2 + Dv);
    if (lane == 0) {
      w[0] = m;
      w[1] = l;
    }
#pragma unroll
    for (int t = 0; t < PT; ++t) {
      const int64_t c = lane + TPR * t;
      if (c < Dv) w[2 + c] = acc[t];
    }
  }
}

// Merges the splits of each row in split order: one thread per (row, output column).
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kThreads) split_combine(AttnArgs a) {
  const int64_t cols = a.dv > 0 ? a.dv : 1;
  const int64_t rows = a.batch * a.hq * a.sq;
  const int64_t idx = static_cast<int64_t>(kp_gpu_block_x()) * kThreads + kp_gpu_thread_x();
  if (idx >= rows * cols) return;
  const int64_t row = idx / cols, c = idx % cols;
  const float ninf = -__int_as_float(0x7f800000);
  const float* w = a.ws + row * a.splits * (2 + a.dv);
  float M = ninf;
  for (int s = 0; s < a.splits; ++s) {
    const float ms = w[s * (2 + a.dv)];
    M = ms > M ? ms : M;
  }
  float L = 0.0f, o = 0.0f;
  for (int s = 0; s < a.splits; ++s) {
    const float* ws = w + s * (2 + a.dv);
    const float f = ws[0] == ninf ? 0.0f : expf(ws[0] - M);  // an empty split weighs nothing
    L += ws[1] * f;
    if (c < a.dv) o += ws[2 + c] * f;
  }
  const bool empty = L == 0.0f;
  const int64_t i = row % a.sq, h = (row / a.sq) % a.hq, b = row / a.sq / a.hq;
  if (c < a.dv) store_el(a.out, a.out_dtype, row_base(a.layout, b, h, i, a.hq, a.sq, a.dv) + c, empty ? 0.0f : o / L);
  if (a.lse && c == 0) a.lse[row] = empty ? ninf : M + logf(L);
}

struct Bucket {
  int dmax, tpr;
};
Bucket bucket_for(int64_t d, int64_t dv) {
  const int64_t x = d > dv ? d : dv;
  if (x <= 64) return {64, 4};
  if (x <= 128) return {128, 8};
  if (x <= 256) return {256, 8};
  if (x <= 512) return {512, 16};
  return {0, 0};
}

template <int DMAX, int TPR>
void launch_forward(kp_gpu_stream_t stream, const AttnArgs& a, size_t smem, int64_t blocks) {
  if (smem > 48 * 1024) (void)kp_gpu_set_max_dynamic_smem(flash_forward<DMAX, TPR>, static_cast<int>(smem));
  KP_GPU_LAUNCH((flash_forward<DMAX, TPR>), dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(a.splits)),
                dim3(kThreads), smem, stream)(a);
}

}  // namespace

AttentionPlan plan_attention(const DeviceCaps& caps, const kp_attention_desc& d, const int32_t* kv_lengths_host) {
  if (attention_mma_eligible(caps, d)) return plan_attention_mma(caps, d);  // tensor cores (attention_mma.cu)
  if (decode_eligible(caps, d)) return plan_decode(caps, d);  // attention_decode.cu
  AttentionPlan p{};
  const Bucket bk = bucket_for(d.d, d.dv);
  p.dmax = bk.dmax;
  p.splits = 1;
  p.split_keys = d.skv > 0 ? d.skv : 1;
  if (!bk.dmax) {
    p.unsupported = "head dimensions above 512 are not supported by the GPU attention kernels";
    return p;
  }
  if (caps.warp_size <= 0 || caps.warp_size % bk.tpr != 0) {
    p.unsupported = "the device's warp size is not a multiple of the attention row group";
    return p;
  }
  // The device's per-block limit (opt-in) when it reports one, else the 48 KiB every part has.
  const size_t budget = static_cast<size_t>(caps.smem_optin > 0 ? caps.smem_optin : 48 * 1024);
  p.tile_keys = 0;
  for (int tk = kTileKeys; tk >= 8 && !p.tile_keys; tk /= 2) {
    const size_t bytes = (static_cast<size_t>(tk) * static_cast<size_t>(d.d + d.dv) +
                          static_cast<size_t>(kThreads / bk.tpr) * (tk + 1)) * sizeof(float);
    if (bytes <= budget) {
      p.tile_keys = tk;
      p.smem = bytes;
    }
  }
  if (!p.tile_keys) {
    p.unsupported = "the K/V tile does not fit in this device's shared memory (d + dv too large)";
    return p;
  }
  int64_t max_len = d.skv;
  if (kv_lengths_host) {
    max_len = 0;
    for (int64_t b = 0; b < d.batch; ++b) max_len = kv_lengths_host[b] > max_len ? kv_lengths_host[b] : max_len;
  }
  const int64_t rows_per_block = kThreads / bk.tpr;
  const int64_t blocks = (d.hq / d.hkv * d.sq + rows_per_block - 1) / rows_per_block * d.hkv * d.batch;
  // Few blocks and long keys: split the keys (a fixed chunk size, so the result depends on the shape only).
  if (blocks < kSplitBelowBlocks && max_len >= 2 * kSplitKeys) {
    // Over 16.7M keys: longer splits (still a function of the shape), as grid.y holds 65535.
    const int64_t min_keys = (max_len + kMaxSplits - 1) / kMaxSplits;
    p.split_keys = (min_keys + kSplitKeys - 1) / kSplitKeys * kSplitKeys;
    p.splits = static_cast<int>((max_len + p.split_keys - 1) / p.split_keys);
    p.workspace = static_cast<size_t>(d.batch * d.hq * d.sq) * p.splits * static_cast<size_t>(2 + d.dv) * sizeof(float);
    p.variant = "flash-decoding-split-kv";
  } else {
    p.variant = "flash-attention-simt";
  }
  return p;
}

const char* launch_attention(const DeviceCaps& caps, kp_gpu_stream_t stream, const AttentionPlan& plan,
                             const kp_attention_desc& d, const void* q, const void* k, const void* v,
                             const int32_t* kv_lengths, const float* mask, void* out, float* lse, void* workspace) {
  if (is_attention_mma_plan(plan)) {
    if (attention_mma_aligned(q, k, v, out)) return launch_attention_mma(stream, plan, d, q, k, v, kv_lengths, mask, out, lse);
    // Views off a 16-byte boundary: the portable kernel in one pass (no workspace was planned).
    DeviceCaps simt = caps;
    simt.attention_mode = 1;
    AttentionPlan p = plan_attention(simt, d, nullptr);
    p.splits = 1;
    p.split_keys = d.skv > 0 ? d.skv : 1;
    p.variant = "flash-attention-simt";
    return launch_attention(simt, stream, p, d, q, k, v, kv_lengths, mask, out, lse, nullptr);
  }
  if (is_decode_plan(plan)) return launch_decode(caps, stream, plan, d, q, k, v, kv_lengths, mask, out, lse, workspace);
  AttnArgs a;
  static_cast<AttnOperands&>(a) = attention_operands(d, q, k, v, kv_lengths, mask, out, lse);
  a.splits = plan.splits;
  a.split_keys = plan.split_keys;
  a.tile_keys = plan.tile_keys;
  a.ws = static_cast<float*>(workspace);
  const Bucket bk = bucket_for(d.d, d.dv);
  const int64_t R = kThreads / bk.tpr;
  const int64_t blocks = (d.hq / d.hkv * d.sq + R - 1) / R * d.hkv * d.batch;
  switch (plan.dmax) {
    case 64: launch_forward<64, 4>(stream, a, plan.smem, blocks); break;
    case 128: launch_forward<128, 8>(stream, a, plan.smem, blocks); break;
    case 256: launch_forward<256, 8>(stream, a, plan.smem, blocks); break;
    default: launch_forward<512, 16>(stream, a, plan.smem, blocks); break;
  }
  if (plan.splits > 1) {
    const int64_t n = d.batch * d.hq * d.sq * (d.dv > 0 ? d.dv : 1);
    KP_GPU_LAUNCH(split_combine, dim3(static_cast<unsigned>((n + kThreads - 1) / kThreads)), dim3(kThreads), 0, stream)(a);
  }
  return plan.variant;
}

}  // namespace gpu
}  // namespace kp
