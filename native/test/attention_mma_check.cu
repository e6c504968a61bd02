// Device check of the tensor-core attention (kernels/gpu/attention_mma.cu; attention_wgmma.cu on sm_90)
// beside the portable one, on an NVIDIA GPU: every output against a float64 reference under the validation bound
// (src/numerics/bounds.ts, attentionBound / attentionLseBound, c = 4), the NaN/Inf rules, bitwise
// determinism of two runs, and timings of the issue's prefill shape. Not part of the CMake build (it
// needs a GPU); scripts/gpu-check.sh builds and runs it:
//   nvcc -std=c++17 -O2 -arch=native -DKP_GPU_VENDOR_CUDA -Inative/include -Inative/gpu -Ikernels \
//     native/test/attention_mma_check.cu kernels/gpu/attention*.cu -o build/attention_mma_check
// (on sm_90: -gencode=arch=compute_90a,code=sm_90a -DKP_CUDA_SM90A=1 instead of -arch=native, for wgmma).
// Exit status 0 = all passed; `quick` skips the timings.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <chrono>
#include <cuda_fp16.h>
#include "../kernels/gpu/kernels.h"

using namespace kp::gpu;
#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { printf("CUDA %s at %d: %s\n", #x, __LINE__, cudaGetErrorString(e_)); exit(2); } } while (0)

static uint64_t rng = 88172645463325252ull;
static double urand() { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (rng >> 11) * (1.0 / 9007199254740992.0); }
static double nrand() { double u = urand() + 1e-12, v = urand(); return std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * v); }

static uint16_t f2bf(float f) { uint32_t x; memcpy(&x, &f, 4); if ((x & 0x7fffffff) > 0x7f800000) return (x >> 16) | 0x40; return (x + 0x7fff + ((x >> 16) & 1)) >> 16; }
static float bf2f(uint16_t h) { uint32_t x = uint32_t(h) << 16; float f; memcpy(&f, &x, 4); return f; }
static uint16_t f2h(float f) { __half h = __float2half_rn(f); uint16_t r; memcpy(&r, &h, 2); return r; }
static float h2f(uint16_t u) { __half h; memcpy(&h, &u, 2); return __half2float(h); }

struct Case {
  const char* name;
  kp_dtype dt, odt;
  int layout, causal;
  int64_t B, Hq, Hkv, Sq, Skv, D;
  float scale;
  std::vector<int32_t> lens;
  int dist;  // 0 normal, 1 nonfinite, 2 cancel, 3 tiny, 4 large
  int mode;  // attention_mode
  int sample;  // 0: all rows; else check this many rows
  bool time;
  bool p16 = false;  // allow_p16: P rounded once, judged with the bound's 2 u_p term
};

static int fails = 0;

