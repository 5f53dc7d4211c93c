// API keys as services and operators meet them over HTTPS, on both deployments the product
// supports: one instance on SQLite and the memory state, and two instances sharing one
// PostgreSQL and one Redis (a key made on one works on the other, a revocation on one is
// honoured by the other within a second, the per-key limit is one window across both).
// Every test runs on both; on the embedded deployment "A" and "B" are the same server.
// A last suite stops PostgreSQL under a running instance: a cached key keeps working,
// which is the proof that the request path does not touch the database on a hit.

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "auth/api_key_format.h"
#include "auth_support.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kAdminToken = "admin-token-for-api-key-tests-0123456789";
constexpr std::int64_t kGraceSeconds = 2;

// Polls until `done` holds or `timeout` passes; true when it held.
template <typename Done>
bool Eventually(Millis timeout, Done done) {
  const auto deadline = SteadyClock::now() + timeout;
  do {
    if (done()) return true;
    std::this_thread::sleep_for(Millis(50));
  } while (SteadyClock::now() < deadline);
  return done();
}

std::unique_ptr<Deployment> KeyDeployment(std::uint16_t admin_port) {
  auto deployment = AuthDeployment();
  deployment->WriteFile("keys/admin.token", kAdminToken);
  deployment->Set("admin", "enabled", true);
  deployment->Set("admin", "port", static_cast<std::int64_t>(admin_port));
  deployment->Set("admin", "token_file", "keys/admin.token");
  // Every client here is 127.0.0.1: keep the per-address classes out of the way.
  deployment->Set("rate_limit", "registration", "1000/1m");
  deployment->Set("rate_limit", "auth", "1000/1m");
  deployment->Set("api_keys", "rotation_grace_s", kGraceSeconds);
  deployment->Set("api_keys", "usage_flush_interval_s", std::int64_t{1});
  deployment->Set("api_keys", "expiry_check_interval_s", std::int64_t{1});
  deployment->Set("api_keys", "admin_only_scopes", "ops:admin");
  return deployment;
}

struct Instance {
  std::unique_ptr<RunningServer> server;
  std::uint16_t admin_port = 0;
};

// One SQLite + memory instance; B is A.
struct Embedded {
  static constexpr std::string_view kName = "SqliteMemory";
  static bool Start(Instance& a, Instance& b, std::string* why) {
    a.admin_port = FreePort();
    a.server = StartServer(KeyDeployment(a.admin_port), why);
    b.admin_port = a.admin_port;
    return a.server != nullptr;
  }
  static inline std::unique_ptr<TestPostgres> postgres;
  static inline std::unique_ptr<TestRedis> redis;
};

// Two instances over one PostgreSQL and one Redis, with the same master key and token
// secret (they must read each other's rows and tokens).
struct Shared {
  static constexpr std::string_view kName = "PostgresRedis";
  static std::unique_ptr<Deployment> Make(std::uint16_t admin_port) {
    auto deployment = KeyDeployment(admin_port);
    deployment->Set("store", "driver", "postgres");
    deployment->Unset("store", "sqlite_path");
    deployment->Set("store", "postgres_url_file", postgres->url_file().string());
    deployment->Set("state", "driver", "redis");
    deployment->Set("state", "redis_host", "127.0.0.1");
    deployment->Set("state", "redis_port", static_cast<std::int64_t>(redis->port()));
    deployment->Set("state", "redis_password_file", redis->password_file().string());
    deployment->Set("state", "prefix", "gh-keys:");
    return deployment;
  }
  static bool Start(Instance& a, Instance& b, std::string* why) {
    postgres = TestPostgres::Start(why);
    if (postgres == nullptr) return false;
    redis = TestRedis::Start(why);
    if (redis == nullptr) return false;
    a.admin_port = FreePort();
    b.admin_port = FreePort();
    auto first = Make(a.admin_port);
    auto second = Make(b.admin_port);
    if (!second->CopyFileFrom(*first, "keys/master.key") ||
        !second->CopyFileFrom(*first, "keys/token-hmac.key")) {
      *why = "could not copy the keys";
      return false;
    }
    a.server = StartServer(std::move(first), why);
    if (a.server == nullptr) return false;
    b.server = StartServer(std::move(second), why);
    return b.server != nullptr;
  }
  static inline std::unique_ptr<TestPostgres> postgres;
  static inline std::unique_ptr<TestRedis> redis;
};

