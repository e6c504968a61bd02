#include <atomic>
#include <mutex>
#include <string>
#include "addon.h"

namespace kpnode {
namespace {


// Completions (reads, syncs) of one device travel back to the JS thread through one thread-safe
// function, created once per device: making one per completion costs a libuv handle each time.
// It is unref'd while nothing is pending, so an idle device does not keep the process alive.
//
// Lifetime: the channel is shared by the DeviceWrap, the thread-safe function (until Node finalizes
// it, which at environment teardown can happen before the DeviceWrap is finalized) and each pending
// completion. `closed` says the thread-safe function is gone and must not be touched.
struct Channel {
  Napi::ThreadSafeFunction tsfn;
  int64_t pending = 0;  // touched on the JS thread only
  std::mutex mutex;
  bool closed = false;
  std::atomic<int> refs{2};  // the DeviceWrap and the thread-safe function

  void release() {
    if (refs.fetch_sub(1) == 1) delete this;
  }
  bool open() {
    std::lock_guard<std::mutex> lock(mutex);
    return !closed;
  }
};

// One pending completion. The queue thread fills in the status and hands it to the JS thread,
// which settles the promise.
struct Completion {
  Channel* channel;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference keep;  // the destination typed array, alive until the copy is done
  kp_status status = KP_OK;
  std::string message;
  Completion(Napi::Env env, Channel* ch) : channel(ch), deferred(Napi::Promise::Deferred::New(env)) {
    ch->refs.fetch_add(1);
    if (ch->pending++ == 0 && ch->open()) ch->tsfn.Ref(env);
  }
  void finish(Napi::Env env) {
    if (--channel->pending == 0 && channel->open()) channel->tsfn.Unref(env);
    channel->release();
    delete this;
  }
};

void settle_on_js_thread(Napi::Env env, Napi::Function, Completion* c) {
  if (c->status == KP_OK) {
    c->deferred.Resolve(c->keep.IsEmpty() ? env.Undefined() : c->keep.Value());
  } else {
    Napi::Error err = Napi::Error::New(env, c->message.empty() ? kp_status_string(c->status) : c->message);
    err.Set("code", Napi::String::New(env, status_code(c->status)));  // the same codes as synchronous errors
    c->deferred.Reject(err.Value());
  }
  c->finish(env);
}

void on_complete(void* user, kp_status status, const char* message) {
  auto* c = static_cast<Completion*>(user);
  c->status = status;
  c->message = message ? message : "";
  // Refused, or skipped, only while the environment shuts down (a worker being terminated); c is
  // then left alone: its JS references may only be touched on the JS thread, and die with the env.
  std::lock_guard<std::mutex> lock(c->channel->mutex);
  if (!c->channel->closed) c->channel->tsfn.NonBlockingCall(c, settle_on_js_thread);
}

}  // namespace

Napi::Function DeviceWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeDevice",
                     {
                         InstanceMethod("createBuffer", &DeviceWrap::CreateBuffer),
                         InstanceMethod("write", &DeviceWrap::Write),
                         InstanceMethod("copy", &DeviceWrap::Copy),
                         InstanceMethod("read", &DeviceWrap::Read),
                         InstanceMethod("sync", &DeviceWrap::Sync),
                         InstanceMethod("matmul", &DeviceWrap::Matmul),
                         InstanceMethod("attention", &DeviceWrap::Attention),
                         InstanceMethod("pending", &DeviceWrap::Pending),
                         InstanceMethod("explain", &DeviceWrap::Explain),
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
  host_memory_ = backend == "cpu";
  auto* ch = new Channel();
  ch->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "kernelport", 0, 1,
                                           [ch](Napi::Env) {
                                             {
                                               std::lock_guard<std::mutex> lock(ch->mutex);
                                               ch->closed = true;
                                             }
                                             ch->release();
                                           });
  ch->tsfn.Unref(env);
  channel_ = ch;
}

DeviceWrap::~DeviceWrap() {
  kp_device_close(dev_);  // completions still queued are handed over before the channel goes
  auto* ch = static_cast<Channel*>(channel_);
  if (!ch) return;
  if (ch->open()) ch->tsfn.Release();
  ch->release();
}

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
  return new_buffer(env, buf, host_memory_);
}

