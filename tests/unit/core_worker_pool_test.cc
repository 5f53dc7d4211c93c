#include "core/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <stdexcept>
#include <thread>
#include <vector>

namespace gatehouse {
namespace {

// Holds the pool's workers inside a task until Open() is called.
class Gate {
 public:
  std::function<void()> BlockingTask() {
    return [this] {
      started_.count_down();
      opened_.wait();
    };
  }
  void WaitStarted() { started_.wait(); }
  void Open() { open_.set_value(); }

 private:
  std::latch started_{1};
  std::promise<void> open_;
  std::shared_future<void> opened_ = open_.get_future().share();
};

TEST(WorkerPool, RefusesAtOnceWhenTheQueueIsFull) {
  WorkerPool pool(1, 2);
  Gate gate;
  ASSERT_TRUE(pool.TrySubmit(gate.BlockingTask()));
  gate.WaitStarted();  // The only worker is busy; further tasks stay queued.

  EXPECT_TRUE(pool.TrySubmit([] {}));
  EXPECT_TRUE(pool.TrySubmit([] {}));
  EXPECT_EQ(pool.queued(), 2u);
  EXPECT_FALSE(pool.TrySubmit([] {}));
  EXPECT_FALSE(pool.TrySubmit([] {}));
  EXPECT_EQ(pool.queued(), 2u);

  gate.Open();
  pool.Shutdown();
  const WorkerPool::Counters c = pool.counters();
  EXPECT_EQ(c.submitted, 3u);
  EXPECT_EQ(c.rejected, 2u);
  EXPECT_EQ(c.completed, 3u);
  EXPECT_EQ(c.failed, 0u);
}

TEST(WorkerPool, RunsEveryAcceptedTaskInFifoOrder) {
  WorkerPool pool(1, 64);
  Gate gate;
  ASSERT_TRUE(pool.TrySubmit(gate.BlockingTask()));
  gate.WaitStarted();
  std::vector<int> order;  // Only the single worker writes it.
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&order, i] { order.push_back(i); }));
  }
  gate.Open();
  pool.Shutdown();
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(WorkerPool, ThrowingTaskDoesNotKillTheWorker) {
  WorkerPool pool(1, 4);
  std::promise<std::thread::id> after;
  ASSERT_TRUE(pool.TrySubmit([] { throw std::runtime_error("password=hunter2"); }));
  ASSERT_TRUE(pool.TrySubmit([] { throw 42; }));
  ASSERT_TRUE(pool.TrySubmit([&after] { after.set_value(std::this_thread::get_id()); }));
  auto ran = after.get_future();
  ASSERT_EQ(ran.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_NE(ran.get(), std::this_thread::get_id());
  pool.Shutdown();
  EXPECT_EQ(pool.counters().failed, 2u);
  EXPECT_EQ(pool.counters().completed, 3u);
}

TEST(WorkerPool, ShutdownDrainsQueuedTasksThenRefuses) {
  WorkerPool pool(1, 16);
  Gate gate;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.TrySubmit(gate.BlockingTask()));
  gate.WaitStarted();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.TrySubmit([&ran] { ++ran; }));

  std::thread stopper([&pool] { pool.Shutdown(); });
  while (pool.accepting()) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_FALSE(pool.TrySubmit([&ran] { ++ran; }));  // Room is left, yet refused.
  gate.Open();
  stopper.join();

  EXPECT_EQ(ran.load(), 5);
  EXPECT_FALSE(pool.TrySubmit([&ran] { ++ran; }));
  pool.Shutdown();  // Idempotent.
  EXPECT_EQ(ran.load(), 5);
}

TEST(WorkerPool, RefusesEmptyTask) {
  WorkerPool pool(1, 1);
  EXPECT_FALSE(pool.TrySubmit(std::function<void()>()));
  EXPECT_EQ(pool.counters().rejected, 1u);
}

TEST(WorkerPool, ZeroSizesAreTakenAsOne) {
  WorkerPool pool(0, 0);
  EXPECT_EQ(pool.threads(), 1u);
  EXPECT_EQ(pool.capacity(), 1u);
  std::promise<void> done;
  ASSERT_TRUE(pool.TrySubmit([&done] { done.set_value(); }));
  EXPECT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST(WorkerPool, CountsAddUpUnderConcurrentSubmitters) {
  WorkerPool pool(2, 8);
  std::atomic<int> ran{0};
  std::atomic<int> accepted{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (pool.TrySubmit([&ran] { ++ran; })) ++accepted;
      }
    });
  }
  for (std::thread& s : submitters) s.join();
  pool.Shutdown();
  const WorkerPool::Counters c = pool.counters();
  EXPECT_EQ(c.submitted + c.rejected, 2000u);
  EXPECT_EQ(c.submitted, static_cast<std::uint64_t>(accepted.load()));
  EXPECT_EQ(ran.load(), accepted.load());
  EXPECT_EQ(c.completed, c.submitted);
}

}  // namespace
}  // namespace gatehouse
