// Per-thread scratch memory for packed panels and accumulator tiles.
//
// Kernels run on the persistent pool threads, so a thread-local buffer that only grows avoids a
// large malloc (and its page faults) per task. The anonymous namespace gives every including
// translation unit its own type and its own thread_local, so ISA units never share code.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#if defined(_WIN32)
#include <malloc.h>
#endif

namespace kp::cpu {
namespace {

class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { release(); }

  // At least `floats` floats, 64-byte aligned; contents are unspecified. Failing to get it throws
  // std::bad_alloc, which the pool carries back to the queue as an error on the op's outputs.
  float* get(size_t floats) {
    if (floats > cap_) {
      release();
      const size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64;
#if defined(_WIN32)
      p_ = static_cast<float*>(_aligned_malloc(bytes, 64));
#else
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
#endif
      if (!p_) throw std::bad_alloc();
      cap_ = bytes / sizeof(float);
    }
    return p_;
  }

 private:
  void release() {
#if defined(_WIN32)
    _aligned_free(p_);
#else
    std::free(p_);
#endif
    p_ = nullptr;
    cap_ = 0;
  }
  float* p_ = nullptr;
  size_t cap_ = 0;
};

// Rounds a float count up to a whole number of 64-byte lines, for carving one scratch block.
inline size_t scratch_round(size_t floats) { return (floats + 15) & ~static_cast<size_t>(15); }

}  // namespace
}  // namespace kp::cpu