static void run(const Case& c, DeviceCaps caps, cudaStream_t st) {
  const bool bf = c.dt == KP_BF16;
  const int64_t D = c.D, nq = c.B * c.Hq * c.Sq * D, nk = c.B * c.Hkv * c.Skv * D;
  std::vector<uint16_t> hq(nq), hk(nk), hv(nk);
  auto enc = [&](double x) { return bf ? f2bf((float)x) : f2h((float)x); };
  auto dec = [&](uint16_t h) { return bf ? bf2f(h) : h2f(h); };
  double qs = 1, ks = 1, vs = 1;
  if (c.dist == 3) { qs = ks = bf ? 1e-20 : 1.0 / 256; vs = bf ? 1e-36 : 1.0 / 65536; }
  if (c.dist == 4) { vs = std::min(bf ? 4.2e37 : 8188.0, std::ldexp(1.0, 124) / std::max<int64_t>(c.Skv, 1)); qs = 4; }
  for (auto& x : hq) x = enc(nrand() * qs);
  for (auto& x : hk) x = enc(nrand() * ks);
  for (auto& x : hv) x = enc(nrand() * vs);
  const bool bshd = c.layout == KP_LAYOUT_BSHD;
  auto idx = [&](int64_t b, int64_t h, int64_t s, int64_t H, int64_t S) { return bshd ? ((b * S + s) * H + h) * D : ((b * H + h) * S + s) * D; };
  if (c.dist == 2) {  // keys 2j, 2j+1 equal, values opposite x64
    for (int64_t b = 0; b < c.B; ++b) for (int64_t h = 0; h < c.Hkv; ++h) for (int64_t j = 0; j + 1 < c.Skv * 3 / 4; j += 2)
      for (int64_t x = 0; x < D; ++x) {
        hk[idx(b, h, j + 1, c.Hkv, c.Skv) + x] = hk[idx(b, h, j, c.Hkv, c.Skv) + x];
        const float v = dec(hv[idx(b, h, j, c.Hkv, c.Skv) + x]) * 64;
        hv[idx(b, h, j, c.Hkv, c.Skv) + x] = enc(v);
        hv[idx(b, h, j + 1, c.Hkv, c.Skv) + x] = enc(-v);
      }
  }
  if (c.dist == 1) {
    const uint16_t nan = bf ? 0x7fc0 : 0x7e00, pinf = bf ? 0x7f80 : 0x7c00, ninf = bf ? 0xff80 : 0xfc00;
    hq[(int64_t)(urand() * nq)] = nan;
    hk[(int64_t)(urand() * nk)] = nan;
    hk[(int64_t)(urand() * nk)] = pinf;
    hv[(int64_t)(urand() * nk)] = nan;
    hv[(int64_t)(urand() * nk)] = pinf;
    hv[(int64_t)(urand() * nk)] = ninf;
    // and a non-finite V at a key hidden from the first rows of a causal block
    hv[idx(0, 0, std::min<int64_t>(c.Skv - 1, 40), c.Hkv, c.Skv) + 3] = nan;
  }
  kp_attention_desc d;
  memset(&d, 0, sizeof d);
  d.struct_size = sizeof d;
  d.dtype = c.dt; d.out_dtype = c.odt; d.layout = (kp_layout)c.layout;
  d.batch = c.B; d.hq = c.Hq; d.hkv = c.Hkv; d.sq = c.Sq; d.skv = c.Skv; d.d = D; d.dv = D;
  d.scale = c.scale; d.causal = (kp_causal)c.causal; d.has_kv_lengths = !c.lens.empty(); d.return_lse = 1;
  d.allow_p16 = c.p16;
  caps.attention_mode = c.mode;
  AttentionPlan plan = plan_attention(caps, d, c.lens.empty() ? nullptr : c.lens.data());
  const int osz = c.odt == KP_F32 ? 4 : 2;
  void *dq, *dk, *dv, *dout, *dout2, *dws = nullptr; float *dlse, *dlse2; int32_t* dl = nullptr;
  CK(cudaMalloc(&dq, nq * 2 + 16)); CK(cudaMalloc(&dk, nk * 2 + 16)); CK(cudaMalloc(&dv, nk * 2 + 16));
  CK(cudaMalloc(&dout, nq * osz + 16)); CK(cudaMalloc(&dout2, nq * osz + 16));
  const int64_t rows = c.B * c.Hq * c.Sq;
  CK(cudaMalloc(&dlse, rows * 4 + 16)); CK(cudaMalloc(&dlse2, rows * 4 + 16));
  if (plan.workspace) CK(cudaMalloc(&dws, plan.workspace));
  if (!c.lens.empty()) { CK(cudaMalloc(&dl, c.lens.size() * 4)); CK(cudaMemcpy(dl, c.lens.data(), c.lens.size() * 4, cudaMemcpyHostToDevice)); }
  CK(cudaMemcpy(dq, hq.data(), nq * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dk, hk.data(), nk * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dv, hv.data(), nk * 2, cudaMemcpyHostToDevice));
  CK(cudaMemset(dout, 0x55, nq * osz)); CK(cudaMemset(dout2, 0x33, nq * osz));
  const char* var = launch_attention(caps, st, plan, d, dq, dk, dv, dl, nullptr, dout, dlse, dws);
  CK(cudaGetLastError()); CK(cudaStreamSynchronize(st));
  launch_attention(caps, st, plan, d, dq, dk, dv, dl, nullptr, dout2, dlse2, dws);
  CK(cudaGetLastError()); CK(cudaStreamSynchronize(st));
  std::vector<unsigned char> o(nq * osz), o2(nq * osz);
  std::vector<float> lse(rows), lse2(rows);
  CK(cudaMemcpy(o.data(), dout, nq * osz, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(o2.data(), dout2, nq * osz, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(lse.data(), dlse, rows * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(lse2.data(), dlse2, rows * 4, cudaMemcpyDeviceToHost));
  const bool det = !memcmp(o.data(), o2.data(), o.size()) && !memcmp(lse.data(), lse2.data(), rows * 4);
  auto outv = [&](int64_t i) -> double {
    if (c.odt == KP_F32) { float f; memcpy(&f, &o[i * 4], 4); return f; }
    uint16_t h; memcpy(&h, &o[i * 2], 2);
    return c.odt == KP_BF16 ? bf2f(h) : h2f(h);
  };
  const double uo = c.odt == KP_F32 ? std::ldexp(1.0, -24) : c.odt == KP_F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
  const double minsub = c.odt == KP_F32 ? std::ldexp(1.0, -149) : c.odt == KP_F16 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -133);
  const double maxfin = c.odt == KP_F16 ? 65504 : 3.3895313892515355e38;
  const double u = std::ldexp(1.0, -24);
  double worst = 0, worst_lse = 0;
  int64_t bad = 0, checked = 0;
  const int64_t group = c.Hq / c.Hkv;
  std::vector<double> sc(c.Skv), qa(c.Skv), acc(D), mag(D);
  const int64_t nrows = c.sample ? c.sample : rows;
  for (int64_t t = 0; t < nrows; ++t) {
    const int64_t r = c.sample ? (int64_t)(urand() * rows) : t;
    const int64_t i = r % c.Sq, h = (r / c.Sq) % c.Hq, b = r / c.Sq / c.Hq, kh = h / group;
    const int64_t len = c.lens.empty() ? c.Skv : c.lens[b];
    const int64_t last = c.causal == 0 ? len - 1 : c.causal == 2 ? i : i + len - c.Sq;
    const int64_t vis = std::max<int64_t>(0, std::min(len, last + 1));
    double mx = -INFINITY;
    for (int64_t j = 0; j < vis; ++j) {
      double dot = 0, da = 0;
      for (int64_t x = 0; x < D; ++x) {
        const double a = dec(hq[idx(b, h, i, c.Hq, c.Sq) + x]), k = dec(hk[idx(b, kh, j, c.Hkv, c.Skv) + x]);
        dot += a * k; da += std::fabs(a) * std::fabs(k);
      }
      sc[j] = c.scale * dot; qa[j] = std::fabs(c.scale) * da;
      mx = (std::isnan(sc[j]) || std::isnan(mx)) ? NAN : std::max(mx, sc[j]);
    }
    std::fill(acc.begin(), acc.end(), 0.0); std::fill(mag.begin(), mag.end(), 0.0);
    double sum = 0, smag = 0, rl;
    if (vis == 0 || mx == -INFINITY) rl = -INFINITY;
    else {
      for (int64_t j = 0; j < vis; ++j) {
        if (sc[j] == -INFINITY) continue;
        const double p = std::exp(sc[j] - mx);
        sum += p; smag = std::max(smag, qa[j]);
        for (int64_t x = 0; x < D; ++x) { const double v = dec(hv[idx(b, kh, j, c.Hkv, c.Skv) + x]); acc[x] += p * v; mag[x] += p * std::fabs(v); }
      }
      rl = mx + std::log(sum);
      for (int64_t x = 0; x < D; ++x) { acc[x] /= sum; mag[x] /= sum; }
    }
    const double up = !c.p16 ? 0 : bf ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
    const double rel = 4 * u * (2 * std::sqrt((double)D) * smag + std::sqrt((double)c.Skv) + 4) + 2 * up;
    const double floor = (D + c.Skv + 4) * std::ldexp(1.0, -126) + minsub;
    for (int64_t x = 0; x < D; ++x) {
      const double ref = acc[x], got = outv(idx(b, h, i, c.Hq, c.Sq) + x);
      ++checked;
      bool ok;
      double ratio = 0;
      if (std::isnan(ref)) ok = std::isnan(got);
      else if (std::isinf(ref)) ok = got == ref;
      else if (!std::isfinite(got)) ok = std::isinf(got) && std::fabs(ref) * (1 - uo) > maxfin;
      else { const double bnd = rel * mag[x] + uo * std::fabs(ref) + floor; ratio = std::fabs(got - ref) / bnd; ok = ratio <= 1; }
      worst = std::max(worst, ratio);
      if (!ok && bad++ < 3) printf("   mismatch row b%lld h%lld i%lld col %lld: got %.9g ref %.9g mag %.3g\n", (long long)b, (long long)h, (long long)i, (long long)x, got, ref, mag[x]);
    }
    const double gl = lse[(b * c.Hq + h) * c.Sq + i];
    bool okl; double rl_ratio = 0;
    if (std::isnan(rl)) okl = std::isnan(gl);
    else if (std::isinf(rl)) okl = gl == rl;
    else { const double bnd = 4 * u * (std::sqrt((double)D) * smag + std::sqrt((double)c.Skv) + 4) + u * std::fabs(rl) + std::ldexp(1.0, -126); rl_ratio = std::fabs(gl - rl) / bnd; okl = rl_ratio <= 1; }
    worst_lse = std::max(worst_lse, rl_ratio);
    if (!okl && bad++ < 3) printf("   lse mismatch row %lld: got %.9g ref %.9g\n", (long long)r, gl, rl);
  }
  double ms = 0;
  if (c.time) {
    cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    const int iters = c.mode == 1 ? 2 : 20;
    for (int w = 0; w < 2; ++w) launch_attention(caps, st, plan, d, dq, dk, dv, dl, nullptr, dout, dlse, dws);
    CK(cudaEventRecord(e0, st));
    for (int w = 0; w < iters; ++w) launch_attention(caps, st, plan, d, dq, dk, dv, dl, nullptr, dout, dlse, dws);
    CK(cudaEventRecord(e1, st)); CK(cudaEventSynchronize(e1));
    float t = 0; CK(cudaEventElapsedTime(&t, e0, e1)); ms = t / iters;
  }
  const double flops = 4.0 * c.B * c.Hq * c.Sq * c.Skv * D * (c.causal ? 0.5 : 1.0);
  printf("%-44s %-30s worst %.3f lse %.3f bad %lld/%lld det %s", c.name, var, worst, worst_lse, (long long)bad, (long long)checked, det ? "yes" : "NO");
  if (c.time) printf("  %.3f ms = %.1f TFLOP/s", ms, flops / ms / 1e9);
  printf("\n");
  if (bad || !det) ++fails;
  cudaFree(dq); cudaFree(dk); cudaFree(dv); cudaFree(dout); cudaFree(dout2); cudaFree(dlse); cudaFree(dlse2);
  if (dws) cudaFree(dws);
  if (dl) cudaFree(dl);
}

int main(int argc, char** argv) {
  DeviceCaps caps;
  int v;
  cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, 0); caps.cc_major = v;
  cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMinor, 0); caps.cc_minor = v;
  cudaDeviceGetAttribute(&v, cudaDevAttrWarpSize, 0); caps.warp_size = v;
  cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0); caps.multiprocessors = v;
  cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0); caps.smem_optin = v;
  cudaDeviceGetAttribute(&v, cudaDevAttrL2CacheSize, 0); caps.l2_bytes = v;  // sizes the launch order's head groups
  cudaStream_t st; CK(cudaStreamCreate(&st));
  const bool quick = argc > 1 && !strcmp(argv[1], "quick");
  const float s64 = 0.125f, s128 = 0.08838834764831845f;
  const int BH = KP_LAYOUT_BHSD, BS = KP_LAYOUT_BSHD;
  std::vector<Case> cases = {
      {"bf16 70x300 D64 causal GQA2 lse", KP_BF16, KP_BF16, BH, 1, 2, 4, 2, 70, 300, 64, s64, {}, 0, 0, 0, false},
      {"f16 70x300 D64 top-left bshd", KP_F16, KP_F16, BS, 2, 2, 4, 2, 70, 300, 64, s64, {}, 0, 0, 0, false},
      {"bf16 129x193 D128 GQA8 lens out f32", KP_BF16, KP_F32, BH, 0, 3, 8, 1, 129, 193, 128, s128, {193, 0, 77}, 0, 0, 0, false},
      {"f16 65x1031 D64 causal", KP_F16, KP_F16, BH, 1, 1, 2, 1, 65, 1031, 64, s64, {}, 0, 0, 0, false},
      {"bf16 100x40 D128 causal (rows masked)", KP_BF16, KP_BF16, BS, 1, 1, 2, 2, 100, 40, 128, s128, {}, 0, 0, 0, false},
      {"bf16 nonfinite 70x150 D64 causal", KP_BF16, KP_BF16, BH, 1, 1, 2, 1, 70, 150, 64, s64, {}, 1, 0, 0, false},
      {"f16 nonfinite 70x150 D128 causal bshd", KP_F16, KP_F16, BS, 1, 1, 2, 1, 70, 150, 128, s128, {}, 1, 0, 0, false},
      {"bf16 cancel 128x1024 D128 causal", KP_BF16, KP_BF16, BH, 1, 1, 4, 1, 128, 1024, 128, s128, {}, 2, 0, 0, false},
      {"f16 cancel 128x1024 D64 causal out f32", KP_F16, KP_F32, BH, 1, 1, 4, 1, 128, 1024, 64, s64, {}, 2, 0, 0, false},
      {"bf16 tiny 64x64 D64 causal", KP_BF16, KP_F32, BH, 1, 1, 2, 2, 64, 64, 64, s64, {}, 3, 0, 0, false},
      {"f16 tiny 64x64 D64 causal", KP_F16, KP_F32, BH, 1, 1, 2, 2, 64, 64, 64, s64, {}, 3, 0, 0, false},
      {"bf16 large 33x200 D128", KP_BF16, KP_BF16, BH, 0, 1, 2, 1, 33, 200, 128, s128, {}, 4, 0, 0, false},
      {"f16 large 33x200 D64 out f16", KP_F16, KP_F16, BH, 0, 1, 2, 1, 33, 200, 64, s64, {}, 4, 0, 0, false},
      {"bf16 scale 25 17x129 D64", KP_BF16, KP_BF16, BH, 0, 2, 2, 2, 17, 129, 64, 25.0f, {}, 0, 0, 0, false},
      {"bf16 Skv=0", KP_BF16, KP_BF16, BH, 0, 1, 1, 1, 20, 0, 64, s64, {}, 0, 0, 0, false},
      {"bf16 lens [0,1,129,64,65] causal", KP_BF16, KP_BF16, BH, 1, 5, 2, 1, 19, 129, 64, s64, {0, 1, 129, 64, 65}, 0, 0, 0, false},
      {"f16 forced decode Sq1 Skv257 D128 (mode 2)", KP_F16, KP_F16, BH, 1, 2, 4, 2, 1, 257, 128, s128, {}, 0, 2, 0, false},
      {"bf16 512 D64 causal GQA4", KP_BF16, KP_BF16, BH, 1, 1, 8, 2, 512, 512, 64, s64, {}, 0, 0, 0, false},
      {"bf16 70x131 D80 causal GQA2", KP_BF16, KP_BF16, BH, 1, 1, 2, 1, 70, 131, 80, 0.1118034f, {}, 0, 0, 0, false},
      {"f16 nonfinite 65x200 D96 bshd lens out f32", KP_F16, KP_F32, BS, 0, 2, 2, 2, 65, 200, 96, 0.10206207f, {200, 77}, 1, 0, 0, false},
      {"PERF bf16 B4 H32 S2048 D96 causal", KP_BF16, KP_BF16, BH, 2, 4, 32, 32, 2048, 2048, 96, 0.10206207f, {}, 0, 0, 16, true},
      {"PERF bf16 B4 H32 S2048 D128 causal", KP_BF16, KP_BF16, BH, 2, 4, 32, 32, 2048, 2048, 128, s128, {}, 0, 0, 48, true},
      {"PERF bf16 B4 H32 S2048 D128", KP_BF16, KP_BF16, BH, 0, 4, 32, 32, 2048, 2048, 128, s128, {}, 0, 0, 16, true},
      {"PERF f16 B4 H32 S2048 D128 causal", KP_F16, KP_F16, BH, 2, 4, 32, 32, 2048, 2048, 128, s128, {}, 0, 0, 16, true},
      {"PERF bf16 B4 H32 S2048 D64 causal bshd", KP_BF16, KP_BF16, BS, 2, 4, 32, 32, 2048, 2048, 64, s64, {}, 0, 0, 16, true},
      {"PERF SIMT bf16 B4 H32 S2048 D128 causal", KP_BF16, KP_BF16, BH, 2, 4, 32, 32, 2048, 2048, 128, s128, {}, 0, 1, 8, true},
  };
  // Every tensor-core case again with allow_p16 (names gain " p16").
  std::vector<std::string> p16_names;
  const size_t n0 = cases.size();
  p16_names.reserve(n0);
  for (size_t i = 0; i < n0; ++i) {
    if (cases[i].mode == 1) continue;
    p16_names.push_back(std::string(cases[i].name) + " p16");
    Case c = cases[i];
    c.name = p16_names.back().c_str();
    c.p16 = true;
    cases.push_back(c);
  }
  // sm_90: every tensor-core case (both P modes) again on the wgmma kernel (mode 3; " wgmma"). It runs
  // only where this check was built for sm_90a (-DKP_CUDA_SM90A=1, as gpu-check.sh builds it on sm_90).
  std::vector<std::string> wg_names;
  const size_t n1 = cases.size();
  wg_names.reserve(n1);
  for (size_t i = 0; i < n1 && caps.cc_major == 9 && caps.cc_minor == 0; ++i) {
    if (cases[i].mode == 1) continue;
    wg_names.push_back(std::string(cases[i].name) + " wgmma");
    Case c = cases[i];
    c.name = wg_names.back().c_str();
    c.mode = 3;
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    if (quick && !strncmp(c.name, "PERF", 4)) continue;
    run(c, caps, st);
    fflush(stdout);
  }
  printf("%s (%d failing)\n", fails ? "FAILURES" : "all passed", fails);
  return fails ? 1 : 0;
}
