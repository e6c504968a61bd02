// The matmul launcher (which GEMM runs for a descriptor) and the portable GEMV with the fused epilogue.
//
// - gemv: M <= 4 (decoding). Threads split N and K; the K partial sums are reduced in shared memory
//   in a fixed order, so results are deterministic run to run. Reads B once, coalesced along its
//   contiguous axis. No warp-level operations: nothing depends on the warp size. gemv_vec and
//   gemv_vec_kn: the same with 16-byte loads for 16-bit inputs, B [N,K] (nn.Linear's weights) and
//   B [K,N] (JAX's).
// - the GEMM tiles: gemm_simt.cu (portable), gemm_mma.cu and gemm_tf32.cu (NVIDIA tensor cores).
#include "gemm.cuh"

namespace kp {
namespace gpu {
namespace {

constexpr int kThreads = 256;

constexpr int kGemvMaxM = 4;

// The block's K-slice partial sums (part: [kGemvMaxM][ks][cols], flattened) of its `cols` output columns
// added in slice order, a fixed order whatever the timing, and stored through the epilogue; the block
// is in step on both sides (part is written before, and again for the next batch entry after).
KP_GPU_DEVICE KP_GPU_INLINE void gemv_finish(const GemmArgs& g, int64_t t, int64_t ro, const float* part, int ks, int cols, int tid) {
  kp_gpu_sync_block();
  if (tid < cols * kGemvMaxM) {
    const int cc = tid % cols, i = tid / cols;
    const int64_t j = static_cast<int64_t>(kp_gpu_block_x()) * cols + cc;
    if (i < g.m && j < g.n) {
      float sum = 0.0f;
      for (int q = 0; q < ks; ++q) sum += part[(i * ks + q) * cols + cc];
      epilogue_store(g.ep, t, ro, i, j, sum);
    }
  }
  kp_gpu_sync_block();
}

// B [K,N] (contiguous along N): 32 columns x 8 K-slices per block; B [N,K] (trans_b): 8 x 32.
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kThreads) gemv(GemmArgs g) {
  __shared__ float part[kGemvMaxM][kThreads];
  const int tid = static_cast<int>(kp_gpu_thread_x());
  const int cols = g.trans_b ? 8 : 32, ks = kThreads / cols;
  const int c = g.trans_b ? tid / ks : tid % cols;
  const int s = g.trans_b ? tid % ks : tid / cols;
  const int64_t M = g.m, N = g.n, K = g.k;
  const int64_t gj = static_cast<int64_t>(kp_gpu_block_x()) * cols + c;
  for (int64_t t = kp_gpu_block_z(); t < g.batch; t += kp_gpu_grid_dim_z()) {
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);
    float acc[kGemvMaxM] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (gj < N) {
      for (int64_t p = s; p < K; p += ks) {
        const float bv = load_el(g.b, g.dtype, bo + (g.trans_b ? gj * K + p : p * N + gj));
        for (int i = 0; i < kGemvMaxM; ++i)
          if (i < M) acc[i] = fmaf(load_el(g.a, g.dtype, ao + (g.trans_a ? p * M + i : i * K + p)), bv, acc[i]);
      }
    }
    for (int i = 0; i < kGemvMaxM; ++i) part[i][s * cols + c] = acc[i];
    gemv_finish(g, t, ro, &part[0][0], ks, cols, tid);
  }
}

// The same for 16-bit A and B [N,K] (trans_b: nn.Linear's weight layout) whose rows are 16-byte aligned
// (K % 8 == 0, aligned bases and batch strides; gemv_vec_ok): a thread reads 8 consecutive K elements of
// its column of B, and of each row of A, with one 16-byte load each, and converts them with the dtype
// known at compile time. The scalar kernel above spends ~20 instructions on every 2-byte element (its
// index, a runtime-dtype conversion): far from the memory bandwidth a decoding step's weights need.
// 8 columns x 32 K-slices per block as above; each thread's K sum runs over its 8-element chunks in
// order, the slices are added in a fixed order: deterministic.
template <bool BF16>
KP_GPU_DEVICE KP_GPU_INLINE void unpack8(const uint4& w, float (&x)[8]) {
  const uint32_t v[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const uint16_t lo = static_cast<uint16_t>(v[q]), hi = static_cast<uint16_t>(v[q] >> 16);
    // bf16: the bits shifted up, a NaN left unquieted (it only meets FMAs, which return NaN either way).
    x[2 * q] = BF16 ? bits_f32(static_cast<uint32_t>(lo) << 16) : f16_to_f32(lo);
    x[2 * q + 1] = BF16 ? bits_f32(static_cast<uint32_t>(hi) << 16) : f16_to_f32(hi);
  }
}

template <bool BF16>
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kThreads) gemv_vec(GemmArgs g) {
  __shared__ float part[kGemvMaxM][kThreads];
  constexpr int cols = 8, ks = kThreads / cols;
  const int tid = static_cast<int>(kp_gpu_thread_x());
  const int c = tid / ks, s = tid % ks;
  const int64_t M = g.m, N = g.n, K = g.k;
  const int64_t gj = static_cast<int64_t>(kp_gpu_block_x()) * cols + c;
  const uint16_t* A = static_cast<const uint16_t*>(g.a);
  const uint16_t* B = static_cast<const uint16_t*>(g.b);
  for (int64_t t = kp_gpu_block_z(); t < g.batch; t += kp_gpu_grid_dim_z()) {
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);
    float acc[kGemvMaxM] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (gj < N) {
      const uint16_t* brow = B + bo + gj * K;
      for (int64_t p = s * 8; p < K; p += ks * 8) {
        float bv[8];
        unpack8<BF16>(*reinterpret_cast<const uint4*>(brow + p), bv);
#pragma unroll
        for (int i = 0; i < kGemvMaxM; ++i)
          if (i < M) {
            float av[8];
            unpack8<BF16>(*reinterpret_cast<const uint4*>(A + ao + i * K + p), av);
#pragma unroll
            for (int q = 0; q < 8; ++q) acc[i] = fmaf(av[q], bv[q], acc[i]);
          }
      }
    }
    for (int i = 0; i < kGemvMaxM; ++i) part[i][s * cols + c] = acc[i];
    gemv_finish(g, t, ro, &part[0][0], ks, cols, tid);
  }
}

