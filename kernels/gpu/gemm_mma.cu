// Tensor-core GEMM for f16/bf16 inputs with f32 accumulation: mma.sync m16n8k16 fed by ldmatrix
// from shared memory, filled by a 4-stage cp.async pipeline; the fused epilogue runs on the
// accumulator tile staged through the drained stages (mma_common.cuh store_block_tile).
//
// NVIDIA-only instructions: the kernel body exists where KP_GPU_HAS_MMA is defined (sm_80 and newer
// device passes); elsewhere (MUSA, older parts) it is empty and mma_eligible() says no, so the
// portable kernels run instead. mma.sync is a 32-lane warp instruction by definition: mma_eligible()
// also requires the device's warp size to be 32.
//
// Tiles: 8 warps in a 2x4 grid, K in steps of 32. Two block tiles (mma_tile(), from the shape only):
// 128x256 (warp tiles 64x64: 8 ldmatrix.x4 feed 32 mma per 16 K) for large problems, 64x128 (warp
// tiles 32x32) when the large tiles would not fill the device, e.g. M = 512. Both accumulate each
// output over K in the same order (16 at a time, increasing): the choice does not change results.
// Shared memory is unpadded and XOR-swizzled in 16-byte chunks so that each ldmatrix (8 rows at one
// chunk column) and each cp.async row segment touch distinct banks:
//   A [BM][32] and B^T [BN][32] (64-byte rows, two per 128 bytes): chunk c of row r at c ^ ((r/2) % 4);
//   B [32][BN]: chunk c of row r at c ^ (r % 8).
// 4 stages of the large tile: 4 x 24 KiB = 96 KiB, within every sm_80+ part's opt-in (99 KiB on
// sm_86/89/120). Blocks are rasterised in groups of 8 tile rows for L2 reuse.
// Requirements (checked by mma_eligible): A not transposed, K a multiple of 8, N a multiple of 8
// unless B is transposed, 16-byte aligned operands and batch strides (cp.async moves 16 bytes).
#include <stdlib.h>
#include "gemm.cuh"
#include "mma_common.cuh"

