// TF32 tensor-core GEMM for f32 inputs, only when the caller allows it (matmul allowTf32 /
// kp_matmul_desc.allow_tf32), as cuBLAS does with TF32 math: A and B are rounded to TF32 (10-bit
// mantissa, cvt.rna: nearest, ties away) and multiplied by mma.sync m16n8k8 with f32 accumulation;
// the fused epilogue runs on the accumulator tile staged through the drained stages (mma_common.cuh).
//
// 128x128 outputs per block, 8 warps in a 2x4 grid of 64x32, 4-stage cp.async pipeline (80 KiB),
// K steps of 16 f32 (two mma k-steps); blocks rasterised for L2 reuse as in gemm_mma.cu. Fragments
// are read from shared memory with plain 32-bit loads (ldmatrix moves 16-bit elements and cannot transpose 32-bit ones); the row paddings
// below keep each fragment load free of bank conflicts:
//   A [128][16+4] and B^T [128][16+4]: lane (g = lane/4, t = lane%4) reads row g, column t: bank 20g+t;
//   B [16][128+8]: lane reads row t, column g: bank 8t+g.
// Fragment layouts (PTX ISA, mma.m16n8k8 .tf32): a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4);
// b0 (k t, n g), b1 (k t+4, n g); c as for m16n8k16: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
//
// NVIDIA-only, like gemm_mma.cu: the body exists where KP_GPU_HAS_MMA is defined, and tf32_eligible()
// requires the vendor's mma.sync and a 32-lane warp. Requirements: A not transposed, K a multiple of
// 4, N a multiple of 4 unless B is transposed, 16-byte aligned operands and batch strides.
#include "gemm.cuh"
#include "mma_common.cuh"

