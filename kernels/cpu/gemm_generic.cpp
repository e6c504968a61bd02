// Portable GEMM, built with no ISA flags: the baseline for any CPU of the architecture
// (SSE2 on x86-64, so 16 vector registers of 4 floats: a 6 x 8 tile of accumulators).
#define KP_ISA generic
#define KP_GEMM_MR 6
#define KP_GEMM_NR 8
#define KP_GEMM_MC 96
#define KP_GEMM_KC 256
#define KP_GEMM_NC 512
#include "gemm_impl.h"
