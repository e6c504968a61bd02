// The GPU backend's host side, built into the backend libraries (libkernelport_cuda.so,
// libkernelport_musa.so and the emulated musa library) and written against the vendor-neutral layer
// only (runtime.h), so the MUSA libraries compile it unchanged.
//
// Per device: one stream (every op and read in queue order), a second stream for uploads, a caching
// allocator (freed blocks are reused once the stream has passed the point where they were freed:
// an event recorded at free time), pinned staging buffers for uploads and reads, and a sticky
// "lost" state: after an error that destroys the context (illegal address, launch failure, ...)
// every call fails with the original error and says the device is lost.
//
// Every failing vendor call becomes a status plus a message naming the call and the vendor's error
// name and code; out-of-memory names the bytes requested and free. No exception leaves this file.
#include <cstdio>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "plugin.h"
#include "runtime.h"
#include "../../kernels/gpu/kernels.h"

namespace {

thread_local std::string t_last_error;

struct Fail {
  kp_status status;
  std::string message;
};

constexpr size_t kStagingBytes = size_t(8) << 20;

struct Block {
  void* ptr;
  size_t size;
  kp_gpu_event_t freed;  // recorded on the stream when the block was freed
};

struct State {
  int index = 0;
  kp::gpu::DeviceCaps caps;
  kp_gpu_stream_t stream = nullptr, upload = nullptr;
  std::string name;

  std::mutex mutex;  // allocator, lost state
  std::multimap<size_t, Block> cache;
  std::unordered_map<void*, size_t> live;
  std::vector<kp_gpu_event_t> events;
  size_t cached_bytes = 0;
  // Above this the cache is given back (a device sync and a free of every cached block): a quarter of
  // the device's memory. A fixed 1 GiB made 500 live 4 MiB outputs on an H100 cost a malloc per op and a
  // sync per dispose (enqueue 54 us per op against 20 with 50 live).
  size_t cache_cap = size_t(1) << 30;

  std::mutex upload_mutex;
  void* up_staging = nullptr;
  void* down_staging = nullptr;  // queue thread only