template <typename Backend>
class ApiKeys : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    failure_.clear();
    started_ = Backend::Start(a_, b_, &failure_);
  }
  static void TearDownTestSuite() {
    b_.server.reset();
    a_.server.reset();
    Backend::redis.reset();
    Backend::postgres.reset();
  }
  void SetUp() override { ASSERT_TRUE(started_) << failure_; }
  void TearDown() override {
    if (!HasFailure() || !started_) return;
    std::cerr << "--- instance A stderr (tail) ---\n" << Tail(A().process->Stderr()) << "\n";
    if (b_.server) {
      std::cerr << "--- instance B stderr (tail) ---\n" << Tail(B().process->Stderr()) << "\n";
    }
  }

  static RunningServer& A() { return *a_.server; }
  static RunningServer& B() { return b_.server ? *b_.server : *a_.server; }

  // A fresh account signed in on A.
  struct User {
    std::string account_id;
    std::string token;
  };
  User SignUp(std::string_view tag) {
    AuthClient client(A().port());
    const std::string email = UniqueEmail(tag);
    const std::string password = StrongPassword();
    auto registered = client.Register(email, password);
    EXPECT_TRUE(registered && registered->status == 201);
    User user;
    if (!registered || registered->status != 201) return user;
    user.account_id = std::string(JsonBody(*registered).at("id").as_string());
    auto grant = GrantOf(client.Login(email, password));
    if (grant) user.token = grant->access_token;
    return user;
  }

  std::optional<HttpResponse> AsUser(const User& user, std::string_view method,
                                     std::string_view target, std::string_view body = {},
                                     RunningServer* server = nullptr) {
    AuthClient client((server != nullptr ? *server : A()).port());
    std::vector<std::string> headers = {BearerHeader(user.token)};
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    return client.Send(method, target, headers, body);
  }

  std::optional<HttpResponse> AsAdmin(std::string_view method, std::string_view target,
                                      std::string_view body = {}, bool on_b = false,
                                      std::string_view token = kAdminToken) {
    AuthClient client(on_b ? b_.admin_port : a_.admin_port);
    std::vector<std::string> headers = {"Authorization: Bearer " + std::string(token)};
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    return client.Send(method, target, headers, body);
  }

  // POST /v1/apikeys as `user`; the 201 body, or an empty object (and the test fails).
  json::object CreateKey(const User& user, json::object body = {}) {
    if (!body.contains("name")) body["name"] = "test key";
    auto created = AsUser(user, "POST", "/v1/apikeys", json::serialize(body));
    if (!created || created->status != 201) {
      ADD_FAILURE() << "create failed: " << (created ? created->body : "no answer");
      return {};
    }
    return JsonBody(*created);
  }

  static std::optional<HttpResponse> Verify(RunningServer& server, std::string_view key,
                                            std::vector<std::string> extra = {}) {
    AuthClient client(server.port());
    extra.insert(extra.begin(), "X-API-Key: " + std::string(key));
    return client.Send("GET", "/v1/auth/verify", extra);
  }
  static int VerifyStatus(RunningServer& server, std::string_view key) {
    auto answer = Verify(server, key);
    return answer ? answer->status : 0;
  }
  static std::string Detail(const HttpResponse& response) {
    json::object body = JsonBody(response);
    const json::value* detail = body.if_contains("detail");
    return detail != nullptr && detail->is_string() ? std::string(detail->as_string()) : "";
  }

  static inline Instance a_;
  static inline Instance b_;
  static inline bool started_ = false;
  static inline std::string failure_;
};

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return std::string(T::kName);
  }
};
using Backends = ::testing::Types<Embedded, Shared>;
TYPED_TEST_SUITE(ApiKeys, Backends, BackendNames);

