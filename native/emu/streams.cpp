// The emulated device's streams and events (see runtime.h): queues that run only when waited for.
#include <atomic>
#include <deque>
#include <mutex>
#include <utility>

#include "runtime.h"

namespace kp_emu {

struct Stream {
  std::mutex queue_mutex;  // the queue and `queued`
  std::mutex run_mutex;    // one thread runs a stream's work at a time, in order
  std::deque<std::function<void()>> work;
  uint64_t queued = 0;
  std::atomic<uint64_t> done{0};
};

struct Event {
  Stream* stream = nullptr;
  uint64_t seq = 0;  // done once the stream has run this many items
};

Stream* stream_create() { return new Stream; }

void stream_destroy(Stream* s) {
  if (!s) return;
  (void)stream_sync(s);  // as a GPU's: queued work completes first
  delete s;
}

void stream_enqueue(Stream* s, std::function<void()> work) {
  if (!s) return work();
  std::lock_guard<std::mutex> lock(s->queue_mutex);
  s->work.push_back(std::move(work));
  ++s->queued;
}

int stream_sync(Stream* s) {
  if (s) {
    std::lock_guard<std::mutex> running(s->run_mutex);
    for (;;) {
      std::function<void()> next;
      {
        std::lock_guard<std::mutex> lock(s->queue_mutex);
        if (s->work.empty()) break;
        next = std::move(s->work.front());
        s->work.pop_front();
      }
      next();  // without the queue lock: the host may queue more meanwhile (a free's event record)
      s->done.fetch_add(1, std::memory_order_release);
    }
  }
  return check_sticky();
}

Event* event_create() { return new Event; }
void event_destroy(Event* e) { delete e; }

void event_record(Event* e, Stream* s) {
  e->stream = s;
  if (!s) return;
  std::lock_guard<std::mutex> lock(s->queue_mutex);
  e->seq = s->queued;
}

bool event_done(const Event* e) { return !e->stream || e->stream->done.load(std::memory_order_acquire) >= e->seq; }

}  // namespace kp_emu
