// GPU check of the Hopper GEMM (kernels/gpu/gemm_wgmma.cu), alone and in 2-block clusters sharing B by TMA
// multicast (KERNELPORT_GPU_GEMM=wgmma-cluster), against the portable SIMT kernel, and its speed beside
// mma.sync. Needs an sm_90 GPU; not part of the CMake build. From the repository root:
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -DKP_CUDA_SM90A=1 -Inative/include -Inative/gpu \
//        -Ikernels native/test/wgmma_check.cu kernels/gpu/*.cu -o wgmma_check && ./wgmma_check
// Inputs are multiples of 1/8 in [-1, 1]: every product and partial sum is exact in f32, so the tensor-core
// and SIMT sums agree exactly and any layout error shows as a large difference. Exit status 0 = all passed.
#include <cuda_runtime.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "wgmma_test_util.h"

using kp::gpu::DeviceCaps;

static int failures = 0;

static uint16_t to_16(float f, bool bf16) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if (bf16) return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  // f16 of an exact multiple of 1/8 in [-1, 1]
  const float a = std::fabs(f);
  uint16_t h = 0;
  if (a != 0) {
    int e;
    const float m = std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1)
    h = static_cast<uint16_t>(((e - 1 + 15) << 10) | (static_cast<int>((m * 2 - 1) * 1024) & 0x3ff));
  }
  return static_cast<uint16_t>(h | (f < 0 ? 0x8000 : 0));
}

static float from_out(const std::vector<uint8_t>& buf, kp_dtype dt, size_t i) {
  if (dt == KP_F32) {
    float f;
    std::memcpy(&f, buf.data() + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, buf.data() + 2 * i, 2);
  if (dt == KP_BF16) {
    const uint32_t x = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &x, 4);
    return f;
  }
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const float v = e == 0 ? std::ldexp(static_cast<float>(m), -24) : std::ldexp(1.0f + m / 1024.0f, e - 15);
  return (h & 0x8000) ? -v : v;
}

static size_t dsize(kp_dtype dt) { return dt == KP_F32 ? 4 : 2; }

struct Case {
  const char* name;
  kp_dtype dt, out;
  int64_t m, n, k;
  int trans_b;
  int64_t batch;
  bool a_bcast, b_bcast;
  bool bias, residual;
  kp_activation act;
  const char* expect;  // variant expected in auto mode (nullptr: not checked)
};

