// Password guessing as an attacker and a victim meet it over HTTPS: the CAPTCHA after three
// failures (solved here like the browser script solves it), the lock after five that the
// victim's known device is not subject to, answers that never tell an unknown account from
// a real one, parallel guesses that cannot outrun the lock, the automatic IP block, and
// the admin lifting a lock.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "auth_support.h"
#include "protect/pow_captcha.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;

constexpr std::string_view kAdminToken = "admin-token-for-brute-force-0123456789";

class BruteForce : public SharedServerTest<BruteForce> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = AuthDeployment();
    deployment->Set("brute_force", "captcha_after", std::int64_t{3});
    deployment->Set("brute_force", "lock_after", std::int64_t{5});
    deployment->Set("brute_force", "delay_base_ms", std::int64_t{20});
    deployment->Set("brute_force", "delay_cap_s", std::int64_t{1});
    deployment->Set("brute_force", "ip_block_threshold", std::int64_t{40});
    deployment->Set("brute_force", "captcha_difficulty_bits", std::int64_t{10});
    // Loopback is our proxy, so each test speaks for a client address of its own and the
    // per-address counters of one test never reach another.
    deployment->Set("client_ip", "trusted_proxies", "127.0.0.1");
    deployment->Set("rate_limit", "auth", "1000/1m");
    admin_port_ = FreePort();
    deployment->WriteFile("keys/admin.token", kAdminToken);
    deployment->Set("admin", "enabled", true);
    deployment->Set("admin", "port", static_cast<std::int64_t>(admin_port_));
    deployment->Set("admin", "token_file", "keys/admin.token");
    return deployment;
  }

  struct Try {
    int status = 0;
    json::object body;
    std::optional<HttpResponse> response;
  };

  // One login from `ip`, with the cookies and CAPTCHA given; waits out a progressive delay
  // (the answer says how long) so that each call is a real attempt.
  static Try Login(std::string_view ip, std::string_view email, std::string_view password,
                   const std::vector<std::string>& extra = {},
                   std::optional<json::object> captcha = std::nullopt) {
    AuthClient client(port());
    json::object body{{"email", email}, {"password", password}};
    if (captcha) body["captcha"] = *captcha;
    std::vector<std::string> headers = extra;
    headers.push_back("X-Forwarded-For: " + std::string(ip));
    Try t;
    t.response = client.PostJson("/v1/auth/login", body, headers);
    if (!t.response) return t;
    t.status = t.response->status;
    t.body = JsonBody(*t.response);
    return t;
  }

  // The CAPTCHA member for a login: a challenge from the answer, solved.
  static json::object Solve(const json::object& answer) {
    const std::string challenge(answer.at("captcha").at("challenge").as_string());
    auto solution = protect::SolvePow(challenge);
    EXPECT_TRUE(solution.ok());
    return json::object{{"challenge", challenge}, {"solution", solution.ok() ? *solution : ""}};
  }

  static void WaitRetry(const Try& t) {
    if (const json::value* r = t.body.if_contains("retry_after"); r && r->is_int64()) {
      // The delays here are 20 ms doubling (rounded up to 1 s in the answer).
      if (r->as_int64() <= 2) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // Wrong passwords until the account is locked; returns the answers.
  static std::vector<Try> FailFiveTimes(std::string_view ip, std::string_view email) {
    std::vector<Try> answers;
    std::optional<json::object> captcha;
    for (int i = 0; i < 5; ++i) {
      Try t = Login(ip, email, "Wrong-Password-1!", {}, captcha);
      answers.push_back(t);
      captcha.reset();
      if (t.body.contains("captcha")) captcha = Solve(t.body);
      if (i < 4) WaitRetry(t);
    }
    return answers;
  }

  static std::string DeviceCookieOf(const Try& t) {
    auto cookie = FindSetCookie(*t.response, "__Host-gh_device");
    EXPECT_TRUE(cookie) << "no device cookie on a successful login";
    return cookie ? "Cookie: __Host-gh_device=" + cookie->value : "";
  }

  static inline std::uint16_t admin_port_ = 0;
};

TEST_F(BruteForce, CaptchaAfterThreeLockAfterFiveButTheKnownDeviceMayTry) {
  const std::string email = UniqueEmail("victim");
  const std::string password = StrongPassword();
  AuthClient owner(port());
  ASSERT_TRUE(owner.Register(email, password));
  Try first = Login("203.0.113.10", email, password);
  ASSERT_EQ(first.status, 200);
  const std::string device = DeviceCookieOf(first);

  std::vector<Try> answers = FailFiveTimes("198.51.100.20", email);
  for (const Try& t : answers) EXPECT_EQ(t.status, 401) << json::serialize(t.body);
  EXPECT_FALSE(answers[0].body.contains("captcha_required"));
  EXPECT_FALSE(answers[1].body.contains("captcha_required"));
  EXPECT_TRUE(answers[2].body.contains("captcha_required")) << "after the third failure";
  EXPECT_TRUE(WaitForLogLine(*server().process, {"account_lockout"}, Millis(3000)));

  // Locked: even the right password is refused, with the time left and nothing else.
  Try locked = Login("198.51.100.21", email, password);
  EXPECT_EQ(locked.status, 401);
  EXPECT_EQ(locked.body.at("detail").as_string(), "invalid email or password");
  ASSERT_TRUE(locked.body.contains("retry_after"));
  EXPECT_GT(locked.body.at("retry_after").as_int64(), 800);
  EXPECT_TRUE(locked.response->Header("Retry-After"));
  // A refused attempt does not extend the lock.
  Try again = Login("198.51.100.21", email, password);
  EXPECT_LE(again.body.at("retry_after").as_int64(), locked.body.at("retry_after").as_int64());

  // The owner's device signed in before: it has its own counter and gets in.
  Try owner_login = Login("203.0.113.10", email, password, {device});
  EXPECT_EQ(owner_login.status, 200) << json::serialize(owner_login.body);
  // A device cookie of another account is worth nothing here.
  Try other = Login("203.0.113.11", UniqueEmail("nobody"), password, {device});
  EXPECT_EQ(other.status, 401);
}

TEST_F(BruteForce, UnknownAccountsAnswerExactlyLikeRealOnes) {
  const std::string real = UniqueEmail("real");
  AuthClient client(port());
  ASSERT_TRUE(client.Register(real, StrongPassword()));
  const std::string unknown = UniqueEmail("ghost");
  std::vector<Try> real_answers = FailFiveTimes("198.51.100.30", real);
  std::vector<Try> unknown_answers = FailFiveTimes("198.51.100.31", unknown);
  auto shape = [](const Try& t) {
    json::object body = t.body;
    body.erase("request_id");
    if (body.contains("captcha")) body["captcha"] = "<challenge>";
    if (body.contains("retry_after")) {
      // The lock's time left runs down between the two; its order of magnitude is equal.
      body["retry_after"] = body.at("retry_after").as_int64() > 60 ? 900 : 1;
    }
    return std::to_string(t.status) + " " + json::serialize(body);
  };
  for (std::size_t i = 0; i < real_answers.size(); ++i) {
    EXPECT_EQ(shape(real_answers[i]), shape(unknown_answers[i])) << "attempt " << i + 1;
  }
  // Case variants are the same account.
  std::string upper = unknown;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Try variant = Login("198.51.100.32", upper, "Wrong-Password-1!");
  EXPECT_GT(variant.body.at("retry_after").as_int64(), 800) << "the lock covers the variant";
}

TEST_F(BruteForce, ParallelGuessesCannotOutrunTheLock) {
  const std::string email = UniqueEmail("parallel");
  const std::string password = StrongPassword();
  AuthClient client(port());
  ASSERT_TRUE(client.Register(email, password));
  // 50 guesses at once, each with a solved CAPTCHA, from 50 addresses.
  std::vector<json::object> captchas;
  for (int i = 0; i < 50; ++i) {
    AuthClient c(port());
    auto issued = c.Send("POST", "/v1/auth/captcha",
                         {"X-Forwarded-For: 192.0.2." + std::to_string(100 + i)});
    ASSERT_TRUE(issued);
    ASSERT_EQ(issued->status, 200);
    json::object wrapped{{"captcha", JsonBody(*issued)}};
    captchas.push_back(Solve(wrapped));
  }
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      Try t = Login("192.0.2." + std::to_string(100 + i), email, "Wrong-Password-1!", {},
                    captchas[static_cast<std::size_t>(i)]);
      if (t.status == 401) answered.fetch_add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(answered.load(), 50);
  // The reservations and the progressive delay refused most of the burst unchecked (the
  // exact count is asserted by the guard's unit tests on memory and Redis). What the burst
  // checked counts: five failures in all lock the account, never more.
  int further = 0;
  bool locked = false;
  std::optional<json::object> captcha;
  while (!locked && further < 8) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // Past any delay.
    Try t = Login("192.0.2.201", email, "Wrong-Password-1!", {}, captcha);
    captcha.reset();
    if (t.body.contains("captcha")) captcha = Solve(t.body);
    const json::value* r = t.body.if_contains("retry_after");
    locked = r != nullptr && r->is_int64() && r->as_int64() > 800;
    ++further;
  }
  EXPECT_TRUE(locked);
  EXPECT_LE(further, 6) << "at most five failures (plus a CAPTCHA round) before the lock";
  Try after = Login("192.0.2.200", email, password);
  EXPECT_EQ(after.status, 401) << json::serialize(after.body);
}

