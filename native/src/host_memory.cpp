// Host memory for the cpu backend: 64-byte aligned blocks, large ones on transparent huge pages,
// and a bounded cache of freed large blocks (their sizes are recorded here, so freeing needs only
// the pointer, as the backend interface gives it).
//
// Why the cache: a framework allocates the same output shapes every step. Without it each large
// allocation is fresh memory whose pages the kernel faults in and zeroes while our kernel writes
// them (perf's clear_page_erms: 5% of an attention op with a 16 MiB output, 25% of a 256^3 matmul
// whose 256 KiB output glibc keeps handing back to the OS), then unmapped on dispose. Blocks are
// reused only at their exact rounded size, so nothing is split or coalesced; the cache holds at
// most kCacheCap bytes (or KERNELPORT_CPU_CACHE_BYTES; 0 turns it off)
// and gives back its oldest blocks first.
#include "host_memory.h"

#include <atomic>

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <unordered_map>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "cpu_probe.h"
#include "kernelport.h"

namespace kp {
namespace {

constexpr size_t kHuge = size_t{2} << 20;
constexpr size_t kCacheMin = size_t{64} << 10;  // smaller blocks: malloc's own free lists do well
constexpr size_t kCacheCap = size_t{1} << 30;

struct Block {
  void* p;
  size_t bytes;
};

class BlockCache {
 public:
  BlockCache() : cap_(initial_cap()) {}

  void record(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    sizes_[p] = bytes;
  }

  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = blocks_.end(); it != blocks_.begin();) {  // newest first: its pages are the warmest
      --it;
      if (it->bytes == bytes) {
        void* p = it->p;
        held_ -= bytes;
        blocks_.erase(it);
        return p;
      }
    }
    return nullptr;
  }

  // A freed block: false if it is not a recorded large block (the caller frees it). Otherwise it is
  // kept, and the oldest blocks that no longer fit under the cap are freed (this one at once if it is
  // bigger than the cap) — outside the lock.
  bool release(void* p) {
    std::deque<Block> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = sizes_.find(p);
      if (it == sizes_.end()) return false;
      if (it->second > cap_) {  // never fits: freed at once, the cached blocks stay
        evicted.push_back({p, it->second});
        sizes_.erase(it);
      } else {
        blocks_.push_back({p, it->second});
        held_ += it->second;
      }
      while (held_ > cap_) {
        evicted.push_back(blocks_.front());
        held_ -= blocks_.front().bytes;
        sizes_.erase(blocks_.front().p);
        blocks_.pop_front();
      }
    }
    for (const Block& b : evicted) std::free(b.p);
    return true;
  }

  void trim() {
    std::deque<Block> all;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      all.swap(blocks_);
      held_ = 0;
      for (const Block& b : all) sizes_.erase(b.p);
    }
    for (const Block& b : all) std::free(b.p);
  }

  size_t held() {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_;
  }

 private:
  static size_t initial_cap() {
    const char* s = std::getenv("KERNELPORT_CPU_CACHE_BYTES");
    if (s && *s) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(s, &end, 10);
      if (*end == '\0') return static_cast<size_t>(v);
    }
    // At most an eighth of the machine: the cache must never be what runs a small box out of memory.
    const int64_t mem = cached_cpu_info().memory_bytes;
    return mem > 0 && static_cast<uint64_t>(mem / 8) < kCacheCap ? static_cast<size_t>(mem / 8) : kCacheCap;
  }

  std::mutex mutex_;
  std::deque<Block> blocks_;  // oldest first
  std::unordered_map<void*, size_t> sizes_;  // every live or cached large block
  size_t held_ = 0;
  const size_t cap_;
};

BlockCache& cache() {
  // Leaked on purpose: buffers may be released by finalizers after static destructors have run.
  static BlockCache* c = new BlockCache();
  return *c;
}

// The size a request is actually allocated at (and cached under).
size_t block_size(size_t bytes) {
  const size_t rounded = ((bytes + 63) / 64) * 64;
  if (rounded == 0) return 64;
  return rounded >= kHuge ? (rounded + kHuge - 1) / kHuge * kHuge : rounded;
}

}  // namespace

void* host_alloc(size_t bytes) {
  // Refuse what the machine cannot hold instead of letting overcommit hand out memory that the
  // OOM killer later takes back by killing the process.
  const int64_t limit = cached_cpu_info().memory_bytes;
  if (limit > 0 && bytes > static_cast<uint64_t>(limit)) return nullptr;
  if (bytes > SIZE_MAX - kHuge) return nullptr;  // block_size would wrap
  const size_t size = block_size(bytes);
  if (size >= kCacheMin)
    if (void* p = cache().take(size)) return p;
  if (size < kCacheMin) return std::aligned_alloc(64, size);
  void* p = std::aligned_alloc(size < kHuge ? 64 : kHuge, size);
  if (!p) {  // the cache's blocks may be what is missing: give them back and try once more
    cache().trim();
    p = std::aligned_alloc(size < kHuge ? 64 : kHuge, size);
    if (!p) return nullptr;
  }
  cache().record(p, size);
  if (size < kHuge) return p;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Large tensors on transparent huge pages (2 MiB aligned, madvise): kernels that walk a weight
  // matrix down its rows (GEMV over B [K,N], packing B) touch a new 4 KiB page per row otherwise,
  // and a TLB miss per row halves the bandwidth they get. Only a hint: without THP it is a no-op.
  madvise(p, size, MADV_HUGEPAGE);
#endif
  return p;
}

void host_free(void* p) {
  if (p && !cache().release(p)) std::free(p);
}

size_t host_cached_bytes() { return cache().held(); }

void host_trim() { cache().trim(); }

namespace {
std::atomic<int64_t> g_open_devices{0};
}  // namespace
void host_device_opened() { g_open_devices.fetch_add(1); }
void host_device_closed() {
  if (g_open_devices.fetch_sub(1) == 1) cache().trim();
}

}  // namespace kp

extern "C" KP_API int64_t kp_memory_cached_bytes(void) { return static_cast<int64_t>(kp::host_cached_bytes()); }
