// The cpu backend: host memory and the kernels in kernels/cpu, run on a limited view of the
// process-wide thread pool (an op's descriptor may cap it further: max_threads, for autotuning).
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "backend.h"
#include "cpu/cpu_kernels.h"
#include "cpu_probe.h"
#include "errors.h"
#include "host_memory.h"
#include "thread_pool.h"

namespace kp {
namespace {

struct CpuState {
  std::unique_ptr<ThreadPool> pool;
  // Views of the shared pool with fewer threads, for ops whose descriptor caps them (max_threads),
  // made on first use and kept: views[n] uses n threads. The device's queue thread is the only
  // caller, but the lock keeps that an assumption rather than a requirement.
  std::mutex views_mutex;
  std::vector<std::unique_ptr<ThreadPool>> views;

  // The pool an op runs on: the device's, or a view of at most max_threads (0 = the device's).
  ThreadPool& for_op(int32_t max_threads) {
    if (max_threads <= 0 || max_threads >= pool->threads()) return *pool;
    std::lock_guard<std::mutex> lock(views_mutex);
    if (views.size() <= static_cast<size_t>(max_threads)) views.resize(static_cast<size_t>(max_threads) + 1);
    auto& v = views[static_cast<size_t>(max_threads)];
    if (!v) v = make_limited_pool(max_threads);
    return *v;
  }
};

int threads_from_env() {
  const char* s = std::getenv("KERNELPORT_NUM_THREADS");
  if (!s || !*s) return 0;
  char* end = nullptr;
  long n = std::strtol(s, &end, 10);
  return (*end == '\0' && n > 0 && n <= 1024) ? static_cast<int>(n) : -1;
}

void* cpu_create(int32_t threads, int32_t, kp_status* status) {
  const kp_cpu_info& info = cached_cpu_info();
  const char* isa_error = nullptr;
  cpu::select_isa(info.features, &isa_error);
  if (isa_error) {
    *status = fail(KP_ERR_UNSUPPORTED, isa_error);
    return nullptr;
  }
  if (threads <= 0) {
    const int env = threads_from_env();
    if (env < 0) {
      *status = fail(KP_ERR_INVALID_ARGUMENT, std::string("KERNELPORT_NUM_THREADS must be an integer in [1, 1024], got '") +
                                                  std::getenv("KERNELPORT_NUM_THREADS") + "'");
      return nullptr;
    }
    threads = env > 0 ? env : info.usable_cores;
  }
  auto* st = new (std::nothrow) CpuState();
  if (!st) {
    *status = fail(KP_ERR_OUT_OF_MEMORY, "cannot allocate the cpu device");
    return nullptr;
  }
  st->pool = make_limited_pool(threads);
  host_device_opened();
  return st;
}

void cpu_destroy(void* state) {
  delete static_cast<CpuState*>(state);
  host_device_closed();  // the last one leaves no cached blocks behind
}
int32_t cpu_threads(void* state) { return static_cast<CpuState*>(state)->pool->threads(); }

void* cpu_alloc(void*, size_t bytes) { return host_alloc(bytes); }

void cpu_free(void*, void* data) { host_free(data); }

void cpu_matmul(void* state, const kp_matmul_desc& d, const void* a, const void* b, const void* bias,
                const void* residual, void* out) {
  cpu::matmul(d, a, b, bias, residual, out, static_cast<CpuState*>(state)->for_op(d.max_threads));
}

void cpu_attention(void* state, const kp_attention_desc& d, const void* q, const void* k, const void* v,
                   const int32_t* kv_lengths, const int32_t*, const float* mask, void* out, float* lse) {
  cpu::attention(d, q, k, v, kv_lengths, mask, out, lse, static_cast<CpuState*>(state)->for_op(d.max_threads));
}

const Backend kCpu = {"cpu", cpu_create, cpu_destroy, cpu_threads, cpu_alloc, cpu_free, cpu_matmul, cpu_attention};

}  // namespace

const Backend* cpu_backend() { return &kCpu; }

}  // namespace kp
