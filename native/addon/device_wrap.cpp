#include <string>
#include "addon.h"

namespace kpnode {
namespace {


// One pending completion (a read or a sync). The queue thread fills in the status and hands the
// context back to the JS thread through a thread-safe function, which settles the promise.
struct Completion {
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference keep;  // the destination typed array, alive until the copy is done
  Napi::ThreadSafeFunction tsfn;
  kp_status status = KP_OK;
  std::string message;
  explicit Completion(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {
    tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "kernelport", 0, 1);
  }
};

void settle_on_js_thread(Napi::Env env, Napi::Function, Completion* c) {
  if (c->status == KP_OK) {
    c->deferred.Resolve(c->keep.IsEmpty() ? env.Undefined() : c->keep.Value());
  } else {
    Napi::Error err = Napi::Error::New(env, c->message.empty() ? kp_status_string(c->status) : c->message);
    err.Set("code", Napi::String::New(env, kp_status_string(c->status)));
    c->deferred.Reject(err.Value());
  }
  delete c;
}

void on_complete(void* user, kp_status status, const char* message) {
  auto* c = static_cast<Completion*>(user);
  c->status = status;
  c->message = message ? message : "";
  Napi::ThreadSafeFunction tsfn = c->tsfn;  // c is deleted on the JS thread, possibly before Release
  // If the environment is shutting down (a worker being terminated) the call is refused; c is then
  // left alone: its JS references may only be touched on the JS thread, and they die with the env.
  tsfn.BlockingCall(c, settle_on_js_thread);
  tsfn.Release();
}

}  // namespace

Napi::Function DeviceWrap::Init(Napi::Env env, Napi::FunctionReference* buffer_ctor) {
  return DefineClass(env, "NativeDevice",
                     {
                         InstanceMethod("createBuffer", &DeviceWrap::CreateBuffer),
                         InstanceMethod("write", &DeviceWrap::Write),
                         InstanceMethod("read", &DeviceWrap::Read),
                         InstanceMethod("sync", &DeviceWrap::Sync),
                         InstanceMethod("matmul", &DeviceWrap::Matmul),
                         InstanceMethod("attention", &DeviceWrap::Attention),
                         InstanceMethod("pending", &DeviceWrap::Pending),
                         InstanceMethod("threads", &DeviceWrap::Threads),
                         InstanceMethod("close", &DeviceWrap::Close),
                     });
}

// new NativeDevice(backend: string, threads: number)
DeviceWrap::DeviceWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceWrap>(info) {
  Napi::Env env = info.Env();
  const std::string backend = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "cpu";
  const int32_t threads = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  kp_status s = kp_device_open(backend.c_str(), threads, &dev_);
  if (s != KP_OK) throw_status(env, s, ("cannot open " + backend).c_str());
}

DeviceWrap::~DeviceWrap() { kp_device_close(dev_); }

kp_device* DeviceWrap::device(Napi::Env env) const {
  if (!dev_) throw Napi::Error::New(env, "the device has been disposed");
  return dev_;
}

Napi::Value DeviceWrap::CreateBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double bytes = info[0].As<Napi::Number>().DoubleValue();
  kp_buffer* buf = nullptr;
  kp_status s = kp_buffer_create(device(env), static_cast<size_t>(bytes), &buf);
  if (s != KP_OK) throw_status(env, s, "allocation");
  auto* ctor = env.GetInstanceData<Napi::FunctionReference>();
  return ctor->New({Napi::External<kp_buffer>::New(env, buf)});
}

// write(buffer, typedArray)
Napi::Value DeviceWrap::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kp_buffer* buf = optional_buffer(info[0], "buffer");
  Napi::TypedArray src = info[1].As<Napi::TypedArray>();
  const auto* data = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
  kp_status s = kp_buffer_write(buf, 0, data, src.ByteLength());
  if (s != KP_OK) throw_status(env, s, "upload");
  return env.Undefined();
}

// read(buffer, destTypedArray) -> Promise<destTypedArray>
Napi::Value DeviceWrap::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kp_buffer* buf = optional_buffer(info[0], "buffer");
  Napi::TypedArray dst = info[1].As<Napi::TypedArray>();
  auto* c = new Completion(env);
  c->keep = Napi::Persistent(dst.As<Napi::Object>());
  Napi::Promise promise = c->deferred.Promise();
  auto* data = static_cast<uint8_t*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
  kp_status s = kp_buffer_read_async(buf, 0, data, dst.ByteLength(), on_complete, c);
  if (s != KP_OK) {
    c->tsfn.Release();
    delete c;
    throw_status(env, s, "read");
  }
  return promise;
}

Napi::Value DeviceWrap::Sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* c = new Completion(env);
  Napi::Promise promise = c->deferred.Promise();
  kp_status s = kp_device_sync_async(device(env), on_complete, c);
  if (s != KP_OK) {
    c->tsfn.Release();
    delete c;
    throw_status(env, s, "sync");
  }
  return promise;
}

// matmul(desc, a, b, bias|null, residual|null, out)
Napi::Value DeviceWrap::Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const kp_matmul_desc d = matmul_desc_from(info[0].As<Napi::Object>());
  kp_status s = kp_matmul(device(env), &d, optional_buffer(info[1], "a"), optional_buffer(info[2], "b"),
                          optional_buffer(info[3], "bias"), optional_buffer(info[4], "residual"), optional_buffer(info[5], "out"));
  if (s != KP_OK) throw_status(env, s, "matmul");
  return env.Undefined();
}

// attention(desc, q, k, v, kvLengths|null, mask|null, out, lse|null)
Napi::Value DeviceWrap::Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const kp_attention_desc d = attention_desc_from(info[0].As<Napi::Object>());
  kp_status s = kp_attention(device(env), &d, optional_buffer(info[1], "q"), optional_buffer(info[2], "k"),
                             optional_buffer(info[3], "v"), optional_buffer(info[4], "kvLengths"),
                             optional_buffer(info[5], "mask"), optional_buffer(info[6], "out"), optional_buffer(info[7], "lse"));
  if (s != KP_OK) throw_status(env, s, "attention");
  return env.Undefined();
}

Napi::Value DeviceWrap::Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(kp_device_pending(device(info.Env()))));
}

Napi::Value DeviceWrap::Threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kp_device_threads(device(info.Env())));
}

// Closing waits for queued work, so it runs off the JS thread; buffers keep their memory until released.
Napi::Value DeviceWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kp_device* dev = dev_;
  dev_ = nullptr;
  if (dev) {
    class Closer : public Napi::AsyncWorker {
     public:
      Closer(Napi::Env env, kp_device* d) : Napi::AsyncWorker(env, "kernelport.close"), d_(d) {}
      void Execute() override { kp_device_close(d_); }

     private:
      kp_device* d_;
    };
    (new Closer(env, dev))->Queue();
  }
  return env.Undefined();
}

}  // namespace kpnode
