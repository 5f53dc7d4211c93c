// Tokens over the wire: refresh rotation and reuse detection (one client racing itself is
// forgiven within the grace window; a replay after it kills the whole family), and the
// three signing algorithms with the public keys they publish.

#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "auth_support.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;

class AuthRefresh : public SharedServerTest<AuthRefresh> {
 public:
  // refresh_grace_s stays at its default, 10.
  static std::unique_ptr<Deployment> MakeDeployment() { return AuthDeployment(); }
};

TEST_F(AuthRefresh, RotationIssuesNewTokens) {
  AuthClient client(port());
  auto grant = client.RegisterAndLogin(UniqueEmail("rotate"), StrongPassword());
  ASSERT_TRUE(grant);

  auto refreshed = client.Refresh(grant->refresh_token);
  auto next = GrantOf(refreshed);

  ASSERT_TRUE(next);
  EXPECT_NE(next->refresh_token, grant->refresh_token);
  EXPECT_EQ(client.VerifyStatus(next->access_token), 200);
  auto cache = refreshed->Header("Cache-Control");
  EXPECT_TRUE(cache && ContainsNoCase(*cache, "no-store")) << cache.value_or("(absent)");
}

TEST_F(AuthRefresh, ConcurrentRefreshesShareOneSuccessor) {
  // A browser with several tabs refreshes the same token at once; within the grace window
  // every one of them must get the same successor instead of tripping reuse detection.
  AuthClient client(port());
  auto grant = client.RegisterAndLogin(UniqueEmail("race"), StrongPassword());
  ASSERT_TRUE(grant);
  constexpr int kClients = 20;
  std::vector<int> statuses(kClients, 0);
  std::vector<std::string> successors(kClients);
  std::latch start(kClients);

  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      AuthClient own(port());
      start.arrive_and_wait();
      auto response = own.Refresh(grant->refresh_token);
      if (!response) return;
      statuses[i] = response->status;
      json::object body = JsonBody(*response);
      if (const json::value* token = body.if_contains("refresh_token");
          token && token->is_string()) {
        successors[i] = std::string(token->as_string());
      }
    });
  }
  for (std::thread& t : threads) t.join();

  std::set<std::string> distinct(successors.begin(), successors.end());
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(statuses[i], 200) << "client " << i;
  ASSERT_EQ(distinct.size(), 1u) << "the racing clients got different successors";
  EXPECT_NE(*distinct.begin(), grant->refresh_token);
  auto successor = client.Refresh(*distinct.begin());
  ASSERT_TRUE(successor);
  EXPECT_EQ(successor->status, 200) << "the shared successor is dead: " << successor->body;
}

TEST_F(AuthRefresh, RefreshCookieNeedsAllowedOrigin) {
  AuthClient client(port());
  auto grant = client.RegisterAndLogin(UniqueEmail("cookie-refresh"), StrongPassword());
  ASSERT_TRUE(grant);
  std::string cookie = "Cookie: __Secure-gh_refresh=" + grant->refresh_token;

  auto no_origin = client.Send("POST", "/v1/auth/refresh", {cookie});
  auto own_origin =
      client.Send("POST", "/v1/auth/refresh", {cookie, "Origin: " + client.OwnOrigin()});

  ASSERT_TRUE(no_origin && own_origin);
  EXPECT_EQ(no_origin->status, 403) << no_origin->body;
  auto next = GrantOf(own_origin);
  ASSERT_TRUE(next);
  EXPECT_NE(next->refresh_token, grant->refresh_token);
}

class AuthRefreshNoGrace : public SharedServerTest<AuthRefreshNoGrace> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = AuthDeployment();
    deployment->Set("tokens", "refresh_grace_s", std::int64_t{0});
    return deployment;
  }
};

TEST_F(AuthRefreshNoGrace, ReplayedTokenRevokesTheFamily) {
  AuthClient client(port());
  auto grant = client.RegisterAndLogin(UniqueEmail("replay"), StrongPassword());
  ASSERT_TRUE(grant);
  auto successor = GrantOf(client.Refresh(grant->refresh_token));
  ASSERT_TRUE(successor);

  // With no grace window, any second use of a rotated token is a replay: someone else holds
  // a copy. The whole family and its session end.
  auto replay = client.Refresh(grant->refresh_token);

  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 401) << replay->body;
  auto after = client.Refresh(successor->refresh_token);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401) << "the successor outlived the replay";
  EXPECT_EQ(client.VerifyStatus(grant->access_token), 401);
  EXPECT_EQ(client.VerifyStatus(successor->access_token), 401);
  EXPECT_TRUE(WaitForLogLine(
      *server().process, {R"("type":"suspicious_activity")", "refresh_token_reuse"}, Millis(2000)))
      << "no suspicious_activity event for the replay";
}

