// AVX2 + FMA GEMM. Build with: -mavx2 -mfma -mf16c
// 6 x 16 microkernel (ukernel_avx2.h); blocks as for AVX-512 (L1: 6 KB A micro-panel; L2: 128 KB
// of B panels per k block and a 96 x 128 f32 tile).
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX2)
#define KP_ISA avx2
#include "ukernel_avx2.h"
#define KP_GEMM_KC 256
#define KP_GEMM_MT 96
#define KP_GEMM_NT 128
#include "gemm_impl.h"
#endif
