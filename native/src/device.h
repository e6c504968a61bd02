// A device: one backend instance and one in-order queue served by its own thread. Ops return as
// soon as they are queued; the queue thread runs them (using the backend's thread pool).
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include "backend.h"

struct kp_device {
  const kp::Backend* backend = nullptr;
  void* state = nullptr;
  std::atomic<int> refs{1};  // the owner's, plus one per live buffer

  // Queue a command; it runs after every command queued before it. Ops count as pending until they
  // finish; markers (reads, syncs) do not, so a sync callback sees pending() == 0.
  void enqueue(std::function<void()> command, bool is_op = true);
  void drain();
  void start();
  void stop();
  int64_t pending() const { return pending_.load(); }
  // Whether the caller is the queue thread (a callback): it must not wait for the queue.
  bool on_queue_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

  // First failure since the last sync, recorded by commands on the queue thread.
  void record_error(kp_status status, const std::string& message);
  kp_status take_error(std::string* message);

  void retain() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release();

  // Asynchronous devices (GPUs) run an op's kernels after the queue thread has launched them and let
  // go of its buffers. Ops are numbered as they are launched, and `finished` is the number the device
  // had launched when it was last waited for: a buffer whose last op is above it may be in use still.
  std::atomic<uint64_t> launched{0};
  std::atomic<uint64_t> finished{0};

 private:
  void loop();
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  struct Command {
    std::function<void()> run;
    bool is_op;
  };
  std::deque<Command> queue_;
  bool busy_ = false;
  bool sleeping_ = false;
  std::atomic<int64_t> queued_{0};  // queue_.size(), readable without the lock while spinning
  std::atomic<int64_t> pending_{0};
  bool stopping_ = false;
  kp_status error_ = KP_OK;
  std::string error_message_;
};