TEST_F(BruteForce, AnAddressFailingAcrossAccountsIsBlockedAndAnAdminCanLiftIt) {
  const std::string ip = "198.51.100.77";
  // Failures across many unknown accounts (one each: no lock, no delay to wait out). Past
  // three, each attempt needs a solved CAPTCHA; an attempt without one is refused uncounted
  // and its answer carries the challenge for the next.
  int requests = 0;
  bool blocked = false;
  std::optional<json::object> captcha;
  while (!blocked && requests < 120) {
    Try t = Login(ip, UniqueEmail("spray"), "Wrong-Password-1!", {}, captcha);
    ++requests;
    captcha.reset();
    blocked = t.status == 429;
    if (t.body.contains("captcha")) captcha = Solve(t.body);
  }
  ASSERT_TRUE(blocked);
  EXPECT_GT(requests, 40) << "40 counted failures come before the block";
  EXPECT_TRUE(WaitForLogLine(*server().process, {"ip_block", "failures_across_accounts"},
                             Millis(3000)));
  // Blocked everywhere, not only at login.
  AuthClient client(port());
  auto health = client.Send("GET", "/healthz", {"X-Forwarded-For: " + ip});
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 429);
  EXPECT_TRUE(health->Header("Retry-After"));

  // The admin sees it and lifts it.
  AuthClient admin(admin_port_);
  const std::string bearer = "Authorization: Bearer " + std::string(kAdminToken);
  auto list = admin.Send("GET", "/v1/admin/blocks?kind=ip", {bearer});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  std::string id;
  const json::object listed = JsonBody(*list);
  for (const json::value& b : listed.at("blocks").as_array()) {
    if (b.at("label").as_string() == ip) id = std::string(b.at("id").as_string());
  }
  ASSERT_FALSE(id.empty()) << list->body;
  auto lifted = admin.Send("DELETE", "/v1/admin/blocks/" + id, {bearer});
  ASSERT_TRUE(lifted);
  EXPECT_EQ(lifted->status, 204);
  EXPECT_TRUE(WaitForLogLine(*server().process, {"admin_action", "block_lifted"}, Millis(3000)));
  health = client.Send("GET", "/healthz", {"X-Forwarded-For: " + ip});
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(BruteForce, AdminListsAndLiftsAnAccountLock) {
  const std::string email = UniqueEmail("lifted");
  const std::string password = StrongPassword();
  AuthClient client(port());
  ASSERT_TRUE(client.Register(email, password));
  FailFiveTimes("198.51.100.90", email);
  EXPECT_EQ(Login("198.51.100.91", email, password).status, 401);

  AuthClient admin(admin_port_);
  const std::string bearer = "Authorization: Bearer " + std::string(kAdminToken);
  auto list = admin.Send("GET", "/v1/admin/blocks?kind=account", {bearer});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200);
  EXPECT_EQ(list->body.find(email), std::string::npos) << "only the masked address is shown";
  std::string id;
  const json::object listed = JsonBody(*list);
  for (const json::value& b : listed.at("blocks").as_array()) {
    std::string label(b.at("label").as_string());
    if (label == "l***@e***.org") {
      id = std::string(b.at("id").as_string());
    }
  }
  ASSERT_FALSE(id.empty()) << list->body;
  // Several tests lock accounts: lift every listed one, this one among them.
  for (const json::value& b : listed.at("blocks").as_array()) {
    auto lifted =
        admin.Send("DELETE", "/v1/admin/blocks/" + std::string(b.at("id").as_string()), {bearer});
    ASSERT_TRUE(lifted);
    EXPECT_EQ(lifted->status, 204);
  }
  EXPECT_EQ(Login("198.51.100.92", email, password).status, 200);
}

