// What the tensor-core kernels (gemm_mma.cu, gemm_tf32.cu, attention_mma.cu) share besides the PTX
// wrappers of ptx.cuh: the GEMMs' multistage copy/compute pipeline over K tiles, the block
// rasterisation, and the store of a warp's accumulator tile through the fused epilogue. Only where
// KP_GPU_HAS_MMA is defined (sm_80+ device passes of the CUDA build, and the CPU emulator); MUSA
// never sees them (vendors/musa.h).
#pragma once
#include "gemm.cuh"
#include "ptx.cuh"

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

// Outputs (i, j) and (i, j + 1) of batch entry t through the epilogue, j even and inside the matrix;
// one 2-element store where the output row allows it. Out of line, as epilogue_store_call.
static __device__ __noinline__ void epilogue_store_pair(const Epilogue& e, int64_t t, int64_t ro, int64_t i, int64_t j,
                                                       float a0, float a1) {
  const int64_t at = (t * e.m + i) * e.n + j;
  const float v0 = epilogue_value(e, ro, i, j, a0);
  if (j + 1 >= e.n) {
    store_el(e.out, e.out_dtype, at, v0);
    return;
  }
  const float v1 = epilogue_value(e, ro, i, j + 1, a1);
  const int size = e.out_dtype == KP_F32 ? 4 : 2;
  if ((at & 1) == 0 && (reinterpret_cast<uintptr_t>(e.out) & (2 * size - 1)) == 0) {
    if (e.out_dtype == KP_F32) {
      *reinterpret_cast<float2*>(static_cast<float*>(e.out) + at) = make_float2(v0, v1);
    } else {
      const bool f16 = e.out_dtype == KP_F16;
      const uint32_t lo = f16 ? f32_to_f16(v0) : f32_to_bf16(v0), hi = f16 ? f32_to_f16(v1) : f32_to_bf16(v1);
      *reinterpret_cast<uint32_t*>(static_cast<uint16_t*>(e.out) + at) = lo | (hi << 16);
    }
  } else {
    store_el(e.out, e.out_dtype, at, v0);
    store_el(e.out, e.out_dtype, at + 1, v1);
  }
}

// A warp's (16 MI) x (8 NJ) outputs at (r0, c0) of batch entry t, held as MI x NJ m16n8
// accumulator fragments (c0/c1: row lane/4, columns 2(lane%4) + 0/1; c2/c3: 8 rows further), through
// the epilogue.
template <int MI, int NJ>
__device__ __forceinline__ void store_warp_tile(const GemmArgs& g, int64_t t, int64_t ro, int64_t r0, int64_t c0,
                                                int lane, const float (&acc)[MI][NJ][4]) {
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int nj = 0; nj < NJ; ++nj) {
      const int64_t i0 = r0 + mi * 16 + lane / 4, j = c0 + nj * 8 + (lane % 4) * 2;
      if (j >= g.n) continue;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t i = i0 + 8 * h;
        if (i < g.m) epilogue_store_pair(g.ep, t, ro, i, j, acc[mi][nj][2 * h], acc[mi][nj][2 * h + 1]);
      }
    }
}

}  // namespace
}  // namespace gpu
}  // namespace kp
#endif
