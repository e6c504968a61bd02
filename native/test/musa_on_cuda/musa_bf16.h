// TEST-ONLY (see musa_runtime.h here): MUSA's bfloat16 header mapped onto CUDA's. MUSA names the type
// __mt_bfloat16; CUDA __nv_bfloat16.
#pragma once
#include <cuda_bf16.h>
#define __mt_bfloat16 __nv_bfloat16
#define __mt_bfloat162 __nv_bfloat162
