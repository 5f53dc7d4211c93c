// Signing in with OpenID providers: the pieces below the HTTP routes. The whole flow runs
// against real providers in tests/interop/oidc_*.test.mjs.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>

#include "auth/oidc_flow.h"
#include "auth/oidc_id_token.h"
#include "auth/oidc_metadata.h"
#include "auth/oidc_provider.h"
#include "core/clock.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/jose_jws.h"
#include "crypto/jose_keys.h"
#include "crypto/keyring.h"
#include "state/memory/memory_state.h"

namespace gatehouse::auth {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr char kIssuer[] = "https://idp.example";
constexpr char kClientId[] = "gatehouse-client";

template <typename T>
T Must(Result<T> result) {
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().detail());
  return std::move(result).value();
}

std::int64_t Now(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

// ---- PKCE -----------------------------------------------------------------------------------

TEST(OidcPkce, ChallengeMatchesRfc7636AppendixB) {
  EXPECT_EQ(PkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

// ---- discovery --------------------------------------------------------------------------------

json::object Discovery() {
  return json::object{{"issuer", kIssuer},
                      {"authorization_endpoint", "https://idp.example/authorize"},
                      {"token_endpoint", "https://idp.example/token"},
                      {"jwks_uri", "https://idp.example/jwks"},
                      {"code_challenge_methods_supported", json::array{"plain", "S256"}}};
}

TEST(OidcDiscovery, ReadsTheEndpoints) {
  ProviderMetadata meta = Must(ParseDiscovery(json::serialize(Discovery()), kIssuer, false));
  EXPECT_EQ(meta.token_endpoint, "https://idp.example/token");
  EXPECT_EQ(meta.jwks_uri, "https://idp.example/jwks");
  EXPECT_TRUE(meta.s256_supported);
  EXPECT_EQ(DiscoveryUrl("https://idp.example/"),
            "https://idp.example/.well-known/openid-configuration");
  EXPECT_EQ(DiscoveryUrl("https://idp.example/tenant"),
            "https://idp.example/tenant/.well-known/openid-configuration");
}

TEST(OidcDiscovery, RefusesWhatCannotBeTrusted) {
  struct Case {
    const char* name;
    std::string body;
    const char* detail;
  };
  auto with = [](std::string_view key, json::value value) {
    json::object doc = Discovery();
    doc[key] = std::move(value);
    return json::serialize(doc);
  };
  auto without = [](std::string_view key) {
    json::object doc = Discovery();
    doc.erase(key);
    return json::serialize(doc);
  };
  const Case cases[] = {
      {"another issuer", with("issuer", "https://evil.example"),
       "issuer does not match the configured one"},
      {"issuer with a trailing slash", with("issuer", "https://idp.example/"),
       "issuer does not match the configured one"},
      {"no token endpoint", without("token_endpoint"), "token_endpoint missing"},
      {"plain http endpoint", with("token_endpoint", "http://idp.example/token"),
       "token_endpoint is not an https URL"},
      {"endpoint with credentials", with("jwks_uri", "https://u:p@idp.example/jwks"),
       "jwks_uri is not an https URL"},
      {"issuer not a string", with("issuer", 7), "issuer is not a string"},
      {"repeated member", R"({"issuer":"https://idp.example","issuer":"https://evil.example"})",
       "provider metadata is not a strict JSON object"},
      {"not an object", "[1,2]", "provider metadata is not a strict JSON object"},
      {"too large", std::string(kMaxMetadataBytes + 1, ' '),
       "provider metadata is larger than 256 KiB"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto meta = ParseDiscovery(c.body, kIssuer, false);
    ASSERT_FALSE(meta.ok());
    EXPECT_EQ(meta.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(meta.error().detail(), c.detail);
  }
}

TEST(OidcDiscovery, LoopbackHttpOnlyWhenAllowedAndS256Noted) {
  const std::string local =
      json::serialize(json::object{{"issuer", "http://127.0.0.1:9000"},
                                   {"authorization_endpoint", "http://127.0.0.1:9000/authorize"},
                                   {"token_endpoint", "http://localhost:9000/token"},
                                   {"jwks_uri", "http://127.0.0.1:9000/jwks"},
                                   {"code_challenge_methods_supported", json::array{"plain"}}});
  EXPECT_FALSE(ParseDiscovery(local, "http://127.0.0.1:9000", false).ok());
  ProviderMetadata meta = Must(ParseDiscovery(local, "http://127.0.0.1:9000", true));
  EXPECT_FALSE(meta.s256_supported);
}

// ---- key sets and ID tokens -------------------------------------------------------------------

class OidcTokens : public ::testing::Test {
 protected:
  OidcTokens() : key_(Must(crypto::SigningKey::GenerateEs256("k1"))) {}

  std::string Jwks() const {
    json::array keys;
    keys.push_back(*key_.PublicJwk());
    return json::serialize(json::object{{"keys", std::move(keys)}});
  }

  json::object Claims() const {
    const std::int64_t now = Now(clock_);
    return json::object{{"iss", kIssuer},
                        {"aud", kClientId},
                        {"sub", "user-42"},
                        {"iat", now},
                        {"exp", now + 300},
                        {"nonce", "n-1"},
                        {"email", "Ada@Example.org"},
                        {"email_verified", true},
                        {"name", "Ada"}};
  }

  std::string Sign(const json::object& claims) const {
    return Must(crypto::SignJws(json::object{{"typ", "JWT"}}, claims, key_));
  }

  IdTokenExpectations Expect() const {
    IdTokenExpectations e;
    e.issuer = kIssuer;
    e.client_id = kClientId;
    e.nonce = "n-1";
    return e;
  }

  crypto::SigningKeys Keys() const { return Must(ParseJwks(Jwks())); }

  ManualClock clock_;
  crypto::SigningKey key_;
};

TEST_F(OidcTokens, AGoodTokenGivesItsClaims) {
  IdTokenClaims claims = Must(VerifyIdToken(Sign(Claims()), Keys(), Expect(), clock_));
  EXPECT_EQ(claims.sub, "user-42");
  EXPECT_EQ(claims.email, "Ada@Example.org");
  EXPECT_TRUE(claims.email_verified);
  EXPECT_EQ(claims.name, "Ada");
}

TEST_F(OidcTokens, EachBrokenRuleIsRefused) {
  struct Case {
    const char* name;
    std::function<void(json::object&)> change;
    const char* detail;
  };
  const std::int64_t now = Now(clock_);
  const Case cases[] = {
      {"other issuer", [](json::object& c) { c["iss"] = "https://evil.example"; }, "iss mismatch"},
      {"other audience", [](json::object& c) { c["aud"] = "another-client"; }, "aud mismatch"},
      {"several audiences without azp",
       [](json::object& c) {
         c["aud"] = json::array{kClientId, "another-client"};
       },
       "azp missing with several aud"},
      {"azp of another client", [](json::object& c) { c["azp"] = "another-client"; },
       "azp mismatch"},
      {"expired", [now](json::object& c) { c["exp"] = now - 120; }, "exp in the past"},
      {"issued in the future", [now](json::object& c) { c["iat"] = now + 600; },
       "iat in the future"},
      {"issued long ago", [now](json::object& c) { c["iat"] = now - 3600; }, "iat too old"},
      {"no iat", [](json::object& c) { c.erase("iat"); }, "iat missing"},
      {"other nonce", [](json::object& c) { c["nonce"] = "n-2"; }, "nonce mismatch"},
      {"no nonce", [](json::object& c) { c.erase("nonce"); }, "nonce missing"},
      {"nonce not a string", [](json::object& c) { c["nonce"] = 1; }, "nonce is not a string"},
      {"no sub", [](json::object& c) { c.erase("sub"); }, "sub missing"},
      {"sub too long", [](json::object& c) { c["sub"] = std::string(256, 'x'); }, "sub length"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json::object claims = Claims();
    c.change(claims);
    auto verified = VerifyIdToken(Sign(claims), Keys(), Expect(), clock_);
    ASSERT_FALSE(verified.ok());
    EXPECT_EQ(verified.error().code(), ErrorCode::kUnauthenticated);
    EXPECT_EQ(verified.error().detail(), c.detail);
  }
}

TEST_F(OidcTokens, ATokenSignedByAnotherKeyIsRefused) {
  crypto::SigningKey other = Must(crypto::SigningKey::GenerateEs256("k1"));
  const std::string forged = Must(crypto::SignJws({}, Claims(), other));
  auto verified = VerifyIdToken(forged, Keys(), Expect(), clock_);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().detail(), "signature mismatch");
}

TEST_F(OidcTokens, EmailVerifiedAcceptsOnlyTrue) {
  json::object claims = Claims();
  claims["email_verified"] = "true";
  EXPECT_TRUE(Must(VerifyIdToken(Sign(claims), Keys(), Expect(), clock_)).email_verified);
  claims["email_verified"] = "yes";
  EXPECT_FALSE(Must(VerifyIdToken(Sign(claims), Keys(), Expect(), clock_)).email_verified);
  claims.erase("email_verified");
  EXPECT_FALSE(Must(VerifyIdToken(Sign(claims), Keys(), Expect(), clock_)).email_verified);
}

TEST_F(OidcTokens, KeySetsSkipKeysThatCannotSign) {
  json::array keys;
  keys.push_back(json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}});
  json::object enc = *key_.PublicJwk();
  enc["use"] = "enc";
  enc["kid"] = "enc-1";
  keys.push_back(enc);
  keys.push_back(*key_.PublicJwk());
  crypto::SigningKeys set = Must(ParseJwks(json::serialize(json::object{{"keys", keys}})));
  EXPECT_EQ(set.size(), 1u);
  EXPECT_NE(set.Find("k1"), nullptr);

  auto empty = ParseJwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().detail(), "no usable signing key");
  json::array twice{*key_.PublicJwk(), *key_.PublicJwk()};
  auto duplicate = ParseJwks(json::serialize(json::object{{"keys", twice}}));
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().detail(), "two keys share one kid");
  EXPECT_FALSE(ParseJwks(R"({"keys":{}})").ok());
}

// ---- flows -----------------------------------------------------------------------------------

class OidcFlows : public ::testing::Test {
 protected:
  OidcFlows() : keys_(Must(crypto::KeyRing::Parse(crypto::GenerateMasterKeyFile()))) {}

  ManualClock clock_;
  state::MemoryStateStore state_{clock_};
  crypto::KeyRing keys_;
  FlowStore flows_{state_, keys_, 600s};
};

TEST_F(OidcFlows, ACallbackFromTheStartingBrowserGetsTheRecordOnce) {
  StartedFlow started = Must(flows_.Begin({"google", "/app", ""}));
  EXPECT_EQ(started.state.size(), 43u);
  EXPECT_EQ(started.nonce.size(), 43u);
  EXPECT_NE(started.state, started.binding.reveal());

  FlowRecord record = Must(flows_.Take("google", started.state, started.binding.reveal()));
  EXPECT_EQ(record.return_to, "/app");
  EXPECT_EQ(record.nonce.reveal(), started.nonce);
  EXPECT_EQ(PkceChallenge(record.verifier.reveal()), started.code_challenge);

  auto replay = flows_.Take("google", started.state, started.binding.reveal());
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(replay.error().detail(), "state unknown");
}

TEST_F(OidcFlows, AnotherBrowserSpendsTheStateAndIsRefused) {
  StartedFlow mine = Must(flows_.Begin({"google", "/", ""}));
  StartedFlow theirs = Must(flows_.Begin({"google", "/", ""}));
  auto swapped = flows_.Take("google", theirs.state, mine.binding.reveal());
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(swapped.error().detail(), "pre-auth cookie mismatch");
  // Spent: not even the right browser can finish it now.
  EXPECT_FALSE(flows_.Take("google", theirs.state, theirs.binding.reveal()).ok());

  StartedFlow bare = Must(flows_.Begin({"google", "/", ""}));
  auto no_cookie = flows_.Take("google", bare.state, "");
  ASSERT_FALSE(no_cookie.ok());
  EXPECT_EQ(no_cookie.error().detail(), "pre-auth cookie missing");
}

TEST_F(OidcFlows, AStateIsBoundToItsProviderAndExpires) {
  StartedFlow flow = Must(flows_.Begin({"google", "/", ""}));
  auto elsewhere = flows_.Take("corp", flow.state, flow.binding.reveal());
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_EQ(elsewhere.error().detail(), "provider mismatch");

  StartedFlow late = Must(flows_.Begin({"google", "/", ""}));
  clock_.Advance(600s);
  auto expired = flows_.Take("google", late.state, late.binding.reveal());
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().detail(), "state unknown");

  StartedFlow in_time = Must(flows_.Begin({"google", "/", ""}));
  clock_.Advance(599s);
  EXPECT_TRUE(flows_.Take("google", in_time.state, in_time.binding.reveal()).ok());
}