std::string Field(const json::object& body, std::string_view name) {
  const json::value* v = body.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The part of a key no view, log or event may show.
std::string SecretPart(std::string_view key) { return std::string(key.substr(16)); }

// ---- issuing and listing -------------------------------------------------------------------

TYPED_TEST(ApiKeys, CreateShowsTheKeyOnceAndListingsNever) {
  auto user = this->SignUp("keys-create");
  auto created = this->CreateKey(
      user, {{"name", "deploy bot"}, {"scopes", json::array{"billing:read", "orders:write"}}});
  const std::string key = Field(created, "key");
  ASSERT_TRUE(std::regex_match(key, std::regex("gh_test_[0-9A-Za-z]{58}"))) << key;
  EXPECT_EQ(Field(created, "prefix"), key.substr(0, 16));
  EXPECT_EQ(Field(created, "id").rfind("key_", 0), 0u);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::int64_t expires_at = created.at("expires_at").as_int64();
  EXPECT_NEAR(static_cast<double>(expires_at - now), 90.0 * 86400, 60.0);

  for (RunningServer* server : {&this->A(), &this->B()}) {
    auto listed = this->AsUser(user, "GET", "/v1/apikeys", {}, server);
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->status, 200) << listed->body;
    EXPECT_EQ(listed->Header("Cache-Control").value_or(""), "no-store");
    EXPECT_EQ(listed->body.find(SecretPart(key)), std::string::npos);
    const json::object body = JsonBody(*listed);
    const json::array& keys = body.at("api_keys").as_array();
    ASSERT_EQ(keys.size(), 1u);
    const json::object& entry = keys[0].as_object();
    EXPECT_FALSE(entry.contains("key"));
    EXPECT_EQ(Field(entry, "id"), Field(created, "id"));
    EXPECT_EQ(Field(entry, "prefix"), Field(created, "prefix"));
    EXPECT_EQ(Field(entry, "status"), "active");
    EXPECT_EQ(entry.at("owner").as_object().at("id").as_string(), user.account_id);
  }
}

TYPED_TEST(ApiKeys, BadCreateRequestsAreRefusedAndChangeNothing) {
  auto user = this->SignUp("keys-bad-create");
  const std::vector<std::pair<std::string, int>> cases = {
      {R"({"name":"x","colour":"red"})", 400},
      {R"({"name":""})", 400},
      {R"({"name":"x","scopes":["ok",7]})", 400},
      {R"({"name":"x","scopes":["has space"]})", 400},
      {R"({"name":"x","expires_in_s":0})", 400},
      {R"({"name":"x","expires_in_s":99999999999})", 400},
      {R"({"name":"x","rate_limit":"lots"})", 400},
      {R"({"name":"x","rate_limit":"100000/1m"})", 400},  // Past the limiter's 65535.
      {R"({"name":"x","rate_limit":"60000/1m"})", 403},   // Above the class: admins only.
      {R"({"name":"x","scopes":["ops:admin"]})", 403},
      {R"({"name":"x","service_account_id":"sa_nope"})", 404},
  };
  for (const auto& [body, status] : cases) {
    auto answer = this->AsUser(user, "POST", "/v1/apikeys", body);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, status) << body << " -> " << answer->body;
    EXPECT_EQ(answer->Header("Content-Type").value_or(""), "application/problem+json");
  }
  auto listed = this->AsUser(user, "GET", "/v1/apikeys");
  ASSERT_TRUE(listed);
  EXPECT_TRUE(JsonBody(*listed).at("api_keys").as_array().empty());
  EXPECT_TRUE(WaitForLogLine(*this->A().process,
                             {"privilege_escalation", "admin_only_scope_requested"}, Millis(3000)));
}

TYPED_TEST(ApiKeys, KeyManagementNeedsASignedInUser) {
  auto user = this->SignUp("keys-needs-user");
  const std::string key = Field(this->CreateKey(user), "key");
  AuthClient client(this->A().port());
  auto with_key =
      client.Send("POST", "/v1/apikeys", {"X-API-Key: " + key, "Content-Type: application/json"},
                  R"({"name":"minted by a key"})");
  ASSERT_TRUE(with_key);
  EXPECT_EQ(with_key->status, 401);
  EXPECT_NE(this->Detail(*with_key).find("signed-in user"), std::string::npos);
  auto anonymous = client.Send("GET", "/v1/apikeys");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
}