namespace kp {
namespace gpu {
namespace {

constexpr int MBK = 32, STAGES = 4, MTHREADS = 256;
constexpr int LARGE_BM = 128, LARGE_BN = 256, SMALL_BM = 64, SMALL_BN = 128;

constexpr size_t smem_bytes(int bm, int bn) { return static_cast<size_t>(STAGES) * (bm + bn) * MBK * 2; }
constexpr size_t SMEM_LARGE = smem_bytes(LARGE_BM, LARGE_BN);
static_assert(block_tile_stage_bytes(LARGE_BM, LARGE_BN) <= SMEM_LARGE && block_tile_stage_bytes(SMALL_BM, SMALL_BN) <= smem_bytes(SMALL_BM, SMALL_BN),
              "the epilogue's staging must fit the drained stages");

#if defined(KP_GPU_HAS_MMA)
// Half offsets of 16-byte chunk c of row r in the swizzled layouts above.
__device__ __forceinline__ int swz_k32(int r, int c) { return r * MBK + ((c ^ ((r >> 1) & 3)) << 3); }
template <int BN>
__device__ __forceinline__ int swz_kn(int r, int c) { return r * BN + ((c ^ (r & 7)) << 3); }
#endif

// Small tiles: two blocks per multiprocessor (128 registers a thread), so M = 512 problems keep 16
// warps busy on each.
template <bool BF16, int BM, int BN>
KP_GPU_GLOBAL void __launch_bounds__(MTHREADS, BM == SMALL_BM ? 2 : 1) gemm_mma(GemmArgs g) {
#if defined(KP_GPU_HAS_MMA)
  constexpr int MI = BM / 32, NJ = BN / 32;  // m16 / n8 fragments of a warp's (BM/2) x (BN/4) tile
  constexpr int A_STAGE = BM * MBK, B_STAGE = BN * MBK;
  const bool TRANS_B = g.trans_b != 0;  // uniform: a runtime branch keeps the instantiations (and CI's build time) down
  KP_GPU_EXTERN_SMEM(unsigned char, smem_raw, 128);
  uint16_t* As = reinterpret_cast<uint16_t*>(smem_raw);
  uint16_t* Bs = As + STAGES * A_STAGE;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int warp_m = warp / 4, warp_n = warp % 4;
  const int64_t M = g.m, N = g.n, K = g.k;
  const int tiles_m = static_cast<int>((M + BM - 1) / BM), tiles_n = static_cast<int>((N + BN - 1) / BN);
  int tm, tn;
  raster(static_cast<int>(blockIdx.x), tiles_m, tiles_n, &tm, &tn);
  const int64_t m0 = static_cast<int64_t>(tm) * BM, n0 = static_cast<int64_t>(tn) * BN;
  const uint16_t* A = static_cast<const uint16_t*>(g.a);
  const uint16_t* B = static_cast<const uint16_t*>(g.b);
  const int64_t ktiles = (K + MBK - 1) / MBK;

  for (int64_t t = blockIdx.z; t < g.batch; t += gridDim.z) {
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);

    auto load_stage = [&](int stage, int64_t k0) {
      uint16_t* as = As + stage * A_STAGE;
      uint16_t* bs = Bs + stage * B_STAGE;
#pragma unroll
      for (int r = 0; r < BM * 4 / MTHREADS; ++r) {  // A: BM rows x 4 chunks of 8 halves
        const int id = tid + MTHREADS * r;
        const int row = id / 4, ch = id % 4;
        const int64_t gm = m0 + row, gk = k0 + ch * 8;
        const bool ok = gm < M && gk < K;
        cp_async16(smem_addr(as + swz_k32(row, ch)), ok ? A + ao + gm * K + gk : A, ok);
      }
#pragma unroll
      for (int r = 0; r < BN * 4 / MTHREADS; ++r) {
        const int id = tid + MTHREADS * r;
        if (TRANS_B) {  // B [N][K]: BN rows (n) x 4 chunks
          const int row = id / 4, ch = id % 4;
          const int64_t gn = n0 + row, gk = k0 + ch * 8;
          const bool ok = gn < N && gk < K;
          cp_async16(smem_addr(bs + swz_k32(row, ch)), ok ? B + bo + gn * K + gk : B, ok);
        } else {  // B [K][N]: 32 rows (k) x BN/8 chunks
          const int row = id / (BN / 8), ch = id % (BN / 8);
          const int64_t gk = k0 + row, gn = n0 + ch * 8;
          const bool ok = gk < K && gn < N;
          cp_async16(smem_addr(bs + swz_kn<BN>(row, ch)), ok ? B + bo + gk * N + gn : B, ok);
        }
      }
    };

    float acc[MI][NJ][4];
    zero_acc(acc);

    mma_pipeline<STAGES>(ktiles, MBK, load_stage, [&](int stage) {
      const uint16_t* as = As + stage * A_STAGE;
      const uint16_t* bs = Bs + stage * B_STAGE;
#pragma unroll
      for (int kk = 0; kk < MBK; kk += 16) {
        uint32_t af[MI][4], bf[NJ][2];
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          // Lanes 0-15: rows 0-15 at K chunk kk/8; lanes 16-31: the same rows, the next chunk.
          const int row = warp_m * (BM / 2) + mi * 16 + (lane % 16);
          ldmatrix_x4(smem_addr(as + swz_k32(row, kk / 8 + lane / 16)), af[mi]);
        }
#pragma unroll
        for (int p = 0; p < NJ / 2; ++p) {
          const int cb = warp_n * (BN / 4) + p * 16;
          uint32_t r[4];
          if (TRANS_B)  // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
            ldmatrix_x4(smem_addr(bs + swz_k32(cb + (lane % 8) + (lane / 16) * 8, kk / 8 + (lane / 8) % 2)), r);
          else  // the same four, read transposed from [k][n]
            ldmatrix_x4_trans(smem_addr(bs + swz_kn<BN>(kk + (lane % 8) + ((lane / 8) % 2) * 8, cb / 8 + lane / 16)), r);
          bf[2 * p][0] = r[0];
          bf[2 * p][1] = r[1];
          bf[2 * p + 1][0] = r[2];
          bf[2 * p + 1][1] = r[3];
        }
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
          for (int nj = 0; nj < NJ; ++nj) mma16816<BF16>(acc[mi][nj], af[mi], bf[nj]);
      }
    });
    store_block_tile<BM, BN, MTHREADS>(g, t, ro, m0, n0, warp, lane, acc, reinterpret_cast<float*>(smem_raw));
    __syncthreads();  // the staged tile is read: the next batch entry's copies may land
  }
#endif
}

template <bool BF16, int BM, int BN>
void launch_tile(kp_gpu_stream_t stream, const GemmArgs& g) {
  // Per call: the attribute belongs to the current device's context. A failure shows up as the
  // launch error, which the caller checks.
  constexpr size_t smem = smem_bytes(BM, BN);
  (void)kp_gpu_set_max_dynamic_smem(gemm_mma<BF16, BM, BN>, static_cast<int>(smem));
  const int64_t tiles = ((g.m + BM - 1) / BM) * ((g.n + BN - 1) / BN);
  const dim3 grid(static_cast<unsigned>(tiles), 1, grid_z(g.batch));
  KP_GPU_LAUNCH((gemm_mma<BF16, BM, BN>), grid, dim3(MTHREADS), smem, stream)(g);
}

template <bool BF16>
void launch_one(kp_gpu_stream_t stream, const GemmArgs& g, bool large) {
  if (large) launch_tile<BF16, LARGE_BM, LARGE_BN>(stream, g);
  else launch_tile<BF16, SMALL_BM, SMALL_BN>(stream, g);
}

}  // namespace

