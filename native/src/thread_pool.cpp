#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace kp {
namespace {

// Workers sleep on a condition variable between jobs; a job is published with a generation number
// so a worker never runs the same job twice. One job at a time (job_mutex_): concurrent devices
// take turns rather than oversubscribing the cores.
class SharedPool {
 public:
  ~SharedPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void run(int64_t n_tasks, const std::function<void(int64_t)>& fn, int threads) {
    if (n_tasks <= 0) return;
    const int helpers = static_cast<int>(std::min<int64_t>(threads, n_tasks)) - 1;
    if (helpers <= 0) {
      for (int64_t t = 0; t < n_tasks; t++) fn(t);
      return;
    }
    // Tasks may run nested parallel_for (they should not, but if they do they run inline).
    if (in_job_) {
      for (int64_t t = 0; t < n_tasks; t++) fn(t);
      return;
    }
    std::lock_guard<std::mutex> job_lock(job_mutex_);
    ensure_workers(helpers);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &fn;
      n_tasks_ = n_tasks;
      next_.store(0);
      error_ = nullptr;
      wanted_ = helpers;
      joined_ = 0;
      finished_ = 0;
      generation_++;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return finished_ == joined_ && (joined_ == wanted_ || next_.load() >= n_tasks_); });
    // Late workers that wake after this point see a stale generation's exhausted counter and do nothing.
    wanted_ = 0;
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work() {
    in_job_ = true;
    struct Reset { ~Reset() { in_job_ = false; } } reset;
    for (;;) {
      const int64_t t = next_.fetch_add(1);
      if (t >= n_tasks_) return;
      try {
        (*fn_)(t);
      } catch (...) {
        // A throwing task must not take the process down from a worker thread: keep the first
        // exception, stop handing out tasks, and rethrow it on the calling thread.
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_tasks_);
      }
    }
  }

  void ensure_workers(int n) {
    while (static_cast<int>(workers_.size()) < n) workers_.emplace_back([this] { loop(); });
  }

  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && joined_ < wanted_); });
      if (stopping_) return;
      seen = generation_;
      joined_++;
      lock.unlock();
      work();
      lock.lock();
      finished_++;
      done_.notify_all();
    }
  }

  std::mutex job_mutex_, error_mutex_;
  std::exception_ptr error_;
  static thread_local bool in_job_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  std::atomic<int64_t> next_{0};
  int64_t n_tasks_ = 0;
  int wanted_ = 0, joined_ = 0, finished_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

thread_local bool SharedPool::in_job_ = false;

SharedPool& pool_instance() {
  // Leaked on purpose: worker threads must not be joined from static destructors at process exit,
  // where Node may already have torn down what a running job touches.
  static SharedPool* pool = new SharedPool();
  return *pool;
}

class LimitedPool final : public ThreadPool {
 public:
  explicit LimitedPool(int threads) : threads_(std::max(1, threads)) {}
  void parallel_for(int64_t n, const std::function<void(int64_t)>& fn) override { pool_instance().run(n, fn, threads_); }
  int threads() const override { return threads_; }

 private:
  int threads_;
};

}  // namespace

std::unique_ptr<ThreadPool> make_limited_pool(int threads) { return std::make_unique<LimitedPool>(threads); }

ThreadPool& shared_pool() {
  static LimitedPool pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return pool;
}

}  // namespace kp
