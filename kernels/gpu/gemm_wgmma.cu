// Hopper GEMM for f16/bf16 inputs with f32 accumulation: wgmma.mma_async (warpgroup MMA) reading both
// operands from shared memory, fed by TMA (cp.async.bulk.tensor) through a 4-stage mbarrier pipeline.
//
// Block: 3 roles in 288 threads. Warps 0-3 and 4-7 are two consumer warpgroups, each computing 64 rows
// of the 128 x BN block tile (BN = 256, or 128 when 256-wide tiles would leave SMs idle) with
// m64nBNk16 instructions; warp 8 is the producer, one lane of which issues the TMA copies of each
// 64-deep K tile. Partial tiles (M, N and K tails) come from TMA's zero fill of the box outside the
// tensor: the K tail adds zeros, the M/N tails are masked in the epilogue. After the K loop the
// accumulators go through shared memory (the drained stages) so that all 288 threads run the fused
// epilogue (common.cuh epilogue_value) on 8 consecutive columns each, with 16-byte stores where the
// output allows. K is summed in one fixed order: results are deterministic.
//
// NVIDIA sm_90a only: the body is compiled in the device pass for sm_90a (__CUDA_ARCH_FEAT_SM90_ALL) and
// is empty in every other pass (sm_80/86/89/120, PTX, the MUSA builds); wgmma_eligible() requires
// compute capability 9.0 exactly, 32-lane warps and a library built with the sm_90a target
// (KP_CUDA_SM90A, set by CMake), so the empty bodies never run.
//
// Encodings follow the PTX ISA, section 9.7.15 "Asynchronous Warpgroup Level Matrix Multiply-Accumulate
// Instructions" (PTX ISA 8.x numbering; subsection titles quoted):
//  - shared-memory matrix descriptor (9.7.15.5.1 "Register Fragments and Shared Memory Matrix Layouts",
//    "Matrix Descriptor Format"): bits 0-13 start address >> 4, 16-29 leading-dimension byte offset
//    (LBO) >> 4, 32-45 stride-dimension byte offset (SBO) >> 4, 49-51 base offset (0: every swizzle
//    atom starts 1024-byte aligned), 62-63 swizzle mode (1 = 128-byte).
//  - canonical 128-byte-swizzled layouts (same subsection, "Shared Memory Matrix Layout"; written as
//    CUTLASS's make_gmma_desc spells them, T = 8 16-bit elements = 16 bytes):
//      K-major  ((8,m),(T,2k)):((8T,SBO),(1,T)): rows of 64 K elements (128 bytes), 8-row groups SBO =
//               1024 bytes apart, LBO unused (set to 16);
//      MN-major ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)): rows of 64 M/N elements (128 bytes), one per k,
//               8-k groups SBO = 1024 bytes apart, 64-wide M/N chunks LBO apart.
//    TMA's CU_TENSOR_MAP_SWIZZLE_128B writes exactly these (16-byte chunk c of row r lands at chunk
//    c ^ (r % 8)) for boxes of 128-byte rows at 1024-byte aligned addresses. A K step of 16 advances the
//    start address by 32 bytes (K-major) or by 16 rows = 2048 bytes (MN-major).
//  - "wgmma.mma_async": A is K-major (imm-trans-a 0); B is K-major when stored [N][K] (trans_b,
//    imm-trans-b 0) and MN-major when stored [K][N] (imm-trans-b 1; the transpose exists for .f16/.bf16
//    operands read through descriptors).
//  - accumulator D of m64nNk16 with .f32 ("Register Fragments", "Matrix Fragments for
//    wgmma.mma_async.m64nNk16"): warp w of the warpgroup holds rows 16w..16w+15; register 4c+e of lane l
//    is row 16w + l/4 + 8(e/2), column 8c + 2(l%4) + e%2.
//  - ordering ("wgmma.fence", "wgmma.commit_group", "wgmma.wait_group"): wgmma.fence before a K tile's
//    first wgmma (its accumulators were last written by other instructions or earlier wgmma),
//    commit_group after the tile's 4 instructions, wait_group 1 before the stage the previous tile read
//    goes back to the producer, wait_group 0 before the accumulators are read.
#include "gemm.cuh"
#include "mma_common.cuh"

#if KP_GPU_VENDOR_HAS_MMA_SYNC && !defined(KP_GPU_VENDOR_MUSA) && !defined(KP_GPU_VENDOR_EMU)
#include "../../native/vendors/cuda_tensor_map.h"
#define KP_WGMMA_HOST 1
#endif
#if defined(KP_WGMMA_HOST) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define KP_WGMMA_DEVICE 1
#endif

