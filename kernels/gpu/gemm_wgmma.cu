// Hopper GEMM for f16/bf16 inputs with f32 accumulation: wgmma.mma_async (warpgroup MMA) reading both
// operands from shared memory, fed by TMA (cp.async.bulk.tensor) through a 4-stage mbarrier pipeline.
//
// Block: 3 roles in 288 threads. Warps 0-3 and 4-7 are two consumer warpgroups, each computing 64 rows
// of the 128 x BN block tile (BN = 256, or 128 when 256-wide tiles would leave SMs idle) with
// m64nBNk16 instructions; warp 8 is the producer, one lane of which issues the TMA copies of each
// 64-deep K tile. Partial tiles (M, N and K tails) come from TMA's zero fill of the box outside the
// tensor: the K tail adds zeros, the M/N tails are masked in the epilogue. After the K loop the
// accumulators go through shared memory (the drained stages) so that all 288 threads run the fused
// epilogue (common.cuh epilogue8) on 8 consecutive columns each, with 16-byte stores where the
// output allows. K is summed in one fixed order: results are deterministic.
//
// Split-K (batch 1, wgmma_splits; opt-in, KERNELPORT_GPU_GEMM_SPLITK=n, see splits()): S blocks share
// each output tile along K (blockIdx.z: the split). Each sums its K tiles, stores the f32 partial tile in
// its own slice of the workspace and counts itself in (an acq_rel atomic per tile); the last to arrive,
// whichever split it is, adds the S slices in split order and runs the epilogue. No block waits for
// another, and the sum's order is fixed: deterministic.
//
// NVIDIA sm_90a only: the body is compiled in the device pass for sm_90a (__CUDA_ARCH_FEAT_SM90_ALL) and
// in the CPU emulator (which emulates wgmma, TMA and mbarriers), and is empty in every other pass
// (sm_80/86/89/120, PTX, the MUSA builds); wgmma_eligible() requires compute capability 9.0 exactly,
// 32-lane warps and a library built with the sm_90a target (KP_CUDA_SM90A, set by CMake) or the
// emulator, so the empty bodies never run.
//
// The descriptor, layouts and ordering rules are described in wgmma.cuh; here: A is K-major; B is
// K-major when stored [N][K] (trans_b) and MN-major when stored [K][N]; commit_group after a K tile's 4
// instructions, wait_group 1 before the stage the previous tile read goes back to the producer,
// wait_group 0 before the accumulators are read.
#include <algorithm>

#include "gemm.cuh"
#include "mma_common.cuh"
#include "wgmma.cuh"

