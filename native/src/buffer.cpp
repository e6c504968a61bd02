#include "buffer.h"
#include "device.h"

namespace {
std::atomic<int64_t> g_live_buffers{0}, g_live_bytes{0};
}  // namespace

void kp_buffer::track(size_t bytes) {
  g_live_buffers.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
}

extern "C" KP_API void kp_memory_stats(int64_t* live_buffers, int64_t* live_bytes) {
  if (live_buffers) *live_buffers = g_live_buffers.load();
  if (live_bytes) *live_bytes = g_live_bytes.load();
}

void kp_buffer::release() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    g_live_buffers.fetch_sub(1, std::memory_order_relaxed);
    g_live_bytes.fetch_sub(static_cast<int64_t>(size), std::memory_order_relaxed);
    kp_device* dev = device;
    backend->free(dev->state, data);
    delete this;
    dev->release();
  }
}
