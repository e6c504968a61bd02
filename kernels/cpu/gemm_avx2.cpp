// AVX2 + FMA GEMM. Build with: -mavx2 -mfma -mf16c
// 16 ymm registers: a 6 x 16 accumulator tile (12 registers) plus two B vectors and a broadcast.
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX2)
#define KP_ISA avx2
#define KP_GEMM_MR 6
#define KP_GEMM_NR 16
#define KP_GEMM_MC 192
#define KP_GEMM_KC 256
#define KP_GEMM_NC 512
#include "gemm_impl.h"
#endif
