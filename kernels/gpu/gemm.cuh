// Arguments shared by the GEMM kernels (gemm.cu: GEMV and the launcher; gemm_simt.cu: portable tiles;
// gemm_mma.cu, gemm_tf32.cu: tensor cores).
#pragma once
#include "common.cuh"
#include "kernels.h"

namespace kp {
namespace gpu {

struct GemmArgs {
  const void* a;
  const void* b;
  int32_t dtype;
  int32_t trans_a, trans_b;
  int64_t m, n, k;
  int64_t batch;  // product of the batch shape
  BatchMap map;
  Epilogue ep;
};

// Portable tiles (gemm_simt.cu): 128x128 when the shape has enough of them (simt_large_tile), else 64x64.
bool simt_large_tile(const kp_matmul_desc& d);
void launch_gemm_simt(kp_gpu_stream_t stream, const GemmArgs& g, bool large);

// Tensor-core path (gemm_mma.cu): whether it takes this problem, and the launch.
bool mma_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
void launch_gemm_mma(kp_gpu_stream_t stream, const GemmArgs& g);
// Its block tile: 128x256 when the problem has enough of them, else 64x128 (the shape only).
bool mma_large_tile(int64_t m, int64_t n, int64_t batch);

// Hopper path (gemm_wgmma.cu: wgmma + TMA, sm_90a). The launch returns false when the TMA descriptors
// cannot be made (driver without cuTensorMapEncodeTiled): nothing was enqueued, mma.sync runs instead.
bool wgmma_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
// Whether it runs in thread-block clusters sharing tiles by TMA multicast: 2 blocks along M sharing
// B tiles, or 2 × 2 sharing B along M and A along N. Auto: pairs where the tiles are 256 wide (the grid
// fills the device), none on 128-wide ones (measured on the H100); KERNELPORT_GPU_GEMM=wgmma: none,
// =wgmma-cluster: pairs, =wgmma-cluster2x2: 2 × 2, whatever the shape.
enum class WgmmaCluster { None, PairM, Quad };
WgmmaCluster wgmma_cluster(const DeviceCaps& caps, const kp_matmul_desc& d);
int wgmma_tile_n(const DeviceCaps& caps, const kp_matmul_desc& d);  // the block tile's width: 128 or 256
// Split-K where 256-wide tiles would leave SMs idle (gemm_wgmma.cu's top): the split count (1: none) and
// the workspace it needs (flags and f32 partial tiles; 0 without a split).
int wgmma_splits(const DeviceCaps& caps, const kp_matmul_desc& d);
size_t wgmma_workspace(const DeviceCaps& caps, const kp_matmul_desc& d);
bool launch_gemm_wgmma(const DeviceCaps& caps, kp_gpu_stream_t stream, const kp_matmul_desc& d, const GemmArgs& g, void* workspace);

// TF32 tensor-core path for f32 inputs when the descriptor allows it (gemm_tf32.cu).
bool tf32_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
void launch_gemm_tf32(kp_gpu_stream_t stream, const GemmArgs& g);

// Blocks along the grid's z axis: one per batch entry, up to the limit; kernels loop over the rest.
inline unsigned grid_z(int64_t batch) { return static_cast<unsigned>(batch < 65535 ? batch : 65535); }

// cp.async moves 16 bytes: operands must start on a 16-byte boundary.
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace gpu
}  // namespace kp