TYPED_TEST(ApiKeys, OthersKeysAnswerLikeMissingOnes) {
  auto ada = this->SignUp("keys-ada");
  auto eve = this->SignUp("keys-eve");
  const std::string id = Field(this->CreateKey(ada), "id");
  auto revoke = this->AsUser(eve, "DELETE", "/v1/apikeys/" + id);
  ASSERT_TRUE(revoke);
  EXPECT_EQ(revoke->status, 404);
  auto rotate = this->AsUser(eve, "POST", "/v1/apikeys/" + id + "/rotate");
  ASSERT_TRUE(rotate);
  EXPECT_EQ(rotate->status, 404);
  auto unknown = this->AsUser(ada, "DELETE", "/v1/apikeys/key_doesnotexist");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

// ---- forward auth --------------------------------------------------------------------------

TYPED_TEST(ApiKeys, VerifyNamesTheOwnerAndScopesOnEveryInstance) {
  auto user = this->SignUp("keys-verify");
  auto created = this->CreateKey(user, {{"scopes", json::array{"billing:read", "x/y"}}});
  const std::string key = Field(created, "key");
  for (RunningServer* server : {&this->A(), &this->B()}) {
    auto answer = this->Verify(*server, key);
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->status, 200) << answer->body;
    EXPECT_EQ(answer->Header("X-Auth-User").value_or(""), user.account_id);
    EXPECT_EQ(answer->Header("X-Auth-Owner-Type").value_or(""), "user");
    EXPECT_EQ(answer->Header("X-Auth-Key-Id").value_or(""), Field(created, "id"));
    EXPECT_EQ(answer->Header("X-Auth-Scopes").value_or(""), "billing:read x/y");
    EXPECT_EQ(answer->Header("X-Auth-Methods").value_or(""), "api_key");
    EXPECT_EQ(answer->Header("Cache-Control").value_or(""), "no-store");
    // A keyed request is counted per address under the api_key class.
    EXPECT_EQ(answer->Header("RateLimit-Policy").value_or("").rfind("\"api_key\"", 0), 0u);
    EXPECT_EQ(SecurityHeaderProblems(*answer), "");
  }
}

TYPED_TEST(ApiKeys, AKeyAndATokenTogetherAreRefused) {
  auto user = this->SignUp("keys-both");
  const std::string key = Field(this->CreateKey(user), "key");
  auto answer = this->Verify(this->A(), key, {BearerHeader(user.token)});
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 401);
  EXPECT_NE(this->Detail(*answer).find("not both"), std::string::npos);
}

TYPED_TEST(ApiKeys, AKeyTwiceOrAsABearerTokenIsRefusedSayingWhy) {
  auto user = this->SignUp("keys-misplaced");
  const std::string key = Field(this->CreateKey(user), "key");
  auto twice = this->Verify(this->A(), key, {"X-API-Key: " + key});
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 401);
  EXPECT_NE(this->Detail(*twice).find("more than one API key"), std::string::npos);
  AuthClient client(this->A().port());
  auto as_bearer = client.Send("GET", "/v1/auth/verify", {BearerHeader(key)});
  ASSERT_TRUE(as_bearer);
  EXPECT_EQ(as_bearer->status, 401);
  EXPECT_NE(this->Detail(*as_bearer).find("X-API-Key header"), std::string::npos)
      << as_bearer->body;
}

TYPED_TEST(ApiKeys, BadKeysAre401WithTheirReason) {
  auto user = this->SignUp("keys-bad-input");
  const std::string key = Field(this->CreateKey(user), "key");
  std::string typo = key;
  typo[20] = typo[20] == 'a' ? 'b' : 'a';
  std::string non_base62 = key;
  non_base62[21] = '*';
  auto revoked = this->CreateKey(user);
  ASSERT_EQ(this->VerifyStatus(this->B(), Field(revoked, "key")), 200);
  auto revoke = this->AsUser(user, "DELETE", "/v1/apikeys/" + Field(revoked, "id"));
  ASSERT_TRUE(revoke && revoke->status == 204);
  auto expired = this->CreateKey(user, {{"expires_in_s", 1}});
  // A key of this deployment's format, checksum and all, that nobody was given: what a
  // wrong secret for a real key looks like.
  const std::string unknown(auth::GenerateApiKey(auth::KeyEnvironment::kTest).reveal());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {typo, "checksum does not match"},
      {non_base62, "characters outside [0-9A-Za-z]"},
      {key.substr(0, 50), "wrong length"},
      {key + "0", "wrong length"},
      {"", "does not start with gh_live_ or gh_test_"},
      {"ghp_" + key.substr(4), "does not start with gh_live_ or gh_test_"},
      {"gh_live_" + key.substr(8), "another environment"},
      {unknown, "The API key is not valid."},
      {Field(revoked, "key"), "has been revoked"},
      {Field(expired, "key"), "has expired"},
  };
  std::this_thread::sleep_for(Millis(1100));  // The expired key's second has passed.
  for (const auto& [text, reason] : cases) {
    for (RunningServer* server : {&this->A(), &this->B()}) {
      auto answer = this->Verify(*server, text);
      ASSERT_TRUE(answer);
      EXPECT_EQ(answer->status, 401) << reason;
      EXPECT_NE(this->Detail(*answer).find(reason), std::string::npos)
          << reason << ": " << answer->body;
      EXPECT_NE(answer->body.find("https://gatehouse.dev/problems/unauthenticated"),
                std::string::npos);
      EXPECT_TRUE(answer->Header("WWW-Authenticate"));
      EXPECT_EQ(SecurityHeaderProblems(*answer), "");
      EXPECT_EQ(answer->body.find(SecretPart(key)), std::string::npos);
    }
  }
  // The real key was untouched by all of this, and counted none of it.
  EXPECT_EQ(this->VerifyStatus(this->A(), key), 200);
}

