#include <vector>

#include "addon.h"

namespace kpnode {
namespace {

// What a NativeBuffer is on the JS side: a number naming a slot of this environment's table (each
// worker thread has its own), with the slot's generation. An id is never handed out twice: a slot
// whose generations are used up is retired, not reused, so the id of a released buffer stays refused
// ("has been disposed") and never names a newer buffer. Ids are internal handles, not capabilities: a
// number made up by other code than src/backends may name a live buffer (the public API hands out
// Tensors, whose storage it checks). A number costs the JS heap nothing to collect: an External with a
// finalizer per buffer was 0.75 us made and released (a wrapped object 1.5), of which 0.17 is the C
// calls; every op makes its outputs. Tensors give their buffers back on dispose() or, as a safety net,
// through their FinalizationRegistry (src/tensor.ts); whatever is still live when the environment ends
// is released then.
constexpr uint64_t kSlots = uint64_t(1) << 24;        // live buffers per environment
constexpr uint64_t kGenerations = uint64_t(1) << 29;  // id = slot + generation * kSlots < 2^53: exact in a double

struct Slot {
  kp_buffer* buf = nullptr;
  int64_t external = 0;  // bytes reported to V8 as external memory, until released
  uint32_t generation = 0;
};

struct BufferTable {
  std::vector<Slot> slots;
  std::vector<uint32_t> free;
  ~BufferTable() {
    for (Slot& s : slots)
      if (s.buf) kp_buffer_release(s.buf);
  }
};

BufferTable& table(Napi::Env env) { return *env.GetInstanceData<BufferTable>(); }

// The slot a live id names, or nullptr: `stale` says whether it was a well-formed id of a slot since
// released (or reused), as opposed to a value that never was an id.
Slot* slot_of(const Napi::Value& v, bool* stale) {
  *stale = false;
  if (!v.IsNumber()) return nullptr;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < static_cast<double>(kSlots * kGenerations)) || d != static_cast<double>(static_cast<uint64_t>(d))) return nullptr;
  const uint64_t id = static_cast<uint64_t>(d);
  BufferTable& t = table(v.Env());
  const uint64_t i = id % kSlots;
  if (i >= t.slots.size()) return nullptr;
  Slot& s = t.slots[i];
  if (s.generation != id / kSlots || !s.buf) {
    *stale = true;
    return nullptr;
  }
  return &s;
}

void release_slot(Napi::Env env, Slot& s, uint32_t index) {
  if (s.external) Napi::MemoryManagement::AdjustExternalMemory(env, -s.external);
  kp_buffer_release(s.buf);  // queued ops that use it keep their own reference
  s.buf = nullptr;
  s.external = 0;
  if (s.generation + 1 == kGenerations) return;  // retired: its last id stays a released one
  ++s.generation;
  table(env).free.push_back(index);
}

}  // namespace

void init_buffers(Napi::Env env) { env.SetInstanceData(new BufferTable()); }

Napi::Value new_buffer(Napi::Env env, kp_buffer* buf, bool host_memory) {
  BufferTable& t = table(env);
  uint32_t i;
  if (!t.free.empty()) {
    i = t.free.back();
    t.free.pop_back();
  } else {
    if (t.slots.size() >= kSlots) {  // (retired slots count: one per 2^29 buffers made in a slot)
      kp_buffer_release(buf);
      throw Napi::RangeError::New(env, "more than " + std::to_string(kSlots) + " native buffers alive at once");
    }
    i = static_cast<uint32_t>(t.slots.size());
    t.slots.emplace_back();
  }
  Slot& s = t.slots[i];
  s.buf = buf;
  // Host memory: V8 learns of it, so that tensors dropped without dispose() are collected (and their memory
  // freed) under memory pressure rather than when the JS heap alone would ask for it. Not device memory:
  // V8 answers every 64 MiB of growth with a full collection, which on a GPU cost the enqueuing thread
  // ~50 us per op of 4 MiB outputs (an H100's 50 us GEMM then ran at 90 us per op); device memory is
  // the caching allocator's, which says how much was asked and free when it runs out.
  if (host_memory) {
    s.external = static_cast<int64_t>(kp_buffer_size(buf));
    Napi::MemoryManagement::AdjustExternalMemory(env, s.external);
  }
  return Napi::Number::New(env, static_cast<double>(i + static_cast<uint64_t>(s.generation) * kSlots));
}

kp_buffer* optional_buffer(const Napi::Value& v, const char* name) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  bool stale = false;
  Slot* s = slot_of(v, &stale);
  if (s) return s->buf;
  if (stale) throw Napi::Error::New(v.Env(), std::string(name) + " has been disposed");
  throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a NativeBuffer");
}

// releaseBuffer(buf): gives the JS reference back now (a second call, on a released id, does nothing).
Napi::Value ReleaseBuffer(const Napi::CallbackInfo& info) {
  bool stale = false;
  Slot* s = slot_of(info[0], &stale);
  if (!s && !stale) throw Napi::TypeError::New(info.Env(), "releaseBuffer: buffer must be a NativeBuffer");
  if (s) release_slot(info.Env(), *s, static_cast<uint32_t>(s - table(info.Env()).slots.data()));
  return info.Env().Undefined();
}

// bufferSize(buf): its bytes (0 once released).
Napi::Value BufferSize(const Napi::CallbackInfo& info) {
  bool stale = false;
  Slot* s = slot_of(info[0], &stale);
  if (!s && !stale) throw Napi::TypeError::New(info.Env(), "bufferSize: buffer must be a NativeBuffer");
  return Napi::Number::New(info.Env(), s ? static_cast<double>(kp_buffer_size(s->buf)) : 0.0);
}

}  // namespace kpnode
