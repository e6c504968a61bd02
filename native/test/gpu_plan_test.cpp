// Host-side checks of the GPU backend that need no GPU: which kernel variant a descriptor gets on a
// given device, and the attention plan (bucket, split-KV, shared memory, workspace, refusals).
// Linked with the backend's objects; run by test/cuda.test.ts. Exit status 0 = all passed.
//
// Built twice: with the cuda library's objects (kp_gpu_plan_test) and with the MUSA build's objects
// (kp_musa_plan_test: KP_GPU_VENDOR_MUSA, the sources through vendors/musa.h; run by
// test/musa.test.ts), where the tensor-core GEMM never runs and the MUSA parts' 128-thread warps and
// small per-block shared memory (mp_21) are planned for.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../kernels/gpu/kernels.h"
#include "../../kernels/gpu/attention_order.h"
#include "../../kernels/gpu/exact_div.h"

using kp::gpu::DeviceCaps;

static int failures = 0;
#define EXPECT(cond)                                                          \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
      failures++;                                                             \
    }                                                                         \
  } while (0)

static DeviceCaps caps(int major, int minor, int warp = 32, int mode = 0) {
  DeviceCaps c;
  c.cc_major = major;
  c.cc_minor = minor;
  c.warp_size = warp;
  c.multiprocessors = 132;
  c.smem_optin = 227 * 1024;
  c.gemm_mode = mode;
  return c;
}

static kp_matmul_desc mm(kp_dtype dt, int64_t m, int64_t n, int64_t k) {
  kp_matmul_desc d;
  std::memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = dt;
  d.out_dtype = dt;
  d.m = m;
  d.n = n;
  d.k = k;
  d.alpha = 1;
  return d;
}

static kp_attention_desc att(int64_t b, int64_t h, int64_t sq, int64_t skv, int64_t d, int64_t dv) {
  kp_attention_desc a;
  std::memset(&a, 0, sizeof a);
  a.struct_size = sizeof a;
  a.dtype = KP_BF16;
  a.out_dtype = KP_BF16;
  a.batch = b;
  a.hq = h;
  a.hkv = h;
  a.sq = sq;
  a.skv = skv;
  a.d = d;
  a.dv = dv;
  a.scale = 1;
  a.causal = KP_CAUSAL_BOTTOM_RIGHT;
  return a;
}

static DeviceCaps mp21_caps() {
  DeviceCaps c = caps(2, 1, 128);
  c.multiprocessors = 32;
  c.smem_optin = 48 * 1024;
  return c;
}

