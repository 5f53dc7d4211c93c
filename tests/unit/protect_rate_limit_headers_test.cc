// RateLimit-Policy / RateLimit (draft-ietf-httpapi-ratelimit-headers-11) and Retry-After.

#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "protect/rate_limit.h"

namespace gatehouse::protect {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const RateLimitClass kDefault{"default", 100, seconds(60)};
const RateLimitClass kAuth{"auth", 5, seconds(60)};

Decision Allowed(std::uint32_t limit, std::uint32_t remaining, milliseconds reset) {
  return Decision{true, limit, remaining, reset, milliseconds(0)};
}
Decision Refused(std::uint32_t limit, milliseconds retry) {
  return Decision{false, limit, 0, retry, retry};
}

TEST(RateLimitHeaders, PolicyItemNamesQuotaAndWindowInSeconds) {
  EXPECT_EQ(RateLimitPolicyItem(kDefault), "\"default\";q=100;w=60");
  EXPECT_EQ(RateLimitPolicyItem({"api_key", 1000, milliseconds(1500)}), "\"api_key\";q=1000;w=2");
}

TEST(RateLimitHeaders, ItemRoundsTheEffectiveWindowUp) {
  struct Case {
    milliseconds reset;
    const char* want;
  };
  const Case cases[] = {
      {milliseconds(0), "\"default\";r=42;t=0"},    {milliseconds(1), "\"default\";r=42;t=1"},
      {milliseconds(999), "\"default\";r=42;t=1"},  {milliseconds(1000), "\"default\";r=42;t=1"},
      {milliseconds(1001), "\"default\";r=42;t=2"}, {milliseconds(16'250), "\"default\";r=42;t=17"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RateLimitItem(kDefault, Allowed(100, 42, c.reset)), c.want) << c.reset.count();
  }
}

TEST(RateLimitHeaders, RefusalItemEndsWithRetryAfter) {
  EXPECT_EQ(RateLimitItem(kAuth, Refused(5, milliseconds(16'001))), "\"auth\";r=0;t=17");
  EXPECT_EQ(RateLimitItem(kAuth, Refused(5, milliseconds(1))), "\"auth\";r=0;t=1");
}

TEST(RateLimitHeaders, TheLongestItemFitsItsBuffer) {
  const RateLimitClass longest{std::string(32, 'n'), 65535, std::chrono::hours(24),
                               FailurePolicy::kFallbackLocal};
  // The largest wait whose rounding up cannot overflow.
  Decision d = Refused(65535, milliseconds(std::numeric_limits<std::int64_t>::max() - 999));
  d.remaining = 65535;
  char item[kMaxRateLimitItem];
  const std::size_t size = WriteRateLimitItem(longest, d, item);
  ASSERT_LE(size, kMaxRateLimitItem);
  EXPECT_EQ(std::string_view(item, size),
            "\"" + std::string(32, 'n') + "\";r=65535;t=" +
                std::to_string(RetryAfterSeconds(d.retry_after)));
}

TEST(RateLimitHeaders, RetryAfterRoundsUpAndIsAtLeastOne) {
  EXPECT_EQ(RetryAfterSeconds(milliseconds(0)), 1u);
  EXPECT_EQ(RetryAfterSeconds(milliseconds(-5)), 1u);
  EXPECT_EQ(RetryAfterSeconds(milliseconds(1)), 1u);
  EXPECT_EQ(RetryAfterSeconds(milliseconds(1000)), 1u);
  EXPECT_EQ(RetryAfterSeconds(milliseconds(1001)), 2u);
  EXPECT_EQ(RetryAfterSeconds(seconds(60)), 60u);
}

TEST(RateLimitHeaders, AllowedResponseCarriesBothFieldsAndNoRetryAfter) {
  const AppliedLimit applied[] = {{&kDefault, Allowed(100, 42, milliseconds(16'500))}};
  const auto headers = RateLimitHeaders(applied);
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].first, "RateLimit-Policy");
  EXPECT_EQ(headers[0].second, "\"default\";q=100;w=60");
  EXPECT_EQ(headers[1].first, "RateLimit");
  EXPECT_EQ(headers[1].second, "\"default\";r=42;t=17");
  EXPECT_FALSE(AnyRefused(applied));
}

TEST(RateLimitHeaders, SeveralClassesFormOneListAndTheLongestWaitWins) {
  const AppliedLimit applied[] = {
      {&kDefault, Allowed(100, 7, milliseconds(3'000))},
      {&kAuth, Refused(5, milliseconds(41'200))},
      {&kAuth, Refused(5, milliseconds(2'000))},
  };
  const auto headers = RateLimitHeaders(applied);
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].second, "\"default\";q=100;w=60, \"auth\";q=5;w=60, \"auth\";q=5;w=60");
  EXPECT_EQ(headers[1].second, "\"default\";r=7;t=3, \"auth\";r=0;t=42, \"auth\";r=0;t=2");
  EXPECT_EQ(headers[2].first, "Retry-After");
  EXPECT_EQ(headers[2].second, "42");
  EXPECT_TRUE(AnyRefused(applied));
}

TEST(RateLimitHeaders, NothingAppliedMeansNoFields) { EXPECT_TRUE(RateLimitHeaders({}).empty()); }

TEST(RateLimitClasses, DefaultsMatchTheProduct) {
  const auto classes = DefaultRateLimitClasses();
  ASSERT_EQ(classes.size(), 5u);
  const std::vector<std::pair<std::string, std::uint32_t>> want = {
      {"default", 100}, {"auth", 5}, {"registration", 5}, {"protected", 50}, {"api_key", 1000}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(classes[i].name, want[i].first);
    EXPECT_EQ(classes[i].limit, want[i].second);
    EXPECT_EQ(classes[i].window, seconds(60));
    EXPECT_EQ(classes[i].on_unavailable, FailurePolicy::kFallbackLocal);
    EXPECT_TRUE(ValidateClass(classes[i]).ok());
  }
}

}  // namespace
}  // namespace gatehouse::protect
