#include "addon.h"

namespace kpnode {
namespace {

// What a NativeBuffer is on the JS side: an External over this, type-tagged so that no other External
// (another addon's) is ever read as one. An External costs a fraction of a wrapped object with a JS
// constructor call (0.75 against 1.5 us per buffer made and released), and every op makes its outputs.
struct BufferHandle {
  kp_buffer* buf;
  int64_t external;  // bytes reported to V8 as external memory, until released
};

const napi_type_tag kBufferTag = {0x6b65726e656c706fULL, 0x7274627566666572ULL};  // "kernelpo" "rtbuffer"

void release_handle(Napi::Env env, BufferHandle* h) {
  if (h->external) Napi::MemoryManagement::AdjustExternalMemory(env, -h->external);
  h->external = 0;
  kp_buffer_release(h->buf);  // queued ops that use it keep their own reference
  h->buf = nullptr;
}

BufferHandle* handle_of(const Napi::Value& v, const char* name) {
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(v.Env(), v, &kBufferTag, &tagged);
  if (!tagged) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a NativeBuffer");
  return v.As<Napi::External<BufferHandle>>().Data();
}

}  // namespace

Napi::Value new_buffer(Napi::Env env, kp_buffer* buf, bool host_memory) {
  auto* h = new BufferHandle{buf, 0};
  // Host memory: V8 learns of it, so that tensors dropped without dispose() are collected (and their memory
  // freed) under memory pressure rather than when the JS heap alone would ask for it. Not device memory:
  // V8 answers every 64 MiB of growth with a full collection, which on a GPU cost the enqueuing thread
  // ~50 us per op of 4 MiB outputs (an H100's 50 us GEMM then ran at 90 us per op); device memory is
  // the caching allocator's, which says how much was asked and free when it runs out.
  if (host_memory) {
    h->external = static_cast<int64_t>(kp_buffer_size(buf));
    Napi::MemoryManagement::AdjustExternalMemory(env, h->external);
  }
  auto e = Napi::External<BufferHandle>::New(env, h, [](Napi::Env env, BufferHandle* h) {
    if (h->buf) release_handle(env, h);
    delete h;
  });
  napi_type_tag_object(env, e, &kBufferTag);
  return e;
}

kp_buffer* optional_buffer(const Napi::Value& v, const char* name) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  BufferHandle* h = handle_of(v, name);
  if (!h->buf) throw Napi::Error::New(v.Env(), std::string(name) + " has been disposed");
  return h->buf;
}

// releaseBuffer(buf): gives the JS reference back now (a second call does nothing).
Napi::Value ReleaseBuffer(const Napi::CallbackInfo& info) {
  BufferHandle* h = handle_of(info[0], "releaseBuffer: buffer");
  if (h->buf) release_handle(info.Env(), h);
  return info.Env().Undefined();
}

// bufferSize(buf): its bytes (0 once released).
Napi::Value BufferSize(const Napi::CallbackInfo& info) {
  BufferHandle* h = handle_of(info[0], "bufferSize: buffer");
  return Napi::Number::New(info.Env(), h->buf ? static_cast<double>(kp_buffer_size(h->buf)) : 0.0);
}

}  // namespace kpnode