int main() {
  alignas(16) static char buf[64];
  const void* p = buf;
  const void* odd = buf + 2;
  // The portable tiles: 128x128 where the shape has enough of them, 64x64 for small problems.
  const std::string simt = "gemm-simt-128x128", simt64 = "gemm-simt-64x64";
#if KP_GPU_VENDOR_HAS_MMA_SYNC
  const std::string sm90 = "gemm-mma-m16n8k16-bf16";
  const std::string sm80f16 = "gemm-mma-m16n8k16-f16";
  const std::string tf32 = "gemm-mma-m16n8k8-tf32";
  const std::string sm90_small = sm90, tf32_small = tf32;  // shapes that would get 64x64 SIMT tiles
#if defined(KP_CUDA_SM90A)
  // Auto pairs blocks in clusters where the tiles are 256 wide (the 4096^3 shapes below); forced wgmma
  // and 128-wide tiles (1024 x 2048 x 512: 64 tiles on 132 SMs) run unclustered.
  const std::string hopper = "gemm-wgmma-cluster2-bf16", hopper16 = "gemm-wgmma-f16", hopper_forced = "gemm-wgmma-bf16";
  const bool wgmma_built = true;
#else
  // Built without the sm_90a target: the wgmma kernel has no body, so Hopper runs mma.sync.
  const std::string hopper = sm90, hopper16 = sm80f16, hopper_forced = simt64;
  const bool wgmma_built = false;
#endif
#else
  // MUSA: no mma.sync, whatever the device reports (the emulated build runs on NVIDIA sm_80+ parts).
  const std::string sm90 = simt, sm80f16 = simt, tf32 = simt;
  const std::string sm90_small = simt64, tf32_small = simt64;
  const std::string hopper = sm90, hopper16 = sm90, hopper_forced = simt64;
  const bool wgmma_built = false;
#endif
  auto v = [&](const DeviceCaps& c, const kp_matmul_desc& d, const void* a = nullptr) {
    return std::string(kp::gpu::matmul_variant(c, d, a ? a : p, p));
  };

  // GEMV for M <= 4, whatever the dtype.
  EXPECT(v(caps(9, 0), mm(KP_F32, 1, 4096, 4096)) == "gemv-m4");
  EXPECT(v(caps(9, 0), mm(KP_BF16, 4, 4096, 4096)) == "gemv-m4");
  // Tensor cores: f16/bf16 on sm_80+ with 32-lane warps, aligned, K % 8 == 0, not transposed A.
  EXPECT(v(caps(9, 0), mm(KP_BF16, 4096, 4096, 4096)) == hopper);  // sm_90: wgmma
  EXPECT(v(caps(8, 0), mm(KP_F16, 512, 4096, 4096)) == sm80f16);
  EXPECT(v(caps(8, 9), mm(KP_BF16, 4096, 4096, 4096)) == sm90);     // mma.sync below sm_90
  EXPECT(v(caps(12, 0), mm(KP_BF16, 4096, 4096, 4096)) == sm90);    // and on sm_120: wgmma is sm_90a only
  EXPECT(v(caps(7, 5), mm(KP_BF16, 4096, 4096, 4096)) == simt);
  EXPECT(v(caps(9, 0, 64), mm(KP_BF16, 4096, 4096, 4096)) == simt);  // not a 32-lane warp
  EXPECT(v(caps(9, 0), mm(KP_F32, 4096, 4096, 4096)) == simt);       // no TF32 unless asked
  EXPECT(v(caps(9, 0), mm(KP_BF16, 4096, 4096, 4092)) == simt);      // K % 8
  EXPECT(v(caps(9, 0), mm(KP_BF16, 4096, 4092, 4096)) == simt);      // N % 8 with B [K,N]
  kp_matmul_desc tb = mm(KP_BF16, 4096, 4092, 4096);
  tb.trans_b = 1;
  EXPECT(v(caps(9, 0), tb) == hopper);                                            // B [N,K]: N is free
  EXPECT(v(caps(8, 0), tb) == sm90);
  kp_matmul_desc ta = mm(KP_BF16, 4096, 4096, 4096);
  ta.trans_a = 1;
  EXPECT(v(caps(9, 0), ta) == simt);
  EXPECT(v(caps(9, 0), mm(KP_BF16, 4096, 4096, 4096), odd) == simt);  // cp.async needs 16 bytes
  kp_matmul_desc batched = mm(KP_BF16, 1024, 1024, 1024);
  batched.batch_rank = 1;
  batched.batch_shape[0] = 4;
  batched.a_batch_stride[0] = 1024 * 1024 + 4;  // a batch entry not 16-byte aligned
  EXPECT(v(caps(9, 0), batched) == simt);
  EXPECT(v(caps(9, 0), mm(KP_BF16, 37, 29, 64)) == simt64);                 // small: finer tiles
  EXPECT(v(caps(9, 0, 32, 2), mm(KP_BF16, 37, 32, 64)) == sm90_small);      // KERNELPORT_GPU_GEMM=mma
  EXPECT(v(caps(9, 0, 32, 2), mm(KP_BF16, 37, 29, 64)) == simt64);          // forced, but N % 8
  EXPECT(v(caps(9, 0, 32, 2), mm(KP_BF16, 1, 32, 64)) == sm90_small);
  EXPECT(v(caps(9, 0, 32, 2), mm(KP_BF16, 4096, 4096, 4096)) == sm90);      // =mma: mma.sync only, never wgmma
  EXPECT(v(caps(9, 0, 32, 1), mm(KP_BF16, 4096, 4096, 4096)) == simt);      // =simt
  // TF32 tensor cores: f32 only when the descriptor allows it; K % 4, N % 4 unless B is [N,K].
  auto tf = [](int64_t m, int64_t n, int64_t k) {
    kp_matmul_desc d = mm(KP_F32, m, n, k);
    d.allow_tf32 = 1;
    return d;
  };
  EXPECT(v(caps(9, 0), tf(4096, 4096, 4096)) == tf32);
  EXPECT(v(caps(8, 0), tf(1000, 1024, 4100)) == tf32);
  EXPECT(v(caps(7, 5), tf(4096, 4096, 4096)) == simt);
  EXPECT(v(caps(9, 0), tf(4096, 4096, 4094)) == simt);  // K % 4
  EXPECT(v(caps(9, 0), tf(4096, 4094, 4096)) == simt);  // N % 4 with B [K,N]
  kp_matmul_desc tft = tf(4096, 4094, 4096);
  tft.trans_b = 1;
  EXPECT(v(caps(9, 0), tft) == tf32);
  EXPECT(v(caps(9, 0), tf(4096, 4096, 4096), odd) == simt);
  EXPECT(v(caps(9, 0, 64), tf(4096, 4096, 4096)) == simt);
  EXPECT(v(caps(9, 0, 32, 1), tf(4096, 4096, 4096)) == simt);
  EXPECT(v(caps(9, 0, 32, 2), tf(37, 32, 64)) == tf32_small);
  kp_matmul_desc tfa = tf(4096, 4096, 4096);
  tfa.trans_a = 1;
  EXPECT(v(caps(9, 0), tfa) == simt);  // A must be [M,K]
  kp_matmul_desc tfb = tf(1024, 1024, 1024);
  tfb.batch_rank = 1;
  tfb.batch_shape[0] = 2;
  tfb.a_batch_stride[0] = 1024 * 1024;
  tfb.b_batch_stride[0] = 1024 * 1024 + 2;  // a batch entry of B not 16-byte aligned
  EXPECT(v(caps(9, 0), tfb) == simt);
  tfb.b_batch_stride[0] = 1024 * 1024;
  EXPECT(v(caps(9, 0), tfb) == tf32);
  EXPECT(std::string(kp::gpu::matmul_variant(caps(9, 0), tf(4096, 4096, 4096), p, odd)) == simt);  // B misaligned
  DeviceCaps small_smem = caps(9, 0);
  small_smem.smem_optin = 64 * 1024;  // the TF32 tiles need 80 KiB, the 16-bit ones 96 KiB
  EXPECT(v(small_smem, tf(4096, 4096, 4096)) == simt);
  EXPECT(v(small_smem, mm(KP_BF16, 4096, 4096, 4096)) == simt);
  small_smem.smem_optin = 99 * 1024;  // sm_86 / sm_89 / sm_120: both fit
  EXPECT(v(small_smem, tf(4096, 4096, 4096)) == tf32);
  EXPECT(v(small_smem, mm(KP_BF16, 4096, 4096, 4096)) == sm90);
  kp_matmul_desc tf16 = mm(KP_BF16, 4096, 4096, 4096);
  tf16.allow_tf32 = 1;  // meaningless for 16-bit inputs: they take their own tensor-core path
  EXPECT(v(caps(9, 0), tf16) == hopper);
  EXPECT(v(caps(8, 0), tf16) == sm90);

  // Hopper wgmma path (sm_90a): cc 9.0 exactly, 32-lane warps, f16/bf16, TMA's 16-byte rules, batch
  // entries one stride apart (or broadcast), room for 4 stages of 48 KiB.
  EXPECT(v(caps(9, 0), mm(KP_F16, 1024, 2048, 512)) == hopper16);
  EXPECT(v(caps(9, 0, 32, 3), mm(KP_BF16, 4096, 4096, 4096)) == (wgmma_built ? hopper_forced : sm90));  // forced: no clusters
  EXPECT(v(caps(9, 0, 64), mm(KP_BF16, 4096, 4096, 4096)) == simt);
  EXPECT(v(caps(9, 0), mm(KP_BF16, 4096, 4096, 4092)) == simt);      // K % 8: neither TMA nor cp.async
  EXPECT(v(caps(9, 0), mm(KP_BF16, 4096, 4096, 4096), odd) == simt);
  EXPECT(std::string(kp::gpu::matmul_variant(caps(9, 0), mm(KP_BF16, 4096, 4096, 4096), p, odd)) == simt);
  EXPECT(v(caps(9, 0), mm(KP_BF16, 300, 520, 136)) == "gemm-simt-64x64");         // 3 x 3 tiles: finer SIMT tiles
  EXPECT(v(caps(9, 0, 32, 3), mm(KP_BF16, 300, 520, 136)) == hopper_forced);       // KERNELPORT_GPU_GEMM=wgmma
  // KERNELPORT_GPU_GEMM=wgmma-cluster: the same kernel in 2-block clusters, its own name
  EXPECT(v(caps(9, 0, 32, 4), mm(KP_BF16, 300, 520, 136)) == (wgmma_built ? std::string("gemm-wgmma-cluster2-bf16") : hopper_forced));
  // =wgmma-cluster2x2: 2 x 2 clusters sharing A and B
  EXPECT(v(caps(9, 0, 32, 5), mm(KP_F16, 300, 520, 136)) == (wgmma_built ? std::string("gemm-wgmma-cluster2x2-f16") : std::string("gemm-simt-64x64")));
  // forced: not even GEMV where wgmma can run; elsewhere auto's choice, GEMV
  EXPECT(v(caps(9, 0, 32, 3), mm(KP_BF16, 1, 32, 64)) == (wgmma_built ? hopper_forced : std::string("gemv-m4")));
  EXPECT(v(caps(9, 0, 32, 3), mm(KP_BF16, 37, 29, 64)) == "gemm-simt-64x64");      // forced, but N % 8 with B [K,N]
  EXPECT(v(caps(8, 0, 32, 3), mm(KP_BF16, 4096, 4096, 4096)) == sm90);             // forced on sm_80: as auto
  EXPECT(v(caps(8, 0, 32, 3), mm(KP_F32, 3, 512, 512)) == std::string("gemv-m4"));  // ... GEMV included
  EXPECT(v(caps(9, 0, 32, 5), mm(KP_F32, 3, 512, 512)) == std::string("gemv-m4"));  // f32: no wgmma, so GEMV
  DeviceCaps small_hopper = caps(9, 0);
  small_hopper.smem_optin = 160 * 1024;
  EXPECT(v(small_hopper, mm(KP_BF16, 4096, 4096, 4096)) == sm90);
  kp_matmul_desc hb = mm(KP_BF16, 1024, 1024, 1024);
  hb.batch_rank = 2;
  hb.batch_shape[0] = 2;
  hb.batch_shape[1] = 3;
  hb.a_batch_stride[0] = 3 * 1024 * 1024;  // [2,3] batch of contiguous matrices: one stride
  hb.a_batch_stride[1] = 1024 * 1024;
  hb.b_batch_stride[0] = 0;                // B broadcast
  hb.b_batch_stride[1] = 0;
  EXPECT(v(caps(9, 0), hb) == hopper);
  hb.a_batch_stride[0] = 4 * 1024 * 1024;  // a gap between the rows of the batch: no single stride
  EXPECT(v(caps(9, 0), hb) == sm90);
  hb.a_batch_stride[0] = 3 * 1024 * 1024;
  hb.b_batch_stride[1] = 1024 * 1024;      // B broadcast along the first batch axis only
  EXPECT(v(caps(9, 0), hb) == sm90);

  // Block tiles, from the shape only (every tile accumulates each output in the same K order).
  auto tile = [&](const DeviceCaps& c, const kp_matmul_desc& d) {
    const kp::gpu::GemmTile t = kp::gpu::matmul_tile(c, d, p, p);
    return std::to_string(t.m) + "x" + std::to_string(t.n);
  };
  EXPECT(tile(caps(9, 0), mm(KP_F32, 2, 4096, 4096)) == "0x0");
  // SIMT: 128x128 once there are 48 of them, and M, N above 64; else 64x64.
  EXPECT(tile(caps(9, 0), mm(KP_F32, 4096, 4096, 4096)) == "128x128");
  EXPECT(tile(caps(9, 0), mm(KP_F32, 1024, 768, 64)) == "128x128");   // 8 x 6 = 48 tiles
  EXPECT(tile(caps(9, 0), mm(KP_F32, 1024, 640, 64)) == "64x64");     // 8 x 5 = 40
  EXPECT(tile(caps(9, 0), mm(KP_F32, 64, 65536, 64)) == "64x64");     // M = 64: skinny
  EXPECT(tile(caps(9, 0), mm(KP_F32, 65536, 40, 64)) == "64x64");     // N = 40: skinny
  kp_matmul_desc sb = mm(KP_F32, 256, 256, 64);
  sb.batch_rank = 2;
  sb.batch_shape[0] = 3;
  sb.batch_shape[1] = 4;  // 2 x 2 x 12 = 48 tiles
  EXPECT(tile(caps(9, 0), sb) == "128x128");
  sb.batch_shape[1] = 3;  // 36
  EXPECT(tile(caps(9, 0), sb) == "64x64");
  EXPECT(tile(caps(7, 5), mm(KP_BF16, 4096, 4096, 4096)) == "128x128");
  EXPECT(tile(mp21_caps(), mm(KP_BF16, 4096, 4096, 4096)) == "128x128");
#if KP_GPU_VENDOR_HAS_MMA_SYNC
#if defined(KP_CUDA_SM90A)
  // wgmma: 128x256 unless that gives fewer tiles than multiprocessors, then 128x128.
  EXPECT(tile(caps(9, 0), mm(KP_BF16, 4096, 4096, 4096)) == "128x256");
  EXPECT(kp::gpu::matmul_workspace(caps(9, 0), mm(KP_BF16, 4096, 4096, 4096), p, p) == 0);
  // Split-K is opt-in (slower where measured): 512 x 4096 x 4096 makes 64 tiles 256 wide for 132 SMs,
  // so 128 tiles 128 wide, no workspace.
  EXPECT(v(caps(9, 0), mm(KP_BF16, 512, 4096, 4096)) == "gemm-wgmma-bf16");
  EXPECT(tile(caps(9, 0), mm(KP_BF16, 512, 4096, 4096)) == "128x128");
  EXPECT(kp::gpu::matmul_workspace(caps(9, 0), mm(KP_BF16, 512, 4096, 4096), p, p) == 0);
  // KERNELPORT_GPU_GEMM_SPLITK=2: 2 splits of 32 K tiles, 256 wide (so paired); the workspace holds a
  // flag per tile and an f32 tile per tile and split.
  DeviceCaps split2 = caps(9, 0);
  split2.gemm_splitk = 2;
  EXPECT(v(split2, mm(KP_BF16, 512, 4096, 4096)) == "gemm-wgmma-cluster2-splitk-bf16");
  EXPECT(tile(split2, mm(KP_BF16, 512, 4096, 4096)) == "128x256");
  EXPECT(kp::gpu::matmul_workspace(split2, mm(KP_BF16, 512, 4096, 4096), p, p) == 256 + size_t(2) * 64 * 128 * 256 * 4);
  DeviceCaps split2_forced = caps(9, 0, 32, 3);
  split2_forced.gemm_splitk = 2;
  EXPECT(v(split2_forced, mm(KP_F16, 512, 4096, 4096)) == "gemm-wgmma-splitk-f16");  // forced wgmma: no clusters
  DeviceCaps h20 = caps(9, 0);
  h20.multiprocessors = 78;  // an H20: 128-wide tiles as well
  EXPECT(v(h20, mm(KP_BF16, 512, 4096, 4096)) == "gemm-wgmma-bf16");
  EXPECT(tile(h20, mm(KP_BF16, 512, 4096, 4096)) == "128x128");
  EXPECT(v(caps(9, 0), mm(KP_F16, 1024, 2048, 512)) == "gemm-wgmma-f16");
  kp_matmul_desc split_b = mm(KP_BF16, 256, 4096, 4096);
  split_b.batch_rank = 1;
  split_b.batch_shape[0] = 2;  // 2 x 2 x 16 = 64 tiles, as above, but batched: never split, even when asked
  split_b.a_batch_stride[0] = 256 * 4096;
  EXPECT(tile(split2, split_b) == "128x128");
  EXPECT(kp::gpu::matmul_workspace(split2, split_b, p, p) == 0);
  DeviceCaps forced_split = caps(9, 0, 32, 3);
  forced_split.gemm_splitk = 3;  // KERNELPORT_GPU_GEMM_SPLITK=3: wherever the batch is 1
  EXPECT(v(forced_split, mm(KP_BF16, 300, 520, 136)) == "gemm-wgmma-splitk-bf16");  // 3 K tiles, one each
  EXPECT(v(forced_split, mm(KP_BF16, 300, 520, 64)) == "gemm-wgmma-bf16");          // one K tile: nothing to split
  forced_split.gemm_splitk = 1;  // =1: never
  EXPECT(v(forced_split, mm(KP_BF16, 512, 4096, 4096)) == "gemm-wgmma-bf16");
#endif
  // mma.sync (sm_80; on sm_90 with KERNELPORT_GPU_GEMM=mma): 128x256 with at least 128 of them (a full wave of one block per multiprocessor), else 64x128.
  EXPECT(tile(caps(8, 0), mm(KP_BF16, 4096, 4096, 4096)) == "128x256");  // 512 tiles
  EXPECT(tile(caps(8, 0), mm(KP_BF16, 2048, 4096, 4096)) == "128x256");  // 256
  EXPECT(tile(caps(8, 0), mm(KP_BF16, 2048, 2048, 4096)) == "128x256");  // 128
  EXPECT(tile(caps(8, 0), mm(KP_BF16, 2048, 1792, 4096)) == "64x128");   // 112
  EXPECT(tile(caps(8, 0), mm(KP_BF16, 512, 4096, 4096)) == "64x128");    // 64: the fused bias + GELU case
  EXPECT(tile(caps(8, 0), mm(KP_F16, 512, 4096, 4096)) == "64x128");
  kp_matmul_desc mb = mm(KP_BF16, 512, 4096, 4096);
  mb.batch_rank = 1;
  mb.batch_shape[0] = 2;  // 128 with the batch
  mb.a_batch_stride[0] = 512 * 4096;
  mb.b_batch_stride[0] = 0;
  EXPECT(tile(caps(8, 0), mb) == "128x256");
  EXPECT(tile(caps(9, 0), tf(4096, 4096, 4096)) == "128x128");
  EXPECT(tile(caps(9, 0, 32, 1), mm(KP_BF16, 512, 4096, 4096)) == "128x128");  // =simt
#else
  EXPECT(tile(caps(9, 0), mm(KP_BF16, 512, 4096, 4096)) == "128x128");
#endif

  // Attention plans.
  auto plan = [&](const kp_attention_desc& d, int warp = 32, const int32_t* len = nullptr) {
    return kp::gpu::plan_attention(caps(9, 0, warp), d, len);
  };
  // The portable kernels' plans (the tensor-core path, checked below, off).
  DeviceCaps simt_only = caps(9, 0);
  simt_only.attention_mode = 1;
  kp::gpu::AttentionPlan pf = kp::gpu::plan_attention(simt_only, att(4, 32, 2048, 2048, 128, 128), nullptr);
  EXPECT(!pf.unsupported && pf.splits == 1 && pf.workspace == 0 && pf.dmax == 128);
  EXPECT(std::string(pf.variant) == "flash-attention-simt");
  EXPECT(pf.smem == (32 * 256 + 32 * 33) * 4 && pf.tile_keys == 32);
  // Decoding (few rows per (b, kv head)): the bandwidth-bound decode kernel (attention_decode.cu),
  // its split from the shape only: ~256 blocks of (b, kv head, row slice, split), keys per split a
  // multiple of 256.
  const std::string vec = "flash-decoding-split-kv-vec";
  kp::gpu::AttentionPlan dec = plan(att(4, 32, 1, 4096, 128, 128));
  EXPECT(!dec.unsupported && std::string(dec.variant) == vec && dec.dmax == 128);
  EXPECT(dec.splits == 2 && dec.split_keys == 2048 && dec.smem == 0);
  EXPECT(dec.workspace == size_t(4) * 32 * 1 * 2 * (2 + 128) * 4);
  EXPECT(dec.tile_keys == 16 * 8);  // 16 groups of 16 lanes, 8 keys each per step
  // Independent of the kv lengths (the split depends on the shape only), of the device's warp and SMs.
  const int32_t lens[4] = {100, 700, 1024, 3};
  const kp::gpu::AttentionPlan dl = plan(att(4, 32, 1, 4096, 128, 128), 32, lens);
  EXPECT(std::string(dl.variant) == vec && dl.splits == dec.splits && dl.split_keys == dec.split_keys && dl.workspace == dec.workspace);
  const kp::gpu::AttentionPlan d128 = plan(att(4, 32, 1, 4096, 128, 128), 128);
  EXPECT(std::string(d128.variant) == vec && d128.splits == dec.splits && d128.split_keys == dec.split_keys);
  // GQA 32:8: the 4 query heads of a kv head share a block (one slice): 32 (b, kv head) x 8 splits.
  kp::gpu::AttentionPlan gqa = [&] {
    kp_attention_desc g = att(4, 32, 1, 4096, 128, 128);
    g.hkv = 8;
    return plan(g);
  }();
  EXPECT(std::string(gqa.variant) == vec && gqa.splits == 8 && gqa.split_keys == 512);
  EXPECT(gqa.workspace == size_t(4) * 32 * 8 * (2 + 128) * 4);
  // 16 rows per kv head (GQA 4 x Sq 4): 4 slices of 4 rows; 17 go to the portable kernels.
  kp_attention_desc r16 = att(4, 32, 4, 4096, 128, 128);
  r16.hkv = 8;
  EXPECT(std::string(plan(r16).variant) == vec && plan(r16).splits == 2);
  r16.sq = 5;
  EXPECT(std::string(plan(r16).variant) == "flash-decoding-split-kv");
  // Long keys: more keys per split, the same ~256 blocks; many blocks: one split, no workspace.
  EXPECT(plan(att(4, 32, 1, 32768, 128, 128)).splits == 2 && plan(att(4, 32, 1, 32768, 128, 128)).split_keys == 16384);
  EXPECT(plan(att(1, 1, 1, 1 << 20, 64, 64)).splits == 256 && plan(att(1, 1, 1, 1 << 20, 64, 64)).split_keys == 4096);
  const kp::gpu::AttentionPlan many = plan(att(16, 32, 1, 4096, 128, 128));
  EXPECT(many.splits == 1 && many.split_keys == 4096 && many.workspace == 0);
  // Short keys: one split of all of them.
  const kp::gpu::AttentionPlan few = plan(att(1, 32, 1, 200, 128, 128));
  EXPECT(std::string(few.variant) == vec && few.splits == 1 && few.split_keys == 200 && few.workspace == 0);
  EXPECT(plan(att(1, 1, 1, 1, 64, 64)).splits == 1);
  // The same shape, other dtypes, layouts, masks, causality: the same split.
  for (kp_dtype dt : {KP_F32, KP_F16, KP_BF16}) {
    kp_attention_desc o = att(4, 32, 1, 4096, 128, 128);
    o.dtype = dt;
    o.out_dtype = KP_F32;
    o.layout = KP_LAYOUT_BSHD;
    o.has_mask = 1;
    o.causal = KP_CAUSAL_TOP_LEFT;
    const kp::gpu::AttentionPlan po = plan(o);
    EXPECT(std::string(po.variant) == vec && po.splits == dec.splits && po.split_keys == dec.split_keys && po.workspace == dec.workspace);
  }
  // Head dimensions: buckets 64, 128, 256 (lane groups of 8, 16, 32); odd sizes too (scalar loads).
  EXPECT(plan(att(2, 8, 1, 1000, 40, 40)).dmax == 64 && std::string(plan(att(2, 8, 1, 1000, 7, 3)).variant) == vec);
  EXPECT(plan(att(2, 8, 1, 1000, 256, 200)).dmax == 256 && std::string(plan(att(2, 8, 1, 1000, 256, 200)).variant) == vec);
  EXPECT(std::string(plan(att(2, 8, 1, 1000, 257, 64)).variant) == "flash-decoding-split-kv");
  EXPECT(std::string(plan(att(2, 8, 1, 1000, 512, 512)).variant) == "flash-decoding-split-kv");
  // Prefill is not the decode kernel's (tensor cores or the portable kernels: see below).
  EXPECT(std::string(plan(att(1, 32, 64, 300, 128, 128)).variant) != vec);
  // KERNELPORT_GPU_ATTENTION=simt (attention_mode 1): the portable kernels, split-KV as before
  // (chunks of 256 keys, following the longest kv length).
  auto portable = [&](const kp_attention_desc& d, const int32_t* len = nullptr) {
    DeviceCaps c = caps(9, 0);
    c.attention_mode = 1;
    return kp::gpu::plan_attention(c, d, len);
  };
  kp::gpu::AttentionPlan old = portable(att(4, 32, 1, 4096, 128, 128));
  EXPECT(!old.unsupported && std::string(old.variant) == "flash-decoding-split-kv");
  EXPECT(old.splits == 16 && old.split_keys == 256);
  EXPECT(old.workspace == size_t(4) * 32 * 1 * 16 * (2 + 128) * 4);
  EXPECT(portable(att(4, 32, 1, 4096, 128, 128), lens).splits == 4);
  const int32_t short_lens[4] = {100, 300, 200, 3};
  EXPECT(portable(att(4, 32, 1, 4096, 128, 128), short_lens).splits == 1);
  EXPECT(std::string(portable(att(1, 1, 1, 1, 64, 64)).variant) == "flash-attention-simt");
  // Over 65535 chunks of 256 keys: longer chunks (multiples of 256), grid.y stays within its limit.
  const int64_t huge_skv = int64_t(65536) * 256 + 1;
  kp::gpu::AttentionPlan hp = portable(att(1, 17, 1, huge_skv, 1, 1));
  EXPECT(hp.splits <= 65535 && hp.split_keys % 256 == 0 && hp.splits * hp.split_keys >= huge_skv && (hp.splits - 1) * hp.split_keys < huge_skv);
  EXPECT(plan(att(1, 1, 13, 29, 64, 40)).dmax == 64);
  EXPECT(plan(att(1, 1, 13, 29, 64, 200)).dmax == 256);
  EXPECT(plan(att(1, 1, 13, 29, 100, 100), 128).unsupported == nullptr);  // 128-lane warps: row groups of 8 fit
  EXPECT(plan(att(1, 1, 13, 29, 100, 100), 6).unsupported != nullptr);
  EXPECT(plan(att(1, 1, 13, 29, 600, 64)).unsupported != nullptr);        // head dim above 512
  kp::gpu::AttentionPlan big = kp::gpu::plan_attention([] {
    DeviceCaps c = caps(8, 9);
    c.smem_optin = 99 * 1024;
    return c;
  }(), att(1, 1, 13, 29, 512, 512), nullptr);
  // 32 keys of 512 + 512 floats (128 KiB) do not fit sm_89's 99 KiB: 16-key tiles do (65 KiB).
  EXPECT(!big.unsupported && big.tile_keys == 16 && big.smem == (16 * 1024 + 16 * 17) * 4);
  kp::gpu::AttentionPlan tiny = kp::gpu::plan_attention([] {
    DeviceCaps c = caps(8, 9);
    c.smem_optin = 16 * 1024;
    return c;
  }(), att(1, 1, 13, 29, 512, 512), nullptr);
  EXPECT(tiny.unsupported != nullptr);  // not even 8 keys (33 KiB) fit 16 KiB

  // Tensor-core attention (attention_mma.cu): f16/bf16, D == Dv in {64, 80, 96, 128}, no mask, Sq >= 16,
  // sm_80+ with 32-lane warps; never in the MUSA build.
  {
    const std::string mma_fa = "flash-attention-mma-m16n8k16";
    const std::string want = KP_GPU_VENDOR_HAS_MMA_SYNC ? mma_fa : "flash-attention-simt";
    auto av = [](const DeviceCaps& c, const kp_attention_desc& d) {
      const kp::gpu::AttentionPlan p = kp::gpu::plan_attention(c, d, nullptr);
      return std::string(p.unsupported ? "unsupported" : p.variant);
    };
    auto with = [](DeviceCaps c, int mode, int smem) {
      c.attention_mode = mode;
      if (smem) c.smem_optin = smem;
      return c;
    };
    // The sm_90 wgmma kernel (attention_wgmma.cu), on compute capability 9.0 of a library with sm_90a code:
    // auto takes it for D = 128 (faster than mma.sync there on an H100), KERNELPORT_GPU_ATTENTION=wgmma
    // (mode 3) for D = 64 too, however few the rows; elsewhere mode 3 is auto.
#if KP_GPU_VENDOR_HAS_MMA_SYNC && !defined(KP_GPU_VENDOR_MUSA) && defined(KP_CUDA_SM90A)
    const std::string wg = "flash-attention-wgmma-m64n64k16";
#else
    const std::string wg = want;
#endif
    const kp_attention_desc prefill = att(4, 32, 2048, 2048, 128, 128);
    EXPECT(av(caps(9, 0), prefill) == wg);
    EXPECT(av(caps(8, 0), prefill) == want);
    kp_attention_desc f16 = prefill;
    f16.dtype = KP_F16;
    f16.out_dtype = KP_F32;  // any output dtype
    EXPECT(av(caps(9, 0), f16) == wg);
    EXPECT(av(caps(8, 0), f16) == want);
    kp_attention_desc gqa = att(1, 32, 70, 300, 64, 64);  // odd sizes, GQA 4:1, causal, bshd, lengths, lse
    gqa.hkv = 8;
    gqa.causal = KP_CAUSAL_BOTTOM_RIGHT;
    gqa.layout = KP_LAYOUT_BSHD;
    gqa.has_kv_lengths = 1;
    gqa.return_lse = 1;
    EXPECT(av(caps(9, 0), gqa) == want);
    // The launch order's head groups (attention_flash.cuh): two groups' K/V in half of L2.
    if (KP_GPU_VENDOR_HAS_MMA_SYNC) {
      DeviceCaps h100 = caps(9, 0);
      h100.l2_bytes = 50 << 20;
      EXPECT(kp::gpu::plan_attention(h100, prefill, nullptr).head_group == 8);  // 1 MiB of K/V a head
      EXPECT(kp::gpu::plan_attention(caps(9, 0), prefill, nullptr).head_group == 8);  // L2 unknown: 32 MiB
      h100.l2_bytes = 60 << 20;  // H20
      EXPECT(kp::gpu::plan_attention(h100, prefill, nullptr).head_group == 8);
      EXPECT(kp::gpu::plan_attention(h100, gqa, nullptr).head_group == 32);  // every head (8 K/V heads of 4)
      h100.attention_group = 3;  // KERNELPORT_GPU_ATTENTION_GROUP=3
      EXPECT(kp::gpu::plan_attention(h100, prefill, nullptr).head_group == 3);
      h100.attention_group = INT32_MAX;  // =all: every head, the order before groups
      EXPECT(kp::gpu::plan_attention(h100, prefill, nullptr).head_group == 128);
    }
    EXPECT(kp::gpu::attention_head_group(50 << 20, att(4, 32, 1 << 17, 1 << 17, 128, 128)) == 1);  // 64 MiB a head
    {
      kp_attention_desc g4 = att(2, 32, 4096, 4096, 128, 128);
      g4.hkv = 8;  // 2 MiB of K/V per K/V head, shared by 4 query heads
      EXPECT(kp::gpu::attention_head_group(50 << 20, g4) == 16);
      EXPECT(kp::gpu::attention_head_group(4 << 20, g4) == 4);  // one K/V head's query heads, whatever fits
      EXPECT(kp::gpu::attention_head_group(50 << 20, att(1, 3, 64, 64, 64, 64)) == 2);  // a power of two under 3 heads
      EXPECT(kp::gpu::attention_head_group(50 << 20, att(1, 1, 64, 64, 64, 64)) == 1);
    }
    // The attention output's division (exact_div.h): the bits of v / l wherever div_by_exact says so,
    // on random pairs over its whole range, exact quotients and their neighbours (where a wrong
    // correction step shows), and the range's edges; outside it, the subnormal quotients it excludes differ.
    {
      uint64_t state = 88172645463325252ull;
      auto next = [&] {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        return state;
      };
      auto from_bits = [](uint32_t u) {
        float f;
        std::memcpy(&f, &u, 4);
        return f;
      };
      auto bits = [](float f) {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        return u;
      };
      int64_t checked = 0, wrong = 0, differs_outside = 0;
      auto check = [&](float v, float l) {
        if (!kp::gpu::div_by_exact(v, l)) return;
        ++checked;
        if (bits(kp::gpu::div_by(v, l, 1.0f / l)) != bits(v / l)) ++wrong;
      };
      for (int i = 0; i < 1000000; ++i) {
        const uint64_t x = next(), y = next();
        const float l = from_bits(static_cast<uint32_t>(127 + y % 64) << 23 | static_cast<uint32_t>(x & 0x7fffff));
        const float v = from_bits(static_cast<uint32_t>(x >> 63) << 31 | static_cast<uint32_t>(67 + (x >> 23) % 187) << 23 |
                                  static_cast<uint32_t>(y >> 40 & 0x7fffff));
        check(v, l);
        const float q = from_bits(static_cast<uint32_t>(97 + (y >> 8) % 60) << 23 | static_cast<uint32_t>(y >> 20 & 0x7fffff));
        const float exact = q * l;
        check(exact, l);
        check(std::nextafter(exact, 0.0f), l);
        check(std::nextafter(exact, 3e38f), l);
        const float tiny = from_bits(static_cast<uint32_t>(y & 0x7fffff));  // subnormal v, which div_by_exact excludes
        if (bits(kp::gpu::div_by(tiny, l, 1.0f / l)) != bits(tiny / l)) ++differs_outside;
      }
      check(3.4028234e38f, 1.0f), check(-3.4028234e38f, 1.5f), check(0x1p-60f, 0x1.fffffep63f), check(1.0f, 1.0f);
      EXPECT(!kp::gpu::div_by_exact(0.0f, 2.0f) && !kp::gpu::div_by_exact(1.0f, 0.5f) && !kp::gpu::div_by_exact(1.0f, 0.0f));
      EXPECT(!kp::gpu::div_by_exact(1.0f / 0.0f, 2.0f) && !kp::gpu::div_by_exact(std::nanf(""), 2.0f) && !kp::gpu::div_by_exact(1.0f, std::nanf("")));
      EXPECT(checked > 3000000 && wrong == 0);
      if (wrong) std::printf("  div_by: %lld of %lld differ from v / l\n", static_cast<long long>(wrong), static_cast<long long>(checked));
      EXPECT(differs_outside > 0);  // the range is needed: a test that could not see a wrong answer would pass anyway
    }

    // Every (row block, head) exactly once; a group's row blocks from the last (longest rows) down, its
    // heads in turn within each; the groups one after another, the last one short.
    for (uint32_t heads : {1u, 3u, 7u, 8u, 128u})
      for (uint32_t rbs : {1u, 2u, 16u})
        for (uint32_t group : {1u, 2u, 4u, 8u}) {
          if (group > heads) continue;
          std::vector<int> seen(heads * rbs, 0);
          bool ordered = true;
          int64_t prev_rb = -1, prev_bh = -1;
          for (uint32_t bx = 0; bx < heads * rbs; ++bx) {
            uint32_t rb = 0, bh = 0;
            kp::gpu::attention_item(bx, heads, rbs, group, rb, bh);
            if (rb >= rbs || bh >= heads) {
              ordered = false;
              break;
            }
            seen[bh * rbs + rb]++;
            if (bx == 0) {
              ordered = rb == rbs - 1 && bh == 0;
            } else {
              // Next head in the row block; else the group's first head one row block down, after its
              // last head; else the next group's first head in the last row block, after the group's end.
              const uint32_t first = prev_bh / group * group, last = std::min(first + group, heads) - 1;
              const bool next_head = rb == prev_rb && bh == prev_bh + 1 && bh <= last;
              const bool next_row = prev_bh == last && rb + 1 == prev_rb && bh == first;
              const bool next_group = prev_bh == last && prev_rb == 0 && rb == rbs - 1 && bh == last + 1;
              if (!(next_head || next_row || next_group)) ordered = false;
            }
            prev_rb = rb;
            prev_bh = bh;
          }
          bool once = true;
          for (int n : seen) once = once && n == 1;
          if (!(once && ordered)) std::printf("attention_item: heads %u, row blocks %u, group %u\n", heads, rbs, group);
          EXPECT(once && ordered);
        }

    if (KP_GPU_VENDOR_HAS_MMA_SYNC) {
      const kp::gpu::AttentionPlan p = kp::gpu::plan_attention(caps(8, 0), prefill, nullptr);
      EXPECT(!p.unsupported && p.splits == 1 && p.workspace == 0 && p.dmax == 128 && p.tile_keys == 64);
      EXPECT(p.smem == (64 * 136 + 4 * 64 * 136) * 2);  // Q, then K and V twice, rows padded by 8 halves
      EXPECT(kp::gpu::plan_attention(caps(9, 0), gqa, nullptr).smem == 16384 + 4 * 64 * 72 * 2);  // region 0 holds the P scratch
    }
    // allow_p16: the same kernel and plan with P rounded once (its own variant name); the portable
    // kernels keep P in f32 whatever it says.
    kp_attention_desc p16 = prefill;
    p16.allow_p16 = 1;
    EXPECT(av(caps(9, 0), p16) == (KP_GPU_VENDOR_HAS_MMA_SYNC ? wg + "-p16" : "flash-attention-simt"));
    EXPECT(av(caps(8, 0), p16) == (KP_GPU_VENDOR_HAS_MMA_SYNC ? mma_fa + "-p16" : "flash-attention-simt"));
    EXPECT(av(with(caps(9, 0), 1, 0), p16) == "flash-attention-simt");
    if (wg != want) {
      // wgmma with allowP16: 128-key tiles (Q, K twice and V three times in 256-byte rows, the scratch of
      // 64 keys a pass, the pin words, the alignment: 226 KiB), except f16 at D = 128 (ptxas splits its
      // P V group there: attention_wgmma.cuh); the split P keeps 64.
      const kp::gpu::AttentionPlan bp = kp::gpu::plan_attention(caps(9, 0), p16, nullptr);
      EXPECT(bp.tile_keys == 128 && bp.smem == 128 * 256 + 5 * 128 * 256 + 8 * 16 * 64 * 4 + 256 * 4 + 1024);
      kp_attention_desc f16p = p16;
      f16p.dtype = KP_F16;
      EXPECT(kp::gpu::plan_attention(caps(9, 0), f16p, nullptr).tile_keys == 64);
      EXPECT(kp::gpu::plan_attention(caps(9, 0), prefill, nullptr).tile_keys == 64);
      kp_attention_desc d64 = att(4, 32, 2048, 2048, 64, 64);
      d64.allow_p16 = 1;
      EXPECT(kp::gpu::plan_attention(with(caps(9, 0), 3, 0), d64, nullptr).tile_keys == 128);
      // KERNELPORT_GPU_ATTENTION_KEYS=64: the 64-key allowP16 kernel where auto takes 128 (its own name).
      DeviceCaps k64 = caps(9, 0);
      k64.attention_keys = 64;
      const kp::gpu::AttentionPlan kp64 = kp::gpu::plan_attention(k64, p16, nullptr);
      EXPECT(std::string(kp64.variant) == wg + "-p16-keys64" && kp64.tile_keys == 64 && kp64.smem == kp::gpu::plan_attention(caps(9, 0), prefill, nullptr).smem);
      EXPECT(std::string(kp::gpu::plan_attention(k64, f16p, nullptr).variant) == wg + "-p16");  // 64 keys anyway
      EXPECT(std::string(kp::gpu::plan_attention(k64, prefill, nullptr).variant) == wg);
      // An sm_90 part with less shared memory (none known): mma.sync's 64-key kernel instead.
      EXPECT(av(with(caps(9, 0), 0, 200 * 1024), p16) == mma_fa + "-p16");
    } else if (KP_GPU_VENDOR_HAS_MMA_SYNC) {
      EXPECT(kp::gpu::plan_attention(caps(9, 0), p16, nullptr).smem == kp::gpu::plan_attention(caps(9, 0), prefill, nullptr).smem);
    }
    // A mask: the masked mma.sync kernels (sm_90 too: wgmma takes none), any broadcast whose key
    // offsets fit 32 bits; the portable kernel past that, or for a negative stride.
    kp_attention_desc masked = prefill;
    masked.has_mask = 1;
    masked.mask_stride[0] = 2048 * 2048;
    masked.mask_stride[2] = 2048;
    masked.mask_stride[3] = 1;
    const std::string mask_fa = KP_GPU_VENDOR_HAS_MMA_SYNC ? mma_fa + "-mask" : "flash-attention-simt";
    EXPECT(av(caps(9, 0), masked) == mask_fa);
    EXPECT(av(caps(8, 9), masked) == mask_fa);
    masked.mask_stride[3] = 0;  // one value per row ([.., Sq, 1])
    EXPECT(av(caps(8, 0), masked) == mask_fa);
    masked.mask_stride[3] = 0x7fffffff / 2047;  // (Skv - 1) x stride just fits
    EXPECT(av(caps(8, 0), masked) == mask_fa);
    masked.mask_stride[3] += 1;
    EXPECT(av(caps(8, 0), masked) == "flash-attention-simt");
    masked.mask_stride[3] = -1;
    EXPECT(av(caps(8, 0), masked) == "flash-attention-simt");
    masked.mask_stride[3] = 1;
    masked.allow_p16 = 1;
    EXPECT(av(caps(9, 0), masked) == (KP_GPU_VENDOR_HAS_MMA_SYNC ? mma_fa + "-p16-mask" : "flash-attention-simt"));
    EXPECT(av(with(caps(9, 0), 1, 0), masked) == "flash-attention-simt");
    kp_attention_desc uniform = prefill;  // scale 0: the tensor-core softmax hides keys by -inf products
    uniform.scale = 0.0f;
    EXPECT(av(caps(9, 0), uniform) == "flash-attention-simt");
    EXPECT(av(caps(8, 0), uniform) == "flash-attention-simt");
    uniform.scale = -0.5f;  // a negative one: the row max is the raw scores' min times the scale
    EXPECT(av(caps(9, 0), uniform) == wg);
    EXPECT(av(caps(9, 0), att(4, 32, 2048, 2048, 80, 80)) == want);                      // Phi-2's head size
    EXPECT(av(caps(9, 0), att(4, 32, 2048, 2048, 96, 96)) == want);                      // Phi-3-mini's
    EXPECT(av(caps(9, 0), att(4, 32, 2048, 2048, 112, 112)) == "flash-attention-simt");  // not instantiated
    EXPECT(av(caps(9, 0), att(4, 32, 2048, 2048, 256, 256)) == "flash-attention-simt");
    EXPECT(av(caps(9, 0), att(4, 32, 2048, 2048, 128, 64)) == "flash-attention-simt");   // Dv != D
    // DeepSeek's MLA prefill, D = 192 and Dv = 128: Q, the P scratch, K and V twice need 125 KiB (Q
    // stays in shared memory above D = 128), which sm_80 and sm_90 give a block; the 99 KiB parts
    // (sm_86, sm_89, sm_120) take the layout with one V buffer and the scratch in a K buffer (92 KiB).
    EXPECT(av(caps(9, 0), att(4, 32, 2048, 2048, 192, 128)) == want);
    EXPECT(av(caps(8, 0), att(4, 32, 2048, 2048, 192, 128)) == want);
    EXPECT(av(with(caps(8, 0), 0, 166912), att(4, 32, 2048, 2048, 192, 128)) == want);  // an A100's opt-in limit
    EXPECT(av(with(caps(8, 9), 0, 101376), att(4, 32, 2048, 2048, 192, 128)) == want);  // an L20's
    EXPECT(av(with(caps(8, 9), 0, 94207), att(4, 32, 2048, 2048, 192, 128)) == "flash-attention-simt");
    EXPECT(av(caps(9, 0), att(4, 32, 2048, 2048, 192, 192)) == "flash-attention-simt");
    if (KP_GPU_VENDOR_HAS_MMA_SYNC) {
      const size_t q = 64 * 200 * 2, scratch = 4 * 64 * 16 * 4, k = 64 * 200 * 2, v = 64 * 136 * 2;
      EXPECT(kp::gpu::plan_attention(caps(9, 0), att(4, 32, 2048, 2048, 192, 128), nullptr).smem == q + scratch + 2 * (k + v));
      EXPECT(kp::gpu::plan_attention(with(caps(8, 0), 0, 127999), att(4, 32, 2048, 2048, 192, 128), nullptr).smem == q + 2 * k + v);
      EXPECT(kp::gpu::plan_attention(with(caps(8, 9), 0, 101376), att(4, 32, 2048, 2048, 192, 128), nullptr).smem == q + 2 * k + v);
      // D == Dv keeps two V buffers however little the part has (64-128 fit in 99 KiB)
      EXPECT(kp::gpu::plan_attention(with(caps(8, 9), 0, 101376), att(4, 32, 2048, 2048, 128, 128), nullptr).smem == 64 * 136 * 2 + 2 * 64 * (136 + 136) * 2);
    }
    EXPECT(av(caps(9, 0, 128), prefill) == "flash-attention-simt");                      // 128-lane warps
    EXPECT(av(with(caps(9, 0), 1, 0), prefill) == "flash-attention-simt");               // KERNELPORT_GPU_ATTENTION=simt
    EXPECT(av(caps(7, 5), prefill) == "flash-attention-simt");                           // no bf16 mma.sync before sm_80
    kp_attention_desc f32 = prefill;
    f32.dtype = KP_F32;
    f32.out_dtype = KP_F32;
    EXPECT(av(caps(9, 0), f32) == "flash-attention-simt");
    // Few query rows go to the decode kernel unless the tensor-core kernel is forced; 16 rows to tensor cores.
    EXPECT(av(caps(9, 0), att(4, 32, 1, 4096, 128, 128)) == "flash-decoding-split-kv-vec");
    EXPECT(av(caps(9, 0), att(4, 32, 15, 4096, 128, 128)) != mma_fa);
    EXPECT(av(caps(9, 0), att(4, 32, 16, 4096, 128, 128)) == (KP_GPU_VENDOR_HAS_MMA_SYNC ? wg : "flash-decoding-split-kv-vec"));
    EXPECT(av(caps(8, 0), att(4, 32, 16, 4096, 128, 128)) == (KP_GPU_VENDOR_HAS_MMA_SYNC ? mma_fa : "flash-decoding-split-kv-vec"));
    EXPECT(av(with(caps(9, 0), 2, 0), att(4, 32, 1, 4096, 128, 128)) == (KP_GPU_VENDOR_HAS_MMA_SYNC ? mma_fa : "flash-decoding-split-kv-vec"));
    // Shared memory: sm_86/89/120 opt in to 99 KiB (d = 128 needs 85 KiB); at 64 KiB only d = 64 fits.
    EXPECT(av(with(caps(8, 9), 0, 99 * 1024), prefill) == want);
    EXPECT(av(with(caps(8, 6), 0, 64 * 1024), prefill) == "flash-attention-simt");
    EXPECT(av(with(caps(8, 6), 0, 64 * 1024), att(4, 32, 2048, 2048, 64, 64)) == want);

    // The wgmma kernel forced (mode 3), and where auto keeps mma.sync on sm_90: D = 64, mode 2.
    EXPECT(av(caps(9, 0), att(4, 32, 2048, 2048, 64, 64)) == want);
    EXPECT(av(with(caps(9, 0), 2, 0), prefill) == want);
    EXPECT(av(with(caps(9, 0), 3, 0), prefill) == wg);
    EXPECT(av(with(caps(9, 0), 3, 0), gqa) == wg);
    EXPECT(av(with(caps(9, 0), 3, 0), p16) == (wg != want ? wg + "-p16" : av(caps(9, 0), p16)));
    EXPECT(av(with(caps(9, 0), 3, 0), att(4, 32, 1, 4096, 128, 128)) == (wg == want ? "flash-decoding-split-kv-vec" : wg));  // however few rows
    EXPECT(av(with(caps(8, 0), 3, 0), prefill) == want);   // not sm_90: as auto
    EXPECT(av(with(caps(9, 0), 3, 0), masked) == (KP_GPU_VENDOR_HAS_MMA_SYNC ? mma_fa + "-p16-mask" : "flash-attention-simt"));  // no masked wgmma
    EXPECT(av(with(caps(9, 0), 3, 0), f32) == "flash-attention-simt");
    EXPECT(av(with(caps(9, 0, 128), 3, 0), prefill) == "flash-attention-simt");
    EXPECT(av(with(caps(9, 0), 3, 0), att(4, 32, 2048, 2048, 96, 96)) == want);  // wgmma: D 64 and 128 only
    if (wg != want) {
      const kp::gpu::AttentionPlan p = kp::gpu::plan_attention(with(caps(9, 0), 3, 0), prefill, nullptr);
      // Q (128 rows), K twice and V three times (64 keys) in 256-byte rows of D = 128, 8 warps' 16 x 64
      // f32 scratch, a word per thread (256) to pin the softmax before the wait, + 1 KiB to align the
      // swizzle atoms
      EXPECT(!p.unsupported && p.splits == 1 && p.workspace == 0 && p.tile_keys == 64 &&
             p.smem == 128 * 256 + 5 * 64 * 256 + 8 * 16 * 64 * 4 + 256 * 4 + 1024);
      // 96 KiB of shared memory: D = 64 fits (90 KiB), D = 128 (146 KiB) falls to mma.sync (85 KiB)
      EXPECT(av(with(caps(9, 0), 3, 96 * 1024), att(4, 32, 2048, 2048, 64, 64)) == wg);
      EXPECT(av(with(caps(9, 0), 3, 96 * 1024), prefill) == mma_fa);
    }
  }

  // ---- MUSA parts -------------------------------------------------------------------------------
  // mp_21 (MTT S80/S3000) and mp_22 (S4000) report 128-thread warps, mp_31 (S5000) 32. Per-block
  // shared memory is read from the device (musaDevAttrMaxSharedMemoryPerBlockOptin); no Moore Threads
  // document available here gives mp_21's figure, so the plans are checked against 48 KiB, the
  // per-block amount CUDA-model parts guarantee without opting in (the loosest assumption that can
  // hold for mp_21), and against 64 and 72 KiB for the larger parts.
  auto musa = [](int major, int minor, int warp, int smem) {
    DeviceCaps c;
    c.cc_major = major;
    c.cc_minor = minor;
    c.warp_size = warp;
    c.multiprocessors = 32;
    c.smem_optin = smem;
    return c;
  };
  const DeviceCaps mp21 = musa(2, 1, 128, 48 * 1024), mp22 = musa(2, 2, 128, 72 * 1024), mp31 = musa(3, 1, 32, 64 * 1024);
  for (const DeviceCaps& c : {mp21, mp22, mp31}) {
    // Never the NVIDIA tensor-core GEMM on a MUSA part (cc 2.x/3.x, and 128-lane warps).
    EXPECT(v(c, mm(KP_BF16, 4096, 4096, 4096)) == simt);
    EXPECT(v(c, mm(KP_F16, 4096, 4096, 4096)) == simt);
    EXPECT(v(c, mm(KP_BF16, 100, 100, 4096)) == simt64);
    EXPECT(v(c, mm(KP_F32, 2, 4096, 4096)) == "gemv-m4");
    // Every head-dimension bucket plans within the part's shared memory, with row groups dividing its warp.
    const int dims[] = {40, 64, 96, 128, 200, 256, 512};
    for (int d : dims) {
      const kp::gpu::AttentionPlan a = kp::gpu::plan_attention(c, att(2, 8, 77, 300, d, d), nullptr);
      EXPECT(a.unsupported == nullptr);
      if (a.unsupported) std::printf("  d=%d: %s\n", d, a.unsupported);
      EXPECT(a.smem <= static_cast<size_t>(c.smem_optin));
      EXPECT(a.tile_keys == 32 || a.tile_keys == 16 || a.tile_keys == 8);
    }
  }
  // mp_21 at 48 KiB: d <= 128 keeps 32-key tiles (36 KiB at d = 128); 256 needs 16 keys (34 KiB), 512 needs 8 (33 KiB).
  EXPECT(kp::gpu::plan_attention(mp21, att(1, 32, 512, 512, 128, 128), nullptr).tile_keys == 32);
  EXPECT(kp::gpu::plan_attention(mp21, att(1, 32, 512, 512, 256, 256), nullptr).tile_keys == 16);
  EXPECT(kp::gpu::plan_attention(mp21, att(1, 32, 512, 512, 256, 256), nullptr).smem == (16 * 512 + 32 * 17) * 4);
  EXPECT(kp::gpu::plan_attention(mp21, att(1, 32, 512, 512, 512, 512), nullptr).tile_keys == 8);
  // The same shapes on mp_22 at 72 KiB: 32 keys fit at d = 256 (69760 B), d = 512 takes 16.
  EXPECT(kp::gpu::plan_attention(mp22, att(1, 32, 512, 512, 256, 256), nullptr).tile_keys == 32);
  EXPECT(kp::gpu::plan_attention(mp22, att(1, 32, 512, 512, 512, 512), nullptr).tile_keys == 16);
  // Decoding on a 128-lane part splits the keys exactly as on a 32-lane one (the split depends on the
  // shape only); its lane groups (8, 16, 32 lanes) divide 128; its merge buffer is static (< 17 KiB).
  for (const DeviceCaps& c : {mp21, mp22, mp31}) {
    const kp::gpu::AttentionPlan dm = kp::gpu::plan_attention(c, att(4, 32, 1, 4096, 128, 128), nullptr);
    EXPECT(!dm.unsupported && dm.splits == dec.splits && dm.split_keys == dec.split_keys && std::string(dm.variant) == vec);
    for (int d : {40, 64, 96, 128, 200, 256})
      EXPECT(std::string(kp::gpu::plan_attention(c, att(2, 8, 1, 3000, d, d), nullptr).variant) == vec);
  }
  // A warp that the decode lane groups do not divide falls back to the portable kernels (row groups of
  // 4 lanes at d <= 64), else is refused.
  EXPECT(std::string(kp::gpu::plan_attention(musa(2, 1, 4, 48 * 1024), att(4, 32, 1, 4096, 64, 64), nullptr).variant) ==
         "flash-decoding-split-kv");
  // A warp the row groups cannot divide is refused, not mis-planned.
  EXPECT(kp::gpu::plan_attention(musa(2, 1, 36, 48 * 1024), att(1, 1, 13, 29, 128, 128), nullptr).unsupported != nullptr);

  // An op's own kernel choice (the descriptor's gpu_* fields: autotuning) takes the place of the
  // environment's where it makes one, and leaves the rest of the capabilities alone.
  {
    DeviceCaps env = caps(9, 0, 32, 2);  // KERNELPORT_GPU_GEMM=mma
    env.gemm_splitk = 3;
    env.attention_mode = 1;
    env.attention_keys = 64;
    kp_matmul_desc d = mm(KP_BF16, 4096, 4096, 4096);
    EXPECT(kp::gpu::op_caps(env, d).gemm_mode == 2 && kp::gpu::op_caps(env, d).gemm_splitk == 3);
    d.gpu_kernel = 1;
    d.gpu_split_k = 1;
    const DeviceCaps m = kp::gpu::op_caps(env, d);
    EXPECT(m.gemm_mode == 1 && m.gemm_splitk == 1 && m.attention_mode == 1 && m.multiprocessors == 132 && m.smem_optin == env.smem_optin);
    EXPECT(std::string(kp::gpu::matmul_variant(m, d, p, p)) == simt);
    kp_attention_desc a = att(1, 32, 2048, 2048, 128, 128);
    EXPECT(kp::gpu::op_caps(env, a).attention_mode == 1 && kp::gpu::op_caps(env, a).attention_keys == 64);
    a.gpu_kernel = 2;
    EXPECT(kp::gpu::op_caps(env, a).attention_mode == 2 && kp::gpu::op_caps(env, a).gemm_mode == 2);
  }

  if (failures) {
    std::printf("%d failure(s)\n", failures);
    return 1;
  }
#if KP_GPU_VENDOR_HAS_MMA_SYNC
  std::printf("gpu plan test (cuda build): all passed\n");
#else
  std::printf("gpu plan test (musa build): all passed\n");
#endif
  return 0;
}
