// Rate limits as a client meets them over HTTPS: the headers on every limited answer, the
// 429 when a class is spent, the client address behind trusted proxies (and only behind
// them), and two instances sharing one Redis window, through a Redis outage and back.

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "auth_support.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

json::object Credentials(std::string_view email) {
  return json::object{{"email", email}, {"password", StrongPassword()}};
}

// Production's limits, on a development deployment.
class StrictLimits : public SharedServerTest<StrictLimits> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = AuthDeployment();
    deployment->Set("rate_limit", "strictness", "strict");
    return deployment;
  }
};

TEST_F(StrictLimits, SixthRegistrationInAMinuteIsRefusedWithTheHeaders) {
  AuthClient client(port());
  for (int i = 1; i <= 5; ++i) {
    auto answer = client.PostJson("/v1/auth/register", Credentials(UniqueEmail("rl")));
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 201) << answer->body;
    EXPECT_EQ(answer->Header("RateLimit-Policy").value_or(""), "\"registration\";q=5;w=60");
    EXPECT_EQ(answer->Header("RateLimit").value_or(""),
              "\"registration\";r=" + std::to_string(5 - i) + ";t=60");
  }
  // A forwarding header from a peer nobody trusts is not believed: still the same client.
  auto refused = client.PostJson("/v1/auth/register", Credentials(UniqueEmail("rl")),
                                 {"X-Forwarded-For: 203.0.113.99"});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429) << refused->body;
  EXPECT_EQ(refused->Header("Content-Type").value_or(""), "application/problem+json");
  EXPECT_NE(refused->body.find("too-many-requests"), std::string::npos);
  const int retry_after = std::stoi(refused->Header("Retry-After").value_or("0"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_EQ(refused->Header("RateLimit-Policy").value_or(""), "\"registration\";q=5;w=60");
  EXPECT_TRUE(std::regex_match(refused->Header("RateLimit").value_or(""),
                               std::regex("\"registration\";r=0;t=[0-9]+")));
  EXPECT_EQ(SecurityHeaderProblems(*refused), "");

  auto spoofed = client.PostJson("/v1/auth/register", Credentials(UniqueEmail("rl")),
                                 {"Forwarded: for=198.51.100.7"});
  ASSERT_TRUE(spoofed);
  EXPECT_EQ(spoofed->status, 429);

  // Other classes keep their own budget.
  auto health = client.Send("GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->Header("RateLimit-Policy").value_or(""), "\"default\";q=100;w=60");
}

TEST_F(StrictLimits, UnknownPathsAreCountedToo) {
  AuthClient client(port());
  auto answer = client.Send("GET", "/no/such/path");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);
  EXPECT_EQ(answer->Header("RateLimit-Policy").value_or(""), "\"default\";q=100;w=60");
}

// Loopback is the proxy: X-Forwarded-For names the client.
class BehindProxy : public SharedServerTest<BehindProxy> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = AuthDeployment();
    deployment->Set("client_ip", "trusted_proxies", "127.0.0.1, ::1");
    deployment->Set("rate_limit", "registration", "2/60s");
    return deployment;
  }
};

TEST_F(BehindProxy, TrustedProxySelectsTheClientFromTheRight) {
  AuthClient client(port());
  auto post = [&](std::string xff) {
    auto answer = client.PostJson("/v1/auth/register", Credentials(UniqueEmail("px")),
                                  {"X-Forwarded-For: " + xff});
    return answer ? answer->status : 0;
  };
  EXPECT_EQ(post("203.0.113.7"), 201);
  // The client wrote the left part; our proxy appended the address it saw.
  EXPECT_EQ(post("192.0.2.200, 203.0.113.7"), 201);
  EXPECT_EQ(post("198.51.100.1, 203.0.113.7"), 429);
  // Another client behind the same proxy has its own budget.
  EXPECT_EQ(post("203.0.113.8"), 201);
  // IPv4-mapped IPv6 is the same client as its IPv4 form.
  EXPECT_EQ(post("::ffff:203.0.113.8"), 201);
  EXPECT_EQ(post("203.0.113.8"), 429);
  // A malformed value is not believed: the walk stops at our proxy (loopback), which
  // then is the client and has its own budget.
  EXPECT_EQ(post("not-an-address"), 201);
}

