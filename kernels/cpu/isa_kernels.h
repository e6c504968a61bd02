// The interface between dispatch.cpp and the per-ISA translation units.
//
// Each ISA unit splits an op into a fixed list of independent tasks (a function of the
// descriptor only, never of the thread count) and runs one task per call; dispatch.cpp, built
// without ISA flags, owns the thread pool call. Keeping std::function and the pool out of the
// ISA units means no inline library template gets instantiated with AVX flags, where the linker
// could pick that copy for generic code.
#pragma once
#include <cstdint>

#include "kernelport.h"

namespace kp::cpu {

struct MatmulArgs {
  const void* a;
  const void* b;
  const void* bias;
  const void* residual;
  void* out;
};

struct AttentionArgs {
  const void* q;
  const void* k;
  const void* v;
  const int32_t* kv_lengths;
  const float* mask;
  void* out;
  float* lse;
};

struct GemmKernels {
  const char* isa;
  int64_t (*tasks)(const kp_matmul_desc& d);
  void (*run_task)(const kp_matmul_desc& d, const MatmulArgs& args, int64_t task);
};

struct AttentionKernels {
  const char* isa;
  int64_t (*tasks)(const kp_attention_desc& d);
  void (*run_task)(const kp_attention_desc& d, const AttentionArgs& args, int64_t task);
};

// Which ISA units this build has. Compilers without the x86 flags can opt out with
// -DKP_CPU_NO_AVX512 / -DKP_CPU_NO_AVX2 on every unit.
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX2)
#define KP_CPU_HAVE_AVX2 1
#endif
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX512)
#define KP_CPU_HAVE_AVX512 1
#endif
#if defined(__aarch64__)
#define KP_CPU_HAVE_NEON 1
#endif

namespace generic {
extern const GemmKernels gemm_kernels;
extern const AttentionKernels attention_kernels;
}  // namespace generic
#ifdef KP_CPU_HAVE_AVX2
namespace avx2 {
extern const GemmKernels gemm_kernels;
extern const AttentionKernels attention_kernels;
}  // namespace avx2
#endif
#ifdef KP_CPU_HAVE_AVX512
namespace avx512 {
extern const GemmKernels gemm_kernels;
extern const AttentionKernels attention_kernels;
}  // namespace avx512
#endif
#ifdef KP_CPU_HAVE_NEON
namespace neon {
extern const GemmKernels gemm_kernels;
extern const AttentionKernels attention_kernels;
}  // namespace neon
#endif

}  // namespace kp::cpu
