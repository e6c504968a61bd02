#include "device.h"
#include "errors.h"

#include <chrono>

namespace {
constexpr int kSpinMicros = 50;
}  // namespace

void kp_device::start() { thread_ = std::thread([this] { loop(); }); }

void kp_device::enqueue(std::function<void()> command, bool is_op) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw kp::Error(KP_ERR_UNAVAILABLE, "the device is closed");
    queue_.push_back(Command{std::move(command), is_op});
    queued_.store(static_cast<int64_t>(queue_.size()), std::memory_order_release);
    if (is_op) pending_.fetch_add(1);
    wake = sleeping_;
  }
  if (wake) wake_.notify_one();  // a spinning queue thread sees queued_ without a futex wake-up
}

void kp_device::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (queue_.empty() && !stopping_) {
      // Spin a little before sleeping: a framework issuing small ops back to back then pays no
      // futex wake-up (tens of microseconds on a loaded VM) per op.
      lock.unlock();
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
      while (queued_.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      lock.lock();
      sleeping_ = true;
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      sleeping_ = false;
    }
    if (queue_.empty()) return;  // stopping, and drained
    Command command = std::move(queue_.front());
    queue_.pop_front();
    queued_.store(static_cast<int64_t>(queue_.size()), std::memory_order_release);
    busy_ = true;
    lock.unlock();
    command.run();  // commands catch their own failures and record them on their outputs
    command.run = nullptr;  // drop buffer references before announcing completion
    lock.lock();
    busy_ = false;
    if (command.is_op) pending_.fetch_sub(1);
    idle_.notify_all();
  }
}

void kp_device::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void kp_device::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void kp_device::record_error(kp_status status, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_ == KP_OK) {
    error_ = status;
    error_message_ = message;
  }
}

kp_status kp_device::take_error(std::string* message) {
  std::lock_guard<std::mutex> lock(mutex_);
  kp_status s = error_;
  if (message) *message = error_message_;
  error_ = KP_OK;
  error_message_.clear();
  return s;
}

void kp_device::release() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    if (backend && state) backend->destroy(state);
    delete this;
  }
}