bool mma_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
  // MUSA (vendors/musa.h) has no mma.sync: its build compiles this kernel empty and never picks it,
  // even when the MUSA sources run on an NVIDIA part through the test-only mapping.
  if (!KP_GPU_VENDOR_HAS_MMA_SYNC) return false;
  if (caps.gemm_mode == 1 || caps.cc_major < 8 || caps.warp_size != 32) return false;
  if (caps.smem_optin < static_cast<int>(SMEM_LARGE)) return false;
  if (d.dtype != KP_F16 && d.dtype != KP_BF16) return false;
  if (d.trans_a || d.k <= 0 || d.k % 8 != 0 || (!d.trans_b && d.n % 8 != 0)) return false;
  // One grid dimension holds every tile (rasterised in the kernel); the small tiles are the most.
  if (((d.m + SMALL_BM - 1) / SMALL_BM) * ((d.n + SMALL_BN - 1) / SMALL_BN) > 0x7fffffff) return false;
  if (!aligned16(a) || !aligned16(b)) return false;
  for (int i = 0; i < d.batch_rank; ++i)
    if (d.a_batch_stride[i] % 8 != 0 || d.b_batch_stride[i] % 8 != 0) return false;
  // Small problems (under a quarter of a 128x128 tile per multiprocessor): the SIMT tiles are finer.
  if (caps.gemm_mode != 2 && d.m * d.n < static_cast<int64_t>(caps.multiprocessors) * 128 * 128 / 4) return false;
  return true;
}

// Large tiles unless they would leave part of a ~130-multiprocessor device idle (one block each):
// under 128 of them, the 64x128 tiles (4x as many, several resident per multiprocessor) fill it.
bool mma_large_tile(int64_t m, int64_t n, int64_t batch) {
  const int64_t tiles = ((m + LARGE_BM - 1) / LARGE_BM) * ((n + LARGE_BN - 1) / LARGE_BN) * grid_z(batch);
  return tiles >= 128;
}

void launch_gemm_mma(kp_gpu_stream_t stream, const GemmArgs& g) {
  const bool large = mma_large_tile(g.m, g.n, g.batch);
  if (g.dtype == KP_BF16) launch_one<true>(stream, g, large);
  else launch_one<false>(stream, g, large);
}

}  // namespace gpu
}  // namespace kp
