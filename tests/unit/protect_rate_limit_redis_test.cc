// RedisRateLimiter beyond the shared contract: keys and TTLs on the server, the server's
// clock, and the failure policies with the server stopped mid-test.

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/log.h"
#include "protect/rate_limit.h"
#include "protect/rate_limit_redis.h"
#include "protect_rate_limit_test_support.h"
#include "state_test_support.h"

namespace gatehouse::protect {
namespace {

using state::testing::RedisTestServer;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::RedisLimiterBackend;

const RateLimitClass kAuth{"auth", 5, seconds(60)};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

TEST(RedisRateLimiter, WindowKeyIsPrefixedReadableAndExpiresWithTheWindow) {
  RedisLimiterBackend backend;
  ASSERT_TRUE(backend.Open().ok());
  ASSERT_TRUE(backend.limiter().Check(kAuth, "ip:192.0.2.200")->allowed);

  const std::string key = "'" + backend.prefix() + "rl:auth:ip:192.0.2.200'";
  auto [status, ttl] = RedisTestServer::Get().Cli("PTTL " + key);
  ASSERT_EQ(status, 0) << ttl;
  const long pttl = std::stol(ttl);
  EXPECT_GT(pttl, 50'000);
  EXPECT_LE(pttl, 60'000);
  auto [get_status, value] = RedisTestServer::Get().Cli("ZRANGE " + key + " 0 -1 WITHSCORES");
  ASSERT_EQ(get_status, 0);
  // One member, "time:0", scored by the clock's time in ms.
  const auto now_ms =
      std::chrono::duration_cast<milliseconds>(backend.clock().Now().time_since_epoch()).count();
  EXPECT_EQ(Trim(value), std::to_string(now_ms) + ":0\n" + std::to_string(now_ms));
}

TEST(RedisRateLimiter, RefusalWritesNothing) {
  RedisLimiterBackend backend;
  ASSERT_TRUE(backend.Open().ok());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(backend.limiter().Check(kAuth, "ip:192.0.2.201")->allowed);
  const std::string key = "'" + backend.prefix() + "rl:auth:ip:192.0.2.201'";
  const std::string range = "ZRANGE " + key + " 0 -1 WITHSCORES";
  const std::string before = RedisTestServer::Get().Cli(range).second;
  backend.clock().Advance(seconds(5));
  EXPECT_FALSE(backend.limiter().Check(kAuth, "ip:192.0.2.201")->allowed);
  EXPECT_EQ(RedisTestServer::Get().Cli(range).second, before);
  EXPECT_NE(before.find(":4"), std::string::npos);
}

TEST(RedisRateLimiter, ServerClockDecidesByDefault) {
  auto options = state::testing::RedisTestOptions();
  ASSERT_TRUE(options.ok());
  auto store = state::OpenRedisState(*options);
  ASSERT_TRUE(store.ok());
  // The injected clock is frozen: only the server's TIME can free the window.
  ManualClock frozen;
  RedisRateLimiter limiter(**store, frozen);
  for (const RateLimitClass& cls : {RateLimitClass{"short", 2, milliseconds(600)},
                                    RateLimitClass{"shortlarge", 20, milliseconds(640)}}) {
    for (std::uint32_t i = 0; i < cls.limit; ++i) {
      ASSERT_TRUE(limiter.Check(cls, "ip:192.0.2.9")->allowed) << cls.name;
    }
    const auto refused = limiter.Check(cls, "ip:192.0.2.9");
    ASSERT_FALSE(refused->allowed) << cls.name;
    EXPECT_GT(refused->retry_after, milliseconds(0));
    EXPECT_LE(refused->retry_after, cls.window);
    std::this_thread::sleep_for(refused->retry_after + milliseconds(30));
    EXPECT_TRUE(limiter.Check(cls, "ip:192.0.2.9")->allowed) << cls.name;
  }
}

TEST(RedisRateLimiter, UnexpectedServerStateIsAnErrorNotAnOutage) {
  RedisLimiterBackend backend;
  ASSERT_TRUE(backend.Open().ok());
  const std::string key = "'" + backend.prefix() + "rl:auth:ip:192.0.2.202'";
  ASSERT_EQ(RedisTestServer::Get().Cli("HSET " + key + " f v").first, 0);

  auto d = backend.limiter().Check(kAuth, "ip:192.0.2.202");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(backend.limiter().counters().errors, 1u);
  EXPECT_EQ(backend.limiter().counters().went_down, 0u);
  EXPECT_TRUE(backend.limiter().redis_available());
}

int CountEvents(const log::Capture& capture, std::string_view event) {
  int n = 0;
  for (const auto& line : capture.Lines()) {
    if (line.find("\"event\":\"" + std::string(event) + "\"") != std::string::npos) ++n;
  }
  return n;
}

// Stops the shared test server for the length of a test and always brings it back.
class RedisOutage {
 public:
  RedisOutage() { halted_ = RedisTestServer::Get().Halt().ok(); }
  ~RedisOutage() { Restart(); }
  bool halted() const { return halted_; }
  void Restart() {
    if (halted_) halted_ = !RedisTestServer::Get().Restart().ok();
  }

 private:
  bool halted_ = false;
};

TEST(RedisRateLimiter, OutageAppliesEachClassPolicyAndSwitchesAreReportedOnce) {
  auto capture = std::make_shared<log::Capture>();
  log::LogOptions log_options;
  log_options.capture = capture;
  ASSERT_TRUE(log::Init(log_options).ok());

  std::atomic<int> downs{0};
  std::atomic<int> ups{0};
  RedisRateLimiterOptions options;
  options.on_availability_change = [&](bool up) { ++(up ? ups : downs); };
  RedisLimiterBackend backend;
  ASSERT_TRUE(backend.Open(std::move(options)).ok());
  RedisRateLimiter& limiter = backend.limiter();

  const RateLimitClass local{"auth", 2, seconds(60), FailurePolicy::kFallbackLocal};
  const RateLimitClass open{"default", 2, seconds(60), FailurePolicy::kFailOpen};
  const RateLimitClass closed{"registration", 2, seconds(60), FailurePolicy::kFailClosed};
  // Redis has seen one request of the local class before the outage.
  ASSERT_TRUE(limiter.Check(local, "ip:198.51.100.1")->allowed);

  {
    RedisOutage outage;
    ASSERT_TRUE(outage.halted());
    // The store notices the dead connection on its next command; wait for the switch.
    for (int i = 0; i < 100 && limiter.redis_available(); ++i) {
      (void)limiter.Check(open, "ip:probe");
      std::this_thread::sleep_for(milliseconds(20));
    }
    ASSERT_FALSE(limiter.redis_available());
    const auto base = limiter.counters();

    // Fallback: local windows, starting empty (the Redis window is out of reach).
    for (int i = 0; i < 2; ++i) {
      auto d = limiter.Check(local, "ip:198.51.100.1");
      ASSERT_TRUE(d.ok());
      EXPECT_TRUE(d->allowed);
      EXPECT_TRUE(d->degraded);
    }
    auto refused = limiter.Check(local, "ip:198.51.100.1");
    EXPECT_FALSE(refused->allowed);
    EXPECT_EQ(refused->retry_after, seconds(60));

    // Fail open: everything passes.
    for (int i = 0; i < 10; ++i) {
      auto d = limiter.Check(open, "ip:198.51.100.1");
      EXPECT_TRUE(d->allowed && d->degraded);
    }

    // Fail closed: everything is refused with Retry-After 1.
    auto shut = limiter.Check(closed, "ip:198.51.100.1");
    EXPECT_FALSE(shut->allowed);
    EXPECT_TRUE(shut->degraded);
    EXPECT_EQ(shut->retry_after, seconds(1));
    EXPECT_EQ(RetryAfterSeconds(shut->retry_after), 1u);

    // The async path applies the same policy.
    std::promise<Result<Decision>> promise;
    limiter.CheckAsync(closed, "ip:198.51.100.1",
                       [&](Result<Decision> d) { promise.set_value(std::move(d)); });
    auto async = promise.get_future().get();
    ASSERT_TRUE(async.ok());
    EXPECT_FALSE(async->allowed);

    const auto c = limiter.counters();
    EXPECT_EQ(c.fallback_local - base.fallback_local, 3u);
    EXPECT_EQ(c.fail_open - base.fail_open, 10u);
    EXPECT_EQ(c.fail_closed - base.fail_closed, 2u);
    EXPECT_EQ(c.on_unavailable - base.on_unavailable, 15u);
    EXPECT_EQ(c.went_down, 1u);
    EXPECT_EQ(downs.load(), 1);
    EXPECT_EQ(CountEvents(*capture, "rate_limit_redis_down"), 1);
    outage.Restart();
  }

  // Back: decisions come from Redis again, which still holds the pre-outage request.
  Result<Decision> back = Error(ErrorCode::kInternal, "not yet");
  for (int i = 0; i < 200; ++i) {
    back = limiter.Check(local, "ip:198.51.100.1");
    if (back.ok() && !back->degraded) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->degraded);
  EXPECT_TRUE(limiter.redis_available());
  EXPECT_EQ(limiter.counters().came_up, 1u);
  EXPECT_EQ(limiter.counters().went_down, 1u);
  EXPECT_EQ(ups.load(), 1);
  EXPECT_EQ(CountEvents(*capture, "rate_limit_redis_up"), 1);
  EXPECT_EQ(CountEvents(*capture, "rate_limit_redis_down"), 1);
  ASSERT_TRUE(log::Init(log::LogOptions{}).ok());
}

}  // namespace
}  // namespace gatehouse::protect
