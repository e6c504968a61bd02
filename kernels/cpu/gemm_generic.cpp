// Portable GEMM, built with no ISA flags: the baseline for any CPU of the architecture.
// 4 x 8 microkernel (ukernel_generic.h).
#define KP_ISA generic
#include "ukernel_generic.h"
#define KP_GEMM_KC 256
#define KP_GEMM_MT 64
#define KP_GEMM_NT 128
#include "gemm_impl.h"
