// aarch64 attention, built with the default aarch64 flags (NEON is part of the base ISA).
#if defined(__aarch64__)
#define KP_ISA neon
#define KP_ATT_NEON 1
#include "attention_impl.h"
#endif