// B [K,N] (x @ W with W stored [in, out], as JAX/Flax keep it), N % 8 == 0: a thread reads 8 consecutive
// columns of a K row with one 16-byte load. 32 columns (4 chunks) x 64 K-slices per block: the scalar
// kernel's grid; the slices are added in a fixed order.
template <bool BF16>
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(kThreads) gemv_vec_kn(GemmArgs g) {
  constexpr int chunks = 4, cols = 8 * chunks, ks = kThreads / chunks;
  __shared__ float part[kGemvMaxM][ks][cols];
  const int tid = static_cast<int>(kp_gpu_thread_x());
  const int c = tid % chunks, s = tid / chunks;
  const int64_t M = g.m, N = g.n, K = g.k;
  const int64_t n0 = static_cast<int64_t>(kp_gpu_block_x()) * cols + 8 * c;
  const uint16_t* A = static_cast<const uint16_t*>(g.a);
  const uint16_t* B = static_cast<const uint16_t*>(g.b);
  for (int64_t t = kp_gpu_block_z(); t < g.batch; t += kp_gpu_grid_dim_z()) {
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);
    float acc[kGemvMaxM][8];
#pragma unroll
    for (int i = 0; i < kGemvMaxM; ++i)
#pragma unroll
      for (int q = 0; q < 8; ++q) acc[i][q] = 0.0f;
    if (n0 < N) {  // N % 8 == 0: the chunk is wholly in or out
      for (int64_t p = s; p < K; p += ks) {
        float bv[8];
        unpack8<BF16>(*reinterpret_cast<const uint4*>(B + bo + p * N + n0), bv);
#pragma unroll
        for (int i = 0; i < kGemvMaxM; ++i)
          if (i < M) {
            const uint16_t h = A[ao + i * K + p];
            const float av = BF16 ? bits_f32(static_cast<uint32_t>(h) << 16) : f16_to_f32(h);
#pragma unroll
            for (int q = 0; q < 8; ++q) acc[i][q] = fmaf(av, bv[q], acc[i][q]);
          }
      }
    }
#pragma unroll
    for (int i = 0; i < kGemvMaxM; ++i)
#pragma unroll
      for (int q = 0; q < 8; ++q) part[i][s][8 * c + q] = acc[i][q];
    gemv_finish(g, t, ro, &part[0][0][0], ks, cols, tid);
  }
}

