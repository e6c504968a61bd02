// AVX-512 attention. Build with: -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX512)
#define KP_ISA avx512
#define KP_ATT_AVX512 1
#include "attention_impl.h"
#endif