namespace kp {
namespace gpu {
#if defined(KP_WGMMA_TRACE)
unsigned long long* g_wgmma_trace = nullptr;
#endif

#if defined(KP_WGMMA_HOST)
namespace {

constexpr int WBM = 128, WBK = 64, WSTAGES = 4;
constexpr int CONSUMER_WARPS = 8;                    // 2 consumer warpgroups
constexpr int WTHREADS = (CONSUMER_WARPS + 1) * 32;  // + 1 producer warp: 288
constexpr int A_BYTES = WBM * WBK * 2;  // 16 KiB: 128 rows of 128 bytes

template <int BN>
struct Tile {
  static constexpr int B_BYTES = BN * WBK * 2;
  static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
  static constexpr int C_LD = BN + 8;  // f32 staging row: 8 words of skew keep the fragment stores conflict-free
  // After the stages: their full and empty mbarriers, then split-K's "this block finishes the tile".
  static constexpr size_t LAST_OFFSET = static_cast<size_t>(WSTAGES) * STAGE_BYTES + 2 * WSTAGES * 8;
  static constexpr size_t SMEM = LAST_OFFSET + 16 + 1024 /* alignment */;
  static_assert(WBM * C_LD * 4 <= WSTAGES * STAGE_BYTES, "the accumulator staging must fit the drained stages");
};

struct WgmmaArgs {
  GemmArgs g;
  int32_t a_batched, b_batched;  // 0: the operand is the same matrix for every batch entry
  int32_t vec_out;               // 16-byte output stores allowed (N % 8 == 0, output 16-byte aligned)
  // Split-K (see the top): splits > 1 with batch 1; split z sums K tiles [z * kper, (z + 1) * kper).
  int32_t splits, kper;
  int* flags;      // per output tile (x + gridDim.x * y): the splits done with it; zeroed before the launch
  float* partial;  // per output tile, per split: WBM x BN f32 partial sums, row-major
#if defined(KP_WGMMA_TRACE)
  unsigned long long* trace;  // native/test/wgmma_trace.cu: per block, kTraceWords words
#endif
};

#if defined(KP_WGMMA_TRACE)
// A build for native/test/wgmma_trace.cu only: thread 0 of each block writes the global timer at 5 points
// (start, K loop done, split-K's count taken, epilogue done, exit) and its SM, where g_wgmma_trace points.
constexpr int kTraceWords = 6;
#define WGMMA_MARK(i) wgmma_mark(w.trace, tid, i)
__device__ __forceinline__ void wgmma_mark(unsigned long long* trace, int tid, int i) {
  if (!trace || tid != 0) return;
  unsigned long long t;
  unsigned sm;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
  const unsigned blk = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  trace[blk * kTraceWords + i] = t;
  trace[blk * kTraceWords + 5] = sm;
}
#else
#define WGMMA_MARK(i) (void)0
#endif

#if defined(KP_WGMMA_OPS)
template <int BN, bool BF16, int TRANS_B>
__device__ __forceinline__ void wgmma_tile(float (&d)[BN / 2], uint64_t da, uint64_t db) {
  if constexpr (BN == 256) wgmma_ss_m64n256k16<BF16, TRANS_B>(d, da, db);
  else wgmma_ss_m64n128k16<BF16, TRANS_B>(d, da, db);
}

__device__ __forceinline__ float4 add4(float4 a, float4 b) { return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w); }

#endif  // KP_WGMMA_OPS

// Thread-block clusters of CM blocks along M by CN along N (rank = x + CN·y). Blocks of one cluster
// column (same N tile) share B tiles, blocks of one row (same M tile) share A tiles: each block loads
// 1/CM of the B tile and 1/CN of the A tile, multicast by TMA into the stages of every block that
// uses it, so L2 serves each operand once per cluster row or column instead of once per block.
template <int BN, bool BF16, bool B_KMAJOR, int CM, int CN>
__global__ void __launch_bounds__(WTHREADS, 1)
    gemm_wgmma(const __grid_constant__ kp_tensor_map tma_a, const __grid_constant__ kp_tensor_map tma_b, const WgmmaArgs w) {
#if defined(KP_WGMMA_OPS)
  using T = Tile<BN>;
  constexpr int ACC = BN / 2;
  KP_GPU_EXTERN_SMEM(unsigned char, smem_raw, 16);
  // The 128-byte swizzle repeats every 1024 bytes: stages start on such a boundary (descriptor base offset 0).
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t sbase = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (sbase - raw);
  const uint32_t full0 = sbase + WSTAGES * T::STAGE_BYTES, empty0 = full0 + WSTAGES * 8;
  const GemmArgs& g = w.g;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  WGMMA_MARK(0);
  const int split = w.splits > 1 ? static_cast<int>(blockIdx.z) : 0;
  const int kt_first = split * w.kper;  // this block's first K tile
  const int all_ktiles = static_cast<int>((g.k + WBK - 1) / WBK);
  const int ktiles = w.splits > 1 ? max(0, min(all_ktiles, kt_first + w.kper) - kt_first) : all_ktiles;
  const int m0 = static_cast<int>(blockIdx.y) * WBM, n0 = static_cast<int>(blockIdx.x) * BN;
  constexpr bool CLUSTER = CM * CN > 1;
  // A stage of this block is written by the producers of its cluster row and column, itself included.
  constexpr int WRITERS = CM + CN - 1;
  const uint32_t rank = CLUSTER ? cluster_ctarank() : 0, cx = rank % CN, cy = rank / CN;

  if (tid == 0) {
    for (int s = 0; s < WSTAGES; ++s) {
      mbar_init(full0 + 8 * s, 1);                      // the producer's arrive.expect_tx (+ the bytes)
      mbar_init(empty0 + 8 * s, CONSUMER_WARPS * WRITERS);  // one per consumer warp of each block it writes
    }
    fence_mbarrier_init();
  }
  // Clusters: no block multicasts into the other's stages, nor arrives on its barriers, before they exist.
  if constexpr (CLUSTER) cluster_sync();
  else __syncthreads();

  // A stage goes back to every producer that fills it: this block's, and with clusters those of the
  // partner in the cluster column (B's other part) and in the row (A's).
  auto release = [&](uint32_t empty) {
    mbar_arrive(empty);
    if constexpr (CM > 1) mbar_arrive_cluster(mapa_shared(empty, rank ^ static_cast<uint32_t>(CN)));
    if constexpr (CN > 1) mbar_arrive_cluster(mapa_shared(empty, rank ^ 1u));
  };
  // The ranks that share this block's A tile (its cluster row) and its B tile (its column).
  const uint16_t row_mask = static_cast<uint16_t>(((1u << CN) - 1) << (CN * cy));
  const uint16_t col_mask = static_cast<uint16_t>((CM > 1 ? 1u | (1u << CN) : 1u) << cx);
  uint32_t it0 = 0;  // K tiles this block went through before the current batch entry: the barrier phases
  // Split-K: one batch entry, blockIdx.z is the split.
  for (int64_t t = w.splits > 1 ? 0 : blockIdx.z; t < g.batch; t += w.splits > 1 ? g.batch : gridDim.z) {
    if (warp == CONSUMER_WARPS) {
      if (lane == 0) {
        const int za = w.a_batched ? static_cast<int>(t) : 0, zb = w.b_batched ? static_cast<int>(t) : 0;
        for (int kt = 0; kt < ktiles; ++kt) {
          const uint32_t it = it0 + kt, s = it % WSTAGES;
          // Round r of stage s needs the consumers' release of round r - 1 (phase (r - 1) & 1).
          if (it >= WSTAGES) mbar_wait(empty0 + 8 * s, ((it / WSTAGES) + 1) & 1);
          const int k0 = (kt_first + kt) * WBK;
          const uint32_t a_dst = sbase + s * T::STAGE_BYTES, b_dst = a_dst + A_BYTES, bar = full0 + 8 * s;
          mbar_expect_tx(bar, T::STAGE_BYTES);
          if constexpr (CN == 1) {
            tma_load(a_dst, &tma_a, bar, k0, m0, za);  // box {64 k, 128 m}
          } else {  // box {64 k, 64 m}: this block's half of the row's A tile, for both blocks of the row
            tma_load_multicast(a_dst + cx * (WBM / 2) * 128, &tma_a, bar, k0, m0 + static_cast<int>(cx) * (WBM / 2), za, row_mask);
          }
          if constexpr (CM == 1) {
            if (B_KMAJOR) {
              tma_load(b_dst, &tma_b, bar, k0, n0, zb);  // box {64 k, BN n}
            } else {
#pragma unroll
              for (int c = 0; c < BN / 64; ++c)  // boxes {64 n, 64 k}, 8 KiB each: the MN-major chunks LBO apart
                tma_load(b_dst + c * 8192, &tma_b, bar, n0 + 64 * c, k0, zb);
            }
          } else {
            // The B tile is the cluster column's: each block loads its half into both blocks' stage.
            if (B_KMAJOR) {
              tma_load_multicast(b_dst + cy * (BN / 2) * 128, &tma_b, bar, k0, n0 + static_cast<int>(cy) * (BN / 2), zb, col_mask);  // box {64 k, BN/2 n}
            } else {
#pragma unroll
              for (int c = 0; c < BN / 64; ++c)
                if (c % 2 == static_cast<int>(cy)) tma_load_multicast(b_dst + c * 8192, &tma_b, bar, n0 + 64 * c, k0, zb, col_mask);
            }
          }
        }
      }
      __syncwarp();
    } else {
      const int wg = warp / 4;
      float acc[ACC];
#pragma unroll
      for (int i = 0; i < ACC; ++i) acc[i] = 0.0f;
      for (int kt = 0; kt < ktiles; ++kt) {
        const uint32_t it = it0 + kt, s = it % WSTAGES;
        mbar_wait(full0 + 8 * s, (it / WSTAGES) & 1);
        __syncwarp();  // the wait's loop is invisible to the compiler: converge before the .aligned wgmma ops
        const uint32_t a_s = sbase + s * T::STAGE_BYTES + wg * 64 * 128, b_s = sbase + s * T::STAGE_BYTES + A_BYTES;
        fence_operands(acc);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < WBK / 16; ++kk) {
          // K step kk: 16 elements = 32 bytes along a K-major row; 16 rows of 128 bytes in an MN-major tile.
          const uint64_t da = smem_desc(a_s + kk * 32, 16, 1024);
          const uint64_t db = B_KMAJOR ? smem_desc(b_s + kk * 32, 16, 1024) : smem_desc(b_s + kk * 2048, 8192, 1024);
          wgmma_tile<BN, BF16, B_KMAJOR ? 0 : 1>(acc, da, db);
        }
        wgmma_commit();
        wgmma_wait<1>();  // the previous tile's MMAs are done: its stage goes back to the producer
        fence_operands(acc);
        if (kt > 0) {
          __syncwarp();
          if (lane == 0) release(empty0 + 8 * ((it - 1) % WSTAGES));
        }
      }
      wgmma_wait<0>();
      fence_operands(acc);
      if (ktiles > 0) {
        __syncwarp();
        if (lane == 0) release(empty0 + 8 * ((it0 + ktiles - 1) % WSTAGES));
      }
      // Both warpgroups' MMAs (and so every copy) are done: the stages may hold the accumulators. The
      // consumers only (named barrier 1); the producer has nothing in flight.
      named_barrier_sync<1, CONSUMER_WARPS * 32>();
      float* cs = reinterpret_cast<float*>(smem);
      const int row = wg * 64 + (warp % 4) * 16 + lane / 4;
#pragma unroll
      for (int c = 0; c < ACC / 4; ++c) {
        const int col = 8 * c + 2 * (lane % 4);
        *reinterpret_cast<float2*>(cs + row * T::C_LD + col) = make_float2(acc[4 * c], acc[4 * c + 1]);
        *reinterpret_cast<float2*>(cs + (row + 8) * T::C_LD + col) = make_float2(acc[4 * c + 2], acc[4 * c + 3]);
      }
    }
    __syncthreads();  // the accumulator tile is in shared memory
    WGMMA_MARK(1);
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);
    const float* cs = reinterpret_cast<const float*>(smem);
    // Split-K (see the top): every split stores its partial tile in its own slice of the workspace and
    // counts itself in; the last to arrive adds the slices in split order and runs the epilogue.
    const bool split_k = w.splits > 1;
    bool finisher = true;
    const int64_t tile = static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x;
    float* const part = split_k ? w.partial + tile * w.splits * (WBM * BN) : nullptr;
    if (split_k) {
#pragma unroll 1
      for (int u = tid; u < WBM * (BN / 8); u += WTHREADS) {
        const int r = u / (BN / 8), c = (u % (BN / 8)) * 8;
        float4* mine = reinterpret_cast<float4*>(part + split * (WBM * BN) + r * BN + c);
        mine[0] = *reinterpret_cast<const float4*>(cs + r * T::C_LD + c);
        mine[1] = *reinterpret_cast<const float4*>(cs + r * T::C_LD + c + 4);
      }
      __syncthreads();  // the slice is stored, by every thread
      int* last = reinterpret_cast<int*>(smem + T::LAST_OFFSET);
      if (tid == 0) *last = split_arrive(w.flags + tile) == w.splits - 1;
      __syncthreads();
      finisher = *last != 0;
    }
    WGMMA_MARK(2);
    // One loop and one epilogue_store8: the epilogue's code (activations, dtypes) is inlined once. A
    // thread's column group is the same in every row it takes: its bias is loaded once.
    static_assert(WTHREADS % (BN / 8) == 0, "a thread keeps its column group");
    float bias[8];
    if (finisher) bias8(g.ep, n0 + (tid % (BN / 8)) * 8, bias);
    if (finisher)
      for (int u = tid; u < WBM * (BN / 8); u += WTHREADS) {
        const int r = u / (BN / 8), c = (u % (BN / 8)) * 8;
        alignas(16) float v[8];
        *reinterpret_cast<float4*>(v) = *reinterpret_cast<const float4*>(cs + r * T::C_LD + c);
        *reinterpret_cast<float4*>(v + 4) = *reinterpret_cast<const float4*>(cs + r * T::C_LD + c + 4);
        if (split_k) {
          // In split order whichever split finishes: the same sums, bit for bit, on every run.
          const float4 own0 = *reinterpret_cast<const float4*>(v), own1 = *reinterpret_cast<const float4*>(v + 4);
          float4 s0 = own0, s1 = own1;
#pragma unroll 1
          for (int z = 0; z < w.splits; ++z) {
            const float4* src = reinterpret_cast<const float4*>(part + z * (WBM * BN) + r * BN + c);
            const float4 p0 = z == split ? own0 : load_partial(src), p1 = z == split ? own1 : load_partial(src + 1);
            s0 = z == 0 ? p0 : add4(s0, p0);
            s1 = z == 0 ? p1 : add4(s1, p1);
          }
          *reinterpret_cast<float4*>(v) = s0;
          *reinterpret_cast<float4*>(v + 4) = s1;
        }
        if (m0 + r < g.m && n0 + c < g.n) epilogue_store8(g.ep, t, ro, m0 + r, n0 + c, bias, v, w.vec_out);
      }
    WGMMA_MARK(3);
    // The next batch entry's copies (async proxy) overwrite what these threads read and wrote.
    fence_proxy_async();
    // Clusters: the other blocks' producers may multicast the next batch entry into this block's stages
    // only once its epilogue has read them.
    if constexpr (CLUSTER) cluster_sync();
    else __syncthreads();
    it0 += ktiles;
  }
  WGMMA_MARK(4);
#endif
}

