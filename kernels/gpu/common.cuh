// Shared device helpers for the GPU kernels: dtype conversion (round to nearest even, the same bit
// rules as kernels/cpu/convert.h: NaN made quiet, overflow to Inf, subnormals exact), the matmul
// epilogue's activations, and the descriptors' batch addressing. Written only against the
// vendor-neutral layer (native/gpu/runtime.h): compiled unchanged for CUDA and MUSA.
#pragma once
#include <stdint.h>
#include "../../native/gpu/runtime.h"
#include "kernelport.h"

namespace kp {
namespace gpu {

KP_GPU_DEVICE KP_GPU_INLINE float bits_f32(uint32_t u) { return __uint_as_float(u); }
KP_GPU_DEVICE KP_GPU_INLINE uint32_t f32_bits(float f) { return __float_as_uint(f); }

KP_GPU_DEVICE KP_GPU_INLINE float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0u));
  if (exp == 0) return bits_f32(sign | f32_bits(static_cast<float>(man) * 5.9604644775390625e-8f));
  return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

KP_GPU_DEVICE KP_GPU_INLINE uint16_t f32_to_f16(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (ax < 0x38800000u) {
    const float v = __fadd_rn(bits_f32(ax), 0.5f);  // the FPU's round-to-nearest-even does the rounding
    return static_cast<uint16_t>(sign | (f32_bits(v) - 0x3f000000u));
  }
  const uint32_t rounded = ax + 0xfffu + ((ax >> 13) & 1u) - (112u << 23);
  return static_cast<uint16_t>(sign | (rounded >> 13));
}

KP_GPU_DEVICE KP_GPU_INLINE float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) u |= 0x00400000u;
  return bits_f32(u);
}

KP_GPU_DEVICE KP_GPU_INLINE uint16_t f32_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Element i of an array of dtype dt, as stored (16-bit dtypes in the low half), and those bits as
// f32: kernels that prefetch keep the raw bits in flight and convert once the load has landed.
// dt is uniform across a launch: the switches do not diverge.
KP_GPU_DEVICE KP_GPU_INLINE uint32_t load_bits(const void* p, int dt, int64_t i) {
  if (dt == KP_F16 || dt == KP_BF16) return static_cast<const uint16_t*>(p)[i];
  return static_cast<const uint32_t*>(p)[i];
}
KP_GPU_DEVICE KP_GPU_INLINE float bits_to_f32(uint32_t u, int dt) {
  if (dt == KP_F16) return f16_to_f32(static_cast<uint16_t>(u));
  if (dt == KP_BF16) return bf16_to_f32(static_cast<uint16_t>(u));
  return bits_f32(u);
}

// Element i of an array of dtype dt, as f32.
KP_GPU_DEVICE KP_GPU_INLINE float load_el(const void* p, int dt, int64_t i) { return bits_to_f32(load_bits(p, dt, i), dt); }

KP_GPU_DEVICE KP_GPU_INLINE void store_el(void* p, int dt, int64_t i, float v) {
  if (dt == KP_F16) static_cast<uint16_t*>(p)[i] = f32_to_f16(v);
  else if (dt == KP_BF16) static_cast<uint16_t*>(p)[i] = f32_to_bf16(v);
  else static_cast<float*>(p)[i] = v;
}

// Activations. Limits at -inf are 0 (the formulas give -inf * 0), NaN propagates, relu keeps NaN.
// GELU is exact: x * Phi(x) = 0.5 x erfc(-x / sqrt 2), accurate in the negative tail too.
KP_GPU_DEVICE KP_GPU_INLINE float activate(int act, float x) {
  const float ninf = -__int_as_float(0x7f800000);
  switch (act) {
    case KP_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case KP_ACT_GELU: return x == ninf ? 0.0f : 0.5f * x * erfcf(-x * 0.70710678118654752f);
    case KP_ACT_GELU_TANH: {
      const float u = 0.79788456080286535588f * fmaf(0.044715f * x, x * x, x);
      return x == ninf ? 0.0f : x / (1.0f + expf(-2.0f * u));
    }
    case KP_ACT_SILU: return x == ninf ? 0.0f : x / (1.0f + expf(-x));
    default: return x;
  }
}

// Batch addressing, passed to kernels by value: element offsets of batch entry t of each operand.
struct BatchMap {
  int32_t rank;
  int64_t shape[KP_MAX_BATCH_DIMS];
  int64_t a[KP_MAX_BATCH_DIMS], b[KP_MAX_BATCH_DIMS], r[KP_MAX_BATCH_DIMS];
};

