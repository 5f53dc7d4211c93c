// Accuracy against an exact sliding log, on a seeded trace of Poisson arrivals and bursts.
//
// "Under the limit" means: fewer than `limit` requests of this (class, subject) were
// allowed in (t - window, t]. The oracle keeps the timestamps of the requests the limiter
// under test allowed and judges each decision by that rule:
//   false refusal  refused although under the limit     (must never happen)
//   false allow    allowed although the window was full (rare; reported)
// For information the test also runs an independent exact log (its own allowed set) and
// reports how often the two disagree; see docs/rate-limiting.md for why that number is
// not the measure (one false allow shifts later windows of that key).

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "protect/rate_limit.h"
#include "protect/rate_limit_memory.h"
#include "protect/rate_limit_redis.h"
#include "protect_rate_limit_test_support.h"

namespace gatehouse::protect {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The product's classes (all 60 s windows).
const std::vector<RateLimitClass>& Classes() {
  static const std::vector<RateLimitClass> classes = DefaultRateLimitClasses();
  return classes;
}

struct Event {
  std::int64_t t_ms;
  std::uint32_t key;
};

struct Trace {
  std::vector<std::uint32_t> key_class;  // Index into Classes().
  std::vector<Event> events;             // Sorted by time.
};

// Keys: 50% auth, 20% registration, 15% default, 14% protected, 1% api_key. Each key sends
// Poisson traffic at m * limit per window, m drawn per key (70% light 0.02..0.3, 20% near
// the limit 0.5..1.2, 10% abusive 1.5..6), plus 0..2 bursts of 1..1.5*limit requests
// packed into at most 2 s.
Trace MakeTrace(std::uint64_t seed, std::uint32_t keys, std::int64_t horizon_ms) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Trace trace;
  trace.key_class.resize(keys);
  for (std::uint32_t k = 0; k < keys; ++k) {
    const double c = unit(rng);
    const std::uint32_t cls = c < 0.50 ? 1 : c < 0.70 ? 2 : c < 0.85 ? 0 : c < 0.99 ? 3 : 4;
    trace.key_class[k] = cls;
    const RateLimitClass& rl = Classes()[cls];

    const double kind = unit(rng);
    const double m = kind < 0.7   ? 0.02 + 0.28 * unit(rng)
                     : kind < 0.9 ? 0.5 + 0.7 * unit(rng)
                                  : 1.5 + 4.5 * unit(rng);
    const double rate_per_ms = m * rl.limit / static_cast<double>(rl.window.count());
    std::exponential_distribution<double> gap(rate_per_ms);
    for (double t = gap(rng); t < horizon_ms; t += gap(rng)) {
      trace.events.push_back({static_cast<std::int64_t>(t), k});
    }

    const int bursts = static_cast<int>(unit(rng) * 3);
    for (int b = 0; b < bursts; ++b) {
      const auto at = static_cast<std::int64_t>(unit(rng) * horizon_ms);
      const auto size = 1 + static_cast<std::uint32_t>(unit(rng) * 1.5 * rl.limit);
      const double span = unit(rng) * 2000.0;
      for (std::uint32_t i = 0; i < size; ++i) {
        trace.events.push_back({at + static_cast<std::int64_t>(unit(rng) * span), k});
      }
    }
  }
  std::stable_sort(trace.events.begin(), trace.events.end(),
                   [](const Event& a, const Event& b) { return a.t_ms < b.t_ms; });
  return trace;
}

// Per key, the last `limit` allowed timestamps (a ring): the window is full at t exactly
// when the limit-th most recent allowed request is still inside (t - window, t].
class ExactLog {
 public:
  explicit ExactLog(const Trace& trace) : trace_(trace) {
    offset_.resize(trace.key_class.size() + 1);
    for (std::size_t k = 0; k < trace.key_class.size(); ++k) {
      offset_[k + 1] = offset_[k] + Classes()[trace.key_class[k]].limit;
    }
    stamps_.assign(offset_.back(), kNever);
    next_.assign(trace.key_class.size(), 0);
  }

