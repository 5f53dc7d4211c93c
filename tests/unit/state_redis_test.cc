// Behaviour only the Redis store has: outages and restarts, timeouts, pipelining,
// authentication, the key namespace and server-side scripts.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/log.h"
#include "state/redis/redis_state.h"
#include "state/script.h"
#include "state/state.h"
#include "state_test_support.h"

namespace gatehouse::state {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::RedisTestOptions;
using testing::RedisTestServer;
using Steady = std::chrono::steady_clock;

const milliseconds kLong = std::chrono::minutes(10);

class RedisStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = RedisTestOptions();
    ASSERT_TRUE(options.ok()) << options.error().detail();
    options_ = std::move(*options);
  }

  std::unique_ptr<RedisStateStore> Open(const RedisStateOptions& options) {
    auto store = OpenRedisState(options);
    EXPECT_TRUE(store.ok()) << store.error().detail();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Retries `call` until it succeeds or `limit` passes; whether it succeeded.
  template <typename Call>
  static bool Eventually(milliseconds limit, Call call) {
    const auto end = Steady::now() + limit;
    while (Steady::now() < end) {
      if (call()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return call();
  }

  RedisStateOptions options_;
};

// Counts the app lines naming `event`.
int CountEvents(const log::Capture& capture, std::string_view event) {
  const std::string needle = "\"event\":\"" + std::string(event) + "\"";
  int n = 0;
  for (const std::string& line : capture.Lines()) n += line.find(needle) != std::string::npos;
  return n;
}

TEST_F(RedisStateTest, FailsFastWhileDownAndReconnectsAfterARestart) {
  auto capture = std::make_shared<log::Capture>();
  log::LogOptions log_options;
  log_options.capture = capture;
  ASSERT_TRUE(log::Init(log_options).ok());

  options_.call_timeout = milliseconds(250);
  auto store = Open(options_);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Set("k", "before", kLong).ok());

  ASSERT_TRUE(RedisTestServer::Get().Halt().ok());
  // The client notices the closed connection by itself.
  EXPECT_TRUE(Eventually(seconds(2), [&] { return store->counters().connections_up == 0; }));

  // While down, every call is refused at once: no waiting for the timeout.
  const auto start = Steady::now();
  for (int i = 0; i < 50; ++i) {
    auto got = store->Get("k");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code(), ErrorCode::kUnavailable);
  }
  EXPECT_LT(Steady::now() - start, options_.call_timeout);
  bool completed_inline = false;
  store->GetAsync("k", [&](Result<std::optional<std::string>> r) {
    completed_inline = true;
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  });
  EXPECT_TRUE(completed_inline);
  EXPECT_GE(store->counters().failed_fast, 51u);

  ASSERT_TRUE(RedisTestServer::Get().Restart().ok());
  EXPECT_TRUE(Eventually(seconds(5), [&] { return store->Set("k", "after", kLong).ok(); }));
  EXPECT_EQ(store->Get("k").value(), "after");
  EXPECT_GE(store->counters().connects, 2u);

  // One line per change of state, however many calls failed in between.
  EXPECT_EQ(CountEvents(*capture, "state_redis_down"), 1);
  EXPECT_EQ(CountEvents(*capture, "state_redis_up"), 2);  // First connect, reconnect.
  ASSERT_TRUE(log::Init(log::LogOptions{}).ok());
}

TEST_F(RedisStateTest, CallTimesOutWhenTheServerStallsAndRepliesStayInOrder) {
  options_.call_timeout = milliseconds(250);
  auto store = Open(options_);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Set("a", "value-a", kLong).ok());
  ASSERT_TRUE(store->Set("b", "value-b", kLong).ok());

  // Redis holds every client's commands for 700 ms.
  auto [status, output] = RedisTestServer::Get().Cli("CLIENT PAUSE 700 ALL");
  ASSERT_EQ(status, 0) << output;
  const auto start = Steady::now();
  auto stalled = store->Get("a");
  const auto waited = Steady::now() - start;
  ASSERT_FALSE(stalled.ok());
  EXPECT_EQ(stalled.error().code(), ErrorCode::kUnavailable);
  EXPECT_GE(waited, milliseconds(240));
  EXPECT_LT(waited, milliseconds(650));
  EXPECT_EQ(store->counters().timeouts, 1u);

  // After the pause the late reply for "a" is dropped, not handed to the next caller.
  EXPECT_TRUE(Eventually(seconds(3), [&] {
    auto b = store->Get("b");
    if (!b.ok()) return false;
    EXPECT_EQ(*b, "value-b");
    return true;
  }));
}

TEST_F(RedisStateTest, SilentConnectionIsDroppedAndMadeAgain) {
  options_.call_timeout = milliseconds(100);
  options_.stall_timeout = milliseconds(300);
  auto store = Open(options_);
  ASSERT_NE(store, nullptr);

  auto [status, output] = RedisTestServer::Get().Cli("CLIENT PAUSE 600 ALL");
  ASSERT_EQ(status, 0) << output;
  EXPECT_FALSE(store->Exists("k").ok());
  // No reply bytes for the stall timeout: the connection is closed and made again.
  EXPECT_TRUE(Eventually(seconds(5), [&] { return store->counters().connects >= 2; }));
  EXPECT_TRUE(Eventually(seconds(5), [&] { return store->Set("k", "v", kLong).ok(); }));
}