// copy(dst, dstByteOffset, dstStride, src, srcByteOffset, srcStride, rowBytes, rows): enqueued like an op
Napi::Value DeviceWrap::Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  device(env);
  kp_buffer* dst = optional_buffer(info[0], "dst");
  kp_buffer* src = optional_buffer(info[3], "src");
  auto size = [&](int i) { return static_cast<size_t>(info[i].As<Napi::Number>().DoubleValue()); };
  kp_status s = kp_buffer_copy_rows(dst, size(1), size(2), src, size(4), size(5), size(6), size(7));
  if (s != KP_OK) throw_status(env, s, "copy");
  return env.Undefined();
}

// write(buffer, typedArray, byteOffset = 0): ordered after the queued ops that use the buffer
Napi::Value DeviceWrap::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kp_buffer* buf = optional_buffer(info[0], "buffer");
  Napi::TypedArray src = info[1].As<Napi::TypedArray>();
  const auto* data = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
  const double offset = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0.0;
  kp_status s = kp_buffer_write(buf, static_cast<size_t>(offset), data, src.ByteLength());
  if (s != KP_OK) throw_status(env, s, "upload");
  return env.Undefined();
}

// read(buffer, destTypedArray) -> Promise<destTypedArray>
Napi::Value DeviceWrap::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kp_buffer* buf = optional_buffer(info[0], "buffer");
  Napi::TypedArray dst = info[1].As<Napi::TypedArray>();
  auto* c = new Completion(env, static_cast<Channel*>(channel_));
  c->keep = Napi::Persistent(dst.As<Napi::Object>());
  Napi::Promise promise = c->deferred.Promise();
  auto* data = static_cast<uint8_t*>(dst.ArrayBuffer().Data()) + dst.ByteOffset();
  kp_status s = kp_buffer_read_async(buf, 0, data, dst.ByteLength(), on_complete, c);
  if (s != KP_OK) {
    c->finish(env);
    throw_status(env, s, "read");
  }
  return promise;
}

Napi::Value DeviceWrap::Sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kp_device* dev = device(env);
  auto* c = new Completion(env, static_cast<Channel*>(channel_));
  Napi::Promise promise = c->deferred.Promise();
  kp_status s = kp_device_sync_async(dev, on_complete, c);
  if (s != KP_OK) {
    c->finish(env);
    throw_status(env, s, "sync");
  }
  return promise;
}

// matmul(desc, a, b, bias|null, residual|null, out)
Napi::Value DeviceWrap::Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const kp_matmul_desc d = matmul_desc_from(info[0]);
  kp_status s = kp_matmul(device(env), &d, optional_buffer(info[1], "a"), optional_buffer(info[2], "b"),
                          optional_buffer(info[3], "bias"), optional_buffer(info[4], "residual"), optional_buffer(info[5], "out"));
  if (s != KP_OK) throw_status(env, s, "matmul");
  return env.Undefined();
}

// attention(desc, q, k, v, kvLengths|null, mask|null, out, lse|null)
Napi::Value DeviceWrap::Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const kp_attention_desc d = attention_desc_from(info[0]);
  kp_status s = kp_attention(device(env), &d, optional_buffer(info[1], "q"), optional_buffer(info[2], "k"),
                             optional_buffer(info[3], "v"), optional_buffer(info[4], "kvLengths"),
                             optional_buffer(info[5], "mask"), optional_buffer(info[6], "out"), optional_buffer(info[7], "lse"));
  if (s != KP_OK) throw_status(env, s, "attention");
  return env.Undefined();
}

// explain('matmul' | 'attention', desc): the backend's own kernel choice ("" when it has no native planner).
Napi::Value DeviceWrap::Explain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = info[0].As<Napi::String>();
  char out[256] = {0};
  kp_status s;
  if (op == "matmul") {
    const kp_matmul_desc d = matmul_desc_from(info[1]);
    s = kp_explain(device(env), 0, &d, out, sizeof out);
  } else {
    const kp_attention_desc d = attention_desc_from(info[1]);
    s = kp_explain(device(env), 1, &d, out, sizeof out);
  }
  if (s != KP_OK) throw_status(env, s, "explain");
  return Napi::String::New(env, out);
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
