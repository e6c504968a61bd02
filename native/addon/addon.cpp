#include "addon.h"

namespace kpnode {

void throw_status(Napi::Env env, kp_status status, const char* where) {
  static const char* codes[] = {"KP_OK", "KP_ERR_INVALID_ARGUMENT", "KP_ERR_OUT_OF_MEMORY", "KP_ERR_UNSUPPORTED",
                                "KP_ERR_UNAVAILABLE", "KP_ERR_BAD_BUFFER", "KP_ERR_INTERNAL"};
  std::string msg = std::string(where) + ": " + kp_last_error();
  Napi::Error err = Napi::Error::New(env, msg);
  const int i = static_cast<int>(status);
  err.Set("code", Napi::String::New(env, i >= 0 && i <= 6 ? codes[i] : "KP_ERR_UNKNOWN"));
  throw err;
}

namespace {

Napi::Value CpuProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kp_cpu_info c;
  kp_status s = kp_cpu_probe(&c);
  if (s != KP_OK) throw_status(env, s, "cpu probe");
  Napi::Object o = Napi::Object::New(env);
  o.Set("vendor", c.vendor);
  o.Set("model", c.model);
  o.Set("arch", c.arch);
  o.Set("features", Napi::Number::New(env, c.features));
  o.Set("logicalCores", c.logical_cores);
  o.Set("usableCores", c.usable_cores);
  o.Set("l1d", Napi::Number::New(env, static_cast<double>(c.l1d_bytes)));
  o.Set("l2", Napi::Number::New(env, static_cast<double>(c.l2_bytes)));
  o.Set("l3", Napi::Number::New(env, static_cast<double>(c.l3_bytes)));
  o.Set("memoryBytes", Napi::Number::New(env, static_cast<double>(c.memory_bytes)));
  o.Set("isa", c.isa);
  return o;
}

}  // namespace
}  // namespace kpnode

using namespace kpnode;

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* buffer_ctor = new Napi::FunctionReference();
  *buffer_ctor = Napi::Persistent(BufferWrap::Init(env));
  env.SetInstanceData(buffer_ctor);  // freed with the environment (each worker thread has its own)
  exports.Set("Buffer", buffer_ctor->Value());
  exports.Set("Device", DeviceWrap::Init(env, buffer_ctor));
  exports.Set("abiVersion", Napi::Number::New(env, kp_abi_version()));
  exports.Set("version", Napi::String::New(env, kp_version()));
  exports.Set("addonVersion", Napi::String::New(env, KP_VERSION_STRING));
  exports.Set("cpuProbe", Napi::Function::New(env, kpnode::CpuProbe));
  return exports;
}

NODE_API_MODULE(kernelport, Init)
