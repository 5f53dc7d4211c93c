#pragma once

// A fixed set of threads draining a bounded FIFO queue. I/O threads never block: password
// hashing, database calls and outbound HTTP are handed to this pool, and when its queue is
// full TrySubmit refuses at once so the server can answer 503 with Retry-After. Memory use
// is fixed at construction: the queue is a ring of `queue_capacity` slots that never grows.
//
// Thread safety: every member may be called from any thread, concurrently.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gatehouse {

class WorkerPool {
 public:
  // A snapshot of the counters; each field is read atomically, the set is not.
  struct Counters {
    std::uint64_t submitted = 0;  // Accepted by TrySubmit.
    std::uint64_t rejected = 0;   // Refused by TrySubmit (queue full or shut down).
    std::uint64_t completed = 0;  // Ran to the end, whether they returned or threw.
    std::uint64_t failed = 0;     // Of the completed, those that threw.
  };

  // Starts `threads` workers at once. A count of zero is taken as one: a pool without
  // threads would accept work and never run it, and a queue without slots would refuse
  // everything; neither is a useful configuration.
  WorkerPool(std::size_t threads, std::size_t queue_capacity);
  // Calls Shutdown().
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task` and returns true, or returns false at once, without blocking and without
  // running or keeping the task, when the queue holds `queue_capacity` tasks or the pool is
  // shutting down. Tasks start in FIFO order. A task that throws is counted in `failed`;
  // the worker survives it. An empty std::function is refused.
  [[nodiscard]] bool TrySubmit(std::function<void()> task);

  // Stops accepting work, runs every task already queued, then joins the workers.
  // Idempotent; a concurrent second call waits until the first has joined.
  // REQUIRES: not called from a task running on this pool (it would wait for itself).
  void Shutdown();

  // False once Shutdown has begun; a readiness probe can report it.
  bool accepting() const;
  // Tasks waiting to start (not those running).
  std::size_t queued() const;
  std::size_t capacity() const { return slots_.size(); }
  std::size_t threads() const { return thread_count_; }
  Counters counters() const;

 private:
  void WorkerLoop();
  void RunOne(std::function<void()>& task);

  mutable std::mutex mu_;
  std::condition_variable ready_;             // Signalled when a task is queued or on stop.
  std::vector<std::function<void()>> slots_;  // Ring buffer; fixed size.
  std::size_t head_ = 0;                      // Next slot to pop.
  std::size_t size_ = 0;                      // Occupied slots.
  bool stopping_ = false;

  std::atomic<std::uint64_t> submitted_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> failed_{0};

  std::mutex shutdown_mu_;  // Serialises Shutdown's join.
  std::size_t thread_count_;
  std::vector<std::thread> workers_;
};

}  // namespace gatehouse