template <int BN, bool BF16, bool B_KMAJOR, int CM, int CN>
void launch_tile(kp_gpu_stream_t stream, const kp_tensor_map& ta, const kp_tensor_map& tb, const WgmmaArgs& w) {
  using T = Tile<BN>;
  (void)kp_gpu_set_max_dynamic_smem(gemm_wgmma<BN, BF16, B_KMAJOR, CM, CN>, static_cast<int>(T::SMEM));
  // Clusters group whole tiles: a tile count that is not a multiple gets more, past M or N (zeros in,
  // nothing stored).
  const unsigned mtiles = static_cast<unsigned>((w.g.m + WBM - 1) / WBM), ntiles = static_cast<unsigned>((w.g.n + BN - 1) / BN);
  const dim3 grid((ntiles + CN - 1) / CN * CN, (mtiles + CM - 1) / CM * CM,
                  w.splits > 1 ? static_cast<unsigned>(w.splits) : static_cast<unsigned>(w.g.batch < 65535 ? w.g.batch : 65535));
  if constexpr (CM * CN == 1) KP_GPU_LAUNCH((gemm_wgmma<BN, BF16, B_KMAJOR, 1, 1>), grid, dim3(WTHREADS), T::SMEM, stream)(ta, tb, w);
  else KP_GPU_LAUNCH_CLUSTER((gemm_wgmma<BN, BF16, B_KMAJOR, CM, CN>), grid, dim3(WTHREADS), T::SMEM, stream, dim3(CN, CM, 1))(ta, tb, w);
}

