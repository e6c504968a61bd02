// aarch64 GEMM, built with the default aarch64 flags (NEON and FMA are baseline there).
// 32 vector registers of 4 floats: an 8 x 12 accumulator tile (24 registers).
#if defined(__aarch64__)
#define KP_ISA neon
#define KP_GEMM_MR 8
#define KP_GEMM_NR 12
#define KP_GEMM_MC 96
#define KP_GEMM_KC 256
#define KP_GEMM_NC 480
#include "gemm_impl.h"
#endif