TYPED_TEST(ApiKeys, ExpiredKeyIsRefusedSayingSo) {
  auto user = this->SignUp("keys-expired");
  const std::string key = Field(this->CreateKey(user, {{"expires_in_s", 2}}), "key");
  ASSERT_EQ(this->VerifyStatus(this->A(), key), 200);
  std::this_thread::sleep_for(Millis(2100));
  auto answer = this->Verify(this->B(), key);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 401);
  EXPECT_EQ(this->Detail(*answer), "The API key has expired.");
}

TYPED_TEST(ApiKeys, SelfDescribesThePresentedKey) {
  auto user = this->SignUp("keys-self");
  auto created = this->CreateKey(user, {{"scopes", json::array{"a:b"}}});
  AuthClient client(this->B().port());
  auto answer = client.Send("GET", "/v1/apikeys/self", {"X-API-Key: " + Field(created, "key")});
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200) << answer->body;
  json::object body = JsonBody(*answer);
  EXPECT_EQ(Field(body, "id"), Field(created, "id"));
  EXPECT_EQ(body.at("expires_at").as_int64(), created.at("expires_at").as_int64());
  EXPECT_EQ(body.at("scopes").as_array().size(), 1u);
  EXPECT_EQ(answer->body.find(SecretPart(Field(created, "key"))), std::string::npos);
}

// ---- revocation and rotation across instances ---------------------------------------------