  bool Full(std::uint32_t key, std::int64_t t) const {
    const RateLimitClass& cls = Classes()[trace_.key_class[key]];
    // The oldest of the ring is the limit-th most recent allowed request.
    const std::int64_t oldest = stamps_[offset_[key] + next_[key]];
    return oldest != kNever && oldest > t - cls.window.count();
  }

  void Allow(std::uint32_t key, std::int64_t t) {
    const std::uint32_t limit = Classes()[trace_.key_class[key]].limit;
    stamps_[offset_[key] + next_[key]] = t;
    next_[key] = (next_[key] + 1) % limit;
  }

 private:
  static constexpr std::int64_t kNever = INT64_MIN;
  const Trace& trace_;
  std::vector<std::size_t> offset_;
  std::vector<std::int64_t> stamps_;
  std::vector<std::uint32_t> next_;
};

struct Score {
  std::uint64_t decisions = 0;
  std::uint64_t allowed = 0;
  std::uint64_t false_refusals = 0;
  std::uint64_t false_allows = 0;
  std::uint64_t disagree_independent = 0;
  std::uint64_t false_allows_by_class[5] = {};

  double FalseAllowShare() const { return static_cast<double>(false_allows) / decisions; }
};

// Judges the limiter's decisions (`allowed[i]` for trace.events[i]).
Score Judge(const Trace& trace, const std::vector<char>& allowed) {
  ExactLog own(trace);          // Fed with what the limiter allowed.
  ExactLog independent(trace);  // A reference limiter of its own.
  Score s;
  for (std::size_t i = 0; i < trace.events.size(); ++i) {
    const Event& e = trace.events[i];
    const bool full = own.Full(e.key, e.t_ms);
    ++s.decisions;
    if (allowed[i]) {
      ++s.allowed;
      if (full) {
        ++s.false_allows;
        ++s.false_allows_by_class[trace.key_class[e.key]];
      }
      own.Allow(e.key, e.t_ms);
    } else if (!full) {
      ++s.false_refusals;
    }
    const bool reference = !independent.Full(e.key, e.t_ms);
    if (reference) independent.Allow(e.key, e.t_ms);
    if (reference != static_cast<bool>(allowed[i])) ++s.disagree_independent;
  }
  return s;
}

void Report(const char* label, const Trace& trace, const Score& s) {
  std::printf(
      "[ %s ] %zu keys, %llu decisions (%.1f%% allowed): false refusals %llu, "
      "false allows %llu = %.5f%% (auth %llu, registration %llu, default %llu, "
      "protected %llu, api_key %llu); independent exact log disagrees on %.4f%%\n",
      label, trace.key_class.size(), static_cast<unsigned long long>(s.decisions),
      100.0 * s.allowed / s.decisions, static_cast<unsigned long long>(s.false_refusals),
      static_cast<unsigned long long>(s.false_allows), 100.0 * s.FalseAllowShare(),
      static_cast<unsigned long long>(s.false_allows_by_class[1]),
      static_cast<unsigned long long>(s.false_allows_by_class[2]),
      static_cast<unsigned long long>(s.false_allows_by_class[0]),
      static_cast<unsigned long long>(s.false_allows_by_class[3]),
      static_cast<unsigned long long>(s.false_allows_by_class[4]),
      100.0 * s.disagree_independent / s.decisions);
  ::testing::Test::RecordProperty("decisions", std::to_string(s.decisions));
  ::testing::Test::RecordProperty("false_refusals", std::to_string(s.false_refusals));
  ::testing::Test::RecordProperty("false_allow_share", std::to_string(s.FalseAllowShare()));
}

std::string Subject(std::uint32_t key) { return "ip:k" + std::to_string(key); }