template <int BN, bool BF16, bool B_KMAJOR>
void launch_cl(kp_gpu_stream_t stream, const kp_tensor_map& ta, const kp_tensor_map& tb, const WgmmaArgs& w, WgmmaCluster cl) {
  switch (cl) {
    case WgmmaCluster::None: return launch_tile<BN, BF16, B_KMAJOR, 1, 1>(stream, ta, tb, w);
    case WgmmaCluster::PairM: return launch_tile<BN, BF16, B_KMAJOR, 2, 1>(stream, ta, tb, w);
    case WgmmaCluster::Quad: return launch_tile<BN, BF16, B_KMAJOR, 2, 2>(stream, ta, tb, w);
  }
}

// The single element stride s with offset(t) = t * s for every batch entry t (0: broadcast), or false.
bool linear_batch_stride(const kp_matmul_desc& d, const int64_t* strides, int64_t* out) {
  int64_t s = 0, inner = 1;
  bool first = true;
  for (int i = d.batch_rank - 1; i >= 0; --i) {
    if (d.batch_shape[i] == 1) continue;
    if (first) s = strides[i], first = false;
    else if (strides[i] != s * inner) return false;
    inner *= d.batch_shape[i];
  }
  *out = s;
  return true;
}

int64_t batch_count(const kp_matmul_desc& d) {
  int64_t n = 1;
  for (int i = 0; i < d.batch_rank; ++i) n *= d.batch_shape[i];
  return n;
}

