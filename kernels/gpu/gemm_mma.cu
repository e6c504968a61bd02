// Tensor-core GEMM for f16/bf16 inputs with f32 accumulation: mma.sync m16n8k16 fed by ldmatrix
// from shared memory, filled by a 3-stage cp.async pipeline; the fused epilogue is applied straight
// from the accumulator registers.
//
// NVIDIA-only instructions: the kernel body exists where KP_GPU_HAS_MMA is defined (sm_80 and newer
// device passes); elsewhere (MUSA, older parts) it is empty and mma_eligible() says no, so the
// portable kernels in gemm.cu run instead. mma.sync is a 32-lane warp instruction by definition:
// mma_eligible() also requires the device's warp size to be 32.
//
// Tiles: 128x128 outputs per block, K in steps of 32; 8 warps in a 2x4 grid, each 64x32 outputs
// (4 x 4 mma tiles). Shared-memory rows are padded by 8 halves, which keeps ldmatrix's eight
// 16-byte row reads of a matrix in distinct banks. Requirements (checked by mma_eligible): A not
// transposed, K a multiple of 8, N a multiple of 8 unless B is transposed, 16-byte aligned operands
// and batch strides (cp.async moves 16 bytes).
#include <stdlib.h>
#include "gemm.cuh"
#include "mma_common.cuh"

namespace kp {
namespace gpu {
namespace {

constexpr int MBM = 128, MBN = 128, MBK = 32, STAGES = 3, MTHREADS = 256;
constexpr int A_LD = MBK + 8;   // halves per A row in shared memory
constexpr int BT_LD = MBK + 8;  // B stored [N][K] (trans_b)
constexpr int BN_LD = MBN + 8;  // B stored [K][N]
constexpr int A_STAGE = MBM * A_LD;
constexpr int B_STAGE = (MBN * BT_LD > MBK * BN_LD) ? MBN * BT_LD : MBK * BN_LD;
constexpr size_t SMEM_BYTES = static_cast<size_t>(STAGES) * (A_STAGE + B_STAGE) * 2;

template <bool BF16>
KP_GPU_GLOBAL void KP_GPU_LAUNCH_BOUNDS(MTHREADS) gemm_mma(GemmArgs g) {
#if defined(KP_GPU_HAS_MMA)
  const bool TRANS_B = g.trans_b != 0;  // uniform: a runtime branch keeps the instantiations (and CI's build time) down
  extern __shared__ __align__(16) unsigned char smem_raw[];
  uint16_t* As = reinterpret_cast<uint16_t*>(smem_raw);
  uint16_t* Bs = As + STAGES * A_STAGE;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int warp_m = warp / 4, warp_n = warp % 4;
  const int64_t M = g.m, N = g.n, K = g.k;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * MBM, n0 = static_cast<int64_t>(blockIdx.x) * MBN;
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
      for (int r = 0; r < 2; ++r) {  // A: 128 rows x 4 chunks of 8 halves
        const int id = tid + MTHREADS * r;
        const int row = id / 4, ch = id % 4;
        const int64_t gm = m0 + row, gk = k0 + ch * 8;
        const bool ok = gm < M && gk < K;
        cp_async16(smem_addr(as + row * A_LD + ch * 8), ok ? A + ao + gm * K + gk : A, ok);
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int id = tid + MTHREADS * r;
        if (TRANS_B) {  // B [N][K]: 128 rows (n) x 4 chunks
          const int row = id / 4, ch = id % 4;
          const int64_t gn = n0 + row, gk = k0 + ch * 8;
          const bool ok = gn < N && gk < K;
          cp_async16(smem_addr(bs + row * BT_LD + ch * 8), ok ? B + bo + gn * K + gk : B, ok);
        } else {  // B [K][N]: 32 rows (k) x 16 chunks
          const int row = id / 16, ch = id % 16;
          const int64_t gk = k0 + row, gn = n0 + ch * 8;
          const bool ok = gk < K && gn < N;
          cp_async16(smem_addr(bs + row * BN_LD + ch * 8), ok ? B + bo + gk * N + gn : B, ok);
        }
      }
    };