TEST_F(RedisStateTest, ConcurrentCallersArePipelined) {
  auto store = Open(options_);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Set("hot", "jti-deny", kLong).ok());
  const auto before = store->counters();

  constexpr int kThreads = 8;
  constexpr int kPerThread = 1250;
  std::mutex mutex;
  std::condition_variable cv;
  int pending = kThreads * kPerThread;
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        store->GetAsync("hot", [&](Result<std::optional<std::string>> r) {
          if (r.ok() && *r == "jti-deny") ++right;
          std::lock_guard lock(mutex);
          if (--pending == 0) cv.notify_all();
        });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, seconds(30), [&] { return pending == 0; }));
  }
  EXPECT_EQ(right.load(), kThreads * kPerThread);

  const auto after = store->counters();
  const auto commands = after.commands - before.commands;
  const auto writes = after.writes - before.writes;
  EXPECT_EQ(commands, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_LT(writes, commands);
}

TEST_F(RedisStateTest, WrongPasswordIsRefusedWithoutEchoingIt) {
  options_.password = Secret("not-the-password-4711");
  auto store = OpenRedisState(options_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(store.error().detail().find("AUTH"), std::string::npos) << store.error().detail();
  EXPECT_EQ(store.error().detail().find("4711"), std::string::npos);
  EXPECT_EQ(store.error().message().find("4711"), std::string::npos);
}

TEST_F(RedisStateTest, MissingPasswordIsRefused) {
  options_.password = Secret();
  auto store = OpenRedisState(options_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
}

TEST_F(RedisStateTest, NothingListeningFailsWithinTheConnectTimeout) {
  options_.port = static_cast<std::uint16_t>(testing::FreePort());
  options_.connect_timeout = milliseconds(500);
  const auto start = Steady::now();
  auto store = OpenRedisState(options_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
  EXPECT_LT(Steady::now() - start, seconds(2));
}

TEST_F(RedisStateTest, KeysLiveUnderTheNamespacePrefix) {
  RedisStateOptions other = options_;
  other.prefix = options_.prefix + "other:";
  auto store = Open(options_);
  auto neighbour = Open(other);
  ASSERT_NE(store, nullptr);
  ASSERT_NE(neighbour, nullptr);

  ASSERT_TRUE(store->Set("k", "mine", kLong).ok());
  EXPECT_FALSE(neighbour->Exists("k").value());

  // On the server the key is prefix + key.
  const RedisScript raw_get("return redis.call('GET', ARGV[1])");
  const std::vector<std::string> args = {options_.prefix + "k"};
  auto raw = neighbour->Eval(raw_get, {}, args);
  ASSERT_TRUE(raw.ok()) << raw.error().detail();
  EXPECT_EQ(raw->kind, ScriptReply::Kind::kString);
  EXPECT_EQ(raw->string, "mine");
}

TEST_F(RedisStateTest, EvalRunsScriptsAndReloadsThemAfterAFlush) {
  auto store = Open(options_);
  ASSERT_NE(store, nullptr);
  ASSERT_NE(store->script_runner(), nullptr);
  const RedisScript script("return {KEYS[1], tonumber(ARGV[1]) + 1, false}");
  EXPECT_EQ(script.sha1().size(), 40u);
  const std::vector<std::string> keys = {"window"};
  const std::vector<std::string> args = {"41"};

  auto check = [&] {
    auto reply = store->Eval(script, keys, args);
    ASSERT_TRUE(reply.ok()) << reply.error().detail();
    ASSERT_EQ(reply->kind, ScriptReply::Kind::kArray);
    ASSERT_EQ(reply->elements.size(), 3u);
    EXPECT_EQ(reply->elements[0].string, options_.prefix + "window");
    EXPECT_EQ(reply->elements[1].integer, 42);
    EXPECT_EQ(reply->elements[2].kind, ScriptReply::Kind::kNil);
  };
  check();
  // The server forgets its scripts (as after a restart): EVALSHA gets NOSCRIPT and
  // the runner loads the script and retries.
  auto [status, output] = RedisTestServer::Get().Cli("SCRIPT FLUSH");
  ASSERT_EQ(status, 0) << output;
  check();
  // And the Lua script behind Increment survives the flush too.
  EXPECT_EQ(store->Increment("n", 3, kLong).value(), 3);

  auto broken = store->Eval(RedisScript("return redis.call('NOSUCHCOMMAND')"), {}, {});
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code(), ErrorCode::kInternal);
}

TEST_F(RedisStateTest, OpenStateBuildsARedisStore) {
  StateOptions options;
  options.driver = "redis";
  options.redis_host = options_.host;
  options.redis_port = options_.port;
  options.redis_password = options_.password;
  options.redis_prefix = options_.prefix;
  auto store = OpenState(options, SystemClock::Instance());
  ASSERT_TRUE(store.ok()) << store.error().detail();
  EXPECT_EQ((*store)->driver_name(), "redis");
  EXPECT_NE((*store)->script_runner(), nullptr);
  EXPECT_TRUE((*store)->Set("k", "v", kLong).ok());
}

TEST_F(RedisStateTest, BadOptionsAreRefused) {
  auto expect_invalid = [](RedisStateOptions options) {
    auto store = OpenRedisState(options);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  };
  RedisStateOptions o = options_;
  o.prefix = std::string(65, 'p');
  expect_invalid(o);
  o = options_;
  o.connections = 0;
  expect_invalid(o);
  o = options_;
  o.host.clear();
  expect_invalid(o);
  o = options_;
  o.call_timeout = milliseconds(0);
  expect_invalid(o);
}

TEST_F(RedisStateTest, SeveralConnectionsShareTheWork) {
  options_.connections = 3;
  auto store = Open(options_);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->counters().connections_up, 3);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(store->Set("k" + std::to_string(i), "v", kLong).ok());
  }
  for (int i = 0; i < 30; ++i) EXPECT_EQ(store->Get("k" + std::to_string(i)).value(), "v");
}

}  // namespace
}  // namespace gatehouse::state