int64_t tiles256(const kp_matmul_desc& d) { return (d.m + WBM - 1) / WBM * ((d.n + 255) / 256) * batch_count(d); }

// Split-K (see the top): opt-in only. KERNELPORT_GPU_GEMM_SPLITK=n: n splits (at most one per K tile)
// wherever the batch is 1; 0 (auto) and 1: never. On an H100 (2026-11-27, bench/results/h100-2026-11-27,
// native/test/wgmma_trace.cu) 512 x 4096 x 4096 bf16 + bias + GELU took 83 us with 2 splits against 50 us
// on 128-wide tiles: the K loops did split (26 us either way), but the epilogue phase, which nothing
// overlaps, grew from 20 us (128 x 128 outputs) to 10 us of partial-tile stores and 42 us of the
// finishing block's epilogue (128 x 256 outputs, the other split's partial read back).
int splits(const DeviceCaps& caps, const kp_matmul_desc& d) {
  const int64_t ktiles = (d.k + WBK - 1) / WBK;
  if (caps.gemm_splitk <= 1 || batch_count(d) != 1 || ktiles < 2) return 1;
  return static_cast<int>(std::min<int64_t>(caps.gemm_splitk, ktiles));
}

// 256-wide tiles unless they would fill fewer than all the SMs once and K is not split; then 128
// (twice the blocks).
int tile_n(const DeviceCaps& caps, const kp_matmul_desc& d) {
  return tiles256(d) < caps.multiprocessors && splits(caps, d) == 1 ? 128 : 256;
}

