// The C ABI: argument and bounds checks, then commands on the device queue. Nothing here throws
// across the ABI: every entry point turns failures into a status plus kp_last_error().
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backend.h"
#include "buffer.h"
#include "checked_size.h"
#include "cpu_probe.h"
#include "device.h"
#include "errors.h"

#ifndef KP_VERSION_STRING
#define KP_VERSION_STRING "0.0.0"
#endif

using kp::BufferRef;
using kp::Error;

namespace {

template <class F>
kp_status guarded(F&& body) {
  try {
    kp::clear_error();
    return body();
  } catch (const Error& e) {
    return kp::fail(e.status, e.what());
  } catch (const std::bad_alloc&) {
    return kp::fail(KP_ERR_OUT_OF_MEMORY, "out of host memory");
  } catch (const std::exception& e) {
    return kp::fail(KP_ERR_INTERNAL, e.what());
  }
}

void check_buffer(kp_device* dev, kp_buffer* buf, const char* name, int64_t need_bytes) {
  if (!buf) throw Error(KP_ERR_BAD_BUFFER, std::string(name) + " is NULL");
  if (buf->device != dev) throw Error(KP_ERR_BAD_BUFFER, std::string(name) + " belongs to another device");
  if (need_bytes > 0 && static_cast<uint64_t>(need_bytes) > buf->size)
    throw Error(KP_ERR_BAD_BUFFER, std::string(name) + " holds " + std::to_string(buf->size) + " bytes, the descriptor needs " +
                                       std::to_string(need_bytes));
}

// An op's output must not be one of its inputs: kernels read inputs while other blocks or threads
// already write the output, so an aliased result depends on timing (and, on GPUs, is wrong).
void check_distinct(const char* op, kp_buffer* out, const char* out_name,
                    std::initializer_list<std::pair<kp_buffer*, const char*>> inputs) {
  for (const auto& in : inputs)
    if (in.first && in.first == out)
      throw Error(KP_ERR_INVALID_ARGUMENT, std::string(op) + ": " + out_name + " is also " + in.second +
                                               "; outputs must be buffers that no input of the op uses");
}

// Blocking calls from a callback would wait for the queue thread they run on: refused with this.
std::string waits_for_itself(const char* call, const char* instead) {
  return std::string(call) + " was called from a callback on the device's queue thread, where it would wait for itself; " + instead;
}

bool is_flag(int32_t v) { return v == 0 || v == 1; }

// Highest element offset + 1 reachable through batch strides plus an inner extent.
int64_t extent(int rank, const int64_t* shape, const int64_t* strides, int64_t inner, const char* what) {
  int64_t last = 0;
  for (int i = 0; i < rank; i++) {
    kp::require(strides[i] >= 0, [&] { return std::string(what) + ": negative stride"; });
    if (shape[i] > 0) last = kp::add(last, kp::mul(shape[i] - 1, strides[i], what), what);
  }
  return kp::add(last, inner, what);
}

bool any_zero(int rank, const int64_t* shape) {
  for (int i = 0; i < rank; i++)
    if (shape[i] == 0) return true;
  return false;
}

// Runs an op on the queue thread: inputs that carry an earlier failure pass it on to the outputs
// instead of being computed on; a failing kernel marks its outputs. Outputs are never left half
// written by a reported success.
void run_command(kp_device* dev, const std::vector<BufferRef>& inputs, const std::vector<BufferRef>& outputs,
                 const std::function<void()>& kernel) {
  kp_status status = KP_OK;
  std::string message;
  const uint64_t op = dev->launched.fetch_add(1) + 1;
  for (const auto* list : {&inputs, &outputs})
    for (const auto& ref : *list)
      if (ref.buf) ref.buf->last_op.store(op);
  for (const auto& in : inputs)
    if (in.buf && in.buf->status != KP_OK) {
      status = in.buf->status;
      message = in.buf->message;
      break;
    }
  if (status == KP_OK) {
    try {
      kernel();
    } catch (const Error& e) {
      status = e.status;
      message = e.what();
    } catch (const std::bad_alloc&) {
      status = KP_ERR_OUT_OF_MEMORY;
      message = "out of host memory while running the kernel";
    } catch (const std::exception& e) {
      status = KP_ERR_INTERNAL;
      message = e.what();
    }
  }
  for (const auto& out : outputs)
    if (out.buf) {
      out.buf->status = status;
      out.buf->message = message;
      out.buf->host_copy_valid = false;
    }
  if (status != KP_OK) dev->record_error(status, message);
}

constexpr int64_t kMaxDim = int64_t(1) << 40;
constexpr int64_t kMaxSeq = (int64_t(1) << 31) - 1;

// Whether an op has anything to compute; empty ones complete without touching their buffers.
bool matmul_runs(const kp_matmul_desc& d) { return !any_zero(d.batch_rank, d.batch_shape) && d.m > 0 && d.n > 0; }
bool attention_runs(const kp_attention_desc& d) {
  return d.batch > 0 && d.hq > 0 && d.sq > 0 && (d.dv > 0 || d.return_lse);
}

// Descriptors as the caller's struct_size says. Each revision appended fields: the first ended before
// max_threads, the second before gpu_kernel. A caller's struct_size is its revision's sizeof, which
// rounds the fields' end up to the struct's alignment, so the bytes past that end may be padding (in
// kp_attention_desc max_threads, then gpu_kernel, sit where the older revision had padding): only the
// fields of the caller's revision are copied, into a zeroed current descriptor, and every field it lacks
// is 0. A larger one (a newer header) is read up to what this library knows.
constexpr size_t kMatmulDescEnds[] = {offsetof(kp_matmul_desc, max_threads), offsetof(kp_matmul_desc, gpu_kernel)};
constexpr size_t kAttentionDescEnds[] = {offsetof(kp_attention_desc, max_threads), offsetof(kp_attention_desc, gpu_kernel)};

template <class Desc, size_t N>
Desc upgrade(const Desc* in, const size_t (&ends)[N], const char* name) {
  const uint32_t size = in->struct_size;
  kp::require(size >= ends[0], [&] {
    return std::string(name) + ".struct_size (" + std::to_string(size) + ") is smaller than any version of the descriptor (" +
           std::to_string(ends[0]) + ")";
  });
  const auto sizeof_revision = [](size_t end) { return (end + alignof(Desc) - 1) / alignof(Desc) * alignof(Desc); };
  size_t known = ends[0];
  for (size_t end : ends)
    if (size >= sizeof_revision(end)) known = end;
  if (size >= sizeof(Desc)) known = sizeof(Desc);
  Desc d;
  std::memset(&d, 0, sizeof d);
  std::memcpy(&d, in, known);
  d.struct_size = sizeof(Desc);
  return d;
}

// The GPU kernel choice (third revision), checked for ops and for kp_explain alike.
void check_gpu_choice(const kp_matmul_desc& d) {
  kp::require(kp::in_range(d.gpu_kernel, 0, 5),
              [&] { return "matmul: gpu_kernel must be 0 (the backend's choice) to 5, got " + std::to_string(d.gpu_kernel); });
  kp::require(kp::in_range(d.gpu_split_k, 0, 64), [&] {
    return "matmul: gpu_split_k must be 0 (the backend's choice), 1 (never) or a split count up to 64, got " + std::to_string(d.gpu_split_k);
  });
}
void check_gpu_choice(const kp_attention_desc& d) {
  kp::require(kp::in_range(d.gpu_kernel, 0, 3),
              [&] { return "attention: gpu_kernel must be 0 (the backend's choice) to 3, got " + std::to_string(d.gpu_kernel); });
  kp::require(d.gpu_key_tile == 0 || d.gpu_key_tile == 64,
              [&] { return "attention: gpu_key_tile must be 0 (the backend's choice) or 64, got " + std::to_string(d.gpu_key_tile); });
}

void check_matmul(kp_device* dev, const kp_matmul_desc& d, kp_buffer* a, kp_buffer* b, kp_buffer* bias,
                  kp_buffer* residual, kp_buffer* out) {
  kp::require(d.max_threads >= 0, "matmul: max_threads must be >= 0 (0 = the device's threads)");
  kp::require(is_flag(d.allow_tf32), "matmul: allow_tf32 must be 0 or 1");
  check_gpu_choice(d);
  kp::require(is_flag(d.trans_a) && is_flag(d.trans_b), "matmul: trans_a and trans_b must be 0 or 1");
  kp::require(is_flag(d.has_bias) && is_flag(d.has_residual), "matmul: has_bias and has_residual must be 0 or 1");
  kp::require(std::isfinite(d.alpha), [&] { return "matmul: alpha must be finite, got " + std::to_string(d.alpha); });
  kp::require(!d.has_residual || std::isfinite(d.beta), [&] { return "matmul: beta must be finite, got " + std::to_string(d.beta); });
  kp::require(kp::valid_float_dtype(d.dtype) && kp::valid_float_dtype(d.out_dtype), "matmul: invalid dtype");
  kp::require(d.m >= 0 && d.n >= 0 && d.k >= 0, "matmul: negative dimension");
  kp::require(d.batch_rank >= 0 && d.batch_rank <= KP_MAX_BATCH_DIMS, "matmul: batch_rank out of range");
  kp::require(kp::in_range(kp::raw(d.activation), KP_ACT_NONE, KP_ACT_SILU), "matmul: invalid activation");
  for (int i = 0; i < d.batch_rank; i++) kp::require(d.batch_shape[i] >= 0, "matmul: negative batch dimension");
  // Buffers bound every dimension except when another one is 0; cap them so block counts cannot overflow.
  kp::require(d.m <= kMaxDim && d.n <= kMaxDim && d.k <= kMaxDim, "matmul: a dimension exceeds 2^40");
  for (int i = 0; i < d.batch_rank; i++) kp::require(d.batch_shape[i] <= kMaxDim, "matmul: a batch dimension exceeds 2^40");
  int64_t batch = 1;
  for (int i = 0; i < d.batch_rank; i++) batch = kp::mul(batch, d.batch_shape[i], "matmul batch");
  const int64_t out_elems = kp::mul(kp::mul(batch, d.m, "matmul out"), d.n, "matmul out");
  check_buffer(dev, out, "out", kp::mul(out_elems, kp::dtype_size(d.out_dtype), "matmul out"));
  const bool empty = any_zero(d.batch_rank, d.batch_shape) || d.m == 0 || d.n == 0;
  const bool no_k = empty || d.k == 0;
  const int64_t es = kp::dtype_size(d.dtype);
  check_buffer(dev, a, "a", no_k ? 0 : kp::mul(extent(d.batch_rank, d.batch_shape, d.a_batch_stride, kp::mul(d.m, d.k, "a"), "a"), es, "a"));
  check_buffer(dev, b, "b", no_k ? 0 : kp::mul(extent(d.batch_rank, d.batch_shape, d.b_batch_stride, kp::mul(d.k, d.n, "b"), "b"), es, "b"));
  if (d.has_bias) {
    kp::require(kp::valid_float_dtype(d.bias_dtype), "matmul: invalid bias dtype");
    check_buffer(dev, bias, "bias", empty ? 0 : kp::mul(d.n, kp::dtype_size(d.bias_dtype), "bias"));
  }
  if (d.has_residual) {
    kp::require(kp::valid_float_dtype(d.residual_dtype), "matmul: invalid residual dtype");
    kp::require(d.r_row_stride >= 0 && d.r_col_stride >= 0, "matmul: negative residual stride");
    int64_t inner = 1;
    if (d.m > 0) inner = kp::add(inner, kp::mul(d.m - 1, d.r_row_stride, "residual"), "residual");
    if (d.n > 0) inner = kp::add(inner, kp::mul(d.n - 1, d.r_col_stride, "residual"), "residual");
    check_buffer(dev, residual, "residual",
                 empty ? 0 : kp::mul(extent(d.batch_rank, d.batch_shape, d.r_batch_stride, inner, "residual"), kp::dtype_size(d.residual_dtype), "residual"));
  }
  check_distinct("matmul", out, "out", {{a, "a"}, {b, "b"}, {d.has_bias ? bias : nullptr, "bias"}, {d.has_residual ? residual : nullptr, "residual"}});
}

void check_attention(kp_device* dev, const kp_attention_desc& d, kp_buffer* q, kp_buffer* k, kp_buffer* v,
                     kp_buffer* kv_lengths, kp_buffer* mask, kp_buffer* out, kp_buffer* lse) {
  kp::require(d.max_threads >= 0, "attention: max_threads must be >= 0 (0 = the device's threads)");
  kp::require(is_flag(d.allow_p16), "attention: allow_p16 must be 0 or 1");
  check_gpu_choice(d);
  kp::require(is_flag(d.has_kv_lengths) && is_flag(d.has_mask) && is_flag(d.return_lse),
              "attention: has_kv_lengths, has_mask and return_lse must be 0 or 1");
  kp::require(std::isfinite(d.scale), [&] { return "attention: scale must be finite, got " + std::to_string(d.scale); });
  kp::require(kp::valid_float_dtype(d.dtype) && kp::valid_float_dtype(d.out_dtype), "attention: invalid dtype");
  kp::require(kp::in_range(kp::raw(d.layout), KP_LAYOUT_BHSD, KP_LAYOUT_BSHD), "attention: invalid layout");
  kp::require(kp::in_range(kp::raw(d.causal), KP_CAUSAL_NONE, KP_CAUSAL_TOP_LEFT), "attention: invalid causal mode");
  kp::require(d.batch >= 0 && d.hq >= 0 && d.hkv > 0 && d.sq >= 0 && d.skv >= 0 && d.d >= 0 && d.dv >= 0,
              "attention: negative dimension (or hkv = 0)");
  kp::require(d.hq % d.hkv == 0, "attention: hq must be a multiple of hkv");
  for (int64_t x : {d.batch, d.hq, d.hkv, d.sq, d.skv, d.d, d.dv})
    kp::require(x <= kMaxSeq, "attention: a dimension exceeds 2^31 - 1");
  const int64_t es = kp::dtype_size(d.dtype);
  const int64_t bq = kp::mul(kp::mul(d.batch, d.hq, "q"), d.sq, "q");
  const int64_t bk = kp::mul(kp::mul(d.batch, d.hkv, "k"), d.skv, "k");
  // Scores are needed for the output (dv > 0) and for the lse; values only for the output.
  const bool empty = !attention_runs(d);
  check_buffer(dev, out, "out", kp::mul(kp::mul(bq, d.dv, "out"), kp::dtype_size(d.out_dtype), "out"));
  check_buffer(dev, q, "q", empty ? 0 : kp::mul(kp::mul(bq, d.d, "q"), es, "q"));
  check_buffer(dev, k, "k", empty ? 0 : kp::mul(kp::mul(bk, d.d, "k"), es, "k"));
  check_buffer(dev, v, "v", empty || d.dv == 0 ? 0 : kp::mul(kp::mul(bk, d.dv, "v"), es, "v"));
  if (d.has_kv_lengths) check_buffer(dev, kv_lengths, "kv_lengths", kp::mul(d.batch, 4, "kv_lengths"));
  if (d.has_mask) {
    const int64_t shape[4] = {d.batch, d.hq, d.sq, d.skv};
    const bool none = empty || d.skv == 0;
    check_buffer(dev, mask, "mask", none ? 0 : kp::mul(extent(4, shape, d.mask_stride, 1, "mask"), 4, "mask"));
  }
  if (d.return_lse) check_buffer(dev, lse, "lse", kp::mul(bq, 4, "lse"));
  const std::initializer_list<std::pair<kp_buffer*, const char*>> inputs = {
      {q, "q"}, {k, "k"}, {v, "v"}, {d.has_kv_lengths ? kv_lengths : nullptr, "kv_lengths"}, {d.has_mask ? mask : nullptr, "mask"}};
  check_distinct("attention", out, "out", inputs);
  if (d.return_lse) {
    check_distinct("attention", lse, "lse", inputs);
    check_distinct("attention", lse, "lse", {{out, "out"}});
  }
}

// Asynchronous devices (GPUs): wait until the device itself is done; a fault it reports is recorded
// like any op's error.
void finish_device(kp_device* dev) {
  if (!dev->backend->finish) return;
  try {
    const uint64_t launched = dev->launched.load();
    dev->backend->finish(dev->state);
    uint64_t seen = dev->finished.load();
    while (seen < launched && !dev->finished.compare_exchange_weak(seen, launched)) {
    }
  } catch (const Error& e) {
    dev->record_error(e.status, e.what());
  } catch (const std::exception& e) {
    dev->record_error(KP_ERR_INTERNAL, e.what());
  }
}

}  // namespace