// ---------------------------------------------------------------------------------------------
// Signing algorithms

// Writes a PKCS#8 private key made by `openssl genpkey` with `args` to keys/signing.pem.
bool WriteSigningKey(const Deployment& deployment, const std::vector<std::string>& args) {
  std::filesystem::path path = deployment.dir() / "keys" / "signing.pem";
  std::vector<std::string> argv = {"openssl", "genpkey"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-out", path.string()});
  CommandResult run = RunCommand(argv, Millis(10000));
  if (run.exit_code != 0) return false;
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return true;
}

std::unique_ptr<RunningServer> StartWithAlgorithm(const std::string& algorithm,
                                                  const std::vector<std::string>& key_args,
                                                  std::string* why) {
  auto deployment = AuthDeployment();
  if (!key_args.empty()) {
    if (!WriteSigningKey(*deployment, key_args)) {
      *why = "openssl genpkey failed";
      return nullptr;
    }
    deployment->Set("tokens", "signing_key_file", "keys/signing.pem");
  }
  deployment->Set("tokens", "algorithm", algorithm);
  return StartServer(std::move(deployment), why);
}

// Checks the published key set of an asymmetric algorithm and a token signed with it.
void ExpectPublishedKeyVerifies(const std::string& algorithm,
                                const std::vector<std::string>& key_args, const std::string& kty,
                                const std::string& crv) {
  std::string why;
  auto server = StartWithAlgorithm(algorithm, key_args, &why);
  ASSERT_NE(server, nullptr) << why;
  AuthClient client(server->port());

  auto jwks = client.Send("GET", "/.well-known/jwks.json");
  auto grant = client.RegisterAndLogin(UniqueEmail("alg"), StrongPassword());

  ASSERT_TRUE(jwks && grant);
  ASSERT_EQ(jwks->status, 200);
  json::object set = JsonBody(*jwks);
  ASSERT_TRUE(set.contains("keys") && set.at("keys").is_array()) << jwks->body;
  const json::array& keys = set.at("keys").as_array();
  ASSERT_EQ(keys.size(), 1u) << jwks->body;
  ASSERT_TRUE(keys[0].is_object());
  const json::object& key = keys[0].as_object();
  EXPECT_EQ(key.if_contains("kty") ? *key.if_contains("kty") : json::value(), json::value(kty));
  EXPECT_EQ(key.if_contains("crv") ? *key.if_contains("crv") : json::value(), json::value(crv));
  // RFC 7517 section 9.1 / RFC 8037: the private part of an OKP or EC key is "d".
  EXPECT_FALSE(key.contains("d")) << "private key material published: " << jwks->body;
  json::object header = JwtHeader(grant->access_token);
  EXPECT_EQ(header.if_contains("alg") ? *header.if_contains("alg") : json::value(),
            json::value(algorithm));
  EXPECT_TRUE(header.contains("kid") && key.contains("kid") && header.at("kid") == key.at("kid"))
      << "the token's kid is not the published key's";
  EXPECT_EQ(client.VerifyStatus(grant->access_token), 200);
}

TEST(AuthAlgorithms, EdDsaPublishesOkpKeyAndVerifies) {
  ExpectPublishedKeyVerifies("EdDSA", {"-algorithm", "ed25519"}, "OKP", "Ed25519");
}

TEST(AuthAlgorithms, Es256PublishesEcKeyAndVerifies) {
  ExpectPublishedKeyVerifies("ES256", {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"},
                             "EC", "P-256");
}

TEST(AuthAlgorithms, Hs256PublishesNoKeys) {
  // A shared secret must never be published; the set is present but empty.
  std::string why;
  auto server = StartWithAlgorithm("HS256", {}, &why);
  ASSERT_NE(server, nullptr) << why;
  AuthClient client(server->port());

  auto jwks = client.Send("GET", "/.well-known/jwks.json");
  auto grant = client.RegisterAndLogin(UniqueEmail("hs"), StrongPassword());

  ASSERT_TRUE(jwks && grant);
  EXPECT_EQ(jwks->status, 200);
  json::object set = JsonBody(*jwks);
  ASSERT_TRUE(set.contains("keys") && set.at("keys").is_array()) << jwks->body;
  EXPECT_TRUE(set.at("keys").as_array().empty()) << jwks->body;
  EXPECT_EQ(JwtHeader(grant->access_token).at("alg"), json::value("HS256"));
  EXPECT_EQ(client.VerifyStatus(grant->access_token), 200);
}

}  // namespace
}  // namespace gatehouse::itest
