// kp_cpu_calibrate: this machine's real peaks, for roofline percentages that mean something.
//
// FLOP/s: every ISA kernel path this CPU and build support runs its FMA-throughput loop
// (independent accumulator chains, kernels/cpu/peak_*.cpp) on `threads` threads at once; the best
// of a few timed rounds counts. Bandwidth: a streaming read over a buffer much larger than the last
// level cache (>= 4 x L3, at least 256 MiB), each thread over its own slice, first touched by the
// thread that reads it; the best full pass counts.
// Built without ISA flags: it only calls into the ISA units after checking the CPU supports them.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cpu/cpu_kernels.h"
#include "cpu/peak.h"
#include "cpu_probe.h"
#include "errors.h"

namespace {

using Clock = std::chrono::steady_clock;
using kp::cpu::peak::PeakKernels;

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

// A reusable barrier (C++17 has none).
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const int64_t gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      gen_++;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, count_ = 0;
  int64_t gen_ = 0;
};

// Runs body(thread_index) on `threads` threads (the caller's thread does not compute).
template <class F>
void on_threads(int threads, F body) {
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; t++) pool.emplace_back([&body, t] { body(t); });
  for (auto& th : pool) th.join();
}

std::vector<const PeakKernels*> supported(uint32_t features) {
  std::vector<const PeakKernels*> out;
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX512)
  if ((features & (KP_CPU_AVX512F | KP_CPU_AVX2 | KP_CPU_FMA)) == (KP_CPU_AVX512F | KP_CPU_AVX2 | KP_CPU_FMA))
    out.push_back(&kp::cpu::peak::avx512::kernels);
#endif
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(KP_CPU_NO_AVX2)
  if ((features & (KP_CPU_AVX2 | KP_CPU_FMA)) == (KP_CPU_AVX2 | KP_CPU_FMA)) out.push_back(&kp::cpu::peak::avx2::kernels);
#endif
  out.push_back(&kp::cpu::peak::generic::kernels);
  return out;
}

// FLOP/s of one ISA's FMA loop on all threads: rounds of ~seconds/4 each, the best round counts.
double measure_fma(const PeakKernels& k, int threads, double seconds) {
  // Size a chunk to ~1 ms on one thread so the clock is read rarely.
  float sink = 0;
  int64_t chunk = 1 << 14;
  for (;;) {
    const double t0 = now_s();
    k.fma_loop(chunk, 1.0f, &sink);
    const double dt = now_s() - t0;
    if (dt > 1e-3 || chunk > (int64_t(1) << 30)) break;
    chunk *= 2;
  }
  const int rounds = 4;
  const double per_round = std::max(0.02, seconds / rounds);
  double best = 0;
  std::vector<double> flops(threads);
  std::vector<float> sinks(threads, 0.0f);
  Barrier start(threads), stop(threads);
  double t_begin = 0, t_end = 0;
  for (int r = 0; r < rounds; r++) {
    std::fill(flops.begin(), flops.end(), 0.0);
    on_threads(threads, [&](int t) {
      start.wait();
      if (t == 0) t_begin = now_s();
      const double deadline = now_s() + per_round;
      double f = 0;
      do f += k.fma_loop(chunk, 1.0f + static_cast<float>(t), &sinks[static_cast<size_t>(t)]);
      while (now_s() < deadline);
      flops[static_cast<size_t>(t)] = f;
      stop.wait();
      if (t == 0) t_end = now_s();
    });
    double total = 0;
    for (double f : flops) total += f;
    best = std::max(best, total / (t_end - t_begin));
  }
  volatile float keep = sink;
  for (float s : sinks) keep = keep + s;
  (void)keep;
  return best;
}

