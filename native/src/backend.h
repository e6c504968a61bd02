// The backend interface: a small table of function pointers, one table per backend (ggml-style).
// Descriptors reach a backend already checked against its buffers' sizes; backends only compute.
#pragma once
#include <cstddef>
#include <memory>
#include "kernelport.h"

namespace kp {

struct Backend {
  const char* name;
  // Per-device state (the cpu backend keeps its thread pool there).
  void* (*create)(int32_t threads, kp_status* status);
  void (*destroy)(void* state);
  int32_t (*threads)(void* state);
  void* (*alloc)(void* state, size_t bytes);
  void (*free)(void* data);
  // Run on the device's queue thread; throw kp::Error on failure.
  void (*matmul)(void* state, const kp_matmul_desc& d, const void* a, const void* b, const void* bias,
                 const void* residual, void* out);
  void (*attention)(void* state, const kp_attention_desc& d, const void* q, const void* k, const void* v,
                    const int32_t* kv_lengths, const float* mask, void* out, float* lse);
};

const Backend* cpu_backend();

}  // namespace kp
