// AVX-512 calibration kernels (16 lanes); the loops are in peak_simd.h.
#include "peak.h"

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX512)
#include <immintrin.h>

namespace kp::cpu::peak::avx512 {
namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
};

#include "peak_simd.h"

}  // namespace

const PeakKernels kernels = {"avx512", PeakSimd<Avx512>::fma_loop, PeakSimd<Avx512>::read_sum};

}  // namespace kp::cpu::peak::avx512
#endif