extern "C" {

KP_API uint32_t kp_abi_version(void) { return KP_ABI_VERSION; }
KP_API const char* kp_version(void) { return KP_VERSION_STRING; }

KP_API kp_status kp_cpu_probe(kp_cpu_info* out) {
  if (!out) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_cpu_probe: out is NULL");
  return guarded([&] {
    *out = kp::cached_cpu_info();
    return KP_OK;
  });
}

KP_API kp_status kp_device_open(const char* backend, int32_t threads, kp_device** out) {
  if (!out) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_device_open: out is NULL");
  *out = nullptr;
  return guarded([&] {
    const std::string name = backend ? backend : "cpu";
    int32_t index = 0;
    const kp::Backend* be = name == "cpu" ? kp::cpu_backend() : kp::gpu_backend(name, &index);
    if (!be) throw Error(KP_ERR_UNAVAILABLE, "unknown backend '" + name + "' (this library knows cpu, cuda, cuda:N, musa, musa:N)");
    kp_status st = KP_OK;
    void* state = be->create(threads, index, &st);
    if (!state) return st == KP_OK ? kp::fail(KP_ERR_INTERNAL, "backend failed to initialise") : st;
    auto* dev = new kp_device();
    dev->backend = be;
    dev->state = state;
    dev->start();
    *out = dev;
    return KP_OK;
  });
}

KP_API kp_status kp_device_close(kp_device* dev) {
  if (!dev) return KP_OK;
  if (dev->on_queue_thread()) return kp::fail(KP_ERR_INVALID_ARGUMENT, waits_for_itself("kp_device_close", "close it from another thread"));
  dev->stop();  // runs what is queued, then ends the queue thread
  dev->release();
  return KP_OK;
}

KP_API kp_status kp_device_sync(kp_device* dev) {
  if (!dev) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_device_sync: dev is NULL");
  if (dev->on_queue_thread()) return kp::fail(KP_ERR_INVALID_ARGUMENT, waits_for_itself("kp_device_sync", "use kp_device_sync_async"));
  dev->drain();
  finish_device(dev);
  std::string msg;
  kp_status s = dev->take_error(&msg);
  return s == KP_OK ? KP_OK : kp::fail(s, msg);
}

KP_API kp_status kp_device_sync_async(kp_device* dev, kp_callback done, void* user) {
  if (!dev || !done) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_device_sync_async: dev and done are required");
  return guarded([&] {
    dev->enqueue([dev, done, user] {
      finish_device(dev);
      std::string msg;
      kp_status s = dev->take_error(&msg);
      done(user, s, msg.c_str());
    }, false);
    return KP_OK;
  });
}

KP_API int32_t kp_device_threads(const kp_device* dev) { return dev ? dev->backend->threads(dev->state) : 0; }
KP_API int64_t kp_device_pending(const kp_device* dev) { return dev ? dev->pending() : 0; }

KP_API kp_status kp_buffer_create(kp_device* dev, size_t bytes, kp_buffer** out) {
  if (!dev || !out) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_buffer_create: dev and out are required");
  *out = nullptr;
  return guarded([&] {
    void* data = dev->backend->alloc(dev->state, bytes);
    if (!data)
      return kp::fail(KP_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes on the " + dev->backend->name + " device");
    auto* buf = new (std::nothrow) kp_buffer();
    if (!buf) {
      dev->backend->free(dev->state, data);
      return kp::fail(KP_ERR_OUT_OF_MEMORY, "cannot allocate a buffer handle");
    }
    buf->device = dev;
    buf->backend = dev->backend;
    buf->data = data;
    buf->size = bytes;
    kp_buffer::track(bytes);
    dev->retain();
    *out = buf;
    return KP_OK;
  });
}

KP_API size_t kp_buffer_size(const kp_buffer* buf) { return buf ? buf->size : 0; }

KP_API void kp_buffer_release(kp_buffer* buf) {
  if (buf) buf->release();
}

KP_API kp_status kp_buffer_write(kp_buffer* buf, size_t offset, const void* src, size_t bytes) {
  if (!buf || (!src && bytes)) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_buffer_write: buf and src are required");
  if (offset > buf->size || bytes > buf->size - offset)
    return kp::fail(KP_ERR_BAD_BUFFER, "kp_buffer_write: " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                                           " do not fit in a buffer of " + std::to_string(buf->size));
  return guarded([&] {
    if (!bytes) return KP_OK;
    // Queued ops hold references: let those that use the buffer finish first, so the write is ordered
    // after them (a KV cache or kv_lengths updated between ops) instead of racing them.
    if (buf->refs.load(std::memory_order_acquire) > 1) {
      if (buf->device->on_queue_thread())
        throw Error(KP_ERR_INVALID_ARGUMENT, waits_for_itself("kp_buffer_write into a buffer that queued ops use", "write it outside the callback"));
      buf->device->drain();
      finish_device(buf->device);  // GPUs: the kernels those ops launched, too (uploads use their own stream)
    } else if (buf->last_op.load() > buf->device->finished.load()) {
      // Launched ops are done with it on the queue, but a GPU may still be running their kernels.
      finish_device(buf->device);
    }
    char* dst = static_cast<char*>(buf->data) + offset;
    const kp::Backend* be = buf->backend;
    if (!be->write) {
      std::memcpy(dst, src, bytes);
      return KP_OK;
    }
    be->write(buf->device->state, dst, src, bytes);
    // Keep a host copy of small uploads (kv_lengths) so that checking them needs no device read.
    constexpr size_t kHostCopyMax = 64 * 1024;
    if (buf->size <= kHostCopyMax) {
      if (buf->host_copy.size() != buf->size) buf->host_copy.assign(buf->size, '\0');
      std::memcpy(&buf->host_copy[offset], src, bytes);
      buf->host_copy_valid = offset == 0 && bytes == buf->size ? true : buf->host_copy_valid;
    } else {
      buf->host_copy_valid = false;
    }
    return KP_OK;
  });
}

KP_API kp_status kp_buffer_copy(kp_buffer* dst, size_t dst_offset, kp_buffer* src, size_t src_offset, size_t bytes) {
  return kp_buffer_copy_rows(dst, dst_offset, bytes, src, src_offset, bytes, bytes, 1);
}

KP_API kp_status kp_buffer_copy_rows(kp_buffer* dst, size_t dst_offset, size_t dst_stride, kp_buffer* src, size_t src_offset,
                                     size_t src_stride, size_t row_bytes, size_t rows) {
  if (!dst || !src) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_buffer_copy: dst and src are required");
  if (dst->device != src->device) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_buffer_copy: dst and src are buffers of different devices");
  if (!rows || !row_bytes) return KP_OK;
  if (rows > 1 && dst_stride < row_bytes)
    return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_buffer_copy: a dst_stride of " + std::to_string(dst_stride) + " bytes is under the " +
                                                 std::to_string(row_bytes) + " of a row: the rows written would overlap");
  // One past the last byte of the last row, overflow-checked: 0 when it wraps (refused below).
  auto span_end = [&](size_t offset, size_t stride) {
    size_t end = 0;
    if (__builtin_mul_overflow(rows - 1, stride, &end) || __builtin_add_overflow(end, offset, &end) || __builtin_add_overflow(end, row_bytes, &end))
      return size_t(0);
    return end;
  };
  const size_t dst_end = span_end(dst_offset, dst_stride), src_end = span_end(src_offset, src_stride);
  for (const auto& [name, buf, offset, end] : {std::tuple{"dst", dst, dst_offset, dst_end}, std::tuple{"src", src, src_offset, src_end}})
    if (!end || end > buf->size)
      return kp::fail(KP_ERR_BAD_BUFFER, std::string("kp_buffer_copy: ") + (rows > 1 ? std::to_string(rows) + " rows of " : std::string()) +
                                             std::to_string(row_bytes) + " bytes at " + name + " offset " + std::to_string(offset) +
                                             " do not fit in a buffer of " + std::to_string(buf->size));
  if (dst == src && dst_offset < src_end && src_offset < dst_end)
    return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_buffer_copy: the ranges overlap in one buffer");
  return guarded([&] {
    kp_device* dev = dst->device;
    dst->host_copy_valid = false;  // its contents change on the queue
    std::vector<BufferRef> ins{BufferRef(src)};
    std::vector<BufferRef> outs{BufferRef(dst)};
    dev->enqueue([dev, ins = std::move(ins), outs = std::move(outs), dst_offset, dst_stride, src_offset, src_stride, row_bytes, rows] {
      run_command(dev, ins, outs, [&] {
        char* to = static_cast<char*>(outs[0].data()) + dst_offset;
        const char* from = static_cast<const char*>(ins[0].data()) + src_offset;
        const kp::Backend* be = dev->backend;
        if (be->copy) return be->copy(dev->state, to, dst_stride, from, src_stride, row_bytes, rows);  // GPUs: on their stream
        for (size_t r = 0; r < rows; ++r) std::memcpy(to + r * dst_stride, from + r * src_stride, row_bytes);
      });
    });
    return KP_OK;
  });
}

namespace {
kp_status read_async(const char* call, kp_buffer* buf, size_t offset, void* dst, size_t bytes, kp_callback done, void* user) {
  if (!buf || (!dst && bytes) || !done) return kp::fail(KP_ERR_INVALID_ARGUMENT, std::string(call) + ": buf and dst are required");
  if (offset > buf->size || bytes > buf->size - offset)
    return kp::fail(KP_ERR_BAD_BUFFER, std::string(call) + ": " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                                           " do not fit in a buffer of " + std::to_string(buf->size));
  return guarded([&] {
    BufferRef ref(buf);
    buf->device->enqueue([ref, offset, dst, bytes, done, user] {
      if (ref.buf->status != KP_OK) return done(user, ref.buf->status, ref.buf->message.c_str());
      if (bytes) {
        const char* src = static_cast<const char*>(ref.buf->data) + offset;
        const kp::Backend* be = ref.buf->backend;
        if (!be->read) {
          std::memcpy(dst, src, bytes);
        } else {
          try {
            be->read(ref.buf->device->state, src, dst, bytes);
          } catch (const Error& e) {
            return done(user, e.status, e.what());
          } catch (const std::exception& e) {
            return done(user, KP_ERR_INTERNAL, e.what());
          }
        }
      }
      done(user, KP_OK, "");
    }, false);
    return KP_OK;
  });
}
}  // namespace

KP_API kp_status kp_buffer_read_async(kp_buffer* buf, size_t offset, void* dst, size_t bytes, kp_callback done, void* user) {
  if (!done) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_buffer_read_async: done is required");
  return read_async("kp_buffer_read_async", buf, offset, dst, bytes, done, user);
}

namespace {
struct BlockingRead {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  kp_status status = KP_OK;
  std::string message;
};
}  // namespace

KP_API kp_status kp_buffer_read(kp_buffer* buf, size_t offset, void* dst, size_t bytes) {
  if (buf && buf->device->on_queue_thread())
    return kp::fail(KP_ERR_INVALID_ARGUMENT, waits_for_itself("kp_buffer_read", "use kp_buffer_read_async"));
  BlockingRead r;
  kp_status s = read_async("kp_buffer_read", buf, offset, dst, bytes, [](void* user, kp_status st, const char* msg) {
    auto* r = static_cast<BlockingRead*>(user);
    std::lock_guard<std::mutex> lock(r->m);
    r->status = st;
    r->message = msg ? msg : "";
    r->done = true;
    r->cv.notify_all();
  }, &r);
  if (s != KP_OK) return s;
  std::unique_lock<std::mutex> lock(r.m);
  r.cv.wait(lock, [&] { return r.done; });
  return r.status == KP_OK ? KP_OK : kp::fail(r.status, r.message);
}

KP_API kp_status kp_matmul(kp_device* dev, const kp_matmul_desc* desc, kp_buffer* a, kp_buffer* b, kp_buffer* bias,
                           kp_buffer* residual, kp_buffer* out) {
  if (!dev || !desc) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_matmul: dev and desc are required");
  return guarded([&] {
    kp_matmul_desc d = upgrade(desc, kMatmulDescEnds, "kp_matmul_desc");
    check_matmul(dev, d, a, b, bias, residual, out);
    // Fields of absent operands are unchecked; give them valid values before a kernel reads them.
    if (!d.has_bias) std::memset(&d.bias_dtype, 0, sizeof d.bias_dtype);
    if (!d.has_residual) std::memset(&d.residual_dtype, 0, sizeof d.residual_dtype);
    std::vector<BufferRef> ins{BufferRef(a), BufferRef(b), BufferRef(d.has_bias ? bias : nullptr),
                               BufferRef(d.has_residual ? residual : nullptr)};
    std::vector<BufferRef> outs{BufferRef(out)};
    dev->enqueue([dev, d, ins = std::move(ins), outs = std::move(outs)] {
      run_command(dev, ins, outs, [&] {
        if (!matmul_runs(d)) return;
        dev->backend->matmul(dev->state, d, ins[0].data(), ins[1].data(), ins[2].data(), ins[3].data(), outs[0].data());
      });
    });
    return KP_OK;
  });
}

KP_API kp_status kp_explain(kp_device* dev, int32_t op, const void* desc, char* out, size_t cap) {
  if (!dev || !desc || (cap > 0 && !out)) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_explain: dev, desc and out are required");
  if (op != 0 && op != 1) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_explain: op must be 0 (matmul) or 1 (attention), got " + std::to_string(op));
  return guarded([&] {
    std::string v;
    if (op == 0) {
      const kp_matmul_desc d = upgrade(static_cast<const kp_matmul_desc*>(desc), kMatmulDescEnds, "kp_matmul_desc");
      check_gpu_choice(d);
      if (dev->backend->explain) v = dev->backend->explain(dev->state, 0, &d);
    } else {
      const kp_attention_desc d = upgrade(static_cast<const kp_attention_desc*>(desc), kAttentionDescEnds, "kp_attention_desc");
      check_gpu_choice(d);
      if (dev->backend->explain) v = dev->backend->explain(dev->state, 1, &d);
    }
    if (cap) std::snprintf(out, cap, "%s", v.c_str());
    return KP_OK;
  });
}

KP_API kp_status kp_attention(kp_device* dev, const kp_attention_desc* desc, kp_buffer* q, kp_buffer* k, kp_buffer* v,
                              kp_buffer* kv_lengths, kp_buffer* mask, kp_buffer* out, kp_buffer* lse) {
  if (!dev || !desc) return kp::fail(KP_ERR_INVALID_ARGUMENT, "kp_attention: dev and desc are required");
  return guarded([&] {
    kp_attention_desc d = upgrade(desc, kAttentionDescEnds, "kp_attention_desc");
    check_attention(dev, d, q, k, v, kv_lengths, mask, out, lse);
    std::vector<BufferRef> ins{BufferRef(q), BufferRef(k), BufferRef(v), BufferRef(d.has_kv_lengths ? kv_lengths : nullptr),
                               BufferRef(d.has_mask ? mask : nullptr)};
    std::vector<BufferRef> outs{BufferRef(out), BufferRef(d.return_lse ? lse : nullptr)};
    dev->enqueue([dev, d, ins = std::move(ins), outs = std::move(outs)] {
      run_command(dev, ins, outs, [&] {
        if (!attention_runs(d)) return;
        const auto* lengths_dev = static_cast<const int32_t*>(ins[3].data());
        const int32_t* lengths = lengths_dev;
        std::vector<int32_t> host;
        if (lengths_dev && dev->backend->read) {
          // Device memory: check the host copy of the upload, or read the values back.
          kp_buffer* kb = ins[3].buf;
          host.resize(static_cast<size_t>(d.batch));
          if (kb->host_copy_valid && kb->host_copy.size() >= host.size() * 4)
            std::memcpy(host.data(), kb->host_copy.data(), host.size() * 4);
          else
            dev->backend->read(dev->state, lengths_dev, host.data(), host.size() * 4);
          lengths = host.data();
        }
        if (lengths)
          for (int64_t b = 0; b < d.batch; b++)
            kp::require(lengths[b] >= 0 && lengths[b] <= d.skv, [&] {
              return "attention: kv_lengths[" + std::to_string(b) + "] = " + std::to_string(lengths[b]) + " is outside [0, skv]";
            });
        dev->backend->attention(dev->state, d, ins[0].data(), ins[1].data(), ins[2].data(), lengths_dev, lengths,
                                static_cast<const float*>(ins[4].data()), outs[0].data(), static_cast<float*>(outs[1].data()));
      });
    });
    return KP_OK;
  });
}

}  // extern "C"
