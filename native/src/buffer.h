// Device buffers: reference counted, so a queued op keeps its operands alive after the caller
// releases them, and carrying the error of the op that last wrote them.
#pragma once
#include <atomic>
#include <mutex>
#include <string>
#include "backend.h"

struct kp_buffer {
  kp_device* device;
  const kp::Backend* backend;
  void* data;
  size_t size;
  std::atomic<int> refs{1};

  // Set on the queue thread by a failing op; read by later ops and reads on the same queue.
  kp_status status = KP_OK;
  std::string message;

  // Backends whose memory the host cannot address (GPUs): a host copy of what kp_buffer_write put in
  // a small buffer, so that attention's kv_lengths can be checked without a device round trip.
  // Dropped when an op writes the buffer.
  std::string host_copy;
  bool host_copy_valid = false;

  // The number (kp_device::launched) of the last op that read or wrote it.
  std::atomic<uint64_t> last_op{0};

  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release();
  static void track(size_t bytes);  // counts a new buffer in kp_memory_stats
};

namespace kp {
// Holds one reference for the lifetime of a queued command.
struct BufferRef {
  kp_buffer* buf = nullptr;
  BufferRef() = default;
  explicit BufferRef(kp_buffer* b) : buf(b) { if (buf) buf->retain(); }
  BufferRef(const BufferRef& o) : BufferRef(o.buf) {}
  BufferRef(BufferRef&& o) noexcept : buf(o.buf) { o.buf = nullptr; }
  BufferRef& operator=(const BufferRef&) = delete;
  ~BufferRef() { if (buf) buf->release(); }
  void* data() const { return buf ? buf->data : nullptr; }
};
}  // namespace kp
