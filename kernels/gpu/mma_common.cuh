// What the tensor-core kernels (gemm_mma.cu, gemm_tf32.cu, attention_mma.cu) share besides the PTX
// wrappers of ptx.cuh: the GEMMs' multistage copy/compute pipeline over K tiles, the block
// rasterisation, and the store of a block's accumulator tile through the fused epilogue. Only where
// KP_GPU_HAS_MMA is defined (sm_80+ device passes of the CUDA build, and the CPU emulator); MUSA
// never sees them (vendors/musa.h).
#pragma once
#include "gemm.cuh"
#include "ptx.cuh"

namespace kp {
namespace gpu {
// Bytes of shared memory store_block_tile (below) stages a bm x bn tile through: half its rows, skewed.
constexpr size_t block_tile_stage_bytes(int bm, int bn) { return static_cast<size_t>(bm / 2) * (bn + 8) * 4; }
}  // namespace gpu
}  // namespace kp

#if defined(KP_GPU_HAS_MMA)
namespace kp {
namespace gpu {
namespace {

template <int MI, int NJ>
__device__ __forceinline__ void zero_acc(float (&acc)[MI][NJ][4]) {
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NJ; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;
}

// Block tile (tm, tn) of linear block `id` in a tiles_m x tiles_n grid: groups of kGroupM tile rows,
// each walked column by column, so the blocks resident together share A rows and B columns in L2.
constexpr int kGroupM = 8;
__device__ __forceinline__ void raster(int id, int tiles_m, int tiles_n, int* tm, int* tn) {
  const int per_group = kGroupM * tiles_n;
  const int first = (id / per_group) * kGroupM;
  const int rows = tiles_m - first < kGroupM ? tiles_m - first : kGroupM;
  const int in = id % per_group;
  *tm = first + in % rows;
  *tn = in / rows;
}

// STAGES-deep pipeline: load_stage(stage, k0) issues the cp.async copies of the K tile at k0 into a
// stage buffer, compute(stage) consumes one. Returns with every copy landed and the block in step, so
// shared memory may be reused (the next batch entry).
template <int STAGES, class Load, class Compute>
__device__ __forceinline__ void mma_pipeline(int64_t ktiles, int64_t bk, Load&& load_stage, Compute&& compute) {
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s, s * bk);
    cp_async_commit();
  }
  for (int64_t kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // tile kt is in shared memory, and every warp is done with tile kt - 1
    const int64_t nt = kt + STAGES - 1;
    if (nt < ktiles) load_stage(static_cast<int>(nt % STAGES), nt * bk);
    cp_async_commit();
    compute(static_cast<int>(kt % STAGES));
  }
  cp_async_wait<0>();
  __syncthreads();
}

// The block's BM x BN accumulator tile (8 warps in 2 rows x 4 columns, each (BM/2) x (BN/4) held as
// MI x NJ m16n8 fragments: c0/c1 at row lane/4, columns 2(lane%4) + 0/1; c2/c3 8 rows further) through
// the fused epilogue. Staged through shared memory (the drained pipeline stages, `stage`) one warp row
// at a time: those warps write their fragments, then every thread takes 8 consecutive columns of a
// row through epilogue_store8 (16-byte stores where the output allows). Straight from the fragments
// each thread had 2 columns at a time behind an out-of-line call: the calls spilled (290 local-memory
// instructions in the 128x256 kernel, scripts/sass.sh) and the values' activations ran one after
// another. The caller syncs the block after it before shared memory is written again.
template <int BM, int BN, int THREADS, int MI, int NJ>
__device__ __forceinline__ void store_block_tile(const GemmArgs& g, int64_t t, int64_t ro, int64_t m0, int64_t n0, int warp,
                                                 int lane, const float (&acc)[MI][NJ][4], float* stage) {
  constexpr int HM = BM / 2, LD = BN + 8;  // 8 words of skew: the fragment stores of a warp are conflict-free
  static_assert(MI * 16 == HM && NJ * 8 * 4 == BN, "fragments of a 2 x 4 warp grid");
  const int warp_m = warp / 4, warp_n = warp % 4, tid = warp * 32 + lane;
  const bool vec = g.n % 8 == 0 && (reinterpret_cast<uintptr_t>(g.ep.out) & 15) == 0;
  static_assert(THREADS % (BN / 8) == 0, "a thread keeps its column group: its bias is loaded once");
  float bias[8];
  bias8(g.ep, n0 + (tid % (BN / 8)) * 8, bias);
#pragma unroll 1
  for (int h = 0; h < 2; ++h) {
    if (warp_m == h) {
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int nj = 0; nj < NJ; ++nj) {
          const int r = mi * 16 + lane / 4, c = warp_n * (BN / 4) + nj * 8 + 2 * (lane % 4);
          *reinterpret_cast<float2*>(stage + r * LD + c) = make_float2(acc[mi][nj][0], acc[mi][nj][1]);
          *reinterpret_cast<float2*>(stage + (r + 8) * LD + c) = make_float2(acc[mi][nj][2], acc[mi][nj][3]);
        }
    }
    __syncthreads();
#pragma unroll 1
    for (int u = tid; u < HM * (BN / 8); u += THREADS) {
      const int r = u / (BN / 8), c = (u % (BN / 8)) * 8;
      const int64_t i = m0 + h * HM + r, j = n0 + c;
      if (i >= g.m || j >= g.n) continue;
      alignas(16) float v[8];
      *reinterpret_cast<float4*>(v) = *reinterpret_cast<const float4*>(stage + r * LD + c);
      *reinterpret_cast<float4*>(v + 4) = *reinterpret_cast<const float4*>(stage + r * LD + c + 4);
      epilogue_store8(g.ep, t, ro, i, j, bias, v, vec);
    }
    if (h == 0) __syncthreads();  // the second warp row overwrites what the first was read from
  }
}

}  // namespace
}  // namespace gpu
}  // namespace kp
#endif
