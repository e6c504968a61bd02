// Arguments shared by the GEMM kernels (gemm.cu: SIMT tiles and GEMV; gemm_mma.cu: tensor cores).
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

// Tensor-core path (gemm_mma.cu): whether it takes this problem, and the launch.
bool mma_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
void launch_gemm_mma(kp_gpu_stream_t stream, const GemmArgs& g);

// Hopper path (gemm_wgmma.cu: wgmma + TMA, sm_90a). The launch returns false when the TMA descriptors
// cannot be made (driver without cuTensorMapEncodeTiled): nothing was enqueued, mma.sync runs instead.
bool wgmma_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
bool launch_gemm_wgmma(const DeviceCaps& caps, kp_gpu_stream_t stream, const kp_matmul_desc& d, const GemmArgs& g);

// TF32 tensor-core path for f32 inputs when the descriptor allows it (gemm_tf32.cu).
bool tf32_eligible(const DeviceCaps& caps, const kp_matmul_desc& d, const void* a, const void* b);
void launch_gemm_tf32(kp_gpu_stream_t stream, const GemmArgs& g);

// cp.async moves 16 bytes: operands must start on a 16-byte boundary.
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace gpu
}  // namespace kp