TYPED_TEST(ApiKeys, RevocationOnOneInstanceIsHonouredByTheOtherWithinOneSecond) {
  auto user = this->SignUp("keys-revoke");
  auto created = this->CreateKey(user);
  const std::string key = Field(created, "key");
  ASSERT_EQ(this->VerifyStatus(this->B(), key), 200);  // B has it cached now.

  auto revoked = this->AsUser(user, "DELETE", "/v1/apikeys/" + Field(created, "id"));
  ASSERT_TRUE(revoked);
  ASSERT_EQ(revoked->status, 204) << revoked->body;
  const auto revoked_at = SteadyClock::now();

  std::optional<HttpResponse> last;
  const bool refused = Eventually(Millis(1000), [&] {
    last = this->Verify(this->B(), key);
    return last && last->status == 401;
  });
  EXPECT_TRUE(refused) << "B still accepts the key one second after the revocation on A";
  EXPECT_LE(SteadyClock::now() - revoked_at, Millis(1500));
  ASSERT_TRUE(last);
  EXPECT_EQ(this->Detail(*last), "The API key has been revoked.");
  auto again = this->AsUser(user, "DELETE", "/v1/apikeys/" + Field(created, "id"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
  EXPECT_TRUE(
      WaitForLogLine(*this->A().process, {"api_key_lifecycle", "api_key_revoked"}, Millis(3000)));
}

TYPED_TEST(ApiKeys, RotationKeepsTheOldKeyThroughItsGraceThenStops) {
  auto user = this->SignUp("keys-rotate");
  auto created = this->CreateKey(user, {{"scopes", json::array{"s:1"}}});
  const std::string old_key = Field(created, "key");
  ASSERT_EQ(this->VerifyStatus(this->B(), old_key), 200);

  auto rotated = this->AsUser(user, "POST", "/v1/apikeys/" + Field(created, "id") + "/rotate");
  ASSERT_TRUE(rotated);
  ASSERT_EQ(rotated->status, 201) << rotated->body;
  json::object successor = JsonBody(*rotated);
  const std::string new_key = Field(successor, "key");
  EXPECT_NE(new_key, old_key);
  EXPECT_EQ(Field(successor.at("replaces").as_object(), "id"), Field(created, "id"));
  EXPECT_EQ(Field(successor, "rotated_from"), Field(created, "id"));
  EXPECT_EQ(successor.at("scopes").as_array().size(), 1u);

  // Both keys work during the grace, on both instances.
  for (RunningServer* server : {&this->A(), &this->B()}) {
    EXPECT_EQ(this->VerifyStatus(*server, old_key), 200);
    EXPECT_EQ(this->VerifyStatus(*server, new_key), 200);
  }
  auto again = this->AsUser(user, "POST", "/v1/apikeys/" + Field(created, "id") + "/rotate");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;

  std::this_thread::sleep_for(std::chrono::seconds(kGraceSeconds) + Millis(200));
  for (RunningServer* server : {&this->A(), &this->B()}) {
    auto answer = this->Verify(*server, old_key);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 401);
    EXPECT_NE(this->Detail(*answer).find("replaced by rotation"), std::string::npos)
        << answer->body;
    EXPECT_EQ(this->VerifyStatus(*server, new_key), 200);
  }
  auto listed = this->AsUser(user, "GET", "/v1/apikeys");
  ASSERT_TRUE(listed);
  std::string old_status;
  const json::object listing = JsonBody(*listed);
  for (const json::value& entry : listing.at("api_keys").as_array()) {
    if (Field(entry.as_object(), "id") == Field(created, "id")) {
      old_status = Field(entry.as_object(), "status");
      EXPECT_EQ(Field(entry.as_object(), "rotated_to"), Field(successor, "id"));
    }
  }
  EXPECT_EQ(old_status, "expired");
}

// ---- per-key rate limit --------------------------------------------------------------------

TYPED_TEST(ApiKeys, PerKeyLimitIsOneWindowAcrossInstances) {
  auto user = this->SignUp("keys-limit");
  const std::string key = Field(this->CreateKey(user, {{"rate_limit", "4/1m"}}), "key");
  const std::string other = Field(this->CreateKey(user), "key");
  for (int i = 0; i < 4; ++i) {
    RunningServer& server = i % 2 == 0 ? this->A() : this->B();
    ASSERT_EQ(this->VerifyStatus(server, key), 200) << "request " << i;
  }
  for (RunningServer* server : {&this->A(), &this->B()}) {
    auto refused = this->Verify(*server, key);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 429) << refused->body;
    EXPECT_NE(refused->Header("RateLimit-Policy").value_or("").find("\"api_key\";q=4;w=60"),
              std::string::npos)
        << refused->Header("RateLimit-Policy").value_or("");
    EXPECT_GE(std::stoi(refused->Header("Retry-After").value_or("0")), 1);
    EXPECT_EQ(SecurityHeaderProblems(*refused), "");
  }
  EXPECT_EQ(this->VerifyStatus(this->B(), other), 200);  // Its own budget.
}

// ---- usage ---------------------------------------------------------------------------------

TYPED_TEST(ApiKeys, UsageIsCountedAcrossInstancesAndShownMasked) {
  auto user = this->SignUp("keys-usage");
  auto created = this->CreateKey(user);
  const std::string key = Field(created, "key");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(this->VerifyStatus(this->A(), key), 200);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(this->VerifyStatus(this->B(), key), 200);

  // Flushed within a second by each instance; the listing then shows every request.
  json::object entry;
  const bool counted = Eventually(Millis(4000), [&] {
    auto listed = this->AsUser(user, "GET", "/v1/apikeys");
    if (!listed || listed->status != 200) return false;
    const json::object body = JsonBody(*listed);
    const json::array& keys = body.at("api_keys").as_array();
    if (keys.empty()) return false;
    entry = keys[0].as_object();
    return entry.at("usage").as_object().at("request_count").as_int64() == 5;
  });
  ASSERT_TRUE(counted) << json::serialize(entry);
  const json::object& usage = entry.at("usage").as_object();
  EXPECT_EQ(usage.at("last_ip").as_string(), "127.0.0.0/24");
  EXPECT_TRUE(usage.at("last_used_at").is_int64());
  EXPECT_TRUE(
      WaitForLogLine(*this->A().process, {"api_key_usage", Field(created, "id")}, Millis(4000)));
}