static void run_case(const Case& cs, bool time_it, int wg_mode, int splitk) {
  const bool bf16 = cs.dt == KP_BF16;
  kp_matmul_desc d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = cs.dt;
  d.out_dtype = cs.out;
  d.trans_b = cs.trans_b;
  d.m = cs.m;
  d.n = cs.n;
  d.k = cs.k;
  d.alpha = 1;
  d.beta = 0.5f;
  d.activation = cs.act;
  const int64_t asz = cs.m * cs.k, bsz = cs.k * cs.n;
  const int64_t na = cs.a_bcast ? 1 : cs.batch, nb = cs.b_bcast ? 1 : cs.batch;
  if (cs.batch > 1) {
    d.batch_rank = 1;
    d.batch_shape[0] = cs.batch;
    d.a_batch_stride[0] = cs.a_bcast ? 0 : asz;
    d.b_batch_stride[0] = cs.b_bcast ? 0 : bsz;
  }
  std::vector<uint16_t> ha(asz * na), hb(bsz * nb);
  uint32_t seed = 12345;
  auto rnd = [&] {
    seed = seed * 1664525u + 1013904223u;
    return static_cast<float>(static_cast<int>((seed >> 16) % 17) - 8) / 8.0f;
  };
  for (auto& x : ha) x = to_16(rnd(), bf16);
  for (auto& x : hb) x = to_16(rnd(), bf16);
  std::vector<float> hbias(cs.n), hres(cs.batch * cs.m * cs.n);
  for (auto& x : hbias) x = rnd();
  for (auto& x : hres) x = rnd();
  if (cs.bias) d.has_bias = 1, d.bias_dtype = KP_F32;
  if (cs.residual) {
    d.has_residual = 1;
    d.residual_dtype = KP_F32;
    d.r_row_stride = cs.n;
    d.r_col_stride = 1;
    if (cs.batch > 1) d.r_batch_stride[0] = cs.m * cs.n;
  }
  void *da, *db, *dbias, *dres, *o1, *o2, *o3;
  const size_t osz = cs.batch * cs.m * cs.n * dsize(cs.out);
  CK(cudaMalloc(&da, ha.size() * 2));
  CK(cudaMalloc(&db, hb.size() * 2));
  CK(cudaMalloc(&dbias, hbias.size() * 4));
  CK(cudaMalloc(&dres, hres.size() * 4));
  CK(cudaMalloc(&o1, osz));
  CK(cudaMalloc(&o2, osz));
  CK(cudaMalloc(&o3, osz));
  CK(cudaMemcpy(da, ha.data(), ha.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(db, hb.data(), hb.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dbias, hbias.data(), hbias.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dres, hres.data(), hres.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMemset(o1, 0xff, osz));
  CK(cudaMemset(o2, 0xff, osz));
  CK(cudaMemset(o3, 0xff, osz));
  const DeviceCaps simt = device_caps(1), wg = device_caps(wg_mode, splitk), autoc = device_caps(0), mma = device_caps(2),
                   split2 = device_caps(wg_mode, 2);
  // Split-K's workspace, as the backend allocates it per launch (the largest any mode here needs).
  size_t ws_bytes = 0;
  for (const DeviceCaps* c : {&simt, &wg, &autoc, &mma, &split2}) ws_bytes = std::max(ws_bytes, kp::gpu::matmul_workspace(*c, d, da, db));
  void* ws = nullptr;
  if (ws_bytes) CK(cudaMalloc(&ws, ws_bytes));
  const char* v_auto = kp::gpu::matmul_variant(autoc, d, da, db);
  const char* v1 = kp::gpu::launch_matmul(simt, 0, d, da, db, dbias, dres, o1, ws);
  CK(cudaGetLastError());
  const char* v2 = kp::gpu::launch_matmul(wg, 0, d, da, db, dbias, dres, o2, ws);
  CK(cudaGetLastError());
  const char* v3 = kp::gpu::launch_matmul(wg, 0, d, da, db, dbias, dres, o3, ws);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<uint8_t> r1(osz), r2(osz), r3(osz);
  CK(cudaMemcpy(r1.data(), o1, osz, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(r2.data(), o2, osz, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(r3.data(), o3, osz, cudaMemcpyDeviceToHost));
  double maxref = 0, maxerr = 0;
  size_t bad = 0, first_bad = SIZE_MAX;
  const size_t count = cs.batch * cs.m * cs.n;
  for (size_t i = 0; i < count; ++i) {
    const float x = from_out(r1, cs.out, i), y = from_out(r2, cs.out, i);
    maxref = std::fmax(maxref, std::fabs(x));
    const double e = std::fabs(static_cast<double>(x) - y);
    if (!(e <= maxerr)) maxerr = std::isnan(e) ? INFINITY : e;
    if (!(e <= 0)) {
      ++bad;
      if (first_bad == SIZE_MAX) first_bad = i;
    }
  }
  // Exact inputs: the sums agree exactly; the epilogue's rounding may differ by FMA contraction only.
  const double tol = (cs.out == KP_F32 ? 1e-5 : 1e-2) * (maxref + 1);
  const bool same = std::memcmp(r2.data(), r3.data(), osz) == 0;
  const bool ok = maxerr <= tol && same && std::strstr(v2, "wgmma") && (!cs.expect || !std::strcmp(v_auto, cs.expect));
  if (!ok) failures++;
  std::printf("%-34s %-24s auto=%-24s maxerr=%.3g (max|ref| %.3g) mismatches=%zu", cs.name, v2, v_auto, maxerr, maxref, bad);
  if (bad) {
    const size_t b = first_bad % (cs.m * cs.n);
    std::printf(" first at t=%zu i=%zu j=%zu (%g vs %g)", first_bad / (cs.m * cs.n), b / cs.n, b % cs.n, from_out(r1, cs.out, first_bad),
                from_out(r2, cs.out, first_bad));
  }
  std::printf(" deterministic=%s %s\n", same ? "yes" : "NO", ok ? "PASS" : "FAIL");
  (void)v1;
  (void)v3;
  if (time_it) {
    const double flops = 2.0 * cs.m * cs.n * cs.k * cs.batch;
    const DeviceCaps* modes[4] = {&autoc, &mma, &wg, &split2};
    for (const DeviceCaps* c : modes) {
      const char* v = nullptr;
      const float ms = time_matmul(*c, d, da, db, dbias, dres, o2, ws, 5, 30, &v);
      std::printf("   time %-32s %.4f ms = %.1f TFLOP/s%s\n", v, ms, flops / ms / 1e9, c == &split2 ? " (K split 2 ways)" : "");
    }
  }
  cudaFree(da);
  cudaFree(db);
  cudaFree(dbias);
  cudaFree(dres);
  cudaFree(o1);
  cudaFree(o2);
  cudaFree(o3);
  cudaFree(ws);
}

int main() {
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  std::printf("%s, cc %d.%d, %d SMs\n", p.name, p.major, p.minor, p.multiProcessorCount);
  const Case cases[] = {
      // name, dt, out, m, n, k, trans_b, batch, a_bcast, b_bcast, bias, residual, act, expect
      {"bf16 256x256x64 B[K,N]", KP_BF16, KP_F32, 256, 256, 64, 0, 1, false, false, false, false, KP_ACT_NONE, nullptr},
      {"bf16 256x256x64 B[N,K]", KP_BF16, KP_F32, 256, 256, 64, 1, 1, false, false, false, false, KP_ACT_NONE, nullptr},
      {"bf16 300x520x136 B[K,N] tails", KP_BF16, KP_F32, 300, 520, 136, 0, 1, false, false, false, false, KP_ACT_NONE, nullptr},
      {"bf16 257x999x72 B[N,K] tails", KP_BF16, KP_F32, 257, 999, 72, 1, 1, false, false, false, false, KP_ACT_NONE, nullptr},
      {"f16 1024x2048x512 B[K,N] epi", KP_F16, KP_F32, 1024, 2048, 512, 0, 1, false, false, true, true, KP_ACT_GELU, "gemm-wgmma-f16"},
      {"f16 1000x1032x264 B[N,K] bf16out", KP_F16, KP_BF16, 1000, 1032, 264, 1, 1, false, false, true, false, KP_ACT_RELU, nullptr},
      {"bf16 batch3 200x384x128 B[K,N]", KP_BF16, KP_F32, 200, 384, 128, 0, 3, false, false, false, true, KP_ACT_NONE, nullptr},
      {"bf16 batch2 bcastB 130x136x64 B[N,K]", KP_BF16, KP_F16, 130, 136, 64, 1, 2, false, true, true, false, KP_ACT_SILU, nullptr},
      {"bf16 batch2 bcastA 128x256x192", KP_BF16, KP_F32, 128, 256, 192, 0, 2, true, false, false, false, KP_ACT_NONE, nullptr},
      // auto on an H100 (132 SMs)
      {"bf16 2000x3000x1000 B[K,N] 256-wide", KP_BF16, KP_F32, 2000, 3000, 1000, 0, 1, false, false, false, false, KP_ACT_NONE, "gemm-wgmma-cluster2-bf16"},
      {"f16 2000x2999x1000 B[N,K] 256-wide", KP_F16, KP_F32, 2000, 2999, 1000, 1, 1, false, false, true, true, KP_ACT_GELU_TANH, "gemm-wgmma-cluster2-f16"},
      {"bf16 4096^3 B[K,N]", KP_BF16, KP_BF16, 4096, 4096, 4096, 0, 1, false, false, false, false, KP_ACT_NONE, "gemm-wgmma-cluster2-bf16"},
      {"bf16 4096^3 B[N,K]", KP_BF16, KP_BF16, 4096, 4096, 4096, 1, 1, false, false, false, false, KP_ACT_NONE, "gemm-wgmma-cluster2-bf16"},
      {"bf16 512x4096x4096 bias+gelu", KP_BF16, KP_BF16, 512, 4096, 4096, 0, 1, false, false, true, false, KP_ACT_GELU, "gemm-wgmma-bf16"},
  };
  // wgmma alone, in 2-block then 2 x 2 clusters (the clusters timed, and with K split 2 ways), then with
  // K forced into 3 splits wherever the batch is 1.
  const int modes[4][2] = {{3, 0}, {4, 0}, {5, 0}, {3, 3}};
  for (const auto& m : modes)
    for (const Case& c : cases) run_case(c, m[0] >= 4 && c.m * c.n >= 512 * 4096, m[0], m[1]);
  std::printf(failures ? "%d FAILED\n" : "all passed\n", failures);
  return failures ? 1 : 0;
}