// The launch's grid of output tiles (clusters round the counts up to their shape).
int64_t grid_tiles(const DeviceCaps& caps, const kp_matmul_desc& d) {
  const int bn = tile_n(caps, d);
  const WgmmaCluster cl = wgmma_cluster(caps, d);
  const int64_t cm = cl == WgmmaCluster::None ? 1 : 2, cn = cl == WgmmaCluster::Quad ? 2 : 1;
  return ((d.m + WBM - 1) / WBM + cm - 1) / cm * cm * (((d.n + bn - 1) / bn + cn - 1) / cn * cn);
}
constexpr size_t kFlagBytesAlign = 256;
size_t flag_bytes(int64_t tiles) { return (static_cast<size_t>(tiles) * 4 + kFlagBytesAlign - 1) / kFlagBytesAlign * kFlagBytesAlign; }

}  // namespace
#endif  // KP_WGMMA_HOST

WgmmaCluster wgmma_cluster(const DeviceCaps& caps, const kp_matmul_desc& d) {
  if (caps.gemm_mode == 4) return WgmmaCluster::PairM;
  if (caps.gemm_mode == 5) return WgmmaCluster::Quad;
  if (caps.gemm_mode == 3) return WgmmaCluster::None;
#if defined(KP_WGMMA_HOST)
  // H100, 2026-11-26 (bench/results/h100-2026-11-26b): pairs sharing B made 256-wide tiles 2-8 % faster
  // (4096^3 bf16 556 -> 598 TFLOP/s, 2000x3000x1000 216 -> 232) and 128-wide ones 3-6 % slower (the
  // grid is under one wave there, so L2 traffic is not what limits it); 2 x 2 lost at 4096^3.
  return tile_n(caps, d) == 256 ? WgmmaCluster::PairM : WgmmaCluster::None;
#else
  (void)d;
  return WgmmaCluster::None;
#endif
}

