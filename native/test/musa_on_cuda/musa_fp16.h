// TEST-ONLY (see musa_runtime.h here): MUSA's half type header mapped onto CUDA's.
#pragma once
#include <cuda_fp16.h>