TEST_F(OidcFlows, TheSharedStateHoldsNeitherStateNorVerifier) {
  StartedFlow flow = Must(flows_.Begin({"google", "/", "acc_1"}));
  EXPECT_FALSE(Must(state_.Exists("oidc:flow:" + flow.state)));
  // The record sits under the hash of the state, sealed; its text shows no secret.
  const std::string key = "oidc:flow:" + crypto::HexEncode(crypto::Sha256(flow.state));
  const std::string stored = *Must(state_.Get(key));
  EXPECT_EQ(stored.find(flow.nonce), std::string::npos);
  EXPECT_EQ(stored.find("acc_1"), std::string::npos);
}

TEST(OidcReturnTo, OnlyOwnPathsAndConfiguredOrigins) {
  const ReturnToPolicy policy("https://auth.example.com",
                              "https://app.example.com, https://admin.example.com:8443");
  for (const char* ok :
       {"/", "/app?tab=1", "https://auth.example.com/x", "https://auth.example.com:443/x",
        "HTTPS://auth.example.com:443/x", "https://app.example.com/",
        "https://ADMIN.example.com:8443/panel"}) {
    EXPECT_TRUE(policy.Check(ok).ok()) << ok;
  }
  for (const char* bad : {"", "//evil.example/", "/\\evil.example", "https://evil.example/",
                          "http://app.example.com/", "https://app.example.com.evil.example/",
                          "https://admin.example.com/", "javascript:alert(1)", "/a\tb", "/a b",
                          "relative/path", "/app#mfa_ticket=x"}) {
    auto checked = policy.Check(bad);
    ASSERT_FALSE(checked.ok()) << bad;
    EXPECT_EQ(checked.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(policy.Check(std::string(2049, '/')).ok());
}

// ---- the provider client ----------------------------------------------------------------------

// Answers like a provider from memory and counts what it was asked: the seam through which
// a test moves the provider's keys and sees how often Gatehouse fetched them.
class FakeProvider {
 public:
  std::map<std::string, std::string> bodies;  // url -> 200 body.
  std::map<std::string, int> statuses;        // url -> status other than 200.
  std::map<std::string, int> calls;
  std::vector<http::OutboundRequest> requests;

  ProviderFetch Fetch() {
    return [this](const http::OutboundRequest& request) -> Result<http::OutboundResponse> {
      ++calls[request.url];
      requests.push_back(request);
      http::OutboundResponse response;
      auto status = statuses.find(request.url);
      response.status = status == statuses.end() ? 200 : status->second;
      auto body = bodies.find(request.url);
      if (body == bodies.end()) return Unavailable("the remote service could not be reached");
      response.body = body->second;
      return response;
    };
  }
};

class OidcProviderClient : public OidcTokens {
 protected:
  void SetUp() override {
    fake_.bodies["https://idp.example/.well-known/openid-configuration"] =
        json::serialize(Discovery());
    fake_.bodies["https://idp.example/jwks"] = Jwks();
    config_.id = "idp";
    config_.issuer = kIssuer;
    config_.client_id = kClientId;
    config_.client_secret.value = Secret(std::string_view("s3cret:&"));
    config_.redirect_uri = "https://auth.example.com/v1/auth/oidc/idp/callback";
  }

  ProviderClient Make() {
    ProviderSettings settings;
    settings.discovery_ttl = 3600s;
    settings.jwks_min_refresh = 60s;
    return ProviderClient(config_, fake_.Fetch(), clock_, settings);
  }

  FakeProvider fake_;
  core::OidcProviderConfig config_;
};

TEST_F(OidcProviderClient, DiscoveryIsCachedForItsLifetime) {
  ProviderClient client = Make();
  ASSERT_TRUE(client.Metadata().ok());
  ASSERT_TRUE(client.Metadata().ok());
  EXPECT_EQ(client.counters().discovery_fetches, 1u);
  clock_.Advance(3600s);
  ASSERT_TRUE(client.Metadata().ok());
  EXPECT_EQ(client.counters().discovery_fetches, 2u);

  // A provider down at refresh time: the document it gave before still serves.
  fake_.statuses["https://idp.example/.well-known/openid-configuration"] = 503;
  clock_.Advance(3600s);
  EXPECT_TRUE(client.Metadata().ok());
}

TEST_F(OidcProviderClient, TheAuthorizationUrlCarriesEveryParameter) {
  ProviderClient client = Make();
  StartedFlow flow;
  flow.state = "st";
  flow.nonce = "no";
  flow.code_challenge = "ch";
  EXPECT_EQ(Must(client.AuthorizationUrl(flow)),
            "https://idp.example/authorize?response_type=code&client_id=gatehouse-client"
            "&redirect_uri=https%3A%2F%2Fauth.example.com%2Fv1%2Fauth%2Foidc%2Fidp%2Fcallback"
            "&scope=openid%20email%20profile&state=st&nonce=no&code_challenge=ch"
            "&code_challenge_method=S256");
}

TEST_F(OidcProviderClient, ARotatedKeyIsFetchedButForgedKidsDoNotHammerTheProvider) {
  ProviderClient client = Make();
  const Secret nonce(std::string_view("n-1"));
  ASSERT_TRUE(client.VerifyIdToken(Sign(Claims()), nonce).ok());
  EXPECT_EQ(client.counters().jwks_fetches, 1u);

  // The provider rotates: a new key signs, its set now holds both.
  crypto::SigningKey rotated = Must(crypto::SigningKey::GenerateEs256("k2"));
  json::array both{*key_.PublicJwk(), *rotated.PublicJwk()};
  fake_.bodies["https://idp.example/jwks"] = json::serialize(json::object{{"keys", both}});
  const std::string new_token = Must(crypto::SignJws({}, Claims(), rotated));

  // Within the limit the set is not read again, so the token fails for now...
  clock_.Advance(30s);
  auto early = client.VerifyIdToken(new_token, nonce);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().detail(), "unknown kid");
  EXPECT_EQ(client.counters().jwks_fetches, 1u);
  EXPECT_EQ(client.counters().jwks_refreshes_refused, 1u);

  // ...and a flood of forged kids costs no fetch either.
  crypto::SigningKey forger = Must(crypto::SigningKey::GenerateEs256("forged"));
  for (int i = 0; i < 50; ++i) {
    EXPECT_FALSE(client.VerifyIdToken(Must(crypto::SignJws({}, Claims(), forger)), nonce).ok());
  }
  EXPECT_EQ(fake_.calls["https://idp.example/jwks"], 1);

  // Once the limit has passed, the unknown kid makes one fetch, and the new key works.
  clock_.Advance(30s);
  EXPECT_TRUE(client.VerifyIdToken(Must(crypto::SignJws({}, Claims(), rotated)), nonce).ok());
  EXPECT_EQ(client.counters().jwks_fetches, 2u);
  EXPECT_TRUE(client.VerifyIdToken(Sign(Claims()), nonce).ok());
  EXPECT_EQ(client.counters().jwks_fetches, 2u);
}

TEST_F(OidcProviderClient, TheCodeGoesWithTheVerifierAndBasicClientAuth) {
  fake_.bodies["https://idp.example/token"] =
      R"({"access_token":"at-1","token_type":"bearer","expires_in":3600,)"
      R"("refresh_token":"rt-1","id_token":"header.payload.sig"})";
  ProviderClient client = Make();
  TokenAnswer answer = Must(client.ExchangeCode("c/1", Secret(std::string_view("ver"))));
  EXPECT_EQ(answer.access_token.reveal(), "at-1");
  EXPECT_EQ(answer.refresh_token.reveal(), "rt-1");
  EXPECT_EQ(answer.expires_in, 3600);
  EXPECT_EQ(answer.id_token, "header.payload.sig");

  const http::OutboundRequest& sent = fake_.requests.back();
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url, "https://idp.example/token");
  // The body was wiped after sending; the request the fake kept is a copy made before.
  EXPECT_EQ(sent.body,
            "grant_type=authorization_code&code=c%2F1&redirect_uri=https%3A%2F%2Fauth.example."
            "com%2Fv1%2Fauth%2Foidc%2Fidp%2Fcallback&code_verifier=ver");
  ASSERT_EQ(sent.secret_headers.size(), 1u);
  // RFC 6749 section 2.3.1: "s3cret:&" form-encoded, then Basic.
  EXPECT_EQ(sent.secret_headers[0].second.reveal(),
            "Basic " + crypto::Base64Encode(std::string("gatehouse-client:s3cret%3A%26")));
}

