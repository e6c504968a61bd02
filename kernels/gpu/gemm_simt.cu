// Portable GEMM tiles with the fused epilogue: any dtype (converted to f32 on the way into shared
// memory), transposes, batch strides. Written for every vendor: no warp-level operations, so nothing
// depends on the warp size (MUSA's 128-lane warps), and shared memory stays far under 48 KiB.
//
// - gemm_simt128: 128x128 outputs per block, 256 threads each computing 8x8 outputs as four 4x4
//   quadrants (rows ty*4 + {0, 64}, columns tx*4 + {0, 64}), so every shared read is a float4 and a
//   quarter-warp's reads are one 128-byte row segment (B) or a broadcast (A). K in steps of 8, shared
//   memory double-buffered, the next K tile held in registers while the current one is multiplied:
//   one barrier per step.
// - gemm_simt64: 64x64 outputs, 4x4 per thread, K steps of 16: the finer grid for problems with too
//   few 128x128 tiles to fill the device.
// Both accumulate each output in increasing K from 0 with fmaf, one product at a time: the two tiles
// give bitwise identical results, and runs are deterministic.
#include "gemm.cuh"

namespace kp {
namespace gpu {
namespace {

constexpr int kThreads = 256;

// ---- 128x128 ----
constexpr int LBM = 128, LBN = 128, LBK = 8;
// Rows of 128 + 4 floats: threads storing one M (or N) index at eight K rows hit eight distinct bank
// quads (132 = 4 mod 32), and rows stay 16-byte aligned for the float4 reads.
constexpr int LLD = LBM + 4;
constexpr int kLoads = LBM * LBK / kThreads;  // elements of A (and of B) each thread moves per K step

KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kThreads) gemm_simt128(GemmArgs g) {
  alignas(16) __shared__ float As[2][LBK][LLD];  // K-major: As[k][m]
  alignas(16) __shared__ float Bs[2][LBK][LLD];  // Bs[k][n]
  const int tid = static_cast<int>(kp_gpu_thread_x());
  const int tx = tid % 16, ty = tid / 16;
  const int64_t M = g.m, N = g.n, K = g.k;
  const int64_t m0 = static_cast<int64_t>(kp_gpu_block_y()) * LBM, n0 = static_cast<int64_t>(kp_gpu_block_x()) * LBN;
  // This thread's share of a K step: kLoads elements of A and of B. Consecutive threads walk the
  // operand's contiguous axis: 8 K values of a row ([rows][K]: rows tid / 8 + 32 r, K tid % 8), or
  // 128 rows of one K ([K][rows]: row tid % 128, K tid / 128 + 2 r).
  const int a_i = g.trans_a ? tid % LBM : tid / LBK, a_p = g.trans_a ? tid / LBM : tid % LBK;
  const int a_di = g.trans_a ? 0 : kThreads / LBK, a_dp = g.trans_a ? kThreads / LBM : 0;  // per r
  const int b_j = g.trans_b ? tid / LBK : tid % LBN, b_p = g.trans_b ? tid % LBK : tid / LBN;
  const int b_dj = g.trans_b ? kThreads / LBK : 0, b_dp = g.trans_b ? 0 : kThreads / LBN;
  // Element offsets: (row, k) of A at row * a_row + k * a_k; (col, k) of B likewise.
  const int64_t a_row = g.trans_a ? 1 : K, a_k = g.trans_a ? M : 1;
  const int64_t b_col = g.trans_b ? K : 1, b_k = g.trans_b ? 1 : N;
  // Per element r: offset strides, and which of the rows (columns) lie inside the matrix, fixed per block.
  const int64_t a_rs = a_di * a_row + a_dp * a_k, b_rs = b_dj * b_col + b_dp * b_k;
  unsigned a_in = 0, b_in = 0;
#pragma unroll
  for (int r = 0; r < kLoads; ++r) {
    a_in |= (m0 + a_i + r * a_di < M ? 1u : 0u) << r;
    b_in |= (n0 + b_j + r * b_dj < N ? 1u : 0u) << r;
  }
  const int64_t ktiles = (K + LBK - 1) / LBK;

  for (int64_t t = kp_gpu_block_z(); t < g.batch; t += kp_gpu_grid_dim_z()) {
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);
    // Offsets of element 0 at the next K step to fetch, and the K values left from this thread's first.
    int64_t a_at = ao + (m0 + a_i) * a_row + a_p * a_k, b_at = bo + (n0 + b_j) * b_col + b_p * b_k;
    int64_t a_left = K - a_p, b_left = K - b_p;
    uint32_t ra[kLoads], rb[kLoads];  // raw bits: converted in stash, after the step's products
    auto fetch = [&]() {
#pragma unroll
      for (int r = 0; r < kLoads; ++r) {
        const bool aok = ((a_in >> r) & 1u) && r * a_dp < a_left, bok = ((b_in >> r) & 1u) && r * b_dp < b_left;
        ra[r] = aok ? load_bits(g.a, g.dtype, a_at + r * a_rs) : 0u;  // 0 bits: zero in every dtype
        rb[r] = bok ? load_bits(g.b, g.dtype, b_at + r * b_rs) : 0u;
      }
      a_at += LBK * a_k;
      b_at += LBK * b_k;
      a_left -= LBK;
      b_left -= LBK;
    };
    auto stash = [&](int buf) {
#pragma unroll
      for (int r = 0; r < kLoads; ++r) {
        As[buf][a_p + r * a_dp][a_i + r * a_di] = bits_to_f32(ra[r], g.dtype);
        Bs[buf][b_p + r * b_dp][b_j + r * b_dj] = bits_to_f32(rb[r], g.dtype);
      }
    };

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    fetch();
    stash(0);
    kp_gpu_sync_block();
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      const int buf = static_cast<int>(kt & 1);
      const bool more = kt + 1 < ktiles;
      if (more) fetch();  // in flight while this step's products run
#pragma unroll
      for (int p = 0; p < LBK; ++p) {
        const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][p][ty * 4]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][p][ty * 4 + 64]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][p][tx * 4]);
        const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][p][tx * 4 + 64]);
        const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
      // The other buffer was last read in step kt - 1, which every thread finished before the
      // barrier that ended it; this barrier publishes it for step kt + 1 and retires buffer buf.
      if (more) stash(buf ^ 1);
      kp_gpu_sync_block();
    }

