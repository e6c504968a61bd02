// AVX2 + FMA attention. Build with: -mavx2 -mfma -mf16c
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX2)
#define KP_ISA avx2
#define KP_ATT_AVX2 1
#include "attention_impl.h"
#endif