std::vector<char> RunMemory(const Trace& trace) {
  ManualClock clock;
  MemoryRateLimiter limiter(clock);
  std::vector<char> allowed(trace.events.size());
  std::int64_t now = 0;
  for (std::size_t i = 0; i < trace.events.size(); ++i) {
    const Event& e = trace.events[i];
    clock.Advance(milliseconds(e.t_ms - now));
    now = e.t_ms;
    auto d = limiter.Check(Classes()[trace.key_class[e.key]], Subject(e.key));
    EXPECT_TRUE(d.ok());
    allowed[i] = d.ok() && d->allowed;
  }
  return allowed;
}

TEST(RateLimitAccuracy, MemoryNeverRefusesUnderTheLimitOnAHundredThousandKeys) {
  const Trace trace = MakeTrace(/*seed=*/20240601, /*keys=*/100'000, /*horizon_ms=*/150'000);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<char> allowed = RunMemory(trace);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Score s = Judge(trace, allowed);
  Report("memory", trace, s);
  std::printf("[ memory ] trace decided at %.2f M decisions/s\n", s.decisions / secs / 1e6);

  EXPECT_GT(s.decisions, 1'000'000u);
  EXPECT_EQ(s.false_refusals, 0u);
  // The limiter is the exact sliding log: not a single false allow either.
  EXPECT_EQ(s.false_allows, 0u);
  EXPECT_EQ(s.disagree_independent, 0u);
}

TEST(RateLimitAccuracy, RedisDecidesExactlyLikeMemoryOnAPipelinedTrace) {
  const Trace trace = MakeTrace(/*seed=*/777, /*keys=*/2'000, /*horizon_ms=*/150'000);

  // Memory on the same grid.
  const std::vector<char> memory = RunMemory(trace);

  // Redis gets wall time, memory steady time from 0: decisions depend only on differences.
  ManualClock clock;
  auto state_options = state::testing::RedisTestOptions();
  ASSERT_TRUE(state_options.ok()) << state_options.error().detail();
  auto store = state::OpenRedisState(*state_options);
  ASSERT_TRUE(store.ok()) << store.error().detail();
  RedisRateLimiterOptions options;
  options.time_source = RedisTimeSource::kClient;
  RedisRateLimiter limiter(**store, clock, std::move(options));

  // Load the script first. On a fresh server the first EVALSHAs fail with NOSCRIPT and the
  // runner retries each after loading it, behind commands sent meanwhile: harmless for
  // concurrent requests (they have no order), but this test compares decisions in order.
  ASSERT_TRUE(limiter.Check(Classes()[0], "warm-up").ok());

  // Pipelined: up to 2048 scripts in flight; Redis runs one connection's scripts in order,
  // so each key's decisions happen in trace order.
  std::vector<char> redis(trace.events.size());
  std::mutex mu;
  std::condition_variable cv;
  std::size_t in_flight = 0;
  std::size_t failures = 0;
  std::int64_t now = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < trace.events.size(); ++i) {
    const Event& e = trace.events[i];
    clock.Advance(milliseconds(e.t_ms - now));
    now = e.t_ms;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < 2048; });
      ++in_flight;
    }
    limiter.CheckAsync(Classes()[trace.key_class[e.key]], Subject(e.key),
                       [&, i](Result<Decision> d) {
                         std::lock_guard lock(mu);
                         if (!d.ok() || d->degraded) ++failures;
                         redis[i] = d.ok() && d->allowed;
                         --in_flight;
                         cv.notify_all();
                       });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(failures, 0u);

  const Score s = Judge(trace, redis);
  Report("redis", trace, s);
  std::printf("[ redis ] %zu decisions pipelined through EvalAsync: %.0f decisions/s\n",
              trace.events.size(), trace.events.size() / secs);
  EXPECT_EQ(s.false_refusals, 0u);
  EXPECT_EQ(s.false_allows, 0u);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < redis.size(); ++i) differ += redis[i] != memory[i];
  EXPECT_EQ(differ, 0u) << "the Lua script and rate_limit_window.cc disagree";
}

}  // namespace
}  // namespace gatehouse::protect