KP_GPU_DEVICE KP_GPU_INLINE void batch_offsets(const BatchMap& m, int64_t t, int64_t* ao, int64_t* bo, int64_t* ro) {
  int64_t a = 0, b = 0, r = 0;
  for (int d = m.rank - 1; d >= 0; --d) {
    const int64_t i = t % m.shape[d];
    t /= m.shape[d];
    a += i * m.a[d];
    b += i * m.b[d];
    r += i * m.r[d];
  }
  *ao = a;
  *bo = b;
  *ro = r;
}

// The fused epilogue of one output element: act(alpha * acc + bias[j]) + beta * residual(i, j).
struct Epilogue {
  float alpha, beta;
  int32_t act;
  int32_t out_dtype, bias_dtype, res_dtype;
  const void* bias;      // nullptr: none
  const void* residual;  // nullptr: none
  int64_t r_row, r_col;
  void* out;
  int64_t m, n;
};

// The value before the store (kernels that store several outputs at once convert and write them themselves).
KP_GPU_DEVICE KP_GPU_INLINE float epilogue_value(const Epilogue& e, int64_t r_off, int64_t i, int64_t j, float acc) {
  float v = e.alpha * acc;
  if (e.bias) v = v + load_el(e.bias, e.bias_dtype, j);
  v = activate(e.act, v);
  if (e.residual) v = v + e.beta * load_el(e.residual, e.res_dtype, r_off + i * e.r_row + j * e.r_col);
  return v;
}

// 8 values of dtype dt from p[i..i+7] as f32, those at or past n as 0: one dtype test for the 8.
KP_GPU_DEVICE KP_GPU_INLINE void load8(const void* p, int dt, int64_t i, int64_t n, float (&x)[8]) {
  if (dt == KP_F32) {
#pragma unroll
    for (int q = 0; q < 8; ++q) x[q] = i + q < n ? static_cast<const float*>(p)[i + q] : 0.0f;
  } else if (dt == KP_BF16) {
#pragma unroll
    for (int q = 0; q < 8; ++q) x[q] = i + q < n ? bf16_to_f32(static_cast<const uint16_t*>(p)[i + q]) : 0.0f;
  } else {
#pragma unroll
    for (int q = 0; q < 8; ++q) x[q] = i + q < n ? f16_to_f32(static_cast<const uint16_t*>(p)[i + q]) : 0.0f;
  }
}

// epilogue_value for 8 consecutive columns j..j+7 of row i, in place, one step at a time over the 8 (the
// bias, the activation, the residual each tested once): the 8 computations are straight-line code the
// compiler interleaves. With the tests inside each column's value, each column's chain (GELU's erfc is
// about 60 instructions) ran after the one before: the wgmma GEMM's epilogue took 20 of the fused
// 512x4096x4096 case's 47 us on the H100. Columns at or past e.n get values that are not to be stored.
KP_GPU_DEVICE KP_GPU_INLINE void epilogue8(const Epilogue& e, int64_t r_off, int64_t i, int64_t j, float (&v)[8]) {
#pragma unroll
  for (int q = 0; q < 8; ++q) v[q] = e.alpha * v[q];
  if (e.bias) {
    float b[8];
    load8(e.bias, e.bias_dtype, j, e.n, b);
#pragma unroll
    for (int q = 0; q < 8; ++q) v[q] = v[q] + b[q];
  }
  switch (e.act) {
#define KP_ACTIVATE8(A)                                       \
  case A:                                                     \
    _Pragma("unroll") for (int q = 0; q < 8; ++q) v[q] = activate(A, v[q]); \
    break;
    KP_ACTIVATE8(KP_ACT_RELU)
    KP_ACTIVATE8(KP_ACT_GELU)
    KP_ACTIVATE8(KP_ACT_GELU_TANH)
    KP_ACTIVATE8(KP_ACT_SILU)
#undef KP_ACTIVATE8
    default: break;
  }
  if (e.residual) {
#pragma unroll
    for (int q = 0; q < 8; ++q)
      if (j + q < e.n) v[q] = v[q] + e.beta * load_el(e.residual, e.res_dtype, r_off + i * e.r_row + (j + q) * e.r_col);
  }
}

KP_GPU_DEVICE KP_GPU_INLINE void epilogue_store(const Epilogue& e, int64_t batch, int64_t r_off, int64_t i, int64_t j,
                                                float acc) {
  store_el(e.out, e.out_dtype, (batch * e.m + i) * e.n + j, epilogue_value(e, r_off, i, j, acc));
}

// The same, out of line: tiles that store many elements per thread call it instead of inlining the
// activation code (erfc, exp) once per element, which bloats the kernel and CI's compile time.
static KP_GPU_DEVICE KP_GPU_NOINLINE void epilogue_store_call(const Epilogue& e, int64_t batch, int64_t r_off, int64_t i,
                                                              int64_t j, float acc) {
  epilogue_store(e, batch, r_off, i, j, acc);
}

}  // namespace gpu
}  // namespace kp
