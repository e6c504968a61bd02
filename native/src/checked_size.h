// Size arithmetic for descriptor checks: every product and sum is overflow-checked, so a hostile
// descriptor cannot wrap a size around and pass a bounds check.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
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

// Every op runs a few dozen of these: a literal message is only made a std::string when it is thrown,
// and a formatted one is built by `message()` only then (a string built per check cost ~1 us an op).
inline void require(bool ok, const char* message) {
  if (!ok) throw Error(KP_ERR_INVALID_ARGUMENT, message);
}
template <class MakeMessage, class = decltype(std::string(std::declval<MakeMessage>()()))>
inline void require(bool ok, MakeMessage&& message) {
  if (!ok) throw Error(KP_ERR_INVALID_ARGUMENT, message());
}

// A C caller may put any integer in an enum field, and loading an out-of-range value as a C++ enum
// is undefined behaviour: descriptors' enums are read as raw integers until they are validated.
template <class E>
inline int32_t raw(const E& e) {
  static_assert(sizeof(E) == sizeof(int32_t), "C enums are int-sized");
  int32_t v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

inline bool in_range(int32_t v, int32_t lo, int32_t hi) { return v >= lo && v <= hi; }

inline int64_t dtype_size(kp_dtype t) { return t == KP_F32 || t == KP_I32 ? 4 : 2; }

inline bool valid_float_dtype(const kp_dtype& t) { return in_range(raw(t), KP_F32, KP_BF16); }

}  // namespace kp
