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

}  // namespace gpu
}  // namespace kp