// Streaming-read bytes/s on all threads: the best of several synchronised full passes.
double measure_read(const PeakKernels& k, int threads, double seconds, int64_t bytes) {
  const int64_t n = bytes / static_cast<int64_t>(sizeof(float));
  float* data = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(n) * sizeof(float)));
  if (!data) throw kp::Error(KP_ERR_OUT_OF_MEMORY, "calibrate: cannot allocate the bandwidth buffer");
  const int64_t per = (n / threads) & ~int64_t(63);
  Barrier barrier(threads);
  std::vector<float> sums(threads, 0.0f);
  double best = 0;
  const double t_stop = now_s() + seconds;
  bool more = true;
  on_threads(threads, [&](int t) {
    float* mine = data + per * t;
    const int64_t len = t == threads - 1 ? n - per * t : per;
    for (int64_t i = 0; i < len; i++) mine[i] = static_cast<float>(i & 1023) * 1e-3f;  // first touch: pages land near this thread
    int passes = 0;
    for (;;) {
      barrier.wait();
      const double t0 = now_s();
      sums[static_cast<size_t>(t)] += k.read_sum(mine, len);
      barrier.wait();
      if (t == 0) {
        const double dt = now_s() - t0;
        if (passes > 0) best = std::max(best, static_cast<double>(n) * sizeof(float) / dt);  // pass 0 warms the TLB
        more = passes < 2 || (now_s() < t_stop && passes < 200);
      }
      passes++;
      barrier.wait();
      if (!more) break;
    }
  });
  volatile float keep = 0;
  for (float s : sums) keep = keep + s;
  (void)keep;
  std::free(data);
  return best;
}

}  // namespace

extern "C" KP_API kp_status kp_cpu_calibrate(int32_t threads, double seconds, kp_cpu_peaks* out) {
  if (!out) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_cpu_calibrate: out is NULL");
  if (out->struct_size < sizeof(kp_cpu_peaks))
    return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_cpu_calibrate: out->struct_size is smaller than this library's kp_cpu_peaks");
  if (threads > 1024) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_cpu_calibrate: threads must be <= 1024");
  if (!(seconds <= 60)) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_cpu_calibrate: seconds must be a number <= 60");
  try {
    kp::clear_error();
    const double t0 = now_s();
    const kp_cpu_info& info = kp::cached_cpu_info();
    const int n = threads > 0 ? threads : std::max(1, static_cast<int>(info.usable_cores));
    const double budget = seconds > 0 ? seconds : 0.5;
    const uint32_t size = out->struct_size;
    std::memset(out, 0, sizeof(kp_cpu_peaks));
    out->struct_size = size;
    out->threads = n;
    const char* active = kp::cpu::active_isa();
    std::snprintf(out->active_isa, sizeof out->active_isa, "%s", active ? active : "generic");
    const PeakKernels* fastest_read = nullptr;
    for (const PeakKernels* k : supported(info.features)) {
      if (out->n_isa >= KP_CPU_PEAK_MAX_ISA) break;
      kp_cpu_isa_peak& p = out->isa[out->n_isa++];
      std::snprintf(p.isa, sizeof p.isa, "%s", k->isa);
      p.flops_f32 = measure_fma(*k, n, budget);
      if (std::strcmp(k->isa, out->active_isa) == 0) out->flops_f32 = p.flops_f32;
      if (!fastest_read) fastest_read = k;
    }
    if (out->flops_f32 == 0 && out->n_isa > 0) out->flops_f32 = out->isa[out->n_isa - 1].flops_f32;
    int64_t bytes = std::max<int64_t>(int64_t(256) << 20, 4 * info.l3_bytes);
    if (info.memory_bytes > 0) bytes = std::min<int64_t>(bytes, info.memory_bytes / 4);
    bytes &= ~int64_t(4095);
    out->buffer_bytes = bytes;
    out->read_bandwidth = measure_read(*fastest_read, n, budget, bytes);
    out->seconds = now_s() - t0;
    return KP_OK;
  } catch (const kp::Error& e) {
    return kp::fail(e.status, e.what());
  } catch (const std::bad_alloc&) {
    return kp::fail(KP_ERR_OUT_OF_MEMORY, "kp_cpu_calibrate: out of host memory");
  } catch (const std::exception& e) {
    return kp::fail(KP_ERR_INTERNAL, e.what());
  }
}
