// The Node-API addon: a thin client of the C ABI. No kernel code here.
#pragma once
#include <napi.h>
#include "kernelport.h"

namespace kpnode {

// The JS error code of a status ("KP_ERR_OUT_OF_MEMORY", ...), for synchronous throws and async rejections alike.
const char* status_code(kp_status status);
// Throws a JS Error carrying kp_last_error() and status_code(status) as `code`.
[[noreturn]] void throw_status(Napi::Env env, kp_status status, const char* where);

// NativeBuffers (buffer_handle.cpp): a kp_buffer as a JS number naming it in the environment's table.
void init_buffers(Napi::Env env);
Napi::Value new_buffer(Napi::Env env, kp_buffer* buf, bool host_memory);
Napi::Value ReleaseBuffer(const Napi::CallbackInfo& info);
Napi::Value BufferSize(const Napi::CallbackInfo& info);

class DeviceWrap : public Napi::ObjectWrap<DeviceWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DeviceWrap(const Napi::CallbackInfo& info);
  ~DeviceWrap() override;

 private:
  Napi::Value CreateBuffer(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Copy(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Sync(const Napi::CallbackInfo& info);
  Napi::Value Matmul(const Napi::CallbackInfo& info);
  Napi::Value Attention(const Napi::CallbackInfo& info);
  Napi::Value Pending(const Napi::CallbackInfo& info);
  Napi::Value Explain(const Napi::CallbackInfo& info);
  Napi::Value Threads(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  kp_device* device(Napi::Env env) const;
  bool host_memory_ = false;  // the backend's buffers are host memory (cpu): counted as V8 external memory
  kp_device* dev_ = nullptr;
  void* channel_ = nullptr;  // completions back to the JS thread (device_wrap.cpp)
};

// Op descriptors packed by JS into a Float64Array (descriptors.cpp), and the field order it packs.
kp_matmul_desc matmul_desc_from(const Napi::Value& v);
kp_attention_desc attention_desc_from(const Napi::Value& v);
Napi::Object descriptor_fields(Napi::Env env);
kp_buffer* optional_buffer(const Napi::Value& v, const char* name);

}  // namespace kpnode
