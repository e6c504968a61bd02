#include "addon.h"

namespace kpnode {

Napi::Function BufferWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeBuffer",
                     {InstanceMethod("release", &BufferWrap::Release), InstanceMethod("size", &BufferWrap::Size)});
}

// Constructed only by DeviceWrap::CreateBuffer, which passes the kp_buffer as an External and whether
// its memory is the process's own (host memory: the cpu backend).
BufferWrap::BufferWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BufferWrap>(info) {
  if (info.Length() != 2 || !info[0].IsExternal() || !info[1].IsBoolean())
    throw Napi::TypeError::New(info.Env(), "NativeBuffer is created by Device.createBuffer");
  buf_ = info[0].As<Napi::External<kp_buffer>>().Data();
  // Host memory: V8 learns of it, so that tensors dropped without dispose() are collected (and their memory
  // freed) under memory pressure rather than when the JS heap alone would ask for it. Not device memory:
  // V8 answers every 64 MiB of growth with a full collection, which on a GPU cost the enqueuing thread
  // ~50 us per op of 4 MiB outputs (an H100's 50 us GEMM then ran at 90 us per op); device memory is
  // the caching allocator's, which says how much was asked and free when it runs out.
  if (info[1].As<Napi::Boolean>().Value()) {
    external_ = static_cast<int64_t>(kp_buffer_size(buf_));
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), external_);
  }
}

BufferWrap::~BufferWrap() {
  if (external_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -external_);
  kp_buffer_release(buf_);
}

kp_buffer* BufferWrap::get(Napi::Env env, const char* name) const {
  if (!buf_) throw Napi::Error::New(env, std::string(name) + " has been disposed");
  return buf_;
}

Napi::Value BufferWrap::Release(const Napi::CallbackInfo& info) {
  kp_buffer_release(buf_);  // queued ops that use it keep their own reference
  buf_ = nullptr;
  if (external_) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -external_);
  external_ = 0;
  return info.Env().Undefined();
}

Napi::Value BufferWrap::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(kp_buffer_size(buf_)));
}

kp_buffer* optional_buffer(const Napi::Value& v, const char* name) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a NativeBuffer");
  return BufferWrap::Unwrap(v.As<Napi::Object>())->get(v.Env(), name);
}

}  // namespace kpnode
