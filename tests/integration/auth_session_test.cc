// Sessions over the wire: the per-account limit and its two policies, listing and revoking
// sessions, the device fingerprint bound to a session, and the Origin check that guards
// cookie-authenticated unsafe requests against cross-site request forgery.

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "auth_support.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;

constexpr const char* kPartnerOrigin = "https://app.example.com";

// N logins of one fresh account; empty (and the test fails) if any fails.
std::vector<Grant> LoginTimes(AuthClient& client, int n) {
  std::string email = UniqueEmail("multi");
  std::string password = StrongPassword();
  std::vector<Grant> grants;
  auto first = client.RegisterAndLogin(email, password);
  if (!first) return {};
  grants.push_back(*first);
  for (int i = 1; i < n; ++i) {
    auto next = GrantOf(client.Login(email, password));
    if (!next) return {};
    grants.push_back(*next);
  }
  return grants;
}

std::unique_ptr<Deployment> LimitedDeployment(const char* policy) {
  auto deployment = AuthDeployment();
  deployment->Set("sessions", "max_per_user", std::int64_t{2});
  deployment->Set("sessions", "limit_policy", policy);
  return deployment;
}

TEST(AuthSessionLimit, EvictOldestEndsTheFirstSession) {
  std::string why;
  auto server = StartServer(LimitedDeployment("evict_oldest"), &why);
  ASSERT_NE(server, nullptr) << why;
  AuthClient client(server->port());

  auto grants = LoginTimes(client, 3);

  ASSERT_EQ(grants.size(), 3u);
  EXPECT_EQ(client.VerifyStatus(grants[0].access_token), 401) << "the oldest session survived";
  EXPECT_EQ(client.VerifyStatus(grants[1].access_token), 200);
  EXPECT_EQ(client.VerifyStatus(grants[2].access_token), 200);
}

TEST(AuthSessionLimit, RefuseNewAnswers409) {
  std::string why;
  auto server = StartServer(LimitedDeployment("refuse_new"), &why);
  ASSERT_NE(server, nullptr) << why;
  AuthClient client(server->port());
  std::string email = UniqueEmail("refuse");
  std::string password = StrongPassword();
  auto first = client.RegisterAndLogin(email, password);
  auto second = GrantOf(client.Login(email, password));
  ASSERT_TRUE(first && second);

  auto third = client.Login(email, password);

  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 409) << third->body;
  EXPECT_FALSE(FindSetCookie(*third, "__Host-gh_session").has_value());
  EXPECT_EQ(client.VerifyStatus(first->access_token), 200);
  EXPECT_EQ(client.VerifyStatus(second->access_token), 200);
}

// The embedded default keeps live sessions in the process's memory. A restart (an upgrade,
// a configuration change) must sign nobody out, and must bring back no session that ended.
TEST(AuthSessionRestart, SessionsOutliveARestartAndLogoutsStayInForce) {
  std::string why;
  auto server = StartServer(AuthDeployment(), &why);
  ASSERT_NE(server, nullptr) << why;
  AuthClient client(server->port());
  const std::string email = UniqueEmail("restart");
  const std::string password = StrongPassword();
  auto kept = client.RegisterAndLogin(email, password);
  auto ended = GrantOf(client.Login(email, password));
  ASSERT_TRUE(kept && ended);
  auto logout = client.Logout(ended->access_token);
  ASSERT_TRUE(logout);
  ASSERT_EQ(logout->status, 204) << logout->body;

  server->process.reset();  // SIGTERM: a clean stop.
  server->process = ServerProcess::Spawn(
      {"serve", "--config", server->deployment->config_path().string()},
      server->deployment->dir(), {});
  ASSERT_NE(server->process, nullptr);
  ASSERT_TRUE(server->process->WaitHealthy(server->port(), Millis(10000), &why)) << why;
  EXPECT_TRUE(WaitForLogLine(*server->process, {"sessions_restored", "\"count\":1"},
                             Millis(2000)));

  EXPECT_EQ(client.VerifyStatus(kept->access_token), 200);
  EXPECT_EQ(client.VerifyStatus(ended->access_token), 401);
  EXPECT_TRUE(GrantOf(client.Refresh(kept->refresh_token)));
  auto stale = client.Refresh(ended->refresh_token);
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 401);
}

class AuthSessions : public SharedServerTest<AuthSessions> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = AuthDeployment();
    deployment->Set("sessions", "allowed_origins", kPartnerOrigin);
    return deployment;
  }
};

TEST_F(AuthSessions, ListMasksIpsAndMarksCurrent) {
  AuthClient client(port());
  auto grants = LoginTimes(client, 2);
  ASSERT_EQ(grants.size(), 2u);
  auto verified = client.Verify(grants[1].access_token);
  ASSERT_TRUE(verified);
  std::string current_id = verified->Header("X-Auth-Session").value_or("(none)");

  auto listed = client.Send("GET", "/v1/me/sessions", {BearerHeader(grants[1].access_token)});

  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200) << listed->body;
  json::object body = JsonBody(*listed);
  ASSERT_TRUE(body.contains("sessions") && body.at("sessions").is_array()) << listed->body;
  const json::array& sessions = body.at("sessions").as_array();
  ASSERT_EQ(sessions.size(), 2u) << listed->body;
  int current = 0;
  for (const json::value& entry : sessions) {
    const json::object& s = entry.as_object();
    // Loopback, masked to its /24: the full address is personal data.
    EXPECT_EQ(s.at("ip"), json::value("127.0.0.0/24")) << listed->body;
    if (s.at("current") == json::value(true)) {
      ++current;
      EXPECT_EQ(s.at("id"), json::value(current_id));
    }
  }
  EXPECT_EQ(current, 1) << listed->body;
  EXPECT_EQ(listed->body.find("127.0.0.1"), std::string::npos);
}

