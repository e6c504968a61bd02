// Entry points of the cpu backend's kernels. The caller (native/src/backend_cpu.cpp) has already
// checked the descriptor against the buffer sizes; kernels only compute.
//
// Results are bitwise identical for any thread count: ops are split into fixed tiles (matmul:
// batch x M-block x N-block, never K; attention: batch x head x query-block) whose sizes depend
// only on the descriptor and the ISA variant, and each tile computes the same way on any thread.
// They may differ between ISA variants (FMA vs separate multiply and add, vector widths).
#pragma once
#include "kernelport.h"
#include "../../native/src/thread_pool.h"

namespace kp::cpu {

// Which kernel path runs: the best the CPU and OS support (cpu_features: kp_cpu_info.features),
// or KERNELPORT_CPU_ISA (avx512 | avx2 | neon | generic | auto) when set.
// Returns "avx512" | "avx2" | "generic" (| "neon" on aarch64) and makes it the process-wide
// active variant. When the forced variant is unknown, not compiled in, or needs features the CPU
// lacks, returns nullptr, sets *error to a message naming what is missing (valid until the next
// call on this thread) and leaves the active variant unchanged. *error is nullptr on success.
const char* select_isa(uint32_t cpu_features, const char** error);

// Forces the active variant by name (one of compiled_variants()); false if there is no such
// variant. No feature check: for tests and benchmarks that compare variants on a capable CPU.
bool set_isa(const char* isa);

// The variant matmul/attention run now. If select_isa/set_isa was never called, the first use
// selects one from the compiler's cpuid/XCR0 check (honouring a valid KERNELPORT_CPU_ISA).
const char* active_isa();

// Variants compiled into this build, best first, nullptr-terminated (e.g. avx512, avx2, generic).
const char* const* compiled_variants();

void matmul(const kp_matmul_desc& d, const void* a, const void* b, const void* bias, const void* residual,
            void* out, ThreadPool& pool);

void attention(const kp_attention_desc& d, const void* q, const void* k, const void* v, const int32_t* kv_lengths,
               const float* mask, void* out, float* lse, ThreadPool& pool);

}  // namespace kp::cpu
