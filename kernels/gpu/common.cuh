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
#if defined(KP_GPU_VENDOR_CUDA) && defined(__CUDA_ARCH__)
  // NVIDIA's conversion instruction: exact for every f16 (each is an f32), one instruction where the bit
  // rules below take about twelve, per element of the streaming kernels (attention_decode.cu).
  float f;
  asm("{.reg .b16 t;\n mov.b16 t, %1;\n cvt.f32.f16 %0, t;\n}" : "=f"(f) : "h"(h));
  return f;
#else
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0u));
  if (exp == 0) return bits_f32(sign | f32_bits(static_cast<float>(man) * 5.9604644775390625e-8f));
  return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
#endif
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

// 2^y (about 2 ulp) and 1/y (1 ulp) as NVIDIA's ex2 and rcp instructions alone, subnormals flushed to 0
// (exp2f and __fdividef add range fix-ups around them); elsewhere exp2f and a division. The emulator
// models ex2's flushing (subnormal inputs read as 0, results under 2^-126 are +0; its last-bit error is
// not modelled), so kernels that lean on it (the flash kernels' allowP16 exp) see what the GPU gives.
KP_GPU_DEVICE KP_GPU_INLINE float exp2_approx(float y) {
#if defined(KP_GPU_VENDOR_CUDA) && defined(__CUDA_ARCH__)
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(y));
  return r;
#elif defined(KP_GPU_VENDOR_EMU)
  const float r = exp2f(fabsf(y) < 0x1p-126f ? 0.0f : y);
  return r < 0x1p-126f ? 0.0f : r;
#else
  return exp2f(y);
#endif
}
KP_GPU_DEVICE KP_GPU_INLINE float rcp_approx(float y) {
#if defined(KP_GPU_VENDOR_CUDA) && defined(__CUDA_ARCH__)
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(y));
  return r;
#else
  return 1.0f / y;
#endif
}

// Exact GELU, x * Phi(x), for x other than -inf, in 21 SASS instructions where 0.5 x erfc(-x / sqrt 2) took
// 50 (two reciprocals, a split exponent, both signs of the argument): the fused GEMM epilogue's cost on
// an H100 (9 us of 37 for 512x4096x4096 + bias + GELU, 3.6 us without; through the API the case went
// 0.042 -> 0.039 ms with this). With a = |x| and
// t = 1 / (1 + a/2), the lower tail is Phi(-a) = t * 2^(Q(1 - t) - a^2 log2(e) / 2), Q a degree-9 fit
// weighted by Phi(-a) (Q(0) = -1: Phi(0) = 1/2 exactly), and GELU = x * (1 - Phi(-a)) for x >= 0,
// x * Phi(-a) below. Error, in float32 with ex2 off by up to 2^-22 and rcp by 1 ulp: <= 5.7 u |x| (2.9
// with an exact exp2, as the emulator and MUSA have), worst for |x| < 1, within the few u of |x| the
// bound gives the activation's own evaluation (numerics/bounds.ts). In the negative tail the error is
// small against |x|, not against the result: 160 u of it at x = -5, 4e-4 near -13 (erfcf: ~200 u), and
// -0 from x = -13.15 where x * Phi(x) is still a subnormal; both are below the bound's absolute terms.
// +inf gives +inf (t = 0, the exponent -inf), NaN gives NaN.
KP_GPU_DEVICE KP_GPU_INLINE float gelu_exact(float x) {
  const float a = fabsf(x);
  const float t = rcp_approx(fmaf(0.5f, a, 1.0f));
  const float w = 1.0f - t;  // a / (a + 2), in [0, 1): not a * t, which is inf * 0 at +inf
  float q = -6.803156435e-02f;
  q = fmaf(q, w, -1.992937177e-02f);
  q = fmaf(q, w, 6.352686137e-02f);
  q = fmaf(q, w, 5.918252096e-02f);
  q = fmaf(q, w, 1.134981811e-01f);
  q = fmaf(q, w, 5.522481725e-02f);
  q = fmaf(q, w, -1.436055750e-01f);
  q = fmaf(q, w, -5.323705077e-01f);
  q = fmaf(q, w, -8.595131040e-01f);
  q = fmaf(q, w, -1.0f);
  const float lower = t * exp2_approx(fmaf(x * x, -0.72134752044448170368f, q));  // Phi(-a)
  return x * (x >= 0.0f ? 1.0f - lower : lower);
}

