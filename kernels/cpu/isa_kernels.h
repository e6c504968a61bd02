// The interface between dispatch.cpp and the per-ISA translation units.
//
// Each ISA unit splits an op into fixed lists of independent tasks (a function of the descriptor
// only, never of the thread count); dispatch.cpp, built without ISA flags, owns the thread pool. Keeping std::function and the pool out of the
// ISA units means no inline library template gets instantiated with AVX flags, where the linker
// could pick that copy for generic code.
#pragma once
#include <cstddef>
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
  float* workspace;  // AttentionPlan::workspace_floats floats, owned by dispatch for the whole op
};

// How a GEMM unit runs its parallel phases (pack, then compute): dispatch.cpp hands it the pool as
// plain function pointers. run(pool, n, task, ctx) calls task(ctx, i) for every i in [0, n) on the
// pool and returns when all are done (rethrowing a task's exception). Which thread runs a task
// never changes what it computes.
struct Parallel {
  void* pool;
  void (*run)(void* pool, int64_t n, void (*task)(const void* ctx, int64_t i), const void* ctx);
  int threads;  // that run() spreads tasks over: for task counts only (results never depend on it)
};

struct GemmKernels {
  const char* isa;
  // The whole op: every parallel phase goes through par.
  void (*matmul)(const kp_matmul_desc& d, const MatmulArgs& args, const Parallel& par);
};

// How dispatch runs an attention op: `rounds` rounds one after another, each phase 0 (independent
// tiles, or split-KV partials) then, when tasks[1] > 0, phase 1 (the combine of those partials).
// Everything is a function of the descriptor alone, never of the thread count.
struct AttentionPlan {
  int64_t rounds;
  int64_t tasks[2];
  size_t workspace_floats;
};

struct AttentionKernels {
  const char* isa;
  AttentionPlan (*plan)(const kp_attention_desc& d);
  void (*run_task)(const kp_attention_desc& d, const AttentionArgs& args, int64_t round, int phase, int64_t task);
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