#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t gi = m0 + ty * 4 + (i % 4) + (i / 4) * 64;
      if (gi >= M) continue;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int64_t gj = n0 + tx * 4 + (j % 4) + (j / 4) * 64;
        if (gj < N) epilogue_store_call(g.ep, t, ro, gi, gj, acc[i][j]);
      }
    }
  }
}

// ---- 64x64 ----
constexpr int SBM = 64, SBN = 64, SBK = 16;

KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kThreads) gemm_simt64(GemmArgs g) {
  __shared__ float As[SBK][SBM + 4];
  __shared__ float Bs[SBK][SBN + 4];
  const int tid = static_cast<int>(kp_gpu_thread_x());
  const int tx = tid % 16, ty = tid / 16;
  const int64_t M = g.m, N = g.n, K = g.k;
  const int64_t m0 = static_cast<int64_t>(kp_gpu_block_y()) * SBM, n0 = static_cast<int64_t>(kp_gpu_block_x()) * SBN;
  for (int64_t t = kp_gpu_block_z(); t < g.batch; t += kp_gpu_grid_dim_z()) {
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);
    float acc[4][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += SBK) {
      for (int r = 0; r < (SBM * SBK) / kThreads; ++r) {
        const int e = tid + kThreads * r;
        // Consecutive threads walk A's contiguous axis.
        const int ii = g.trans_a ? e % SBM : e / SBK;
        const int pp = g.trans_a ? e / SBM : e % SBK;
        const int64_t gi = m0 + ii, gp = k0 + pp;
        float v = 0.0f;
        if (gi < M && gp < K) v = load_el(g.a, g.dtype, ao + (g.trans_a ? gp * M + gi : gi * K + gp));
        As[pp][ii] = v;
      }
      for (int r = 0; r < (SBN * SBK) / kThreads; ++r) {
        const int e = tid + kThreads * r;
        const int jj = g.trans_b ? e / SBK : e % SBN;
        const int pp = g.trans_b ? e % SBK : e / SBN;
        const int64_t gj = n0 + jj, gp = k0 + pp;
        float v = 0.0f;
        if (gj < N && gp < K) v = load_el(g.b, g.dtype, bo + (g.trans_b ? gj * K + gp : gp * N + gj));
        Bs[pp][jj] = v;
      }
      kp_gpu_sync_block();
#pragma unroll
      for (int p = 0; p < SBK; ++p) {
        float av[4], bv[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) av[i] = As[p][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j) bv[j] = Bs[p][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
      kp_gpu_sync_block();
    }
    for (int i = 0; i < 4; ++i) {
      const int64_t gi = m0 + ty + 16 * i;
      if (gi >= M) continue;
      for (int j = 0; j < 4; ++j) {
        const int64_t gj = n0 + tx + 16 * j;
        if (gj < N) epilogue_store_call(g.ep, t, ro, gi, gj, acc[i][j]);
      }
    }
  }
}

}  // namespace

bool simt_large_tile(const kp_matmul_desc& d) {
  // A 128x128 block does about 3x the work of a 64x64 one per unit time; below ~48 of them the
  // finer grid's extra parallelism wins on a part with ~100+ multiprocessors. Shape only (and the
  // two tiles agree bit for bit anyway).
  int64_t batch = 1;
  for (int i = 0; i < d.batch_rank; ++i) batch *= d.batch_shape[i];
  const int64_t tiles = ((d.m + LBM - 1) / LBM) * ((d.n + LBN - 1) / LBN) * grid_z(batch);
  return d.m > LBM / 2 && d.n > LBN / 2 && tiles >= 48;
}

void launch_gemm_simt(kp_gpu_stream_t stream, const GemmArgs& g, bool large) {
  const int bm = large ? LBM : SBM, bn = large ? LBN : SBN;
  const dim3 grid(static_cast<unsigned>((g.n + bn - 1) / bn), static_cast<unsigned>((g.m + bm - 1) / bm), grid_z(g.batch));
  if (large) KP_GPU_LAUNCH(gemm_simt128, grid, dim3(kThreads), 0, stream)(g);
  else KP_GPU_LAUNCH(gemm_simt64, grid, dim3(kThreads), 0, stream)(g);
}

}  // namespace gpu
}  // namespace kp