// ---- operators and service accounts --------------------------------------------------------

TYPED_TEST(ApiKeys, AdminsIssueServiceAccountKeysAndDisablingRevokesThem) {
  auto wrong = this->AsAdmin("GET", "/v1/apikeys", {}, false, "not-the-admin-token");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);

  auto account = this->AsAdmin("POST", "/v1/service-accounts",
                               R"({"name":"billing-export","description":"nightly"})");
  ASSERT_TRUE(account);
  ASSERT_EQ(account->status, 201) << account->body;
  const std::string account_id = Field(JsonBody(*account), "id");
  EXPECT_TRUE(JsonBody(*account).at("owner_account_id").is_null());

  auto issued = this->AsAdmin("POST", "/v1/apikeys",
                              json::serialize(json::object{{"name", "export"},
                                                           {"service_account_id", account_id},
                                                           {"scopes", json::array{"ops:admin"}},
                                                           {"rate_limit", "60000/1m"}}));
  ASSERT_TRUE(issued);
  ASSERT_EQ(issued->status, 201) << issued->body;
  const std::string key = Field(JsonBody(*issued), "key");
  auto verified = this->Verify(this->B(), key);
  ASSERT_TRUE(verified);
  ASSERT_EQ(verified->status, 200) << verified->body;
  EXPECT_EQ(verified->Header("X-Auth-User").value_or(""), account_id);
  EXPECT_EQ(verified->Header("X-Auth-Owner-Type").value_or(""), "service_account");
  EXPECT_EQ(verified->Header("X-Auth-Scopes").value_or(""), "ops:admin");

  auto listed = this->AsAdmin("GET", "/v1/apikeys", {}, /*on_b=*/true);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200);
  EXPECT_NE(listed->body.find(Field(JsonBody(*issued), "id")), std::string::npos);
  EXPECT_EQ(listed->body.find(SecretPart(key)), std::string::npos);

  auto disabled = this->AsAdmin("DELETE", "/v1/service-accounts/" + account_id);
  ASSERT_TRUE(disabled);
  ASSERT_EQ(disabled->status, 204) << disabled->body;
  EXPECT_TRUE(Eventually(Millis(1000), [&] { return this->VerifyStatus(this->B(), key) == 401; }));
  EXPECT_TRUE(WaitForLogLine(*this->A().process, {"admin_action", "service_account_disabled"},
                             Millis(3000)));
  // An operators' service account is not a user's to use.
  auto user = this->SignUp("keys-admin-public");
  auto public_try = this->AsUser(
      user, "POST", "/v1/apikeys",
      json::serialize(json::object{{"name", "x"}, {"service_account_id", account_id}}));
  ASSERT_TRUE(public_try);
  EXPECT_EQ(public_try->status, 404) << public_try->body;
}

TYPED_TEST(ApiKeys, UsersOwnServiceAccountsAndTheirKeys) {
  auto user = this->SignUp("keys-sa-owner");
  auto account = this->AsUser(user, "POST", "/v1/service-accounts", R"({"name":"ci"})");
  ASSERT_TRUE(account);
  ASSERT_EQ(account->status, 201) << account->body;
  const std::string account_id = Field(JsonBody(*account), "id");
  EXPECT_EQ(JsonBody(*account).at("owner_account_id").as_string(), user.account_id);
  auto created = this->CreateKey(user, {{"service_account_id", account_id}});
  auto verified = this->Verify(this->B(), Field(created, "key"));
  ASSERT_TRUE(verified);
  EXPECT_EQ(verified->Header("X-Auth-User").value_or(""), account_id);

  auto listed = this->AsUser(user, "GET", "/v1/service-accounts");
  ASSERT_TRUE(listed);
  EXPECT_EQ(JsonBody(*listed).at("service_accounts").as_array().size(), 1u);
  auto other = this->SignUp("keys-sa-other");
  auto theirs = this->AsUser(other, "DELETE", "/v1/service-accounts/" + account_id);
  ASSERT_TRUE(theirs);
  EXPECT_EQ(theirs->status, 404);
}

// ---- notices and logs ----------------------------------------------------------------------

