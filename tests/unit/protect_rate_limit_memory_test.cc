// MemoryRateLimiter beyond the shared contract: reclaiming, the key cap, races, and its
// footprint and speed (reported with RecordProperty).

#include <unistd.h>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <malloc.h>

#include "core/clock.h"
#include "protect/rate_limit.h"
#include "protect/rate_limit_memory.h"

namespace gatehouse::protect {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const RateLimitClass kAuth{"auth", 5, seconds(60)};
const RateLimitClass kDefault{"default", 100, seconds(60)};

std::string Ip(std::size_t i) {
  return "ip:10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
         std::to_string(i & 255);
}

TEST(MemoryRateLimiter, SweepReclaimsOnlyDeadWindows) {
  ManualClock clock;
  MemoryRateLimiterOptions options;
  options.shards = 4;
  MemoryRateLimiter limiter(clock, options);
  for (std::size_t i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Check(kAuth, Ip(i)).ok());
  clock.Advance(seconds(30));
  for (std::size_t i = 0; i < 500; ++i) ASSERT_TRUE(limiter.Check(kDefault, Ip(i)).ok());
  EXPECT_EQ(limiter.counters().keys, 1500u);

  // At 60 s the auth windows (requests at 0 s) are dead; the default ones (30 s) live.
  clock.Advance(seconds(30));
  std::size_t erased = 0;
  for (int i = 0; i < 100 && limiter.counters().keys > 500; ++i) erased += limiter.Sweep(4096);
  EXPECT_EQ(erased, 1000u);
  EXPECT_EQ(limiter.counters().keys, 500u);
  EXPECT_EQ(limiter.counters().reclaimed, 1000u);
  EXPECT_EQ(limiter.Check(kDefault, Ip(0))->remaining, 98u);  // Still counted.
}

TEST(MemoryRateLimiter, KeyCapRefusesNewKeysUntilWindowsDie) {
  ManualClock clock;
  MemoryRateLimiterOptions options;
  options.shards = 1;
  options.max_keys = 16;
  MemoryRateLimiter limiter(clock, options);
  for (std::size_t i = 0; i < 16; ++i) ASSERT_TRUE(limiter.Check(kAuth, Ip(i)).ok());

  auto full = limiter.Check(kAuth, Ip(16));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(limiter.counters().rejected_full, 1u);
  // Existing windows keep counting at the cap.
  EXPECT_TRUE(limiter.Check(kAuth, Ip(3))->allowed);

  clock.Advance(seconds(61));
  EXPECT_TRUE(limiter.Check(kAuth, Ip(16)).ok());
}

TEST(MemoryRateLimiter, ConcurrentCallersNeverExceedTheLimit) {
  for (const RateLimitClass* cls : {&kAuth, &kDefault}) {
    ManualClock clock;
    MemoryRateLimiter limiter(clock);
    constexpr int kThreads = 8;
    std::atomic<int> allowed{0};
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        for (int i = 0; i < 200; ++i) {
          if (limiter.Check(*cls, "ip:203.0.113.1")->allowed) ++allowed;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(allowed.load(), static_cast<int>(cls->limit)) << cls->name;
  }
}

// Each thread remembers recent keys' fingerprints (rate_limit_memory.cc); far more keys
// than it remembers, interleaved, must each keep their own window.
TEST(MemoryRateLimiter, ManyInterleavedKeysEachKeepTheirOwnWindow) {
  ManualClock clock;
  MemoryRateLimiter limiter(clock);
  constexpr std::size_t kKeys = 1000;
  for (std::uint32_t round = 0; round < kAuth.limit; ++round) {
    for (std::size_t i = 0; i < kKeys; ++i) {
      auto d = limiter.Check(kAuth, Ip(i));
      ASSERT_TRUE(d.ok());
      ASSERT_TRUE(d->allowed) << Ip(i) << " round " << round;
      ASSERT_EQ(d->remaining, kAuth.limit - round - 1) << Ip(i);
    }
  }
  for (std::size_t i = 0; i < kKeys; ++i) EXPECT_FALSE(limiter.Check(kAuth, Ip(i))->allowed);
  // The same subject under another class is another window.
  EXPECT_TRUE(limiter.Check(kDefault, Ip(0))->allowed);
  EXPECT_EQ(limiter.counters().keys, kKeys + 1);
}

TEST(MemoryRateLimiter, TwoLimitersOnOneThreadCountApart) {
  ManualClock clock;
  MemoryRateLimiter first(clock);
  MemoryRateLimiter second(clock);
  for (std::uint32_t i = 0; i < kAuth.limit; ++i) ASSERT_TRUE(first.Check(kAuth, Ip(1))->allowed);
  EXPECT_FALSE(first.Check(kAuth, Ip(1))->allowed);
  auto other = second.Check(kAuth, Ip(1));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->allowed);
  EXPECT_EQ(other->remaining, kAuth.limit - 1);
}

// A class name is checked on every decision, a key seen a moment ago included: a name
// outside the alphabet is refused whether or not a valid one of the same length came first.
TEST(MemoryRateLimiter, AnInvalidClassIsRefusedAfterValidOnesToo) {
  ManualClock clock;
  MemoryRateLimiter limiter(clock);
  ASSERT_TRUE(limiter.Check(kAuth, Ip(1)).ok());
  for (const char* name : {"Auth", "au:h", "au h", "", "a123456789012345678901234567890123"}) {
    const RateLimitClass bad{name, 5, seconds(60)};
    for (int i = 0; i < 2; ++i) {
      auto d = limiter.Check(bad, Ip(1));
      ASSERT_FALSE(d.ok()) << name;
      EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument) << name;
    }
  }
  const RateLimitClass no_limit{"auth", 0, seconds(60)};
  EXPECT_FALSE(limiter.Check(no_limit, Ip(1)).ok());
  const RateLimitClass short_window{"auth", 5, milliseconds(1)};
  EXPECT_FALSE(limiter.Check(short_window, Ip(1)).ok());
  EXPECT_FALSE(limiter.Check(kAuth, "").ok());
  EXPECT_FALSE(limiter.Check(kAuth, std::string(kMaxSubjectSize + 1, 'x')).ok());
  EXPECT_EQ(limiter.Check(kAuth, Ip(1))->remaining, 3u);  // Refusals counted nothing.
}

