#include "protect/request_gate.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/clock.h"
#include "core/config.h"
#include "protect/limits_config.h"
#include "protect/rate_limit_memory.h"

namespace gatehouse::protect {
namespace {

using std::chrono::milliseconds;

TEST(RateSpec, AcceptsOnlyTheDocumentedForms) {
  auto spec = core::ParseRateSpec("5/60s");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->limit, 5u);
  EXPECT_EQ(spec->window, milliseconds(60000));
  EXPECT_EQ(core::ParseRateSpec("100/1m")->window, milliseconds(60000));
  EXPECT_EQ(core::ParseRateSpec("65535/100ms")->window, milliseconds(100));
  EXPECT_EQ(core::ParseRateSpec("1/24h")->window, std::chrono::hours(24));
  for (const char* bad : {"", "5", "/60s", "5/", "5/60", "0/60s", "05/60s", "65536/1m",
                          "5/15ms", "5/25h", "5/60S", " 5/60s", "5/60s ", "-5/60s", "5/0s",
                          "5/060s", "5/1d", "5/1.5s", "abc/60s"}) {
    EXPECT_FALSE(core::ParseRateSpec(bad)) << bad;
  }
}

TEST(ClassesFromConfig, StrictnessScalesDefaultsButNotOverrides) {
  core::RateLimitConfig config;
  config.strictness = core::RateLimitStrictness::kStrict;
  auto strict = ClassesFromConfig(config);
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(FindClass(*strict, "auth")->limit, 5u);
  EXPECT_EQ(FindClass(*strict, "default")->limit, 100u);
  EXPECT_EQ(FindClass(*strict, "api_key")->limit, 1000u);

  config.strictness = core::RateLimitStrictness::kStandard;
  EXPECT_EQ(FindClass(*ClassesFromConfig(config), "auth")->limit, 10u);
  config.strictness = core::RateLimitStrictness::kRelaxed;
  config.registration = "3/10s";
  config.on_unavailable = "fail_closed";
  config.auth_on_unavailable = "fail_open";
  auto relaxed = ClassesFromConfig(config);
  ASSERT_TRUE(relaxed.ok());
  EXPECT_EQ(FindClass(*relaxed, "auth")->limit, 50u);
  EXPECT_EQ(FindClass(*relaxed, "registration")->limit, 3u);
  EXPECT_EQ(FindClass(*relaxed, "registration")->window, milliseconds(10000));
  EXPECT_EQ(FindClass(*relaxed, "auth")->on_unavailable, FailurePolicy::kFailOpen);
  EXPECT_EQ(FindClass(*relaxed, "default")->on_unavailable, FailurePolicy::kFailClosed);

  config.protected_class = "lots";
  auto bad = ClassesFromConfig(config);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().detail().find("rate_limit.protected"), std::string::npos);
}

class FixedLists final : public IpListView {
 public:
  Verdict Decide(const IpAddress& address) const override {
    if (ToString(address) == "192.0.2.66") return Verdict::kDeny;
    if (ToString(address) == "192.0.2.77") return Verdict::kAllow;
    return Verdict::kNeutral;
  }
};

