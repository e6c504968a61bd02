// Where the wgmma GEMM's time goes, block by block: M x 4096 x 4096 bf16 (bias + GELU, or plain), K split
// or not, in clusters or not. Each launch is timed (events), then one is traced: thread 0 of every block
// reads the global timer at its start, when its K loop is done, when split-K's count is taken, when its
// epilogue is done and at its exit (gemm_wgmma.cu built with KP_WGMMA_TRACE), and the phases are printed
// per split as min/median/max microseconds from the first block's start. Needs an sm_90 GPU; not part of
// the CMake build (gpu-check --sm90 builds and runs it). From the repository root:
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -DKP_CUDA_SM90A=1 -DKP_WGMMA_TRACE -Inative/include \
//        -Inative/gpu -Ikernels native/test/wgmma_trace.cu kernels/gpu/gemm*.cu kernels/gpu/fault.cu -o wgmma_trace
//   ./wgmma_trace [M = 512] [plain]
#include <cuda_runtime.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "wgmma_test_util.h"

namespace kp { namespace gpu { extern unsigned long long* g_wgmma_trace; } }
using kp::gpu::DeviceCaps;

static double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

int main(int argc, char** argv) {
  const int64_t M = argc > 1 ? atoi(argv[1]) : 512, N = 4096, K = 4096;
  const bool plain = argc > 2 && !std::strcmp(argv[2], "plain");
  kp_matmul_desc d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = KP_BF16;
  d.out_dtype = KP_BF16;
  d.m = M, d.n = N, d.k = K;
  d.alpha = 1;
  d.activation = plain ? KP_ACT_NONE : KP_ACT_GELU;
  d.has_bias = plain ? 0 : 1;
  d.bias_dtype = KP_BF16;
  void *a, *b, *bias, *out;
  CK(cudaMalloc(&a, M * K * 2));
  CK(cudaMalloc(&b, K * N * 2));
  CK(cudaMalloc(&bias, N * 2));
  CK(cudaMalloc(&out, M * N * 2));
  CK(cudaMemset(a, 0x3c, M * K * 2));  // bf16 0x3c3c: about 0.0115
  CK(cudaMemset(b, 0x3c, K * N * 2));
  CK(cudaMemset(bias, 0, N * 2));
  unsigned long long* trace;
  const size_t max_blocks = 4096, trace_words = 6 * max_blocks;  // 6: kTraceWords in gemm_wgmma.cu
  CK(cudaMalloc(&trace, trace_words * 8));
  struct Mode { const char* name; int mode, splitk; } modes[] = {
      {"auto", 0, 0}, {"wgmma, no split", 3, 1}, {"wgmma, K split 2", 3, 2}, {"wgmma pairs, K split 2", 4, 2},
      {"wgmma, K split 4", 3, 4}, {"wgmma pairs, no split", 4, 1}};
  size_t ws_bytes = 0;
  for (const Mode& m : modes) ws_bytes = std::max(ws_bytes, kp::gpu::matmul_workspace(device_caps(m.mode, m.splitk), d, a, b));
  void* ws = nullptr;
  if (ws_bytes) CK(cudaMalloc(&ws, ws_bytes));
  std::printf("%lld x %lld x %lld bf16, %s\n", static_cast<long long>(M), static_cast<long long>(N), static_cast<long long>(K),
              plain ? "plain" : "bias + GELU");
  for (const Mode& m : modes) {
    const DeviceCaps c = device_caps(m.mode, m.splitk);
    kp::gpu::g_wgmma_trace = nullptr;
    const char* v = nullptr;
    const float ms = time_matmul(c, d, a, b, bias, nullptr, out, ws, 20, 50, &v);
    // One traced launch after a short idle gap (the next launch starts on an empty GPU).
    CK(cudaMemset(trace, 0, trace_words * 8));
    CK(cudaDeviceSynchronize());
    kp::gpu::g_wgmma_trace = trace;
    kp::gpu::launch_matmul(c, 0, d, a, b, bias, nullptr, out, ws);
    kp::gpu::g_wgmma_trace = nullptr;
    CK(cudaDeviceSynchronize());
    std::vector<unsigned long long> h(trace_words);
    CK(cudaMemcpy(h.data(), trace, trace_words * 8, cudaMemcpyDeviceToHost));
    int blocks = 0;
    unsigned long long t0 = ~0ull, tend = 0;
    for (size_t i = 0; i < max_blocks; ++i)
      if (h[6 * i]) blocks = static_cast<int>(i) + 1, t0 = std::min(t0, h[6 * i]), tend = std::max(tend, h[6 * i + 4]);
    std::printf("\n%-28s %-36s %.4f ms (%.0f TFLOP/s) per launch; traced launch %.1f us, %d blocks\n", m.name, v, ms,
                2.0 * M * N * K / ms / 1e9, (tend - t0) / 1e3, blocks);
    const int zs = m.splitk > 1 ? m.splitk : 1, per_z = blocks / zs;
    std::vector<int> sms;
    for (int z = 0; z < zs; ++z) {
      std::vector<double> ph[5];
      for (int i = z * per_z; i < (z + 1) * per_z; ++i) {
        for (int p = 0; p < 5; ++p) ph[p].push_back((h[6 * i + p] - t0) / 1e3);
        sms.push_back(static_cast<int>(h[6 * i + 5]));
      }
      std::printf("  z=%d (%d blocks), us from the first start, min/median/max:", z, per_z);
      const char* names[5] = {"start", "mainloop", "flag", "epilogue", "exit"};
      for (int p = 0; p < 5; ++p) std::printf("  %s %.1f/%.1f/%.1f", names[p], pct(ph[p], 0), pct(ph[p], 0.5), pct(ph[p], 1));
      std::printf("\n");
    }
    std::sort(sms.begin(), sms.end());
    std::printf("  distinct SMs: %zu\n", static_cast<size_t>(std::unique(sms.begin(), sms.end()) - sms.begin()));
  }
  return 0;
}
