// Portable attention, built with no ISA flags.
#define KP_ISA generic
#include "attention_impl.h"