// Activations. Limits at -inf are 0 (the formulas give -inf * 0), NaN propagates, relu keeps NaN.
// Branch-free on purpose: -inf is replaced by 0 before the formula (each activation is 0 at 0, +0
// exactly), where a `x == -inf ? 0 : formula` ternary became a branch around each value's formula, and
// branches kept the compiler from interleaving the 8 values of epilogue8: each GELU is a dependent
// chain, and 8 of them one after another (with 2 warps per scheduler in the wgmma GEMM) made
// its epilogue 20 of the fused 512x4096x4096 case's 47 us on an H100. The divisions are __fdividef (2 ulp,
// inline) for the same reason: IEEE division carries a slow-path call per value; its denominators are
// >= 1, where __fdividef's only caveat (> 2^126 gives 0) is within the bound (the true value is < 2^-119).
KP_GPU_DEVICE KP_GPU_INLINE float activate(int act, float x) {
  const float xs = x == -__int_as_float(0x7f800000) ? 0.0f : x;
  switch (act) {
    case KP_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case KP_ACT_GELU: return gelu_exact(xs);
    case KP_ACT_GELU_TANH: {
      const float u = 0.79788456080286535588f * fmaf(0.044715f * xs, xs * xs, xs);
      return __fdividef(xs, 1.0f + expf(-2.0f * u));
    }
    case KP_ACT_SILU: return __fdividef(xs, 1.0f + expf(-xs));
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

// p[at..at+valid-1] (dtype dt) as f32 in x[0..valid-1], the rest of the 8 as 0: one dtype test for the 8,
// and one or two 16-byte loads when all 8 are there and aligned (8 loads each behind its own bounds
// test ran one after another, each paying the load's latency).
KP_GPU_DEVICE KP_GPU_INLINE void load8(const void* p, int dt, int64_t at, int64_t valid, float (&x)[8]) {
  const bool wide = dt == KP_F32;
  const char* src = static_cast<const char*>(p) + at * (wide ? 4 : 2);
  if (valid >= 8 && (reinterpret_cast<uintptr_t>(src) & 15) == 0) {
    if (wide) {
      const float4 lo = reinterpret_cast<const float4*>(src)[0], hi = reinterpret_cast<const float4*>(src)[1];
      x[0] = lo.x, x[1] = lo.y, x[2] = lo.z, x[3] = lo.w, x[4] = hi.x, x[5] = hi.y, x[6] = hi.z, x[7] = hi.w;
      return;
    }
    const uint4 h = *reinterpret_cast<const uint4*>(src);
    const uint32_t w[4] = {h.x, h.y, h.z, h.w};
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      const uint16_t b = static_cast<uint16_t>(w[q / 2] >> (16 * (q % 2)));
      x[q] = dt == KP_BF16 ? bf16_to_f32(b) : f16_to_f32(b);
    }
    return;
  }
  if (wide) {
#pragma unroll
    for (int q = 0; q < 8; ++q) x[q] = q < valid ? reinterpret_cast<const float*>(src)[q] : 0.0f;
  } else if (dt == KP_BF16) {
#pragma unroll
    for (int q = 0; q < 8; ++q) x[q] = q < valid ? bf16_to_f32(reinterpret_cast<const uint16_t*>(src)[q]) : 0.0f;
  } else {
#pragma unroll
    for (int q = 0; q < 8; ++q) x[q] = q < valid ? f16_to_f32(reinterpret_cast<const uint16_t*>(src)[q]) : 0.0f;
  }
}

// The bias of columns j..j+7 as f32 (zeros without one, or past e.n).
KP_GPU_DEVICE KP_GPU_INLINE void bias8(const Epilogue& e, int64_t j, float (&b)[8]) {
  if (e.bias) {
    load8(e.bias, e.bias_dtype, j, e.n - j, b);
  } else {
#pragma unroll
    for (int q = 0; q < 8; ++q) b[q] = 0.0f;
  }
}

// epilogue_value for 8 consecutive columns j..j+7 of row i, in place, one step at a time over the 8 (the
// bias, the activation, the residual each tested once), so that the 8 computations are straight-line
// code the compiler interleaves (with activate() branch-free: test/cuda.test.ts checks the SASS). One
// column after another, each GELU a ~30-deep chain, the wgmma GEMM's epilogue took 20 of the fused
// 512x4096x4096 case's 47 us on the H100. Columns at or past e.n get values that are not to be stored.
// b: the bias of columns j..j+7 (bias8), which the GEMMs load once a tile (a thread's column group is
// the same in every row it finishes) instead of once a row.
KP_GPU_DEVICE KP_GPU_INLINE void epilogue8(const Epilogue& e, int64_t r_off, int64_t i, int64_t j, const float (&b)[8], float (&v)[8]) {
#pragma unroll
  for (int q = 0; q < 8; ++q) v[q] = e.alpha * v[q];
  if (e.bias) {
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
    float r[8];
    if (e.r_col == 1) {
      load8(e.residual, e.res_dtype, r_off + i * e.r_row + j, e.n - j, r);
    } else {
#pragma unroll
      for (int q = 0; q < 8; ++q) r[q] = j + q < e.n ? load_el(e.residual, e.res_dtype, r_off + i * e.r_row + (j + q) * e.r_col) : 0.0f;
    }
#pragma unroll
    for (int q = 0; q < 8; ++q) v[q] = v[q] + e.beta * r[q];
  }
}

// Outputs (i, j..j+7) of batch entry t through epilogue8 (b: bias8 of j) and into the output: one 16-byte store (two for
// f32) when vec (N % 8 == 0 and a 16-byte aligned output: every 8-column group is aligned), else each
// column inside the matrix on its own.
KP_GPU_DEVICE KP_GPU_INLINE void epilogue_store8(const Epilogue& e, int64_t t, int64_t r_off, int64_t i, int64_t j, const float (&b)[8],
                                                 float (&v)[8], bool vec) {
  epilogue8(e, r_off, i, j, b, v);
  const int64_t base = (t * e.m + i) * e.n + j;
  if (vec && j + 8 <= e.n) {
    if (e.out_dtype == KP_F32) {
      float4* o = reinterpret_cast<float4*>(static_cast<float*>(e.out) + base);
      o[0] = make_float4(v[0], v[1], v[2], v[3]);
      o[1] = make_float4(v[4], v[5], v[6], v[7]);
      return;
    }
    uint32_t p[4];
    if (e.out_dtype == KP_BF16) {
#pragma unroll
      for (int q = 0; q < 4; ++q) p[q] = f32_to_bf16(v[2 * q]) | (static_cast<uint32_t>(f32_to_bf16(v[2 * q + 1])) << 16);
    } else {
#pragma unroll
      for (int q = 0; q < 4; ++q) p[q] = f32_to_f16(v[2 * q]) | (static_cast<uint32_t>(f32_to_f16(v[2 * q + 1])) << 16);
    }
    *reinterpret_cast<uint4*>(static_cast<uint16_t*>(e.out) + base) = make_uint4(p[0], p[1], p[2], p[3]);
  } else {
#pragma unroll
    for (int q = 0; q < 8; ++q)
      if (j + q < e.n) store_el(e.out, e.out_dtype, base + q, v[q]);
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
