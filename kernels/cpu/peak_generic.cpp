// Generic calibration kernels: multiply-add chains in plain C++ (the compiler may use the baseline
// vector ISA, e.g. SSE2 on x86-64; with no fused FMA each step is a multiply and an add = 2 FLOPs).
#include "peak.h"

namespace kp::cpu::peak::generic {
namespace {

constexpr int kChains = 32;

double fma_loop(int64_t iters, float seed, float* sink) {
  float acc[kChains];
  for (int c = 0; c < kChains; c++) acc[c] = seed + 0.001f * static_cast<float>(c);
  const float m = 0.999999f, a = 1e-7f;
  for (int64_t i = 0; i < iters; i++)
    for (int c = 0; c < kChains; c++) acc[c] = acc[c] * m + a;
  float s = 0;
  for (int c = 0; c < kChains; c++) s += acc[c];
  *sink += s;
  return 2.0 * kChains * static_cast<double>(iters);
}

float read_sum(const float* p, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int c = 0; c < 16; c++) acc[c] += p[i + c];
  float s = 0;
  for (; i < n; i++) s += p[i];
  for (int c = 0; c < 16; c++) s += acc[c];
  return s;
}

}  // namespace

const PeakKernels kernels = {"generic", fma_loop, read_sum};

}  // namespace kp::cpu::peak::generic
