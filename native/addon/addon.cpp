#include <cstddef>
#include <cstring>
#include <string>
#include "addon.h"

namespace kpnode {

const char* status_code(kp_status status) {
  static const char* codes[] = {"KP_OK", "KP_ERR_INVALID_ARGUMENT", "KP_ERR_OUT_OF_MEMORY", "KP_ERR_UNSUPPORTED",
                                "KP_ERR_UNAVAILABLE", "KP_ERR_BAD_BUFFER", "KP_ERR_INTERNAL"};
  const int i = static_cast<int>(status);
  return i >= 0 && i <= 6 ? codes[i] : "KP_ERR_UNKNOWN";
}

void throw_status(Napi::Env env, kp_status status, const char* where) {
  std::string msg = std::string(where) + ": " + kp_last_error();
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, status_code(status)));
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


// gpuProbe(backend): { available, reason, devices: [...], library: { loaded, reason, variants } }.
// Loads the vendor driver (never the backend library) to list devices; when there is one, loads the
// backend library too and says whether it loaded.
Napi::Value GpuProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string backend = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "cuda";  // cuda | musa
  Napi::Object o = Napi::Object::New(env);
  int32_t count = 0;
  kp_gpu_info devs[16];
  for (auto& d : devs) {
    std::memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
  }
  kp_status s = kp_gpu_probe(backend.c_str(), devs, 16, &count);
  if (s == KP_ERR_INVALID_ARGUMENT) throw_status(env, s, "gpu probe");
  o.Set("available", Napi::Boolean::New(env, s == KP_OK));
  o.Set("reason", s == KP_OK ? Napi::String::New(env, "") : Napi::String::New(env, kp_last_error()));
  Napi::Array list = Napi::Array::New(env);
  for (int32_t i = 0; i < count && i < 16; i++) {
    const kp_gpu_info& g = devs[i];
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", g.index);
    d.Set("name", g.name);
    d.Set("arch", g.arch);
    d.Set("ccMajor", g.cc_major);
    d.Set("ccMinor", g.cc_minor);
    d.Set("multiprocessors", g.multiprocessors);
    d.Set("warpSize", g.warp_size);
    d.Set("memoryBytes", Napi::Number::New(env, static_cast<double>(g.memory_bytes)));
    d.Set("clockKhz", g.clock_khz);
    d.Set("memoryClockKhz", g.memory_clock_khz);
    d.Set("busWidthBits", g.bus_width_bits);
    d.Set("pciBus", g.pci_bus);
    d.Set("l2Bytes", Napi::Number::New(env, static_cast<double>(g.l2_bytes)));
    d.Set("sharedPerBlockOptin", Napi::Number::New(env, static_cast<double>(g.shared_per_block_optin)));
    d.Set("driverVersion", g.driver_version);
    // Read only when the library filled it (struct_size covers the field).
    const bool has_emulated = g.struct_size >= offsetof(kp_gpu_info, emulated) + sizeof g.emulated;
    d.Set("emulated", Napi::Boolean::New(env, has_emulated && g.emulated != 0));
    list.Set(static_cast<uint32_t>(i), d);
  }
  o.Set("devices", list);
  Napi::Object lib = Napi::Object::New(env);
  if (s == KP_OK) {
    char variants[1024] = {0};
    const kp_status ls = kp_gpu_backend_load(backend.c_str(), variants, sizeof variants);
    lib.Set("loaded", Napi::Boolean::New(env, ls == KP_OK));
    lib.Set("reason", ls == KP_OK ? "" : kp_last_error());
    lib.Set("variants", variants);
  } else {
    lib.Set("loaded", Napi::Boolean::New(env, false));
    lib.Set("reason", "not loaded: the driver probe failed");
    lib.Set("variants", "");
  }
  o.Set("library", lib);
  return o;
}

// cpuCalibrate(threads, seconds): Promise of the measured peaks (kp_cpu_calibrate off the JS thread).
class CalibrateWorker : public Napi::AsyncWorker {
 public:
  CalibrateWorker(Napi::Env env, int32_t threads, double seconds)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), threads_(threads), seconds_(seconds) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    peaks_.struct_size = sizeof(kp_cpu_peaks);
    status_ = kp_cpu_calibrate(threads_, seconds_, &peaks_);
    if (status_ != KP_OK) message_ = kp_last_error();
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (status_ != KP_OK) {
      Napi::Error err = Napi::Error::New(env, "cpu calibrate: " + message_);
      deferred_.Reject(err.Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("threads", peaks_.threads);
    Napi::Array isas = Napi::Array::New(env, static_cast<size_t>(peaks_.n_isa));
    for (int32_t i = 0; i < peaks_.n_isa; i++) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("isa", peaks_.isa[i].isa);
      p.Set("flopsF32", peaks_.isa[i].flops_f32);
      isas.Set(static_cast<uint32_t>(i), p);
    }
    o.Set("isas", isas);
    o.Set("activeIsa", peaks_.active_isa);
    o.Set("flopsF32", peaks_.flops_f32);
    o.Set("readBandwidth", peaks_.read_bandwidth);
    o.Set("bufferBytes", Napi::Number::New(env, static_cast<double>(peaks_.buffer_bytes)));
    o.Set("seconds", peaks_.seconds);
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  int32_t threads_;
  double seconds_;
  kp_cpu_peaks peaks_{};
  kp_status status_ = KP_OK;
  std::string message_;
};

Napi::Value CpuCalibrate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int32_t threads = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  const double seconds = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  auto* w = new CalibrateWorker(env, threads, seconds);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace
}  // namespace kpnode

using namespace kpnode;

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  kpnode::init_buffers(env);
  exports.Set("Device", DeviceWrap::Init(env));
  exports.Set("releaseBuffer", Napi::Function::New(env, kpnode::ReleaseBuffer));
  exports.Set("bufferSize", Napi::Function::New(env, kpnode::BufferSize));
  exports.Set("descriptorFields", kpnode::descriptor_fields(env));
  exports.Set("abiVersion", Napi::Number::New(env, kp_abi_version()));
  exports.Set("version", Napi::String::New(env, kp_version()));
  exports.Set("addonVersion", Napi::String::New(env, KP_VERSION_STRING));
  exports.Set("cpuProbe", Napi::Function::New(env, kpnode::CpuProbe));
  exports.Set("gpuProbe", Napi::Function::New(env, kpnode::GpuProbe));
  exports.Set("cpuCalibrate", Napi::Function::New(env, kpnode::CpuCalibrate));
  exports.Set("memoryStats", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    int64_t buffers = 0, bytes = 0;
    kp_memory_stats(&buffers, &bytes);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("liveBuffers", Napi::Number::New(info.Env(), static_cast<double>(buffers)));
    o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(bytes)));
    o.Set("cachedBytes", Napi::Number::New(info.Env(), static_cast<double>(kp_memory_cached_bytes())));
    return o;
  }));
  return exports;
}

NODE_API_MODULE(kernelport, Init)