    float acc[4][4][4];
    zero_acc(acc);

    mma_pipeline<STAGES>(ktiles, MBK, load_stage, [&](int stage) {
      const uint16_t* as = As + stage * A_STAGE;
      const uint16_t* bs = Bs + stage * B_STAGE;
#pragma unroll
      for (int kk = 0; kk < MBK; kk += 16) {
        uint32_t af[4][4], bf[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
          const int row = warp_m * 64 + mi * 16 + (lane % 16);
          ldmatrix_x4(smem_addr(as + row * A_LD + kk + (lane / 16) * 8), af[mi]);
        }
#pragma unroll
        for (int p = 0; p < 2; ++p) {
          const int cb = warp_n * 32 + p * 16;
          uint32_t r[4];
          if (TRANS_B)
            ldmatrix_x4(smem_addr(bs + (cb + (lane % 8) + (lane / 16) * 8) * BT_LD + kk + ((lane / 8) % 2) * 8), r);
          else
            ldmatrix_x4_trans(smem_addr(bs + (kk + (lane % 8) + ((lane / 8) % 2) * 8) * BN_LD + cb + (lane / 16) * 8), r);
          bf[2 * p][0] = r[0];
          bf[2 * p][1] = r[1];
          bf[2 * p + 1][0] = r[2];
          bf[2 * p + 1][1] = r[3];
        }
#pragma unroll
        for (int mi = 0; mi < 4; ++mi)
#pragma unroll
          for (int nj = 0; nj < 4; ++nj) mma16816<BF16>(acc[mi][nj], af[mi], bf[nj]);
      }
    });
    store_warp_tile(g, t, ro, m0 + warp_m * 64, n0 + warp_n * 32, lane, acc);
  }
#endif
}

template <bool BF16>
void launch_one(kp_gpu_stream_t stream, const GemmArgs& g) {
  // Per call: the attribute belongs to the current device's context. A failure shows up as the
  // launch error, which the caller checks.
  (void)kp_gpu_set_max_dynamic_smem(gemm_mma<BF16>, static_cast<int>(SMEM_BYTES));
  const dim3 grid(static_cast<unsigned>((g.n + MBN - 1) / MBN), static_cast<unsigned>((g.m + MBM - 1) / MBM),
                  static_cast<unsigned>(g.batch < 65535 ? g.batch : 65535));
  KP_GPU_LAUNCH((gemm_mma<BF16>), grid, dim3(MTHREADS), SMEM_BYTES, stream)(g);
}

}  // namespace

bool mma_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
  // MUSA (vendors/musa.h) has no mma.sync: its build compiles this kernel empty and never picks it,
  // even when the MUSA sources run on an NVIDIA part through the test-only mapping.
  if (!KP_GPU_VENDOR_HAS_MMA_SYNC) return false;
  if (caps.gemm_mode == 1 || caps.cc_major < 8 || caps.warp_size != 32) return false;
  if (caps.smem_optin < static_cast<int>(SMEM_BYTES)) return false;
  if (d.dtype != KP_F16 && d.dtype != KP_BF16) return false;
  if (d.trans_a || d.k <= 0 || d.k % 8 != 0 || (!d.trans_b && d.n % 8 != 0)) return false;
  if ((d.m + MBM - 1) / MBM > 65535) return false;
  if (!aligned16(a) || !aligned16(b)) return false;
  for (int i = 0; i < d.batch_rank; ++i)
    if (d.a_batch_stride[i] % 8 != 0 || d.b_batch_stride[i] % 8 != 0) return false;
  // Small problems: the 128x128 tile would leave most of the machine idle; the SIMT tiles are finer.
  if (caps.gemm_mode != 2 && d.m * d.n < static_cast<int64_t>(caps.multiprocessors) * MBM * MBN / 4) return false;
  return true;
}

void launch_gemm_mma(kp_gpu_stream_t stream, const GemmArgs& g) {
  if (g.dtype == KP_BF16) launch_one<true>(stream, g);
  else launch_one<false>(stream, g);
}

}  // namespace gpu
}  // namespace kp