class FixedBlocks final : public IpBlockView {
 public:
  std::optional<Answer> BlockedHere(std::string_view ip) const override {
    if (ip == "192.0.2.77" || ip == "192.0.2.88") return Answer(milliseconds(90'500));
    return Answer(std::optional<milliseconds>());
  }
  void BlockedAsync(std::string_view ip, std::function<void(Answer)> done) const override {
    done(*BlockedHere(ip));
  }
};

struct GateFixture {
  ManualClock clock;
  MemoryRateLimiter limiter{clock};
  FixedLists lists;
  FixedBlocks blocks;
  std::unique_ptr<RequestGate> gate;

  explicit GateFixture(std::vector<std::string> trusted = {}) {
    RequestGateOptions options;
    options.trusted_proxies = *CidrSet::Parse(trusted);
    options.classes = {{"default", 3, milliseconds(60000), FailurePolicy::kFallbackLocal},
                       {"auth", 1, milliseconds(10000), FailurePolicy::kFallbackLocal}};
    gate = std::make_unique<RequestGate>(options, &limiter, &lists, &blocks);
  }

  http::Admission Admit(std::string peer, std::string_view cls = "default",
                        std::vector<http::Header> headers = {}) {
    http::Request req;
    req.client_ip = std::move(peer);
    req.request_id = "req-1";
    req.headers = std::move(headers);
    auto admission = gate->Admit(req, cls, [] {
      ADD_FAILURE() << "a memory gate never waits";
      return http::Gate::Done([](http::Admission) {});
    });
    last_client = req.client_ip;
    return admission ? std::move(*admission) : http::Admission{};
  }
  std::string last_client;
};

TEST(RequestGate, CountsEachClassPerClientAndRefusesWithHeaders) {
  GateFixture f;
  for (int i = 0; i < 3; ++i) {
    http::Admission a = f.Admit("198.51.100.1");
    ASSERT_FALSE(a.refusal);
    EXPECT_EQ(a.rate_limit.policy, "\"default\";q=3;w=60");
    EXPECT_EQ(a.rate_limit.State(), "\"default\";r=" + std::to_string(2 - i) + ";t=60");
  }
  http::Admission refused = f.Admit("198.51.100.1");
  ASSERT_TRUE(refused.refusal);
  EXPECT_EQ(refused.refusal->status, 429);
  EXPECT_EQ(refused.refusal->FindHeader("Retry-After").value_or(""), "60");
  EXPECT_EQ(refused.refusal->FindHeader("RateLimit").value_or(""), "\"default\";r=0;t=60");
  // Another client, and another class, have their own windows.
  EXPECT_FALSE(f.Admit("198.51.100.2").refusal);
  EXPECT_FALSE(f.Admit("198.51.100.1", "auth").refusal);
  EXPECT_TRUE(f.Admit("198.51.100.1", "auth").refusal);
  // The window slides: a minute later the first client is served again.
  f.clock.Advance(std::chrono::seconds(60));
  EXPECT_FALSE(f.Admit("198.51.100.1").refusal);
}

TEST(RequestGate, UnknownClassCountsAsDefaultNeverUnlimited) {
  GateFixture f;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.Admit("198.51.100.3", "nonsense").refusal);
  EXPECT_TRUE(f.Admit("198.51.100.3", "default").refusal);
}

TEST(RequestGate, ListsAndBlocksComeBeforeLimits) {
  GateFixture f;
  http::Admission denied = f.Admit("192.0.2.66");
  ASSERT_TRUE(denied.refusal);
  EXPECT_EQ(denied.refusal->status, 403);
  http::Admission blocked = f.Admit("192.0.2.88");
  ASSERT_TRUE(blocked.refusal);
  EXPECT_EQ(blocked.refusal->status, 429);
  EXPECT_EQ(blocked.refusal->FindHeader("Retry-After").value_or(""), "91");
  // The allow list skips the automatic block, not the rate limit.
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.Admit("192.0.2.77").refusal);
  EXPECT_TRUE(f.Admit("192.0.2.77").refusal);
}

TEST(RequestGate, ForwardingHeadersOnlyFromTrustedProxies) {
  GateFixture untrusted;
  untrusted.Admit("127.0.0.1", "default", {{"X-Forwarded-For", "192.0.2.66"}});
  EXPECT_EQ(untrusted.last_client, "127.0.0.1");

  GateFixture proxied({"127.0.0.1"});
  http::Admission a =
      proxied.Admit("127.0.0.1", "default", {{"X-Forwarded-For", "203.0.113.5, 192.0.2.66"}});
  EXPECT_EQ(proxied.last_client, "192.0.2.66");
  ASSERT_TRUE(a.refusal) << "the denied client behind the proxy";
  proxied.Admit("::ffff:127.0.0.1", "default", {{"X-Forwarded-For", "::ffff:198.51.100.9"}});
  EXPECT_EQ(proxied.last_client, "198.51.100.9");
}

}  // namespace
}  // namespace gatehouse::protect