TYPED_TEST(ApiKeys, KeysNearingExpiryAreReported) {
  auto user = this->SignUp("keys-expiring");
  auto created = this->CreateKey(user, {{"expires_in_s", 3 * 86400}});
  // Whichever instance claims the day's notice first reports it.
  const std::vector<std::string> needles = {"api_key_lifecycle", "expiring_soon",
                                            Field(created, "id")};
  EXPECT_TRUE(Eventually(Millis(5000), [&] {
    return WaitForLogLine(*this->A().process, needles, Millis(0)) ||
           WaitForLogLine(*this->B().process, needles, Millis(0));
  }));
}

TYPED_TEST(ApiKeys, NoLogLineHoldsKeyMaterial) {
  auto user = this->SignUp("keys-logs");
  auto created = this->CreateKey(user);
  const std::string key = Field(created, "key");
  ASSERT_EQ(this->VerifyStatus(this->A(), key), 200);
  std::string typo = key;
  typo[40] = typo[40] == 'a' ? 'b' : 'a';
  EXPECT_EQ(this->VerifyStatus(this->B(), typo), 401);
  auto rotated = this->AsUser(user, "POST", "/v1/apikeys/" + Field(created, "id") + "/rotate");
  ASSERT_TRUE(rotated && rotated->status == 201);
  const std::string successor = Field(JsonBody(*rotated), "key");
  // Let the usage flush and its event happen.
  ASSERT_TRUE(
      WaitForLogLine(*this->A().process, {"api_key_usage", Field(created, "id")}, Millis(4000)));
  for (RunningServer* server : {&this->A(), &this->B()}) {
    const std::string logs = server->process->Stdout() + server->process->Stderr();
    for (const std::string& secret : {SecretPart(key), SecretPart(typo), SecretPart(successor)}) {
      EXPECT_EQ(logs.find(secret.substr(0, 16)), std::string::npos);
    }
  }
}

// ---- the database is not on the request path ----------------------------------------------

// One instance on PostgreSQL with the memory state: PostgreSQL is stopped under it.
class ApiKeysWithoutDatabase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    failure_.clear();
    postgres_ = TestPostgres::Start(&failure_);
    if (postgres_ == nullptr) return;
    auto deployment = KeyDeployment(FreePort());
    deployment->Set("store", "driver", "postgres");
    deployment->Unset("store", "sqlite_path");
    deployment->Set("store", "postgres_url_file", postgres_->url_file().string());
    server_ = StartServer(std::move(deployment), &failure_);
  }
  static void TearDownTestSuite() {
    server_.reset();
    postgres_.reset();
  }
  void SetUp() override { ASSERT_NE(server_, nullptr) << failure_; }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << Tail(server_->process->Stderr()) << "\n";
  }

  static inline std::unique_ptr<TestPostgres> postgres_;
  static inline std::unique_ptr<RunningServer> server_;
  static inline std::string failure_;
};

TEST_F(ApiKeysWithoutDatabase, ACachedKeyNeedsNoDatabase) {
  AuthClient client(server_->port());
  const std::string email = UniqueEmail("keys-nodb");
  const std::string password = StrongPassword();
  auto grant = client.RegisterAndLogin(email, password);
  ASSERT_TRUE(grant);
  auto create = [&](std::string_view name) {
    auto created =
        client.PostJson("/v1/apikeys", {{"name", name}}, {BearerHeader(grant->access_token)});
    EXPECT_TRUE(created && created->status == 201);
    return created ? std::string(JsonBody(*created).at("key").as_string()) : std::string();
  };
  const std::string cached = create("cached");
  const std::string uncached = create("never used");
  auto verify = [&](const std::string& key) {
    auto answer = client.Send("GET", "/v1/auth/verify", {"X-API-Key: " + key});
    return answer ? answer->status : 0;
  };
  ASSERT_EQ(verify(cached), 200);

  ASSERT_TRUE(postgres_->Halt());
  auto ready = client.Send("GET", "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);  // The database is really gone.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(verify(cached), 200) << "request " << i;
  // A key the cache does not know needs the database, and says it is unavailable.
  EXPECT_EQ(verify(uncached), 503);
  ASSERT_TRUE(postgres_->Resume());
  EXPECT_TRUE(Eventually(Millis(10000), [&] { return verify(uncached) == 200; }));
}

}  // namespace
}  // namespace gatehouse::itest
