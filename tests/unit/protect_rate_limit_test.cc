// The RateLimiter contract, run on the memory and the Redis limiter
// (protect_rate_limit_test_support.h). Time moves by a ManualClock on both.

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "protect/rate_limit.h"
#include "protect_rate_limit_test_support.h"

namespace gatehouse::protect {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BackendNames;
using testing::MemoryLimiterBackend;
using testing::RedisLimiterBackend;

const RateLimitClass kAuth{"auth", 5, seconds(60)};          // Exact (log) form.
const RateLimitClass kDefault{"default", 100, seconds(60)};  // Bucketed form.

template <typename Backend>
class RateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto status = backend_.Open();
    ASSERT_TRUE(status.ok()) << status.error().message() << "\n" << status.error().detail();
  }

  Decision Check(const RateLimitClass& cls, std::string_view subject) {
    auto d = backend_.limiter().Check(cls, subject);
    EXPECT_TRUE(d.ok()) << d.error().message() << " " << d.error().detail();
    return d.ok() ? *d : Decision{};
  }
  // Spends `n` requests, expecting each to be allowed.
  void Spend(const RateLimitClass& cls, std::string_view subject, int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(Check(cls, subject).allowed) << "request " << i;
  }
  void Advance(milliseconds d) { backend_.clock().Advance(d); }

  Backend backend_;
};

using Backends = ::testing::Types<MemoryLimiterBackend, RedisLimiterBackend>;
TYPED_TEST_SUITE(RateLimiterTest, Backends, BackendNames);

TYPED_TEST(RateLimiterTest, AllowsExactlyLimitThenRefusesExactForm) {
  for (std::uint32_t i = 0; i < kAuth.limit; ++i) {
    const Decision d = this->Check(kAuth, "ip:203.0.113.9");
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 5u);
    EXPECT_EQ(d.remaining, kAuth.limit - 1 - i);
    EXPECT_EQ(d.retry_after, milliseconds(0));
  }
  const Decision refused = this->Check(kAuth, "ip:203.0.113.9");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.retry_after, seconds(60));
}

TYPED_TEST(RateLimiterTest, AllowsExactlyLimitThenRefusesBucketedForm) {
  this->Spend(kDefault, "ip:203.0.113.9", 99);
  const Decision last = this->Check(kDefault, "ip:203.0.113.9");
  EXPECT_TRUE(last.allowed);
  EXPECT_EQ(last.remaining, 0u);
  EXPECT_FALSE(this->Check(kDefault, "ip:203.0.113.9").allowed);
}

