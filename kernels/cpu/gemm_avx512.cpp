// AVX-512 GEMM. Build with: -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c
// 12 x 32 microkernel (ukernel_avx512.h). Blocks: a k block of 256 keeps the A micro-panel
// (12 KB) in L1; the B panels of one k block of a 96 x 256 tile (256 KB) and the 96 x 256 f32
// accumulator tile (96 KB) stay in L2.
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX512)
#define KP_ISA avx512
#include "ukernel_avx512.h"
#define KP_GEMM_KC 256
#define KP_GEMM_MT 96
#define KP_GEMM_NT 256
#include "gemm_impl.h"
#endif
