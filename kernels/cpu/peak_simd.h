// The calibration kernels, written once over a vector type: each ISA's translation unit supplies
// a tiny traits struct (its register type and five intrinsics) and instantiates them.
//
// fma_loop: kChains independent FMA chains (FMA latency 4-5 cycles x 2 pipes needs >= 10 in flight);
// read_sum: a 4-way unrolled streaming read. Include only from an ISA translation unit, after
// <immintrin.h>, inside that unit's namespace.
#pragma once
#include <cstdint>

template <class T>
struct PeakSimd {
  using V = typename T::V;
  static constexpr int kChains = 12;

  static double fma_loop(int64_t iters, float seed, float* sink) {
    const V m = T::set1(0.999999f), a = T::set1(1e-7f);
    V c[kChains];
    for (int j = 0; j < kChains; j++) c[j] = T::set1(seed + static_cast<float>(j));
    for (int64_t i = 0; i < iters; i++) {
#pragma GCC unroll 12
      for (int j = 0; j < kChains; j++) c[j] = T::fmadd(c[j], m, a);
    }
    V s = c[0];
    for (int j = 1; j < kChains; j++) s = T::add(s, c[j]);
    alignas(64) float out[T::kLanes];
    T::store(out, s);
    *sink += out[0] + out[T::kLanes - 1];
    return 2.0 * T::kLanes * kChains * static_cast<double>(iters);
  }

  static float read_sum(const float* p, int64_t n) {
    constexpr int L = T::kLanes;
    V s0 = T::set1(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
      s0 = T::add(s0, T::loadu(p + i));
      s1 = T::add(s1, T::loadu(p + i + L));
      s2 = T::add(s2, T::loadu(p + i + 2 * L));
      s3 = T::add(s3, T::loadu(p + i + 3 * L));
    }
    alignas(64) float out[L];
    T::store(out, T::add(T::add(s0, s1), T::add(s2, s3)));
    float s = 0;
    for (int c = 0; c < L; c++) s += out[c];
    for (; i < n; i++) s += p[i];
    return s;
  }
};