TYPED_TEST(RateLimiterTest, SlotFreesAtTheExactInstantTheOldestLeaves) {
  // Window (now - 60 s, now]: a request at t leaves at exactly t + 60 s.
  this->Check(kAuth, "user:acc_x");
  this->Advance(seconds(10));
  this->Spend(kAuth, "user:acc_x", 4);

  this->Advance(milliseconds(49'999));  // t0 + 59.999 s
  const Decision before = this->Check(kAuth, "user:acc_x");
  EXPECT_FALSE(before.allowed);
  EXPECT_EQ(before.retry_after, milliseconds(1));

  this->Advance(milliseconds(1));  // t0 + 60 s: the first request has left.
  const Decision at = this->Check(kAuth, "user:acc_x");
  EXPECT_TRUE(at.allowed);
  EXPECT_EQ(at.remaining, 0u);
  // The next to leave are the four of t0 + 10 s.
  EXPECT_EQ(at.reset, seconds(10));
  EXPECT_FALSE(this->Check(kAuth, "user:acc_x").allowed);
}

TYPED_TEST(RateLimiterTest, WindowSlidesInsteadOfResettingOnAFixedGrid) {
  // Five at 50 s past a minute: a fixed per-minute window would allow again at the next
  // minute (10 s later); a sliding one only 60 s after those five.
  this->Advance(seconds(50));
  this->Spend(kAuth, "ip:198.51.100.7", 5);
  this->Advance(seconds(20));
  EXPECT_FALSE(this->Check(kAuth, "ip:198.51.100.7").allowed);
  this->Advance(seconds(40));
  EXPECT_TRUE(this->Check(kAuth, "ip:198.51.100.7").allowed);
}

TYPED_TEST(RateLimiterTest, RetryAfterIsWhenTheLimiterAllowsAgain) {
  for (const RateLimitClass* cls : {&kAuth, &kDefault}) {
    const std::string subject = "key:gh_" + cls->name;
    this->Spend(*cls, subject, static_cast<int>(cls->limit) / 2);
    this->Advance(milliseconds(7'321));
    this->Spend(*cls, subject, static_cast<int>(cls->limit - cls->limit / 2));

    const Decision refused = this->Check(*cls, subject);
    ASSERT_FALSE(refused.allowed) << cls->name;
    ASSERT_GT(refused.retry_after, milliseconds(0));
    ASSERT_LE(refused.retry_after, cls->window);
    EXPECT_EQ(refused.reset, refused.retry_after);

    this->Advance(refused.retry_after - milliseconds(1));
    EXPECT_FALSE(this->Check(*cls, subject).allowed) << cls->name;
    this->Advance(milliseconds(1));
    EXPECT_TRUE(this->Check(*cls, subject).allowed) << cls->name;
  }
}

TYPED_TEST(RateLimiterTest, RefusalsAreNotCounted) {
  this->Spend(kAuth, "ip:192.0.2.1", 5);
  for (int i = 0; i < 20; ++i) {
    this->Advance(seconds(1));
    EXPECT_FALSE(this->Check(kAuth, "ip:192.0.2.1").allowed);
  }
  // Hammering a full window did not push its end: 60 s after the five, room again.
  this->Advance(seconds(40));
  EXPECT_TRUE(this->Check(kAuth, "ip:192.0.2.1").allowed);
}

TYPED_TEST(RateLimiterTest, ClassesAndSubjectsAreIndependent) {
  this->Spend(kAuth, "ip:203.0.113.9", 5);
  EXPECT_FALSE(this->Check(kAuth, "ip:203.0.113.9").allowed);

  EXPECT_TRUE(this->Check(kAuth, "ip:203.0.113.10").allowed);
  EXPECT_TRUE(this->Check(kAuth, "user:acc_x").allowed);
  const RateLimitClass registration{"registration", 5, seconds(60)};
  EXPECT_TRUE(this->Check(registration, "ip:203.0.113.9").allowed);
  EXPECT_EQ(this->Check(kDefault, "ip:203.0.113.9").remaining, 99u);
}

TYPED_TEST(RateLimiterTest, SeparatorInSubjectDoesNotAliasAnotherClass) {
  // "a" + ":" + "b:c" must not share a window with a class "a:b" (such a name is invalid).
  const RateLimitClass a{"a", 1, seconds(60)};
  const RateLimitClass ab{"a:b", 1, seconds(60)};
  EXPECT_TRUE(this->Check(a, "b:c").allowed);
  auto bad = this->backend_.limiter().Check(ab, "c");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TYPED_TEST(RateLimiterTest, WholeWindowIdleStartsFresh) {
  this->Spend(kDefault, "user:acc_y", 100);
  EXPECT_FALSE(this->Check(kDefault, "user:acc_y").allowed);
  this->Advance(seconds(60));
  const Decision d = this->Check(kDefault, "user:acc_y");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 99u);
}

TYPED_TEST(RateLimiterTest, ChangedLimitAppliesToRequestsAlreadyCounted) {
  this->Spend(kAuth, "ip:192.0.2.55", 5);
  this->Advance(seconds(10));
  const RateLimitClass raised{"auth", 10, seconds(60)};
  const Decision up = this->Check(raised, "ip:192.0.2.55");
  EXPECT_TRUE(up.allowed);
  EXPECT_EQ(up.remaining, 4u);

  // Lowered to 3 with 6 held (five at 0 s, one at 10 s): four must leave, the fourth of
  // them at 60 s.
  const RateLimitClass lowered{"auth", 3, seconds(60)};
  const Decision down = this->Check(lowered, "ip:192.0.2.55");
  EXPECT_FALSE(down.allowed);
  EXPECT_EQ(down.retry_after, seconds(50));
}

TYPED_TEST(RateLimiterTest, RejectsInvalidClassesAndSubjects) {
  const std::vector<RateLimitClass> bad = {
      {"", 5, seconds(60)},          {"Auth", 5, seconds(60)},
      {"auth\"", 5, seconds(60)},    {std::string(33, 'a'), 5, seconds(60)},
      {"auth", 0, seconds(60)},      {"auth", 65536, seconds(60)},
      {"auth", 5, milliseconds(15)}, {"auth", 5, std::chrono::hours(24) + milliseconds(1)},
  };
  for (const auto& cls : bad) {
    auto d = this->backend_.limiter().Check(cls, "ip:192.0.2.1");
    ASSERT_FALSE(d.ok()) << cls.name << " " << cls.limit;
    EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(this->backend_.limiter().Check({std::string(32, 'a'), 65535, seconds(60)}, "x").ok());

  for (const std::string& subject : {std::string(), std::string(257, 's')}) {
    auto d = this->backend_.limiter().Check(kAuth, subject);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(this->backend_.limiter().Check(kAuth, std::string(256, 's')).ok());
  EXPECT_TRUE(this->backend_.limiter().Check(kAuth, std::string("bin\0\xff", 5)).ok());
}

TYPED_TEST(RateLimiterTest, AsyncFormDecidesLikeTheSynchronousOne) {
  for (int i = 0; i < 6; ++i) {
    std::promise<Result<Decision>> promise;
    this->backend_.limiter().CheckAsync(kAuth, "ip:203.0.113.77", [&promise](Result<Decision> d) {
      promise.set_value(std::move(d));
    });
    auto d = promise.get_future().get();
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->allowed, i < 5) << i;
  }
}

}  // namespace
}  // namespace gatehouse::protect
