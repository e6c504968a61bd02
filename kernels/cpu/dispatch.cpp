// Chooses the kernel variant for this CPU and runs ops on the thread pool.
// Built with NO ISA flags: it runs before anything knows what the CPU supports.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu_kernels.h"
#include "isa_kernels.h"

namespace kp::cpu {
namespace {

struct Variant {
  const char* name;
  uint32_t needs;  // KP_CPU_* bits the unit's -m flags assume
  const GemmKernels* gemm;
  const AttentionKernels* attention;
};

// Best first.
const Variant kVariants[] = {
#ifdef KP_CPU_HAVE_AVX512
    {"avx512", KP_CPU_AVX512F | KP_CPU_AVX512BW | KP_CPU_AVX512VL | KP_CPU_AVX2 | KP_CPU_AVX | KP_CPU_FMA | KP_CPU_F16C,
     &avx512::gemm_kernels, &avx512::attention_kernels},
#endif
#ifdef KP_CPU_HAVE_AVX2
    {"avx2", KP_CPU_AVX2 | KP_CPU_AVX | KP_CPU_FMA | KP_CPU_F16C, &avx2::gemm_kernels, &avx2::attention_kernels},
#endif
#ifdef KP_CPU_HAVE_NEON
    {"neon", KP_CPU_NEON, &neon::gemm_kernels, &neon::attention_kernels},
#endif
    {"generic", 0, &generic::gemm_kernels, &generic::attention_kernels},
};
constexpr size_t kNumVariants = sizeof kVariants / sizeof kVariants[0];

const char* const kVariantNames[] = {
#ifdef KP_CPU_HAVE_AVX512
    "avx512",
#endif
#ifdef KP_CPU_HAVE_AVX2
    "avx2",
#endif
#ifdef KP_CPU_HAVE_NEON
    "neon",
#endif
    "generic", nullptr};

std::atomic<const Variant*> g_active{nullptr};

const Variant* find_variant(const char* name) {
  for (const Variant& v : kVariants)
    if (std::strcmp(v.name, name) == 0) return &v;
  return nullptr;
}

struct Feature {
  uint32_t bit;
  const char* name;
};
const Feature kFeatures[] = {
    {KP_CPU_AVX, "avx"},           {KP_CPU_AVX2, "avx2"},         {KP_CPU_FMA, "fma"},
    {KP_CPU_F16C, "f16c"},         {KP_CPU_AVX512F, "avx512f"},   {KP_CPU_AVX512BW, "avx512bw"},
    {KP_CPU_AVX512VL, "avx512vl"}, {KP_CPU_NEON, "neon"},
};

std::string missing_features(uint32_t missing) {
  std::string s;
  for (const Feature& f : kFeatures) {
    if (!(missing & f.bit)) continue;
    if (!s.empty()) s += ", ";
    s += f.name;
  }
  return s;
}

std::string compiled_list() {
  std::string s;
  for (const Variant& v : kVariants) {
    if (!s.empty()) s += ", ";
    s += v.name;
  }
  return s;
}

const Variant* best_for(uint32_t features) {
  for (const Variant& v : kVariants)
    if ((features & v.needs) == v.needs) return &v;
  return &kVariants[kNumVariants - 1];
}

// Used only when no caller has run select_isa: the compiler's own cpuid + XCR0 check.
uint32_t builtin_features() {
  uint32_t f = 0;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx")) f |= KP_CPU_AVX;
  if (__builtin_cpu_supports("avx2")) f |= KP_CPU_AVX2;
  if (__builtin_cpu_supports("fma")) f |= KP_CPU_FMA;
  if (__builtin_cpu_supports("avx512f")) f |= KP_CPU_AVX512F;
  if (__builtin_cpu_supports("avx512bw")) f |= KP_CPU_AVX512BW;
  if (__builtin_cpu_supports("avx512vl")) f |= KP_CPU_AVX512VL;
  // F16C has no __builtin_cpu_supports name in older compilers; every AVX2 CPU shipped has it.
  if (f & KP_CPU_AVX2) f |= KP_CPU_F16C;
#elif defined(__aarch64__)
  f |= KP_CPU_NEON;
#endif
  return f;
}

const Variant* active() {
  const Variant* v = g_active.load(std::memory_order_acquire);
  if (v) return v;
  const char* err = nullptr;
  select_isa(builtin_features(), &err);
  v = g_active.load(std::memory_order_acquire);
  if (!v) {  // a bad KERNELPORT_CPU_ISA and nobody asked select_isa first: run the best we have
    v = best_for(builtin_features());
    g_active.store(v, std::memory_order_release);
  }
  return v;
}

}  // namespace

const char* select_isa(uint32_t cpu_features, const char** error) {
  static thread_local std::string message;
  if (error) *error = nullptr;
  const char* env = std::getenv("KERNELPORT_CPU_ISA");
  const Variant* chosen = nullptr;
  if (!env || !*env || std::strcmp(env, "auto") == 0) {
    chosen = best_for(cpu_features);
  } else {
    chosen = find_variant(env);
    if (!chosen) {
      const bool known = !std::strcmp(env, "avx512") || !std::strcmp(env, "avx2") || !std::strcmp(env, "neon") ||
                         !std::strcmp(env, "generic");
      message = std::string("KERNELPORT_CPU_ISA=") + env +
                (known ? ": that kernel variant is not compiled into this build"
                       : ": unknown value (expected avx512, avx2, neon, generic or auto)") +
                "; compiled in: " + compiled_list();
    } else if ((cpu_features & chosen->needs) != chosen->needs) {
      message = std::string("KERNELPORT_CPU_ISA=") + env + ": this CPU (or its OS) lacks " +
                missing_features(chosen->needs & ~cpu_features);
      chosen = nullptr;
    }
    if (!chosen) {
      if (error) *error = message.c_str();
      return nullptr;
    }
  }
  g_active.store(chosen, std::memory_order_release);
  return chosen->name;
}

bool set_isa(const char* isa) {
  const Variant* v = isa ? find_variant(isa) : nullptr;
  if (!v) return false;
  g_active.store(v, std::memory_order_release);
  return true;
}

const char* active_isa() { return active()->name; }

const char* const* compiled_variants() { return kVariantNames; }

// The GEMM units' phases on the pool; one task runs inline (no wake-up of the workers).
static void run_on_pool(void* pool, int64_t n, void (*task)(const void* ctx, int64_t i), const void* ctx) {
  if (n <= 0) return;
  if (n == 1) {
    task(ctx, 0);
    return;
  }
  static_cast<ThreadPool*>(pool)->parallel_for(n, [&](int64_t t) { task(ctx, t); });
}

void matmul(const kp_matmul_desc& d, const void* a, const void* b, const void* bias, const void* residual, void* out,
            ThreadPool& pool) {
  const MatmulArgs args{a, b, bias, residual, out};
  const Parallel par{&pool, &run_on_pool, pool.threads()};
  active()->gemm->matmul(d, args, par);
}

void attention(const kp_attention_desc& d, const void* q, const void* k, const void* v, const int32_t* kv_lengths,
               const float* mask, void* out, float* lse, ThreadPool& pool) {
  const AttentionKernels* kern = active()->attention;
  const AttentionPlan plan = kern->plan(d);
  if (plan.rounds <= 0) return;
  // Split-KV partials live in a buffer of the calling (queue) thread that only grows up to kKeep
  // floats, so decoding token after token does not fault fresh pages in every time; a rare larger
  // one is freed when the op is done.
  struct Workspace {
    float* p = nullptr;
    size_t n = 0;
    ~Workspace() { delete[] p; }
  };
  constexpr size_t kKeep = size_t(4) << 20;
  static thread_local Workspace kept;
  Workspace once;
  float* ws = nullptr;
  if (plan.workspace_floats > 0) {
    Workspace& w = plan.workspace_floats <= kKeep ? kept : once;
    if (w.n < plan.workspace_floats) {
      delete[] w.p;
      w.p = nullptr, w.n = 0;
      w.p = new float[plan.workspace_floats];  // bad_alloc: an error on the op's outputs
      w.n = plan.workspace_floats;
    }
    ws = w.p;
  }
  const AttentionArgs args{q, k, v, d.has_kv_lengths ? kv_lengths : nullptr, d.has_mask ? mask : nullptr, out,
                           d.return_lse ? lse : nullptr, ws};
  for (int64_t r = 0; r < plan.rounds; ++r)
    for (int phase = 0; phase < 2; ++phase) {
      const int64_t n = plan.tasks[phase];
      if (n <= 0) continue;
      if (n == 1) kern->run_task(d, args, r, phase, 0);
      else pool.parallel_for(n, [&](int64_t t) { kern->run_task(d, args, r, phase, t); });
    }
}

}  // namespace kp::cpu