// gemv_vec's conditions: 16-bit A [M,K] and B [N,K] with 16-byte aligned rows in every batch entry;
// gemv_vec_kn's: B [K,N] with N % 8 == 0 instead.
bool gemv_vec_kn_ok(const kp_matmul_desc& d, const void* a, const void* b) {
  if ((d.dtype != KP_F16 && d.dtype != KP_BF16) || d.trans_b || d.trans_a || d.n % 8 != 0) return false;
  if (!aligned16(b)) return false;
  (void)a;
  for (int i = 0; i < d.batch_rank; ++i)
    if (d.b_batch_stride[i] % 8 != 0) return false;
  return true;
}
bool gemv_vec_ok(const kp_matmul_desc& d, const void* a, const void* b) {
  if ((d.dtype != KP_F16 && d.dtype != KP_BF16) || !d.trans_b || d.trans_a || d.k % 8 != 0) return false;
  if (!aligned16(a) || !aligned16(b)) return false;
  for (int i = 0; i < d.batch_rank; ++i)
    if (d.a_batch_stride[i] % 8 != 0 || d.b_batch_stride[i] % 8 != 0) return false;
  return true;
}

GemmArgs gemm_args(const kp_matmul_desc& d, const void* a, const void* b, const void* bias, const void* residual, void* out) {
  GemmArgs g;
  g.a = a;
  g.b = b;
  g.dtype = d.dtype;
  g.trans_a = d.trans_a;
  g.trans_b = d.trans_b;
  g.m = d.m;
  g.n = d.n;
  g.k = d.k;
  g.map.rank = d.batch_rank;
  g.batch = 1;
  for (int i = 0; i < KP_MAX_BATCH_DIMS; ++i) {
    const bool in = i < d.batch_rank;
    g.map.shape[i] = in ? d.batch_shape[i] : 1;
    g.map.a[i] = in ? d.a_batch_stride[i] : 0;
    g.map.b[i] = in ? d.b_batch_stride[i] : 0;
    g.map.r[i] = in && d.has_residual ? d.r_batch_stride[i] : 0;
    if (in) g.batch *= d.batch_shape[i];
  }
  g.ep.alpha = d.alpha;
  g.ep.beta = d.beta;
  g.ep.act = d.activation;
  g.ep.out_dtype = d.out_dtype;
  g.ep.bias_dtype = d.has_bias ? d.bias_dtype : KP_F32;
  g.ep.res_dtype = d.has_residual ? d.residual_dtype : KP_F32;
  g.ep.bias = d.has_bias ? bias : nullptr;
  g.ep.residual = d.has_residual ? residual : nullptr;
  g.ep.r_row = d.r_row_stride;
  g.ep.r_col = d.r_col_stride;
  g.ep.out = out;
  g.ep.m = d.m;
  g.ep.n = d.n;
  return g;
}

enum class GemmPath { Gemv, Wgmma, Mma, Tf32, Simt };

GemmPath choose(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
  // Forced wgmma takes even M <= 4 where it can run; where it cannot, the choice is auto's (GEMV).
  const bool wgmma = wgmma_eligible(caps, d, a, b);
  if (d.m <= kGemvMaxM && (caps.gemm_mode < 2 || (caps.gemm_mode >= 3 && !wgmma))) return GemmPath::Gemv;
  if (wgmma) return GemmPath::Wgmma;
  if (mma_eligible(caps, d, a, b)) return GemmPath::Mma;
  if (tf32_eligible(caps, d, a, b)) return GemmPath::Tf32;
  return GemmPath::Simt;
}