TEST_F(OidcProviderClient, ClientSecretPostPutsTheCredentialsInTheBody) {
  config_.token_auth = "client_secret_post";
  fake_.bodies["https://idp.example/token"] =
      R"({"access_token":"at-1","token_type":"Bearer","id_token":"a.b.c"})";
  ProviderClient client = Make();
  ASSERT_TRUE(client.ExchangeCode("c", Secret(std::string_view("v"))).ok());
  const http::OutboundRequest& sent = fake_.requests.back();
  EXPECT_TRUE(sent.secret_headers.empty());
  EXPECT_NE(sent.body.find("&client_id=gatehouse-client&client_secret=s3cret%3A%26"),
            std::string::npos);
}

TEST_F(OidcProviderClient, TokenAnswersAreCheckedStrictly) {
  struct Case {
    const char* name;
    int status;
    const char* body;
    ErrorCode code;
    const char* detail;
  };
  const Case cases[] = {
      {"oauth error", 400, R"({"error":"invalid_grant","error_description":"<b>x</b>"})",
       ErrorCode::kUnauthenticated, "token endpoint error invalid_grant"},
      {"server error", 500, "{}", ErrorCode::kUnavailable, "token endpoint answered 500"},
      {"no id token", 200, R"({"access_token":"a","token_type":"Bearer"})", ErrorCode::kUnavailable,
       "id_token missing"},
      {"not bearer", 200, R"({"access_token":"a","token_type":"mac","id_token":"x"})",
       ErrorCode::kUnavailable, "token_type is not Bearer"},
      {"no access token", 200, R"({"token_type":"Bearer","id_token":"x"})", ErrorCode::kUnavailable,
       "access_token missing"},
      {"negative lifetime", 200,
       R"({"access_token":"a","token_type":"Bearer","id_token":"x","expires_in":-1})",
       ErrorCode::kUnavailable, "expires_in is not a non-negative integer"},
      {"not json", 200, "access_token=a", ErrorCode::kUnavailable,
       "token answer is not a strict JSON object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    fake_.bodies["https://idp.example/token"] = c.body;
    fake_.statuses["https://idp.example/token"] = c.status;
    ProviderClient client = Make();
    auto answer = client.ExchangeCode("c", Secret(std::string_view("v")));
    ASSERT_FALSE(answer.ok());
    EXPECT_EQ(answer.error().code(), c.code);
    EXPECT_EQ(answer.error().detail(), c.detail);
  }
}

TEST_F(OidcProviderClient, RefreshSendsTheRefreshToken) {
  fake_.bodies["https://idp.example/token"] =
      R"({"access_token":"at-2","token_type":"Bearer","expires_in":60})";
  ProviderClient client = Make();
  TokenAnswer answer = Must(client.Refresh(Secret(std::string_view("rt/1"))));
  EXPECT_EQ(answer.access_token.reveal(), "at-2");
  EXPECT_TRUE(answer.refresh_token.empty());
  EXPECT_EQ(fake_.requests.back().body, "grant_type=refresh_token&refresh_token=rt%2F1");
}

TEST_F(OidcProviderClient, UserInfoFillsAnEmailTheIdTokenLeftOut) {
  json::object doc = Discovery();
  doc["userinfo_endpoint"] = "https://idp.example/userinfo";
  fake_.bodies["https://idp.example/.well-known/openid-configuration"] = json::serialize(doc);
  fake_.bodies["https://idp.example/userinfo"] =
      R"({"sub":"user-42","email":"ada@example.org","email_verified":true,"name":"Ada"})";
  ProviderClient client = Make();
  const Secret access(std::string_view("at-1"));

  IdTokenClaims lean;
  lean.sub = "user-42";
  ASSERT_TRUE(client.CompleteFromUserInfo(access, lean).ok());
  EXPECT_EQ(lean.email, "ada@example.org");
  EXPECT_TRUE(lean.email_verified);
  EXPECT_EQ(lean.name, "Ada");
  const http::OutboundRequest& sent = fake_.requests.back();
  EXPECT_EQ(sent.url, "https://idp.example/userinfo");
  ASSERT_EQ(sent.secret_headers.size(), 1u);
  EXPECT_EQ(sent.secret_headers[0].second.reveal(), "Bearer at-1");

  // Someone else's answer is not believed.
  IdTokenClaims other;
  other.sub = "user-43";
  auto mismatch = client.CompleteFromUserInfo(access, other);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().detail(), "userinfo sub mismatch");
  EXPECT_TRUE(other.email.empty());

  // An ID token that carried the email needs no second request.
  const std::size_t before = fake_.requests.size();
  IdTokenClaims full;
  full.sub = "user-42";
  full.email = "ada@example.org";
  ASSERT_TRUE(client.CompleteFromUserInfo(access, full).ok());
  EXPECT_EQ(fake_.requests.size(), before);
}

}  // namespace
}  // namespace gatehouse::auth