namespace kp {
namespace gpu {

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
  static constexpr size_t SMEM = static_cast<size_t>(WSTAGES) * STAGE_BYTES + 1024 /* alignment */ + 2 * WSTAGES * 8;
  static_assert(WBM * C_LD * 4 <= WSTAGES * STAGE_BYTES, "the accumulator staging must fit the drained stages");
};

struct WgmmaArgs {
  GemmArgs g;
  int32_t a_batched, b_batched;  // 0: the operand is the same matrix for every batch entry
  int32_t vec_out;               // 16-byte output stores allowed (N % 8 == 0, output 16-byte aligned)
};

#if defined(KP_WGMMA_DEVICE)
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "KP_WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra KP_WAIT_%=;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// One box of a rank-3 tensor map into shared memory, completing on bar (PTX ISA "cp.async.bulk.tensor",
// .tile mode; the mbarrier's transaction count drops by the box's bytes, zero-filled parts included).
__device__ __forceinline__ void tma_load(uint32_t dst, const kp_tensor_map* map, uint32_t bar, int c0, int c1, int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3ffffu) >> 4) | (static_cast<uint64_t>(lbo >> 4) << 16) |
         (static_cast<uint64_t>(sbo >> 4) << 32) | (1ull << 62);
}
template <int R>
__device__ __forceinline__ void fence_operands(float (&d)[R]) {
  // Pins the accumulators in registers across the asynchronous MMAs (nothing may move them meanwhile).
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// wgmma.mma_async m64nNk16, D (f32) += A * B, A and B through descriptors (scale-d = 1: accumulate).
template <bool BF16, int TRANS_B>
__device__ __forceinline__ void wgmma_m64n256k16(float (&d)[128], uint64_t desc_a, uint64_t desc_b) {
  if (BF16)
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, 0, %131;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(desc_a), "l"(desc_b), "r"(1), "n"(TRANS_B)
        : "memory");
  else
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p, 1, 1, 0, %131;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(desc_a), "l"(desc_b), "r"(1), "n"(TRANS_B)
        : "memory");
}

template <bool BF16, int TRANS_B>
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b) {
  if (BF16)
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, %67;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(desc_a), "l"(desc_b), "r"(1), "n"(TRANS_B)
        : "memory");
  else
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, %67;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(desc_a), "l"(desc_b), "r"(1), "n"(TRANS_B)
        : "memory");
}
template <int BN, bool BF16, int TRANS_B>
__device__ __forceinline__ void wgmma_tile(float (&d)[BN / 2], uint64_t da, uint64_t db) {
  if constexpr (BN == 256) wgmma_m64n256k16<BF16, TRANS_B>(d, da, db);
  else wgmma_m64n128k16<BF16, TRANS_B>(d, da, db);
}

// 8 consecutive outputs (i, j..j+7) of batch entry t through the epilogue.
__device__ __forceinline__ void store8(const WgmmaArgs& w, int64_t t, int64_t ro, int64_t i, int64_t j, const float* c) {
  const Epilogue& e = w.g.ep;
  const float4 lo = *reinterpret_cast<const float4*>(c), hi = *reinterpret_cast<const float4*>(c + 4);
  float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
  const int64_t base = (t * e.m + i) * e.n + j;
  if (w.vec_out && j + 8 <= e.n) {
#pragma unroll
    for (int q = 0; q < 8; ++q) v[q] = epilogue_value(e, ro, i, j + q, v[q]);
    if (e.out_dtype == KP_F32) {
      float4* o = reinterpret_cast<float4*>(static_cast<float*>(e.out) + base);
      o[0] = make_float4(v[0], v[1], v[2], v[3]);
      o[1] = make_float4(v[4], v[5], v[6], v[7]);
    } else {
      uint32_t p[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const uint32_t x0 = e.out_dtype == KP_BF16 ? f32_to_bf16(v[2 * q]) : f32_to_f16(v[2 * q]);
        const uint32_t x1 = e.out_dtype == KP_BF16 ? f32_to_bf16(v[2 * q + 1]) : f32_to_f16(v[2 * q + 1]);
        p[q] = x0 | (x1 << 16);
      }
      *reinterpret_cast<uint4*>(static_cast<uint16_t*>(e.out) + base) = make_uint4(p[0], p[1], p[2], p[3]);
    }
  } else {
#pragma unroll
    for (int q = 0; q < 8; ++q)
      if (j + q < e.n) store_el(e.out, e.out_dtype, base + q, epilogue_value(e, ro, i, j + q, v[q]));
  }
}
#endif  // KP_WGMMA_DEVICE

