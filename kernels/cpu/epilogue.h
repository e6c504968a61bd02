// The matmul epilogue: out = act(alpha * acc + bias) + beta * residual, one output row at a time.
//
// Called from the microkernel's store (gemm_impl.h): the tile is still in L1, so there is no
// second pass over C in memory. Loops run over contiguous floats with the activation from vmath.h,
// so they vectorise under the including unit's flags. Internal linkage throughout for the same
// reason as convert.h (included by per-ISA units).
#pragma once
#include <cstdint>

#include "convert.h"
#include "isa_kernels.h"
#include "kernelport.h"
#include "vmath.h"

namespace kp::cpu {

static inline void apply_activation(kp_activation act, float* __restrict v, int64_t n) {
  switch (act) {
    case KP_ACT_RELU:
      for (int64_t i = 0; i < n; ++i) v[i] = vm::relu(v[i]);
      break;
    case KP_ACT_GELU:
      for (int64_t i = 0; i < n; ++i) v[i] = vm::gelu(v[i]);
      break;
    case KP_ACT_GELU_TANH:
      for (int64_t i = 0; i < n; ++i) v[i] = vm::gelu_tanh(v[i]);
      break;
    case KP_ACT_SILU:
      for (int64_t i = 0; i < n; ++i) v[i] = vm::silu(v[i]);
      break;
    default: break;
  }
}

// Output row `row` (of batch entry `bt`), columns [n0, n0 + nb), from the accumulators acc.
// bias: the f32 bias of those columns (or nullptr); r_off: the residual's batch offset;
// work: 2 * nb floats of scratch.
static inline void epilogue_row(const kp_matmul_desc& d, const MatmulArgs& args, int64_t bt, int64_t r_off,
                                int64_t row, int64_t n0, int64_t nb, const float* __restrict acc,
                                const float* __restrict bias, float* __restrict work) {
  float* __restrict v = work;
  const float alpha = d.alpha;
  if (alpha != 1.0f)
    for (int64_t j = 0; j < nb; ++j) v[j] = alpha * acc[j];
  else
    for (int64_t j = 0; j < nb; ++j) v[j] = acc[j];
  if (bias)
    for (int64_t j = 0; j < nb; ++j) v[j] = v[j] + bias[j];
  apply_activation(d.activation, v, nb);
  if (d.has_residual) {
    float* __restrict res = work + nb;
    const int64_t base = r_off + row * d.r_row_stride + n0 * d.r_col_stride;
    if (d.r_col_stride == 1) {
      load_row_f32(static_cast<const char*>(args.residual) + base * dtype_size(d.residual_dtype), d.residual_dtype,
                   nb, res);
    } else {
      for (int64_t j = 0; j < nb; ++j) res[j] = load_f32(args.residual, d.residual_dtype, base + j * d.r_col_stride);
    }
    const float beta = d.beta;
    for (int64_t j = 0; j < nb; ++j) v[j] = v[j] + beta * res[j];
  }
  const int64_t o = (bt * d.m + row) * d.n + n0;
  store_row_f32(static_cast<char*>(args.out) + o * dtype_size(d.out_dtype), d.out_dtype, nb, v);
}

}  // namespace kp::cpu
