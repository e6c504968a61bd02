// Portable GEMM, built with no ISA flags: the baseline for any CPU of the architecture
// (SSE2 on x86-64: a 4 x 8 tile keeps GCC from spilling any of the 16 xmm registers).
#define KP_ISA generic
#define KP_GEMM_MR 4
#define KP_GEMM_NR 8
#define KP_GEMM_MC 192
#define KP_GEMM_KC 256
#define KP_GEMM_NC 512
#include "gemm_impl.h"