const char* path_name(const DeviceCaps& caps, GemmPath p, const kp_matmul_desc& d) {
  switch (p) {
    case GemmPath::Gemv: return "gemv-m4";
    case GemmPath::Wgmma: {
      // [cluster][split-K][bf16]
      static const char* const names[3][2][2] = {
          {{"gemm-wgmma-f16", "gemm-wgmma-bf16"}, {"gemm-wgmma-splitk-f16", "gemm-wgmma-splitk-bf16"}},
          {{"gemm-wgmma-cluster2-f16", "gemm-wgmma-cluster2-bf16"}, {"gemm-wgmma-cluster2-splitk-f16", "gemm-wgmma-cluster2-splitk-bf16"}},
          {{"gemm-wgmma-cluster2x2-f16", "gemm-wgmma-cluster2x2-bf16"},
           {"gemm-wgmma-cluster2x2-splitk-f16", "gemm-wgmma-cluster2x2-splitk-bf16"}}};
      const WgmmaCluster cl = wgmma_cluster(caps, d);
      const int c = cl == WgmmaCluster::PairM ? 1 : cl == WgmmaCluster::Quad ? 2 : 0;
      return names[c][wgmma_splits(caps, d) > 1][d.dtype == KP_BF16];
    }
    case GemmPath::Mma: return d.dtype == KP_BF16 ? "gemm-mma-m16n8k16-bf16" : "gemm-mma-m16n8k16-f16";
    case GemmPath::Tf32: return "gemm-mma-m16n8k8-tf32";
    default: return simt_large_tile(d) ? "gemm-simt-128x128" : "gemm-simt-64x64";
  }
}

}  // namespace

GemmTile matmul_tile(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
  int64_t batch = 1;
  for (int i = 0; i < d.batch_rank; ++i) batch *= d.batch_shape[i];
  switch (choose(caps, d, a, b)) {
    case GemmPath::Gemv: return {0, 0};
    case GemmPath::Wgmma: return {128, wgmma_tile_n(caps, d)};
    case GemmPath::Mma: return mma_large_tile(d.m, d.n, batch) ? GemmTile{128, 256} : GemmTile{64, 128};
    case GemmPath::Tf32: return {128, 128};
    default: return simt_large_tile(d) ? GemmTile{128, 128} : GemmTile{64, 64};
  }
}

const char* matmul_variant(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
  return path_name(caps, choose(caps, d, a, b), d);
}

size_t matmul_workspace(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
  return choose(caps, d, a, b) == GemmPath::Wgmma ? wgmma_workspace(caps, d) : 0;
}

const char* launch_matmul(const DeviceCaps& caps, kp_gpu_stream_t stream, const kp_matmul_desc& d, const void* a,
                          const void* b, const void* bias, const void* residual, void* out, void* workspace) {
  const GemmArgs g = gemm_args(d, a, b, bias, residual, out);
  GemmPath path = choose(caps, d, a, b);
  switch (path) {
    case GemmPath::Gemv: {
      const int cols = d.trans_b ? 8 : 32;
      const dim3 grid(static_cast<unsigned>((d.n + cols - 1) / cols), 1, grid_z(g.batch));
      // (gemv_vec_kn's 32 columns a block are the scalar kernel's for B [K,N]: the same grid)
      if (gemv_vec_ok(d, a, b)) {
        if (d.dtype == KP_BF16) KP_GPU_LAUNCH(gemv_vec<true>, grid, dim3(kThreads), 0, stream)(g);
        else KP_GPU_LAUNCH(gemv_vec<false>, grid, dim3(kThreads), 0, stream)(g);
      } else if (gemv_vec_kn_ok(d, a, b)) {
        if (d.dtype == KP_BF16) KP_GPU_LAUNCH(gemv_vec_kn<true>, grid, dim3(kThreads), 0, stream)(g);
        else KP_GPU_LAUNCH(gemv_vec_kn<false>, grid, dim3(kThreads), 0, stream)(g);
      } else {
        KP_GPU_LAUNCH(gemv, grid, dim3(kThreads), 0, stream)(g);
      }
      break;
    }
    case GemmPath::Wgmma:
      if (launch_gemm_wgmma(caps, stream, d, g, workspace)) break;
      path = GemmPath::Mma;  // no TMA descriptors on this driver: wgmma_eligible() implies mma.sync's conditions
      launch_gemm_mma(stream, g);
      break;
    case GemmPath::Mma:
      launch_gemm_mma(stream, g);
      break;
    case GemmPath::Tf32:
      launch_gemm_tf32(stream, g);
      break;
    case GemmPath::Simt:
      launch_gemm_simt(stream, g, simt_large_tile(d));
      break;
  }
  return path_name(caps, path, d);
}

}  // namespace gpu
}  // namespace kp