namespace kp {
namespace gpu {
namespace {

constexpr int TBM = 128, TBN = 128, TBK = 16, TSTAGES = 4, TTHREADS = 256;
constexpr int TA_LD = TBK + 4;   // floats per A row in shared memory
constexpr int TBT_LD = TBK + 4;  // B stored [N][K] (trans_b)
constexpr int TBN_LD = TBN + 8;  // B stored [K][N]
constexpr int TA_STAGE = TBM * TA_LD;
constexpr int TB_STAGE = (TBN * TBT_LD > TBK * TBN_LD) ? TBN * TBT_LD : TBK * TBN_LD;
constexpr size_t TSMEM_BYTES = static_cast<size_t>(TSTAGES) * (TA_STAGE + TB_STAGE) * 4;
static_assert(block_tile_stage_bytes(TBM, TBN) <= TSMEM_BYTES, "the epilogue's staging must fit the drained stages");


KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(TTHREADS) gemm_tf32(GemmArgs g) {
#if defined(KP_GPU_HAS_MMA)
  const bool TRANS_B = g.trans_b != 0;
  KP_GPU_EXTERN_SMEM(unsigned char, smem_raw, 16);
  float* As = reinterpret_cast<float*>(smem_raw);
  float* Bs = As + TSTAGES * TA_STAGE;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int warp_m = warp / 4, warp_n = warp % 4;
  const int gq = lane / 4, tq = lane % 4;
  const int64_t M = g.m, N = g.n, K = g.k;
  int tm, tn;
  raster(static_cast<int>(blockIdx.x), static_cast<int>((M + TBM - 1) / TBM), static_cast<int>((N + TBN - 1) / TBN), &tm, &tn);
  const int64_t m0 = static_cast<int64_t>(tm) * TBM, n0 = static_cast<int64_t>(tn) * TBN;
  const float* A = static_cast<const float*>(g.a);
  const float* B = static_cast<const float*>(g.b);
  const int64_t ktiles = (K + TBK - 1) / TBK;

  for (int64_t t = blockIdx.z; t < g.batch; t += gridDim.z) {
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);

    // Chunks of 4 floats; K (and N for B [K,N]) are multiples of 4, so a chunk is wholly in or out.
    auto load_stage = [&](int stage, int64_t k0) {
      float* as = As + stage * TA_STAGE;
      float* bs = Bs + stage * TB_STAGE;
#pragma unroll
      for (int r = 0; r < 2; ++r) {  // A: 128 rows x 4 chunks
        const int id = tid + TTHREADS * r;
        const int row = id / 4, ch = id % 4;
        const int64_t gm = m0 + row, gk = k0 + ch * 4;
        const bool ok = gm < M && gk < K;
        cp_async16(smem_addr(as + row * TA_LD + ch * 4), ok ? A + ao + gm * K + gk : A, ok);
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int id = tid + TTHREADS * r;
        if (TRANS_B) {  // B [N][K]: 128 rows (n) x 4 chunks
          const int row = id / 4, ch = id % 4;
          const int64_t gn = n0 + row, gk = k0 + ch * 4;
          const bool ok = gn < N && gk < K;
          cp_async16(smem_addr(bs + row * TBT_LD + ch * 4), ok ? B + bo + gn * K + gk : B, ok);
        } else {  // B [K][N]: 16 rows (k) x 32 chunks
          const int row = id / 32, ch = id % 32;
          const int64_t gk = k0 + row, gn = n0 + ch * 4;
          const bool ok = gk < K && gn < N;
          cp_async16(smem_addr(bs + row * TBN_LD + ch * 4), ok ? B + bo + gk * N + gn : B, ok);
        }
      }
    };

    float acc[4][4][4];
    zero_acc(acc);

    mma_pipeline<TSTAGES>(ktiles, TBK, load_stage, [&](int stage) {
      const float* as = As + stage * TA_STAGE;
      const float* bs = Bs + stage * TB_STAGE;
#pragma unroll
      for (int kk = 0; kk < TBK; kk += 8) {
        uint32_t af[4][4], bf[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
          const float* r0 = as + (warp_m * 64 + mi * 16 + gq) * TA_LD + kk + tq;
          af[mi][0] = to_tf32(r0[0]);
          af[mi][1] = to_tf32(r0[8 * TA_LD]);
          af[mi][2] = to_tf32(r0[4]);
          af[mi][3] = to_tf32(r0[8 * TA_LD + 4]);
        }
#pragma unroll
        for (int nj = 0; nj < 4; ++nj) {
          const int col = warp_n * 32 + nj * 8 + gq;
          if (TRANS_B) {
            const float* c0 = bs + col * TBT_LD + kk + tq;
            bf[nj][0] = to_tf32(c0[0]);
            bf[nj][1] = to_tf32(c0[4]);
          } else {
            const float* c0 = bs + (kk + tq) * TBN_LD + col;
            bf[nj][0] = to_tf32(c0[0]);
            bf[nj][1] = to_tf32(c0[4 * TBN_LD]);
          }
        }
#pragma unroll
        for (int mi = 0; mi < 4; ++mi)
#pragma unroll
          for (int nj = 0; nj < 4; ++nj) mma1688(acc[mi][nj], af[mi], bf[nj]);
      }
    });
    store_block_tile<TBM, TBN, TTHREADS>(g, t, ro, m0, n0, warp, lane, acc, As);
    __syncthreads();  // the staged tile is read: the next batch entry's copies may land
  }
#endif
}

}  // namespace

bool tf32_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
  if (!KP_GPU_VENDOR_HAS_MMA_SYNC) return false;
  if (d.dtype != KP_F32 || !d.allow_tf32) return false;
  if (caps.gemm_mode == 1 || caps.cc_major < 8 || caps.warp_size != 32) return false;
  if (caps.smem_optin < static_cast<int>(TSMEM_BYTES)) return false;
  if (d.trans_a || d.k <= 0 || d.k % 4 != 0 || (!d.trans_b && d.n % 4 != 0)) return false;
  if (((d.m + TBM - 1) / TBM) * ((d.n + TBN - 1) / TBN) > 0x7fffffff) return false;  // one grid dimension
  if (!aligned16(a) || !aligned16(b)) return false;
  for (int i = 0; i < d.batch_rank; ++i)
    if (d.a_batch_stride[i] % 4 != 0 || d.b_batch_stride[i] % 4 != 0) return false;
  // Small problems: as for the 16-bit tensor-core path, the finer SIMT tiles fill the machine better.
  if (caps.gemm_mode != 2 && d.m * d.n < static_cast<int64_t>(caps.multiprocessors) * TBM * TBN / 4) return false;
  return true;
}

void launch_gemm_tf32(kp_gpu_stream_t stream, const GemmArgs& g) {
  (void)kp_gpu_set_max_dynamic_smem(gemm_tf32, static_cast<int>(TSMEM_BYTES));
  const int64_t tiles = ((g.m + TBM - 1) / TBM) * ((g.n + TBN - 1) / TBN);
  const dim3 grid(static_cast<unsigned>(tiles), 1, grid_z(g.batch));
  KP_GPU_LAUNCH(gemm_tf32, grid, dim3(TTHREADS), TSMEM_BYTES, stream)(g);
}

}  // namespace gpu
}  // namespace kp