TEST(MemoryRateLimiter, CountersAddUpOverShards) {
  ManualClock clock;
  MemoryRateLimiter limiter(clock);
  for (std::size_t i = 0; i < 100; ++i) {
    for (int j = 0; j < 6; ++j) ASSERT_TRUE(limiter.Check(kAuth, Ip(i)).ok());
  }
  EXPECT_EQ(limiter.counters().allowed, 500u);
  EXPECT_EQ(limiter.counters().refused, 100u);
}

// Heap bytes in use (small blocks and mmapped ones): unlike RSS, not hidden by memory an
// earlier test freed and this one reuses.
std::size_t HeapBytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
}

std::size_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  std::size_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(MemoryRateLimiterFootprint, MillionLiveKeysStayUnder150MiB) {
  ManualClock clock;
  constexpr std::size_t kKeys = 1'000'000;
  const std::size_t before = RssBytes();
  const std::size_t heap_before = HeapBytes();
  auto limiter = std::make_unique<MemoryRateLimiter>(clock);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < kKeys; ++i) {
    // One request each, half login and half general traffic: the typical live key.
    ASSERT_TRUE(limiter->Check(i % 2 ? kAuth : kDefault, Ip(i)).ok());
  }
  const double insert_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::size_t rss_grown = RssBytes() - before;
  const std::size_t grown = HeapBytes() - heap_before;
  EXPECT_EQ(limiter->counters().keys, kKeys);

  // Decisions on live keys (the steady state of a busy server).
  const auto hot_start = std::chrono::steady_clock::now();
  constexpr std::size_t kHot = 2'000'000;
  for (std::size_t i = 0; i < kHot; ++i) {
    (void)limiter->Check(i % 2 ? kAuth : kDefault, Ip((i * 7919) % kKeys));
  }
  const double hot_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - hot_start).count();

  const double per_key = static_cast<double>(grown) / kKeys;
  std::printf(
      "[ memory ] 1M keys: heap +%.1f MiB = %.1f bytes/key (RSS +%.1f MiB); new-key "
      "decisions %.2f M/s, live-key decisions %.2f M/s (1 thread)\n",
      grown / 1048576.0, per_key, rss_grown / 1048576.0, kKeys / insert_s / 1e6,
      kHot / hot_s / 1e6);
  ::testing::Test::RecordProperty("heap_bytes_per_key", std::to_string(per_key));
  ::testing::Test::RecordProperty("decisions_per_second", std::to_string(kHot / hot_s));
  EXPECT_LT(grown, 150u * 1024 * 1024);
}

TEST(MemoryRateLimiterFootprint, SaturatedKeysCostFourBytesPerLoggedRequest) {
  ManualClock clock;
  constexpr std::size_t kKeys = 20'000;
  const std::size_t before = HeapBytes();
  auto limiter = std::make_unique<MemoryRateLimiter>(clock);
  for (std::size_t i = 0; i < kKeys; ++i) {
    for (int n = 0; n < 100; ++n) ASSERT_TRUE(limiter->Check(kDefault, Ip(i))->allowed);
  }
  const double per_key = static_cast<double>(HeapBytes() - before) / kKeys;
  std::printf("[ memory ] a key holding 100 requests (default class, full): %.0f bytes\n", per_key);
  ::testing::Test::RecordProperty("rss_bytes_per_full_default_key", std::to_string(per_key));
  // 100 offsets of 4 bytes (the block grows to the limit, not past it) plus the entry.
  EXPECT_LT(per_key, 560.0);

  // Once the window has passed, the heavy keys are reclaimed entirely.
  clock.Advance(seconds(61));
  std::size_t erased = 0;
  for (int i = 0; i < 1000 && limiter->counters().keys > 0; ++i) erased += limiter->Sweep(1 << 16);
  EXPECT_EQ(erased, kKeys);
}

}  // namespace
}  // namespace gatehouse::protect
