// Persistent worker pool shared by every cpu device in the process.
//
// parallel_for hands out task indices [0, n) dynamically; which thread runs a task never changes
// what the task computes, so kernels that split work into fixed tiles (over M and N, never K)
// give bitwise-identical results for any thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

namespace kp {

class ThreadPool {
 public:
  virtual ~ThreadPool() = default;
  // Runs fn(task) for every task in [0, n_tasks) on up to `threads()` threads, the caller included;
  // returns when all are done. Concurrent callers are serialised.
  virtual void parallel_for(int64_t n_tasks, const std::function<void(int64_t task)>& fn) = 0;
  virtual int threads() const = 0;
};

// A view of the shared pool that uses at most `threads` of its workers (1 = run inline).
ThreadPool& shared_pool();
std::unique_ptr<ThreadPool> make_limited_pool(int threads);

}  // namespace kp
