// AVX2+FMA calibration kernels (8 lanes); the loops are in peak_simd.h.
#include "peak.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX2)
#include <immintrin.h>

namespace kp::cpu::peak::avx2 {
namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_store_ps(p, v); }
};

#include "peak_simd.h"

}  // namespace

const PeakKernels kernels = {"avx2", PeakSimd<Avx2>::fma_loop, PeakSimd<Avx2>::read_sum};

}  // namespace kp::cpu::peak::avx2
#endif
