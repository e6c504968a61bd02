// AVX2 + FMA GEMM. Build with: -mavx2 -mfma -mf16c
// A 4 x 24 accumulator tile (12 ymm): the textbook 6 x 16 makes GCC spill accumulators.
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX2)
#define KP_ISA avx2
#define KP_GEMM_MR 4
#define KP_GEMM_NR 24
#define KP_GEMM_MC 192
#define KP_GEMM_KC 256
#define KP_GEMM_NC 528
#include "gemm_impl.h"
#endif
