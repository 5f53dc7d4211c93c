#include "core/worker_pool.h"

#include <algorithm>
#include <exception>
#include <typeinfo>
#include <utility>

#include "core/log.h"

namespace gatehouse {

WorkerPool::WorkerPool(std::size_t threads, std::size_t queue_capacity)
    : slots_(std::max<std::size_t>(queue_capacity, 1)),
      thread_count_(std::max<std::size_t>(threads, 1)) {
  workers_.reserve(thread_count_);
  for (std::size_t i = 0; i < thread_count_; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

WorkerPool::~WorkerPool() { Shutdown(); }

bool WorkerPool::TrySubmit(std::function<void()> task) {
  if (!task) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Refusing instead of waiting keeps the I/O thread from blocking and bounds memory:
    // overload turns into fast 503s rather than an ever-growing backlog.
    if (stopping_ || size_ == slots_.size()) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    slots_[(head_ + size_) % slots_.size()] = std::move(task);
    ++size_;
    submitted_.fetch_add(1, std::memory_order_relaxed);
  }
  ready_.notify_one();
  return true;
}

void WorkerPool::Shutdown() {
  std::lock_guard<std::mutex> join_lock(shutdown_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

bool WorkerPool::accepting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !stopping_;
}

std::size_t WorkerPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return size_;
}

WorkerPool::Counters WorkerPool::counters() const {
  Counters c;
  c.submitted = submitted_.load(std::memory_order_relaxed);
  c.rejected = rejected_.load(std::memory_order_relaxed);
  c.completed = completed_.load(std::memory_order_relaxed);
  c.failed = failed_.load(std::memory_order_relaxed);
  return c;
}

void WorkerPool::WorkerLoop() {
  std::function<void()> task;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ready_.wait(lock, [this] { return size_ > 0 || stopping_; });
      // Stopping still drains: queued work was accepted and its callers wait for an answer.
      if (size_ == 0) return;
      task = std::move(slots_[head_]);
      slots_[head_] = nullptr;
      head_ = (head_ + 1) % slots_.size();
      --size_;
    }
    RunOne(task);
    task = nullptr;  // Release captured state before sleeping.
  }
}

void WorkerPool::RunOne(std::function<void()>& task) {
  // A throwing task must not end the thread: the pool would shrink silently until every
  // request is refused. Only the exception's type is logged, never what(): library texts
  // can quote input, and input can hold secrets.
  const char* thrown_type = nullptr;
  try {
    task();
  } catch (const std::exception& e) {
    thrown_type = typeid(e).name();
  } catch (...) {
    thrown_type = "non-std exception";
  }
  completed_.fetch_add(1, std::memory_order_relaxed);
  if (thrown_type == nullptr) return;

  failed_.fetch_add(1, std::memory_order_relaxed);
  log::RateLimited("worker_task_threw", log::Level::kError, "worker_task_threw",
                   {log::Field("exception_type", thrown_type)});
}

}  // namespace gatehouse
