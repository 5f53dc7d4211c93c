#pragma once

// Backends for the rate limiter suites: every typed test body runs on the memory limiter
// and on the Redis limiter (against the throwaway server of state_test_support.h). Both
// take time from a ManualClock: memory reads its steady time, Redis gets its wall time
// passed to the script (RedisTimeSource::kClient), so window edges are tested to the
// millisecond without sleeping.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/status.h"
#include "protect/rate_limit.h"
#include "protect/rate_limit_memory.h"
#include "protect/rate_limit_redis.h"
#include "state/redis/redis_state.h"
#include "state_test_support.h"

namespace gatehouse::protect::testing {

class MemoryLimiterBackend {
 public:
  static constexpr std::string_view kName = "memory";

  Status Open() {
    MemoryRateLimiterOptions options;
    options.shards = 8;
    limiter_ = std::make_unique<MemoryRateLimiter>(clock_, options);
    return Ok();
  }
  RateLimiter& limiter() { return *limiter_; }
  ManualClock& clock() { return clock_; }

 private:
  ManualClock clock_;
  std::unique_ptr<MemoryRateLimiter> limiter_;
};

class RedisLimiterBackend {
 public:
  static constexpr std::string_view kName = "redis";

  Status Open(RedisRateLimiterOptions options = {}) {
    auto state_options = state::testing::RedisTestOptions();
    if (!state_options.ok()) return std::move(state_options).error();
    auto store = state::OpenRedisState(*state_options);
    if (!store.ok()) return std::move(store).error();
    store_ = std::move(*store);
    prefix_ = state_options->prefix;
    options.time_source = RedisTimeSource::kClient;
    limiter_ = std::make_unique<RedisRateLimiter>(*store_, clock_, std::move(options));
    return Ok();
  }
  RedisRateLimiter& limiter() { return *limiter_; }
  ManualClock& clock() { return clock_; }
  state::RedisStateStore& store() { return *store_; }
  // The store's key prefix on the server (for redis-cli checks).
  const std::string& prefix() const { return prefix_; }

 private:
  ManualClock clock_;
  std::unique_ptr<state::RedisStateStore> store_;
  std::unique_ptr<RedisRateLimiter> limiter_;
  std::string prefix_;
};

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return std::string(T::kName);
  }
};

}  // namespace gatehouse::protect::testing
