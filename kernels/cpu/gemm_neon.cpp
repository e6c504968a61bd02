// aarch64 GEMM, built with the default aarch64 flags (NEON and FMA are baseline there).
// 32 vector registers of 4 floats: an 8 x 8 accumulator tile (16 registers) leaves GCC room.
#if defined(__aarch64__)
#define KP_ISA neon
#define KP_GEMM_MR 8
#define KP_GEMM_NR 8
#define KP_GEMM_MC 192
#define KP_GEMM_KC 256
#define KP_GEMM_NC 512
#include "gemm_impl.h"
#endif