TEST_F(BruteForce, BrowserSolverAndChallengesAreServed) {
  AuthClient client(port());
  auto script = client.Send("GET", "/assets/pow.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->Header("Content-Type").value_or(""), "text/javascript; charset=utf-8");
  EXPECT_NE(script->body.find("export async function solve"), std::string::npos);
  EXPECT_EQ(SecurityHeaderProblems(*script), "");

  auto issued = client.Send("POST", "/v1/auth/captcha");
  ASSERT_TRUE(issued);
  ASSERT_EQ(issued->status, 200);
  json::object challenge = JsonBody(*issued);
  EXPECT_EQ(challenge.at("difficulty_bits").as_int64(), 10);
  EXPECT_EQ(issued->Header("Cache-Control").value_or(""), "no-store");
  // A challenge is single use, and bound to the address it was issued to.
  json::object solved = Solve(json::object{{"captcha", challenge}});
  const std::string email = UniqueEmail("captcha");
  const std::string password = StrongPassword();
  ASSERT_TRUE(client.Register(email, password));
  AuthClient from_elsewhere(port());
  auto elsewhere = from_elsewhere.PostJson(
      "/v1/auth/login", json::object{{"email", email}, {"password", password}, {"captcha", solved}},
      {"X-Forwarded-For: 203.0.113.250"});
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->status, 200) << "a CAPTCHA nobody asked for is ignored";
  auto malformed = client.PostJson(
      "/v1/auth/login",
      json::object{{"email", email}, {"password", password}, {"captcha", "not-an-object"}});
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
}

}  // namespace
}  // namespace gatehouse::itest