template <int BN, bool BF16, bool B_KMAJOR>
__global__ void __launch_bounds__(WTHREADS, 1)
    gemm_wgmma(const __grid_constant__ kp_tensor_map tma_a, const __grid_constant__ kp_tensor_map tma_b, const WgmmaArgs w) {
#if defined(KP_WGMMA_DEVICE)
  using T = Tile<BN>;
  constexpr int ACC = BN / 2;
  extern __shared__ unsigned char smem_raw[];
  // The 128-byte swizzle repeats every 1024 bytes: stages start on such a boundary (descriptor base offset 0).
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t sbase = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (sbase - raw);
  const uint32_t full0 = sbase + WSTAGES * T::STAGE_BYTES, empty0 = full0 + WSTAGES * 8;
  const GemmArgs& g = w.g;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int ktiles = static_cast<int>((g.k + WBK - 1) / WBK);
  const int m0 = static_cast<int>(blockIdx.y) * WBM, n0 = static_cast<int>(blockIdx.x) * BN;

  if (tid == 0) {
    for (int s = 0; s < WSTAGES; ++s) {
      mbar_init(full0 + 8 * s, 1);                 // the producer's arrive.expect_tx (+ the bytes)
      mbar_init(empty0 + 8 * s, CONSUMER_WARPS);   // one arrival per consumer warp
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  uint32_t it0 = 0;  // K tiles this block went through before the current batch entry: the barrier phases
  for (int64_t t = blockIdx.z; t < g.batch; t += gridDim.z) {
    if (warp == CONSUMER_WARPS) {
      if (lane == 0) {
        const int za = w.a_batched ? static_cast<int>(t) : 0, zb = w.b_batched ? static_cast<int>(t) : 0;
        for (int kt = 0; kt < ktiles; ++kt) {
          const uint32_t it = it0 + kt, s = it % WSTAGES;
          // Round r of stage s needs the consumers' release of round r - 1 (phase (r - 1) & 1).
          if (it >= WSTAGES) mbar_wait(empty0 + 8 * s, ((it / WSTAGES) + 1) & 1);
          const uint32_t a_dst = sbase + s * T::STAGE_BYTES, b_dst = a_dst + A_BYTES, bar = full0 + 8 * s;
          mbar_expect_tx(bar, T::STAGE_BYTES);
          tma_load(a_dst, &tma_a, bar, kt * WBK, m0, za);  // box {64 k, 128 m}
          if (B_KMAJOR) {
            tma_load(b_dst, &tma_b, bar, kt * WBK, n0, zb);  // box {64 k, BN n}
          } else {
#pragma unroll
            for (int c = 0; c < BN / 64; ++c)  // boxes {64 n, 64 k}, 8 KiB each: the MN-major chunks LBO apart
              tma_load(b_dst + c * 8192, &tma_b, bar, n0 + 64 * c, kt * WBK, zb);
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
          if (lane == 0) mbar_arrive(empty0 + 8 * ((it - 1) % WSTAGES));
        }
      }
      wgmma_wait<0>();
      fence_operands(acc);
      if (ktiles > 0) {
        __syncwarp();
        if (lane == 0) mbar_arrive(empty0 + 8 * ((it0 + ktiles - 1) % WSTAGES));
      }
      // Both warpgroups' MMAs (and so every copy) are done: the stages may hold the accumulators. The
      // consumers only (named barrier 1); the producer has nothing in flight.
      asm volatile("bar.sync 1, %0;\n" ::"n"(CONSUMER_WARPS * 32) : "memory");
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
    int64_t ao, bo, ro;
    batch_offsets(g.map, t, &ao, &bo, &ro);
    const float* cs = reinterpret_cast<const float*>(smem);
    for (int u = tid; u < WBM * (BN / 8); u += WTHREADS) {
      const int r = u / (BN / 8), c = (u % (BN / 8)) * 8;
      const int64_t i = m0 + r, j = n0 + c;
      if (i < g.m && j < g.n) store8(w, t, ro, i, j, cs + r * T::C_LD + c);
    }
    // The next batch entry's copies (async proxy) overwrite what these threads read and wrote.
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    it0 += ktiles;
  }
#endif
}

template <int BN, bool BF16, bool B_KMAJOR>
void launch_tile(kp_gpu_stream_t stream, const kp_tensor_map& ta, const kp_tensor_map& tb, const WgmmaArgs& w) {
  using T = Tile<BN>;
  (void)kp_gpu_set_max_dynamic_smem(gemm_wgmma<BN, BF16, B_KMAJOR>, static_cast<int>(T::SMEM));
  const dim3 grid(static_cast<unsigned>((w.g.n + BN - 1) / BN), static_cast<unsigned>((w.g.m + WBM - 1) / WBM),
                  static_cast<unsigned>(w.g.batch < 65535 ? w.g.batch : 65535));
  KP_GPU_LAUNCH((gemm_wgmma<BN, BF16, B_KMAJOR>), grid, dim3(WTHREADS), T::SMEM, stream)(ta, tb, w);
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

// 256-wide tiles unless they would fill fewer than all the SMs once; then 128 (twice the blocks).
int tile_n(const DeviceCaps& caps, const kp_matmul_desc& d) {
  const int64_t tiles = (d.m + WBM - 1) / WBM * ((d.n + 255) / 256) * batch_count(d);
  return tiles < caps.multiprocessors ? 128 : 256;
}

}  // namespace
#endif  // KP_WGMMA_HOST

bool wgmma_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b) {
#if defined(KP_WGMMA_HOST) && defined(KP_CUDA_SM90A)
  if (caps.gemm_mode == 1 || caps.gemm_mode == 2) return false;  // forced SIMT or mma.sync
  if (caps.cc_major != 9 || caps.cc_minor != 0 || caps.warp_size != 32) return false;
  if (caps.smem_optin < static_cast<int>(Tile<256>::SMEM)) return false;
  if (d.dtype != KP_F16 && d.dtype != KP_BF16) return false;
  // TMA: 16-byte aligned bases and row strides (K % 8; N % 8 when B is [K][N]); int32 coordinates.
  if (d.trans_a || d.k <= 0 || d.k % 8 != 0 || (!d.trans_b && d.n % 8 != 0)) return false;
  if (d.m >= (int64_t(1) << 31) || d.n >= (int64_t(1) << 31) || d.k >= (int64_t(1) << 31)) return false;
  if ((d.m + WBM - 1) / WBM > 65535) return false;
  if (!aligned16(a) || !aligned16(b)) return false;
  int64_t sa = 0, sb = 0;
  if (!linear_batch_stride(d, d.a_batch_stride, &sa) || !linear_batch_stride(d, d.b_batch_stride, &sb)) return false;
  if (sa % 8 != 0 || sb % 8 != 0 || sa < 0 || sb < 0 || batch_count(d) >= (int64_t(1) << 31)) return false;
  // Small problems: a few 128-row tiles leave most SMs idle; finer tiles serve them better (not when forced).
  if (caps.gemm_mode != 3 && d.m * d.n * batch_count(d) < static_cast<int64_t>(caps.multiprocessors) * WBM * 128 / 4) return false;
  return true;
#else
  (void)caps, (void)d, (void)a, (void)b;
  return false;
#endif
}

int wgmma_tile_n(const DeviceCaps& caps, const kp_matmul_desc& d) {
#if defined(KP_WGMMA_HOST)
  return tile_n(caps, d);
#else
  (void)caps, (void)d;
  return 256;
#endif
}

bool launch_gemm_wgmma(const DeviceCaps& caps, kp_gpu_stream_t stream, const kp_matmul_desc& d, const GemmArgs& g) {
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
  // Not batched: one matrix, the third stride only has to be valid.
  const uint64_t dims_a[3] = {K, M, w.a_batched ? static_cast<uint64_t>(g.batch) : 1};
  const uint64_t str_a[2] = {K * 2, w.a_batched ? static_cast<uint64_t>(sa) * 2 : M * K * 2};
  const uint64_t dims_b[3] = {kmajor ? K : N, kmajor ? N : K, w.b_batched ? static_cast<uint64_t>(g.batch) : 1};
  const uint64_t str_b[2] = {(kmajor ? K : N) * 2, w.b_batched ? static_cast<uint64_t>(sb) * 2 : N * K * 2};
  kp_tensor_map ta, tb;
  if (!kp_encode_tensor_map_16bit(&ta, bf16, g.a, dims_a, str_a, WBK, WBM)) return false;
  if (!kp_encode_tensor_map_16bit(&tb, bf16, g.b, dims_b, str_b, 64, kmajor ? bn : 64)) return false;
  if (bn == 256) {
    if (bf16) kmajor ? launch_tile<256, true, true>(stream, ta, tb, w) : launch_tile<256, true, false>(stream, ta, tb, w);
    else kmajor ? launch_tile<256, false, true>(stream, ta, tb, w) : launch_tile<256, false, false>(stream, ta, tb, w);
  } else {
    if (bf16) kmajor ? launch_tile<128, true, true>(stream, ta, tb, w) : launch_tile<128, true, false>(stream, ta, tb, w);
    else kmajor ? launch_tile<128, false, true>(stream, ta, tb, w) : launch_tile<128, false, false>(stream, ta, tb, w);
  }
  return true;
#else
  (void)caps, (void)stream, (void)d, (void)g;
  return false;
#endif
}

}  // namespace gpu
}  // namespace kp
