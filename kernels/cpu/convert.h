// Scalar f32 <-> f16 / bf16 conversion (round to nearest even) and typed element access.
//
// Everything here has internal linkage (static inline): this header is included by translation
// units built with different ISA flags, and a shared inline symbol would let the linker keep an
// AVX-512 copy and call it from generic code on a CPU without AVX-512.
#pragma once
#include <cstdint>
#include <cstring>

#include "kernelport.h"

namespace kp::cpu {

static inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

static inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

static inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) {  // Inf, or NaN made quiet
    return f32_from_bits(sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0u));
  }
  if (exp == 0) {  // zero or subnormal: man * 2^-24 is exact in f32
    const float v = static_cast<float>(man) * 5.9604644775390625e-8f;
    return f32_from_bits(sign | f32_bits(v));
  }
  return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t f32_to_f16(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) {  // NaN: keep the top payload bits, force quiet so it cannot become Inf
    return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  }
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to Inf
  if (ax < 0x38800000u) {
    // Below the smallest normal half: adding 0.5f puts the f16 subnormal ulp (2^-24) at the f32
    // ulp of the sum, so the FPU's own round-to-nearest-even does the rounding.
    const float v = f32_from_bits(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (f32_bits(v) - 0x3f000000u));
  }
  // Normal: rebias the exponent, round the 13 dropped bits to nearest even (a carry may bump
  // the exponent, which is still the right encoding).
  const uint32_t rounded = ax + 0xfffu + ((ax >> 13) & 1u) - (112u << 23);
  return static_cast<uint16_t>(sign | (rounded >> 13));
}

static inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) u |= 0x00400000u;  // quiet NaN
  return f32_from_bits(u);
}

static inline uint16_t f32_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);  // quiet NaN
  // Same exponent range as f32, so integer rounding covers subnormals and overflow to Inf too.
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Element `i` of an array of dtype `dt` (f32, f16 or bf16), as f32.
static inline float load_f32(const void* p, kp_dtype dt, int64_t i) {
  switch (dt) {
    case KP_F16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case KP_BF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

// Stores v as element `i` of an array of dtype `dt`, rounding to nearest even for 16-bit types.
static inline void store_f32(void* p, kp_dtype dt, int64_t i, float v) {
  switch (dt) {
    case KP_F16: static_cast<uint16_t*>(p)[i] = f32_to_f16(v); break;
    case KP_BF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(v); break;
    default: static_cast<float*>(p)[i] = v; break;
  }
}

// Contiguous run versions, so that the dtype switch sits outside the loop.
static inline void load_row_f32(const void* p, kp_dtype dt, int64_t n, float* dst) {
  switch (dt) {
    case KP_F16: {
      const uint16_t* s = static_cast<const uint16_t*>(p);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      break;
    }
    case KP_BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(p);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      break;
    }
    default: std::memcpy(dst, p, static_cast<size_t>(n) * sizeof(float)); break;
  }
}

static inline void store_row_f32(void* p, kp_dtype dt, int64_t n, const float* src) {
  switch (dt) {
    case KP_F16: {
      uint16_t* d = static_cast<uint16_t*>(p);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      break;
    }
    case KP_BF16: {
      uint16_t* d = static_cast<uint16_t*>(p);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      break;
    }
    default: std::memcpy(p, src, static_cast<size_t>(n) * sizeof(float)); break;
  }
}

static inline int64_t dtype_size(kp_dtype dt) { return dt == KP_F32 || dt == KP_I32 ? 4 : 2; }

}  // namespace kp::cpu
