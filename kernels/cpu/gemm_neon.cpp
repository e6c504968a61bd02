// aarch64 GEMM, built with the default aarch64 flags (NEON and FMA are baseline there).
// 8 x 12 microkernel (ukernel_neon.h); a 96 x 192 tile.
#if defined(__aarch64__)
#define KP_ISA neon
#include "ukernel_neon.h"
#define KP_GEMM_KC 256
#define KP_GEMM_MT 96
#define KP_GEMM_NT 192
#include "gemm_impl.h"
#endif
