// The backend interface: a small table of function pointers, one table per backend (ggml-style).
// Descriptors reach a backend already checked against its buffers' sizes; backends only compute.
//
// The cpu backend is compiled into the core. GPU backends are separate shared libraries with a plain
// C plugin table (native/gpu/plugin.h), loaded lazily by native/src/gpu_loader.cpp, which wraps the
// plugin in one of these tables.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include "kernelport.h"

namespace kp {

struct Backend {
  const char* name;
  // Per-device state (the cpu backend keeps its thread pool there). index: the device ordinal.
  void* (*create)(int32_t threads, int32_t index, kp_status* status);
  void (*destroy)(void* state);
  int32_t (*threads)(void* state);
  // nullptr: out of memory (a backend may throw kp::Error with a better message instead).
  void* (*alloc)(void* state, size_t bytes);
  void (*free)(void* state, void* data);
  // Run on the device's queue thread; throw kp::Error on failure.
  void (*matmul)(void* state, const kp_matmul_desc& d, const void* a, const void* b, const void* bias,
                 const void* residual, void* out);
  // kv_lengths: the backend's memory; kv_lengths_host: the same values readable by the host (checked).
  void (*attention)(void* state, const kp_attention_desc& d, const void* q, const void* k, const void* v,
                    const int32_t* kv_lengths, const int32_t* kv_lengths_host, const float* mask, void* out,
                    float* lse);
  // Copies for memory the host cannot address (throw kp::Error). nullptr: host memory, memcpy.
  void (*write)(void* state, void* dst, const void* src, size_t bytes) = nullptr;
  void (*read)(void* state, const void* src, void* dst, size_t bytes) = nullptr;
  // Within the device's memory: `rows` runs of row_bytes, strides apart, ordered after the ops before it
  // (on the queue thread); nothing written overlaps what is read. nullptr: host memory, memcpy.
  void (*copy)(void* state, void* dst, size_t dst_stride, const void* src, size_t src_stride, size_t row_bytes, size_t rows) = nullptr;
  // Waits for the device to finish what was enqueued (asynchronous devices); throws kp::Error. nullptr: nothing to wait for.
  void (*finish)(void* state) = nullptr;
  // The kernel variant a descriptor would run with (op 0: kp_matmul_desc, 1: kp_attention_desc), as the
  // backend's own planner decides it; throws kp::Error. nullptr: the backend has no native planner (cpu:
  // its choice is named in TypeScript).
  std::string (*explain)(void* state, int32_t op, const void* desc) = nullptr;
};

const Backend* cpu_backend();

// "cuda" / "cuda:N": the lazily loaded GPU backend (throws kp::Error(KP_ERR_UNAVAILABLE, reason)),
// or nullptr when `name` is not a GPU backend's. *index receives N (0 by default).
const Backend* gpu_backend(const std::string& name, int32_t* index);

}  // namespace kp