  bool lost = false;
  std::string lost_message;
  // KERNELPORT_GPU_INJECT_FAULT=N: the N-th matmul of this device is followed by a faulting kernel
  // (testing the device-lost path on a real GPU; 0: never).
  long fault_after_matmuls = 0;
  // KERNELPORT_GPU_EXACT_ALLOC=1: every buffer at its exact size, never cached, so that a memory checker
  // (compute-sanitizer, or AddressSanitizer over the CPU emulator) sees a kernel reading past its buffer.
  bool exact_alloc = false;
};

std::string describe(kp_gpu_error_t e) {
  return std::string(kp_gpu_error_name(e)) + " (" + std::to_string(static_cast<int>(e)) + "): " + kp_gpu_error_string(e);
}

void mark_lost(State* s, const std::string& msg) {
  std::lock_guard<std::mutex> lock(s->mutex);
  if (!s->lost) {
    s->lost = true;
    s->lost_message = msg;
  }
}

// Throws Fail for a failing call; a context-destroying error marks the device lost.
void check(State* s, kp_gpu_error_t e, const char* call) {
  if (e == kp_gpu_success) return;
  const std::string msg = std::string(call) + " failed: " + describe(e);
  if (kp_gpu_error_is_sticky(e)) {
    const std::string lost = "the " KP_GPU_VENDOR_NAME " device is lost (" + msg + "); reopen it (a new process may be needed)";
    if (s) mark_lost(s, lost);
    throw Fail{KP_ERR_UNAVAILABLE, lost};
  }
  throw Fail{kp_gpu_error_is_oom(e) ? KP_ERR_OUT_OF_MEMORY : KP_ERR_INTERNAL, msg};
}

void enter(State* s) {
  {
    std::lock_guard<std::mutex> lock(s->mutex);
    if (s->lost) throw Fail{KP_ERR_UNAVAILABLE, s->lost_message};
  }
  check(s, kp_gpu_set_device(s->index), KP_GPU_VENDOR_NAME " set device");
}

template <class F>
kp_status guarded(F&& body) {
  try {
    t_last_error.clear();
    body();
    return KP_OK;
  } catch (const Fail& f) {
    t_last_error = f.message;
    return f.status;
  } catch (const std::bad_alloc&) {
    t_last_error = "out of host memory in the " KP_GPU_VENDOR_NAME " backend";
    return KP_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    t_last_error = e.what();
    return KP_ERR_INTERNAL;
  }
}

// The warp size kernels are planned for. The device's own, except in the emulated musa library
// (KP_MUSA_EMULATED: the MUSA build running on an NVIDIA GPU through native/test/musa_on_cuda/), where
// KERNELPORT_MUSA_WARP_SIZE=128 (or 64) plans every kernel as on mp_21/mp_22's 128-thread warps: the
// tensor-core GEMM is then never chosen and attention's row groups must divide 128. Shuffle widths
// stay those row groups (at most 16 lanes), which a 32-lane warp runs exactly as a 128-lane one does.
int planned_warp_size(int device_warp) {
#if defined(KP_MUSA_EMULATED)
  const char* s = std::getenv("KERNELPORT_MUSA_WARP_SIZE");
  if (s && *s) {
    const int w = std::atoi(s);
    if (w != 32 && w != 64 && w != 128)
      throw Fail{KP_ERR_INVALID_ARGUMENT, std::string("KERNELPORT_MUSA_WARP_SIZE must be 32, 64 or 128, got '") + s + "'"};
    if (w % device_warp != 0)
      throw Fail{KP_ERR_INVALID_ARGUMENT, "KERNELPORT_MUSA_WARP_SIZE=" + std::to_string(w) +
                                              " is not a multiple of the device's warp (" + std::to_string(device_warp) + ")"};
    return w;
  }
#endif
  return device_warp;
}

int env_gemm_mode() {
  const char* s = std::getenv("KERNELPORT_GPU_GEMM");
  if (!s || !*s || !std::strcmp(s, "auto")) return 0;
  if (!std::strcmp(s, "simt")) return 1;
  if (!std::strcmp(s, "mma")) return 2;
  if (!std::strcmp(s, "wgmma")) return 3;
  if (!std::strcmp(s, "wgmma-cluster")) return 4;
  if (!std::strcmp(s, "wgmma-cluster2x2")) return 5;
  throw Fail{KP_ERR_INVALID_ARGUMENT,
             std::string("KERNELPORT_GPU_GEMM must be auto, simt, mma, wgmma, wgmma-cluster or wgmma-cluster2x2, got '") + s + "'"};
}

// A count from 1 to `most` in the variable `name`'s value s, else an error saying what it must be.
int env_count(const char* name, const char* s, long most, const char* must_be) {
  char* end = nullptr;
  const long n = std::strtol(s, &end, 10);
  if (*end || n < 1 || n > most) throw Fail{KP_ERR_INVALID_ARGUMENT, std::string(name) + " must be " + must_be + ", got '" + s + "'"};
  return static_cast<int>(n);
}

int env_gemm_splitk() {
  const char* s = std::getenv("KERNELPORT_GPU_GEMM_SPLITK");
  if (!s || !*s || !std::strcmp(s, "auto")) return 0;
  return env_count("KERNELPORT_GPU_GEMM_SPLITK", s, 64, "auto or a split count from 1 (never split) to 64");
}

int env_attention_mode() {
  const char* s = std::getenv("KERNELPORT_GPU_ATTENTION");
  if (!s || !*s || !std::strcmp(s, "auto")) return 0;
  if (!std::strcmp(s, "simt")) return 1;
  if (!std::strcmp(s, "mma")) return 2;
  if (!std::strcmp(s, "wgmma")) return 3;
  throw Fail{KP_ERR_INVALID_ARGUMENT, std::string("KERNELPORT_GPU_ATTENTION must be auto, simt, mma or wgmma, got '") + s + "'"};
}

int env_attention_keys() {
  const char* s = std::getenv("KERNELPORT_GPU_ATTENTION_KEYS");
  if (!s || !*s || !std::strcmp(s, "auto")) return 0;
  if (!std::strcmp(s, "64")) return 64;
  throw Fail{KP_ERR_INVALID_ARGUMENT, std::string("KERNELPORT_GPU_ATTENTION_KEYS must be auto or 64, got '") + s + "'"};
}

// Query heads per group of the tensor-core attention's launch order (attention_order.h): auto (sized
// from L2), all (every head in one group: the order before groups, for an A/B), or a count.
int env_attention_group() {
  const char* s = std::getenv("KERNELPORT_GPU_ATTENTION_GROUP");
  if (!s || !*s || !std::strcmp(s, "auto")) return 0;
  if (!std::strcmp(s, "all")) return INT32_MAX;
  return env_count("KERNELPORT_GPU_ATTENTION_GROUP", s, INT32_MAX, "auto, all or a head count from 1");
}

// KERNELPORT_GPU_SMEM_LIMIT=n: plan as if a block could opt in to at most n bytes of shared memory (never
// more than the device's): a 99 KiB part's kernel layouts (101376: L20, RTX 4090D) on a larger GPU,
// which is how the D = 192 attention's one-V layout runs on an H100. 0: the device's own limit.
int env_smem_limit(int device) {
  const char* s = std::getenv("KERNELPORT_GPU_SMEM_LIMIT");
  if (!s || !*s || !std::strcmp(s, "auto")) return device;
  return std::min(device, env_count("KERNELPORT_GPU_SMEM_LIMIT", s, INT32_MAX, "auto or a byte count from 1"));
}

// ---- allocator -------------------------------------------------------------------------------------
size_t round_size(size_t n) {
  if (n == 0) return 256;
  if (n < (size_t(1) << 20)) return (n + 511) / 512 * 512;
  return (n + (size_t(2) << 20) - 1) / (size_t(2) << 20) * (size_t(2) << 20);
}

void release_cache(State* s) {  // mutex held
  for (auto& kv : s->cache) {
    kp_gpu_free(kv.second.ptr);
    s->events.push_back(kv.second.freed);
  }
  s->cache.clear();
  s->cached_bytes = 0;
}

void* alloc_block(State* s, size_t bytes) {
  const size_t want = s->exact_alloc ? std::max<size_t>(bytes, 1) : round_size(bytes);
  if (!s->exact_alloc) {
    std::lock_guard<std::mutex> lock(s->mutex);
    // The smallest cached block that fits with at most 25% slack, once the stream is past its free.
    for (auto it = s->cache.lower_bound(want); it != s->cache.end() && it->first <= want + want / 4; ++it) {
      const kp_gpu_error_t q = kp_gpu_event_query(it->second.freed);
      if (q == kp_gpu_not_ready) continue;
      if (q != kp_gpu_success) (void)kp_gpu_last_error();
      void* p = it->second.ptr;
      s->events.push_back(it->second.freed);
      s->cached_bytes -= it->first;
      s->live[p] = it->first;
      s->cache.erase(it);
      return p;
    }
  }
  void* p = nullptr;
  kp_gpu_error_t e = kp_gpu_malloc(&p, want);
  if (kp_gpu_error_is_oom(e)) {
    (void)kp_gpu_last_error();
    kp_gpu_stream_sync(s->stream);
    {
      std::lock_guard<std::mutex> lock(s->mutex);
      release_cache(s);
    }
    e = kp_gpu_malloc(&p, want);
  }
  if (kp_gpu_error_is_oom(e)) {
    (void)kp_gpu_last_error();
    size_t free_b = 0, total = 0;
    kp_gpu_mem_info(&free_b, &total);
    throw Fail{KP_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes on " + s->name + ": " +
                                         std::to_string(free_b) + " bytes free of " + std::to_string(total) +
                                         " (" KP_GPU_VENDOR_NAME " malloc: out of memory)"};
  }
  check(s, e, KP_GPU_VENDOR_NAME " malloc");
  std::lock_guard<std::mutex> lock(s->mutex);
  s->live[p] = want;
  return p;
}

void free_block(State* s, void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(s->mutex);
  auto it = s->live.find(p);
  if (it == s->live.end()) return;
  const size_t size = it->second;
  s->live.erase(it);
  if (s->lost) return;  // nothing can be freed through a lost context; the process keeps it
  if (s->exact_alloc) {
    kp_gpu_stream_sync(s->stream);
    kp_gpu_free(p);
    return;
  }
  kp_gpu_event_t ev = nullptr;
  if (!s->events.empty()) {
    ev = s->events.back();
    s->events.pop_back();
  } else if (kp_gpu_event_create(&ev) != kp_gpu_success) {
    (void)kp_gpu_last_error();
    kp_gpu_stream_sync(s->stream);
    kp_gpu_free(p);
    return;
  }
  kp_gpu_event_record(ev, s->stream);  // reuse waits until the stream has passed every use of p
  s->cache.emplace(size, Block{p, size, ev});
  s->cached_bytes += size;
  // Keep the cache from hoarding memory other processes may want: above the cap, give it all back.
  if (s->cached_bytes > s->cache_cap) {
    kp_gpu_stream_sync(s->stream);
    release_cache(s);
  }
}

// ---- plugin entry points ---------------------------------------------------------------------------
const char* p_last_error() { return t_last_error.c_str(); }

kp_status p_create(int32_t index, void** out) {
  *out = nullptr;
  State* s = nullptr;
  kp_status st = guarded([&] {
    s = new State();
    s->index = index;
    check(s, kp_gpu_set_device(index), KP_GPU_VENDOR_NAME " set device");
    int v = 0;
    auto attr = [&](int which, const char* what) {
      check(s, kp_gpu_device_attribute(&v, which, index), what);
      return v;
    };
    s->caps.warp_size = planned_warp_size(attr(KP_GPU_ATTR_WARP_SIZE, KP_GPU_VENDOR_NAME " device attribute (warp size)"));
    s->caps.multiprocessors = attr(KP_GPU_ATTR_MULTIPROCESSORS, KP_GPU_VENDOR_NAME " device attribute (multiprocessors)");
    s->caps.cc_major = attr(KP_GPU_ATTR_CC_MAJOR, KP_GPU_VENDOR_NAME " device attribute (compute capability)");
    s->caps.cc_minor = attr(KP_GPU_ATTR_CC_MINOR, KP_GPU_VENDOR_NAME " device attribute (compute capability)");
    s->caps.smem_optin = env_smem_limit(attr(KP_GPU_ATTR_SMEM_PER_BLOCK_OPTIN, KP_GPU_VENDOR_NAME " device attribute (shared memory)"));
    s->caps.l2_bytes = attr(KP_GPU_ATTR_L2_BYTES, KP_GPU_VENDOR_NAME " device attribute (L2 size)");
    s->caps.gemm_mode = env_gemm_mode();
    s->caps.gemm_splitk = env_gemm_splitk();
    s->caps.attention_mode = env_attention_mode();
    s->caps.attention_keys = env_attention_keys();
    s->caps.attention_group = env_attention_group();
    if (const char* f = std::getenv("KERNELPORT_GPU_INJECT_FAULT")) s->fault_after_matmuls = std::atol(f);
    if (const char* x = std::getenv("KERNELPORT_GPU_EXACT_ALLOC")) s->exact_alloc = *x && *x != '0';
    s->name = std::string(KP_GPU_VENDOR_NAME) + " device " + std::to_string(index);
    size_t free_b = 0, total = 0;
    if (kp_gpu_mem_info(&free_b, &total) == kp_gpu_success && total > 0) s->cache_cap = total / 4;
    else (void)kp_gpu_last_error();
    check(s, kp_gpu_stream_create(&s->stream), KP_GPU_VENDOR_NAME " stream create");
    check(s, kp_gpu_stream_create(&s->upload), KP_GPU_VENDOR_NAME " stream create");
  });
  // A device that cannot be set up (driver too old for this runtime, no such device) is unavailable.
  if (st == KP_ERR_INTERNAL) st = KP_ERR_UNAVAILABLE;
  if (st != KP_OK) {
    if (s) {
      if (s->stream) kp_gpu_stream_destroy(s->stream);
      if (s->upload) kp_gpu_stream_destroy(s->upload);
      delete s;
    }
    return st;
  }
  *out = s;
  return KP_OK;
}

void p_destroy(void* state) {
  auto* s = static_cast<State*>(state);
  if (!s) return;
  if (!s->lost && kp_gpu_set_device(s->index) == kp_gpu_success) {
    kp_gpu_stream_sync(s->stream);
    std::lock_guard<std::mutex> lock(s->mutex);
    release_cache(s);
    for (auto& kv : s->live) kp_gpu_free(kv.first);  // buffers outlive their device only in the core's accounting
    for (auto e : s->events) kp_gpu_event_destroy(e);
    if (s->up_staging) kp_gpu_free_host(s->up_staging);
    if (s->down_staging) kp_gpu_free_host(s->down_staging);
    kp_gpu_stream_destroy(s->stream);
    kp_gpu_stream_destroy(s->upload);
  }
  delete s;
}

kp_status p_alloc(void* state, size_t bytes, void** out) {
  auto* s = static_cast<State*>(state);
  return guarded([&] {
    enter(s);
    *out = alloc_block(s, bytes);
  });
}

void p_free(void* state, void* ptr) {
  auto* s = static_cast<State*>(state);
  (void)guarded([&] {
    if (kp_gpu_set_device(s->index) != kp_gpu_success) (void)kp_gpu_last_error();
    free_block(s, ptr);
  });
}

kp_status p_write(void* state, void* dst, const void* src, size_t bytes) {
  auto* s = static_cast<State*>(state);
  return guarded([&] {
    enter(s);
    std::lock_guard<std::mutex> lock(s->upload_mutex);
    if (!s->up_staging) check(s, kp_gpu_malloc_host(&s->up_staging, kStagingBytes), KP_GPU_VENDOR_NAME " pinned host alloc");
    for (size_t off = 0; off < bytes; off += kStagingBytes) {
      const size_t n = bytes - off < kStagingBytes ? bytes - off : kStagingBytes;
      std::memcpy(s->up_staging, static_cast<const char*>(src) + off, n);
      check(s, kp_gpu_memcpy_h2d_async(static_cast<char*>(dst) + off, s->up_staging, n, s->upload), KP_GPU_VENDOR_NAME " memcpy host to device");
      check(s, kp_gpu_stream_sync(s->upload), KP_GPU_VENDOR_NAME " upload synchronize");
    }
  });
}

kp_status p_read(void* state, const void* src, void* dst, size_t bytes) {
  auto* s = static_cast<State*>(state);
  return guarded([&] {
    enter(s);
    if (!s->down_staging) check(s, kp_gpu_malloc_host(&s->down_staging, kStagingBytes), KP_GPU_VENDOR_NAME " pinned host alloc");
    // The sync also surfaces an asynchronous kernel fault of an earlier op.
    check(s, kp_gpu_stream_sync(s->stream), KP_GPU_VENDOR_NAME " stream synchronize (an earlier kernel failed)");
    for (size_t off = 0; off < bytes; off += kStagingBytes) {
      const size_t n = bytes - off < kStagingBytes ? bytes - off : kStagingBytes;
      check(s, kp_gpu_memcpy_d2h_async(s->down_staging, static_cast<const char*>(src) + off, n, s->stream), KP_GPU_VENDOR_NAME " memcpy device to host");
      check(s, kp_gpu_stream_sync(s->stream), KP_GPU_VENDOR_NAME " stream synchronize");
      std::memcpy(static_cast<char*>(dst) + off, s->down_staging, n);
    }
  });
}

void check_launch(State* s, const char* variant) {
  const kp_gpu_error_t e = kp_gpu_last_error();
  if (e != kp_gpu_success) check(s, e, (std::string("kernel launch (") + variant + ")").c_str());
}

// Runs launch(ws) with a workspace block of `bytes` (none for 0), freed after the launch (reused once the
// stream has passed it) or when it throws; an allocation failure names `what` and the size.
template <class Launch>
void with_workspace(State* s, size_t bytes, const std::string& what, Launch launch) {
  void* ws = nullptr;
  try {
    ws = bytes ? alloc_block(s, bytes) : nullptr;
  } catch (const Fail& f) {
    throw Fail{f.status, what + " of " + std::to_string(bytes) + " bytes: " + f.message};
  }
  try {
    launch(ws);
  } catch (...) {
    free_block(s, ws);
    throw;
  }
  free_block(s, ws);
}

kp_status p_matmul(void* state, const kp_matmul_desc* d, const void* a, const void* b, const void* bias, const void* residual,
                   void* out) {
  auto* s = static_cast<State*>(state);
  return guarded([&] {
    enter(s);
    if ((d->m + 63) / 64 > 65535 && d->m > 4)
      throw Fail{KP_ERR_UNSUPPORTED, "matmul: m = " + std::to_string(d->m) + " exceeds the " KP_GPU_BACKEND_NAME " kernels' grid (4194240 rows)"};
    const kp::gpu::DeviceCaps caps = kp::gpu::op_caps(s->caps, *d);
    with_workspace(s, kp::gpu::matmul_workspace(caps, *d, a, b), "matmul: its split-K workspace", [&](void* ws) {
      check_launch(s, kp::gpu::launch_matmul(caps, s->stream, *d, a, b, bias, residual, out, ws));
    });
    if (s->fault_after_matmuls > 0 && --s->fault_after_matmuls == 0) check_launch(s, kp::gpu::launch_fault(s->stream));
  });
}

kp_status p_attention(void* state, const kp_attention_desc* d, const void* q, const void* k, const void* v,
                      const int32_t* kv_lengths, const int32_t* kv_lengths_host, const float* mask, void* out, float* lse) {
  auto* s = static_cast<State*>(state);
  return guarded([&] {
    enter(s);
    const kp::gpu::DeviceCaps caps = kp::gpu::op_caps(s->caps, *d);
    const kp::gpu::AttentionPlan plan = kp::gpu::plan_attention(caps, *d, d->has_kv_lengths ? kv_lengths_host : nullptr);
    if (plan.unsupported) throw Fail{KP_ERR_UNSUPPORTED, std::string("attention: ") + plan.unsupported};
    with_workspace(s, plan.workspace, std::string("attention (") + plan.variant + "): its workspace", [&](void* ws) {
      check_launch(s, kp::gpu::launch_attention(caps, s->stream, plan, *d, q, k, v, kv_lengths, mask, out, lse, ws));
    });
  });
}

kp_status p_explain(void* state, int32_t op, const void* desc, char* out, size_t cap) {
  auto* s = static_cast<State*>(state);
  return guarded([&] {
    std::string v;
    if (op == 0) {
      // Alignment is not known without buffers: assume the 16-byte alignment every allocation has.
      static const char aligned[16] __attribute__((aligned(16))) = {0};
      const auto& d = *static_cast<const kp_matmul_desc*>(desc);
      v = kp::gpu::matmul_variant(kp::gpu::op_caps(s->caps, d), d, aligned, aligned);
    } else {
      const auto& d = *static_cast<const kp_attention_desc*>(desc);
      const kp::gpu::AttentionPlan p = kp::gpu::plan_attention(kp::gpu::op_caps(s->caps, d), d, nullptr);
      v = p.unsupported ? std::string("unsupported: ") + p.unsupported : p.variant;
    }
    if (cap) std::snprintf(out, cap, "%s", v.c_str());
  });
}

kp_status p_copy(void* state, void* dst, size_t dst_stride, const void* src, size_t src_stride, size_t row_bytes, size_t rows) {
  auto* s = static_cast<State*>(state);
  return guarded([&] {
    enter(s);
    auto* d = static_cast<char*>(dst);
    const auto* from = static_cast<const char*>(src);
    if (rows == 1 || (dst_stride == row_bytes && src_stride == row_bytes)) {
      check(s, kp_gpu_memcpy_d2d_async(d, from, row_bytes * rows, s->stream), KP_GPU_VENDOR_NAME " memcpy device to device");
    } else if (src_stride >= row_bytes && dst_stride < (size_t(1) << 31) && src_stride < (size_t(1) << 31)) {
      check(s, kp_gpu_memcpy2d_d2d_async(d, dst_stride, from, src_stride, row_bytes, rows, s->stream),
            KP_GPU_VENDOR_NAME " 2D memcpy device to device");
    } else {  // overlapping source rows, or pitches past what the 2D copy takes: one copy per row
      for (size_t r = 0; r < rows; ++r)
        check(s, kp_gpu_memcpy_d2d_async(d + r * dst_stride, from + r * src_stride, row_bytes, s->stream),
              KP_GPU_VENDOR_NAME " memcpy device to device");
    }
  });
}

kp_status p_sync(void* state) {
  auto* s = static_cast<State*>(state);
  return guarded([&] {
    enter(s);
    check(s, kp_gpu_stream_sync(s->stream), KP_GPU_VENDOR_NAME " stream synchronize (an earlier kernel failed)");
  });
}

const kp_gpu_plugin kPlugin = {
    sizeof(kp_gpu_plugin),
    KP_GPU_PLUGIN_ABI,
    KP_ABI_VERSION,
    KP_GPU_BACKEND_NAME,
#if KP_GPU_VENDOR_HAS_MMA_SYNC
    // Every name launch_matmul / launch_attention can return (the wgmma ones run on sm_90a builds only).
    "gemm-simt-128x128,gemm-simt-64x64,gemv-m4,gemm-mma-m16n8k16-f16,gemm-mma-m16n8k16-bf16,gemm-mma-m16n8k8-tf32,"
    "gemm-wgmma-f16,gemm-wgmma-bf16,gemm-wgmma-cluster2-f16,gemm-wgmma-cluster2-bf16,gemm-wgmma-cluster2x2-f16,"
    "gemm-wgmma-cluster2x2-bf16,gemm-wgmma-splitk-f16,gemm-wgmma-splitk-bf16,gemm-wgmma-cluster2-splitk-f16,"
    "gemm-wgmma-cluster2-splitk-bf16,gemm-wgmma-cluster2x2-splitk-f16,gemm-wgmma-cluster2x2-splitk-bf16,flash-attention-simt,flash-decoding-split-kv,flash-attention-mma-m16n8k16,"
    "flash-attention-mma-m16n8k16-p16,flash-attention-mma-m16n8k16-mask,flash-attention-mma-m16n8k16-p16-mask,"
    "flash-attention-wgmma-m64n64k16,flash-attention-wgmma-m64n64k16-p16,"
    "flash-attention-wgmma-m64n64k16-p16-keys64,"
    "flash-decoding-split-kv-vec",
#else
    "gemm-simt-128x128,gemm-simt-64x64,gemv-m4,flash-attention-simt,flash-decoding-split-kv,flash-decoding-split-kv-vec",
#endif
    p_last_error,
    p_create,
    p_destroy,
    p_alloc,
    p_free,
    p_write,
    p_read,
    p_matmul,
    p_attention,
    p_explain,
    p_sync,
    p_copy,
};

}  // namespace

extern "C" KP_API const kp_gpu_plugin* kp_backend_register(uint32_t plugin_abi, uint32_t core_abi) {
  if (plugin_abi != KP_GPU_PLUGIN_ABI || core_abi != KP_ABI_VERSION) return nullptr;
  return &kPlugin;
}
