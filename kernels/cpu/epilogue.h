// The matmul epilogue: out = act(alpha * acc + bias) + beta * residual.
//
// Internal linkage throughout for the same reason as convert.h (included by per-ISA units).
// The activations follow the formulas in kernelport.h, with their limits at -inf (0, where the
// literal formulas give -inf * 0 = NaN) as the reference backend has them; relu keeps NaN.
#pragma once
#include <math.h>

#include <cstdint>

#include "kernelport.h"

namespace kp::cpu {

static inline float act_relu(float x) { return x < 0.0f ? 0.0f : x; }  // NaN passes through

static inline float act_gelu(float x) {
  if (x == -INFINITY) return 0.0f;
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
}

static inline float act_gelu_tanh(float x) {
  if (x == -INFINITY) return 0.0f;
  const float inner = 0.79788456080286535588f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanhf(inner));
}

static inline float act_silu(float x) { return x == -INFINITY ? 0.0f : x / (1.0f + expf(-x)); }

// Applies the activation in place to a row; the switch is outside the loop so each case can
// vectorise (relu) or at least run without a per-element branch on the kind.
static inline void apply_activation(kp_activation act, float* v, int64_t n) {
  switch (act) {
    case KP_ACT_RELU:
      for (int64_t i = 0; i < n; ++i) v[i] = act_relu(v[i]);
      break;
    case KP_ACT_GELU:
      for (int64_t i = 0; i < n; ++i) v[i] = act_gelu(v[i]);
      break;
    case KP_ACT_GELU_TANH:
      for (int64_t i = 0; i < n; ++i) v[i] = act_gelu_tanh(v[i]);
      break;
    case KP_ACT_SILU:
      for (int64_t i = 0; i < n; ++i) v[i] = act_silu(v[i]);
      break;
    default: break;
  }
}

static inline float apply_activation(kp_activation act, float x) {
  switch (act) {
    case KP_ACT_RELU: return act_relu(x);
    case KP_ACT_GELU: return act_gelu(x);
    case KP_ACT_GELU_TANH: return act_gelu_tanh(x);
    case KP_ACT_SILU: return act_silu(x);
    default: return x;
  }
}

}  // namespace kp::cpu
