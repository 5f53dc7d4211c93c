#include "protect/rate_limit_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <random>

namespace gatehouse::protect::window {
namespace {

// The sliding log written the obvious way: every allowed time in a deque, oldest first.
class ReferenceLog {
 public:
  Outcome Decide(std::int64_t now, std::uint32_t limit, std::uint32_t window_ms) {
    if (!times_.empty()) now = std::max(now, times_.back());
    const std::int64_t window = window_ms;
    while (!times_.empty() && times_.front() <= now - window) times_.pop_front();
    Outcome out;
    if (times_.size() >= limit) {
      out.retry_after_ms = times_[times_.size() - limit] + window - now;
      out.reset_ms = out.retry_after_ms;
      return out;
    }
    times_.push_back(now);
    last_window_ = window_ms;
    out.allowed = true;
    out.remaining = limit - static_cast<std::uint32_t>(times_.size());
    out.reset_ms = times_.front() + window - now;
    return out;
  }
  std::int64_t ExpiresAt() const {
    return times_.empty() ? std::numeric_limits<std::int64_t>::min() : times_.back() + last_window_;
  }
  std::size_t size() const { return times_.size(); }

 private:
  std::deque<std::int64_t> times_;
  std::uint32_t last_window_ = 0;
};

void ExpectSame(const Outcome& got, const Outcome& want, int step) {
  ASSERT_EQ(got.allowed, want.allowed) << "step " << step;
  ASSERT_EQ(got.remaining, want.remaining) << "step " << step;
  ASSERT_EQ(got.reset_ms, want.reset_ms) << "step " << step;
  ASSERT_EQ(got.retry_after_ms, want.retry_after_ms) << "step " << step;
}

// The ring (start moving, wrapping, growing, shrinking back inline) must decide exactly as
// the plain log does, under bursts, pauses, limit and window changes and a clock that
// sometimes seems to step back.
TEST(SlidingLog, RingDecidesLikeThePlainLog) {
  std::mt19937_64 random(20260501);
  for (int trial = 0; trial < 40; ++trial) {
    Log log;
    ReferenceLog reference;
    std::int64_t now = 1'000'000'000'000 + trial;
    std::uint32_t limit = 1 + random() % 40;
    std::uint32_t window = 16 + random() % 500;
    for (int step = 0; step < 4000; ++step) {
      switch (random() % 100) {
        case 0:
          limit = 1 + random() % 40;
          break;
        case 1:
          window = 16 + random() % 500;
          break;
        case 2:
          now += 1000;  // A pause: everything leaves.
          break;
        case 3:
          now -= random() % 50;  // A clock that seems to step back.
          break;
        default:
          now += random() % 30;
      }
      ExpectSame(log.Decide(now, limit, window), reference.Decide(now, limit, window), step);
      ASSERT_EQ(log.size(), reference.size()) << "step " << step;
      ASSERT_EQ(log.ExpiresAt(), reference.ExpiresAt()) << "step " << step;
    }
  }
}

TEST(SlidingLog, FullWindowOfABusyKeyWrapsWithoutLosingOrder) {
  Log log;
  ReferenceLog reference;
  std::int64_t now = 5'000;
  // 9,000 requests per 100 ms window, one per 11 µs rounded to whole milliseconds: the
  // shape of the bench's client, for several windows.
  for (int i = 0; i < 50'000; ++i) {
    if (i % 90 == 0) ++now;
    ExpectSame(log.Decide(now, 65535, 100), reference.Decide(now, 65535, 100), i);
  }
  EXPECT_EQ(log.size(), reference.size());
  EXPECT_GT(log.size(), 8'000u);
}

// Offsets are 32 bits; a key busy for longer than that many milliseconds keeps deciding
// correctly across the rebase.
TEST(SlidingLog, KeyBusyForWeeksStaysExact) {
  Log log;
  ReferenceLog reference;
  std::int64_t now = 0;
  const std::int64_t hour = 3'600'000;
  for (int i = 0; i < 24 * 60; ++i) {  // Sixty days, a request every hour.
    now += hour;
    ExpectSame(log.Decide(now, 3, 2 * hour), reference.Decide(now, 3, 2 * hour), i);
  }
  EXPECT_EQ(log.size(), reference.size());
}

}  // namespace
}  // namespace gatehouse::protect::window
