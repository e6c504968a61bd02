// Calibration kernels: how fast this machine really is, per ISA (native/src/calibrate.cpp drives them).
//
// fma_loop runs `iters` rounds of independent FMA chains (enough chains to cover the FMA latency of
// two pipes) in one thread and returns the FLOPs it did (an FMA counts 2). read_sum streams over
// `n` floats with vector loads and returns their sum (so the loads cannot be elided).
// Plain functions, no std::function: nothing here instantiates a library template under ISA flags.
#pragma once
#include <cstdint>

namespace kp::cpu::peak {

struct PeakKernels {
  const char* isa;
  double (*fma_loop)(int64_t iters, float seed, float* sink);
  float (*read_sum)(const float* p, int64_t n);
};

namespace generic {
extern const PeakKernels kernels;
}
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX2)
namespace avx2 {
extern const PeakKernels kernels;
}
#endif
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX512)
namespace avx512 {
extern const PeakKernels kernels;
}
#endif

}  // namespace kp::cpu::peak
