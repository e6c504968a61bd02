// aarch64 attention, built with the default aarch64 flags.
#if defined(__aarch64__)
#define KP_ISA neon
#include "attention_impl.h"
#endif