TEST_F(AuthSessions, RevokeOthersLeavesOnlyCurrent) {
  AuthClient client(port());
  auto grants = LoginTimes(client, 3);
  ASSERT_EQ(grants.size(), 3u);

  auto revoked =
      client.Send("DELETE", "/v1/me/sessions/others", {BearerHeader(grants[2].access_token)});

  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 200) << revoked->body;
  EXPECT_EQ(JsonBody(*revoked).at("revoked"), json::value(2));
  EXPECT_EQ(client.VerifyStatus(grants[0].access_token), 401);
  EXPECT_EQ(client.VerifyStatus(grants[1].access_token), 401);
  EXPECT_EQ(client.VerifyStatus(grants[2].access_token), 200);
  auto listed = client.Send("GET", "/v1/me/sessions", {BearerHeader(grants[2].access_token)});
  ASSERT_TRUE(listed);
  EXPECT_EQ(JsonBody(*listed).at("sessions").as_array().size(), 1u) << listed->body;
}

TEST_F(AuthSessions, RevokeOneByIdOnlyForItsOwner) {
  AuthClient client(port());
  auto mine = LoginTimes(client, 2);
  auto stranger = LoginTimes(client, 1);
  ASSERT_EQ(mine.size(), 2u);
  ASSERT_EQ(stranger.size(), 1u);
  auto target = client.Verify(mine[0].access_token);
  ASSERT_TRUE(target);
  std::string target_id = target->Header("X-Auth-Session").value_or("(none)");

  // Another account's session id answers like an unknown one and ends nothing.
  auto foreign = client.Send("DELETE", "/v1/me/sessions/" + target_id,
                             {BearerHeader(stranger[0].access_token)});
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 404) << foreign->body;
  EXPECT_EQ(client.VerifyStatus(mine[0].access_token), 200);

  auto own =
      client.Send("DELETE", "/v1/me/sessions/" + target_id, {BearerHeader(mine[1].access_token)});
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 204) << own->body;
  EXPECT_EQ(client.VerifyStatus(mine[0].access_token), 401);
  EXPECT_EQ(client.VerifyStatus(mine[1].access_token), 200);
}

TEST_F(AuthSessions, OtherUserAgentEndsTheSession) {
  AuthClient client(port(), "Mozilla/5.0 (X11; Linux x86_64) gatehouse-it");
  auto grant = client.RegisterAndLogin(UniqueEmail("fp"), StrongPassword());
  ASSERT_TRUE(grant);
  ASSERT_EQ(client.VerifyStatus(grant->access_token), 200);
  AuthClient thief(port(), "curl/7.88.1");

  int stolen = thief.VerifyStatus(grant->access_token);
  int original = client.VerifyStatus(grant->access_token);

  EXPECT_EQ(stolen, 401);
  EXPECT_EQ(original, 401) << "a replay from another device must end the session for everyone";
}

TEST_F(AuthSessions, CookieLogoutNeedsAnAllowedOrigin) {
  AuthClient client(port());
  auto grant = client.RegisterAndLogin(UniqueEmail("origin"), StrongPassword());
  ASSERT_TRUE(grant);
  std::string cookie = SessionCookieHeader(grant->access_token);

  auto no_origin = client.Send("POST", "/v1/auth/logout", {cookie});
  auto foreign = client.Send("POST", "/v1/auth/logout", {cookie, "Origin: https://evil.example"});
  auto null_origin = client.Send("POST", "/v1/auth/logout", {cookie, "Origin: null"});

  ASSERT_TRUE(no_origin && foreign && null_origin);
  EXPECT_EQ(no_origin->status, 403) << no_origin->body;
  EXPECT_EQ(foreign->status, 403) << foreign->body;
  EXPECT_EQ(null_origin->status, 403) << null_origin->body;
  ASSERT_EQ(client.VerifyStatus(grant->access_token), 200) << "a refused logout ended the session";

  auto own = client.Send("POST", "/v1/auth/logout", {cookie, "Origin: " + client.OwnOrigin()});

  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 204) << own->body;
  EXPECT_EQ(client.VerifyStatus(grant->access_token), 401);
}

TEST_F(AuthSessions, CookieLogoutFromConfiguredOrigin) {
  AuthClient client(port());
  auto grant = client.RegisterAndLogin(UniqueEmail("partner"), StrongPassword());
  ASSERT_TRUE(grant);

  auto logout = client.Send(
      "POST", "/v1/auth/logout",
      {SessionCookieHeader(grant->access_token), std::string("Origin: ") + kPartnerOrigin});

  ASSERT_TRUE(logout);
  EXPECT_EQ(logout->status, 204) << logout->body;
  EXPECT_EQ(client.VerifyStatus(grant->access_token), 401);
}

}  // namespace
}  // namespace gatehouse::itest
