// AVX-512 GEMM. Build with: -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c
// 32 zmm registers: a 12 x 32 accumulator tile (24 registers) plus two B vectors and a broadcast.
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX512)
#define KP_ISA avx512
#define KP_GEMM_MR 12
#define KP_GEMM_NR 32
#define KP_GEMM_MC 192
#define KP_GEMM_KC 256
#define KP_GEMM_NC 512
#include "gemm_impl.h"
#endif