bool wgmma_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
#if defined(KP_WGMMA_HOST) && defined(KP_WGMMA_KERNELS)
  if (caps.gemm_mode == 1 || caps.gemm_mode == 2) return false;  // forced SIMT or mma.sync
  if (caps.cc_major != 9 || caps.cc_minor != 0 || caps.warp_size != 32) return false;
  if (caps.smem_optin < static_cast<int>(Tile<256>::SMEM)) return false;
  if (d.dtype != KP_F16 && d.dtype != KP_BF16) return false;
  // TMA: 16-byte aligned bases and row strides (K % 8; N % 8 when B is [K][N]); int32 coordinates.
  if (d.trans_a || d.k <= 0 || d.k % 8 != 0 || (!d.trans_b && d.n % 8 != 0)) return false;
  if (d.m >= (int64_t(1) << 31) || d.n >= (int64_t(1) << 31) || d.k >= (int64_t(1) << 31)) return false;
  if ((d.m + WBM - 1) / WBM > 65534) return false;  // + 1 to pair the tiles in clusters
  if (!aligned16(a) || !aligned16(b)) return false;
  int64_t sa = 0, sb = 0;
  if (!linear_batch_stride(d, d.a_batch_stride, &sa) || !linear_batch_stride(d, d.b_batch_stride, &sb)) return false;
  if (sa % 8 != 0 || sb % 8 != 0 || sa < 0 || sb < 0 || batch_count(d) >= (int64_t(1) << 31)) return false;
  // Small problems: a few 128-row tiles leave most SMs idle; finer tiles serve them better (not when forced).
  if (caps.gemm_mode < 3 && d.m * d.n * batch_count(d) < static_cast<int64_t>(caps.multiprocessors) * WBM * 128 / 4) return false;
  return true;
#else
  (void)caps, (void)d, (void)a, (void)b;
  return false;
#endif
}

#if defined(KP_WGMMA_HOST)
int wgmma_splits(const DeviceCaps& caps, const kp_matmul_desc& d) { return splits(caps, d); }
size_t wgmma_workspace(const DeviceCaps& caps, const kp_matmul_desc& d) {
  if (splits(caps, d) == 1) return 0;
  const int64_t tiles = grid_tiles(caps, d);
  return flag_bytes(tiles) + static_cast<size_t>(tiles) * splits(caps, d) * WBM * 256 * sizeof(float);
}
int wgmma_tile_n(const DeviceCaps& caps, const kp_matmul_desc& d) { return tile_n(caps, d); }
#else  // no wgmma kernel in this build: never chosen, so these only have to be consistent
int wgmma_splits(const DeviceCaps&, const kp_matmul_desc&) { return 1; }
size_t wgmma_workspace(const DeviceCaps&, const kp_matmul_desc&) { return 0; }
int wgmma_tile_n(const DeviceCaps&, const kp_matmul_desc&) { return 256; }
#endif

