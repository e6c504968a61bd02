// Size arithmetic for descriptor checks: every product and sum is overflow-checked, so a hostile
// descriptor cannot wrap a size around and pass a bounds check.
#pragma once
#include <cstdint>
#include "errors.h"

namespace kp {

inline int64_t mul(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw Error(KP_ERR_INVALID_ARGUMENT, std::string(what) + ": size overflows 64 bits");
  return r;
}

inline int64_t add(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw Error(KP_ERR_INVALID_ARGUMENT, std::string(what) + ": size overflows 64 bits");
  return r;
}

inline void require(bool ok, const std::string& message) {
  if (!ok) throw Error(KP_ERR_INVALID_ARGUMENT, message);
}

inline int64_t dtype_size(kp_dtype t) { return t == KP_F32 || t == KP_I32 ? 4 : 2; }

inline bool valid_float_dtype(kp_dtype t) { return t == KP_F32 || t == KP_F16 || t == KP_BF16; }

}  // namespace kp