// Two instances sharing one Redis window.
class SharedWindow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    failure_.clear();
    redis_ = TestRedis::Start(&failure_);
    if (redis_ == nullptr) return;
    auto first = MakeDeployment();
    auto second = MakeDeployment();
    if (!second->CopyFileFrom(*first, "keys/master.key") ||
        !second->CopyFileFrom(*first, "keys/token-hmac.key")) {
      failure_ = "could not copy the keys";
      return;
    }
    a_ = StartServer(std::move(first), &failure_);
    if (a_ == nullptr) return;
    b_ = StartServer(std::move(second), &failure_);
  }

  static void TearDownTestSuite() {
    b_.reset();
    a_.reset();
    redis_.reset();
  }

  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = AuthDeployment();
    deployment->Set("state", "driver", "redis");
    deployment->Set("state", "redis_host", "127.0.0.1");
    deployment->Set("state", "redis_port", static_cast<std::int64_t>(redis_->port()));
    deployment->Set("state", "redis_password_file", redis_->password_file().string());
    deployment->Set("state", "prefix", "gh-rl:");
    deployment->Set("state", "redis_timeout_ms", std::int64_t{200});
    deployment->Set("rate_limit", "protected", "10/60s");
    return deployment;
  }

  void SetUp() override {
    ASSERT_TRUE(failure_.empty()) << failure_;
    ASSERT_NE(b_, nullptr);
  }

  // GET /v1/auth/verify without a token: admitted requests answer 401, refused ones 429.
  static int Probe(const RunningServer& server) {
    AuthClient client(server.port());
    auto answer = client.Send("GET", "/v1/auth/verify");
    return answer ? answer->status : 0;
  }

  static inline std::string failure_;
  static inline std::unique_ptr<TestRedis> redis_;
  static inline std::unique_ptr<RunningServer> a_;
  static inline std::unique_ptr<RunningServer> b_;
};

TEST_F(SharedWindow, LimitHoldsAcrossInstancesAndThroughARedisOutage) {
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Probe(i % 2 == 0 ? *a_ : *b_), 401) << "request " << i + 1;
  }
  EXPECT_EQ(Probe(*a_), 429) << "the 11th request, on A";
  EXPECT_EQ(Probe(*b_), 429) << "the 11th request, on B";

  // Redis goes away: each instance falls back to its own window and keeps answering.
  ASSERT_TRUE(redis_->Halt());
  EXPECT_EQ(Probe(*a_), 401);
  EXPECT_EQ(Probe(*b_), 401);
  EXPECT_TRUE(WaitForLogLine(*a_->process, {"rate_limit_backend", "redis_unavailable"},
                             Millis(5000)));
  // Said once, not once per request.
  for (int i = 0; i < 3; ++i) Probe(*a_);
  const std::string log = a_->process->Stdout() + a_->process->Stderr();
  std::size_t said = 0;
  for (std::size_t at = log.find("redis_unavailable"); at != std::string::npos;
       at = log.find("redis_unavailable", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u);

  // Redis is back (empty: it keeps nothing on disk): the shared window counts again.
  ASSERT_TRUE(redis_->Resume());
  const auto deadline = SteadyClock::now() + std::chrono::seconds(15);
  bool recovered = false;
  while (!recovered && SteadyClock::now() < deadline) {
    recovered = WaitForLogLine(*a_->process, {"rate_limit_backend", "redis_restored"},
                               Millis(200))
                    .has_value();
    if (!recovered) Probe(*a_);
  }
  ASSERT_TRUE(recovered) << Tail(a_->process->Stdout());
  int answered = 0;
  int refused = 0;
  for (int i = 0; i < 14; ++i) {
    const int status = Probe(i % 2 == 0 ? *a_ : *b_);
    answered += status == 401;
    refused += status == 429;
  }
  // At most 10 in the fresh shared window, whichever instance they reach.
  EXPECT_LE(answered, 10);
  EXPECT_GE(refused, 4);
}

}  // namespace
}  // namespace gatehouse::itest