bool launch_gemm_wgmma(const DeviceCaps& caps, kp_gpu_stream_t stream, const kp_matmul_desc& d, const GemmArgs& g, void* workspace) {
#if defined(KP_WGMMA_HOST)
  int64_t sa = 0, sb = 0;
  if (!linear_batch_stride(d, d.a_batch_stride, &sa) || !linear_batch_stride(d, d.b_batch_stride, &sb)) return false;
  const bool bf16 = g.dtype == KP_BF16, kmajor = g.trans_b != 0;
  const int bn = tile_n(caps, d);
  const uint64_t M = g.m, N = g.n, K = g.k;
  WgmmaArgs w;
  w.g = g;
  w.a_batched = sa != 0;
  w.b_batched = sb != 0;
  w.vec_out = g.n % 8 == 0 && aligned16(g.ep.out);
  w.splits = splits(caps, d);
#if defined(KP_WGMMA_TRACE)
  w.trace = g_wgmma_trace;
#endif
  w.kper = static_cast<int32_t>(((g.k + WBK - 1) / WBK + w.splits - 1) / w.splits);
  const size_t fb = w.splits > 1 ? flag_bytes(grid_tiles(caps, d)) : 0;
  if (w.splits > 1 && !workspace) return false;
  w.flags = w.splits > 1 ? static_cast<int*>(workspace) : nullptr;
  w.partial = w.splits > 1 ? reinterpret_cast<float*>(static_cast<char*>(workspace) + fb) : nullptr;
  // Not batched: one matrix, the third stride only has to be valid.
  const uint64_t dims_a[3] = {K, M, w.a_batched ? static_cast<uint64_t>(g.batch) : 1};
  const uint64_t str_a[2] = {K * 2, w.a_batched ? static_cast<uint64_t>(sa) * 2 : M * K * 2};
  const uint64_t dims_b[3] = {kmajor ? K : N, kmajor ? N : K, w.b_batched ? static_cast<uint64_t>(g.batch) : 1};
  const uint64_t str_b[2] = {(kmajor ? K : N) * 2, w.b_batched ? static_cast<uint64_t>(sb) * 2 : N * K * 2};
  kp_tensor_map ta, tb;
  // Clusters: each block loads half of the A tile its row shares (2 × 2), half of the K-major B tile its
  // column shares (the MN-major one is in 64-column boxes already).
  const WgmmaCluster cl = wgmma_cluster(caps, d);
  const bool split_b = cl != WgmmaCluster::None, split_a = cl == WgmmaCluster::Quad;
  if (!kp_encode_tensor_map_16bit(&ta, bf16, g.a, dims_a, str_a, WBK, split_a ? WBM / 2 : WBM)) return false;
  if (!kp_encode_tensor_map_16bit(&tb, bf16, g.b, dims_b, str_b, 64, kmajor ? (split_b ? bn / 2 : bn) : 64)) return false;
  if (w.splits > 1 && kp_gpu_memset_async(w.flags, 0, fb, stream) != kp_gpu_success) return false;
  if (bn == 256) {
    if (bf16) kmajor ? launch_cl<256, true, true>(stream, ta, tb, w, cl) : launch_cl<256, true, false>(stream, ta, tb, w, cl);
    else kmajor ? launch_cl<256, false, true>(stream, ta, tb, w, cl) : launch_cl<256, false, false>(stream, ta, tb, w, cl);
  } else {
    if (bf16) kmajor ? launch_cl<128, true, true>(stream, ta, tb, w, cl) : launch_cl<128, true, false>(stream, ta, tb, w, cl);
    else kmajor ? launch_cl<128, false, true>(stream, ta, tb, w, cl) : launch_cl<128, false, false>(stream, ta, tb, w, cl);
  }
  return true;
#else
  (void)caps, (void)stream, (void)d, (void)g, (void)workspace;
  return false;
#endif
}

}  // namespace gpu
}  // namespace kp
