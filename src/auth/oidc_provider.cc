#include "auth/oidc_provider.h"

#include <boost/json.hpp>

#include "core/strict_json.h"
#include "crypto/encoding.h"
#include "crypto/jose_keys.h"
#include "http/message.h"
#include "http/url_encoding.h"

namespace gatehouse::auth {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxTokenAnswerBytes = 64 * 1024;
constexpr std::size_t kMaxProviderErrorCode = 64;

// The kid of a compact JWS, when its header is readable and names one. Untrusted: it only
// decides whether reading the key set again could help; VerifyJws checks it properly.
std::optional<std::string> PeekKid(std::string_view token) {
  const std::size_t dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto header = crypto::Base64UrlDecode(token.substr(0, dot));
  if (!header.ok()) return std::nullopt;
  core::StrictJsonOutcome parsed = core::ParseStrictJson(
      std::string_view(reinterpret_cast<const char*>(header->data()), header->size()), 4);
  if (parsed.failure != core::JsonFailure::kNone || !parsed.value.is_object()) return std::nullopt;
  const json::value* kid = parsed.value.as_object().if_contains("kid");
  if (kid == nullptr || !kid->is_string() || !crypto::IsValidKid(kid->as_string())) {
    return std::nullopt;
  }
  return std::string(kid->as_string());
}

// The provider's OAuth error code, reduced to the characters RFC 6749 section 5.2 allows
// in it, for the log detail. Never the error_description: free text from outside.
std::string ProviderErrorCode(std::string_view body) {
  core::StrictJsonOutcome parsed = core::ParseStrictJson(body, 4);
  if (parsed.failure != core::JsonFailure::kNone || !parsed.value.is_object()) return "unknown";
  const json::value* error = parsed.value.as_object().if_contains("error");
  if (error == nullptr || !error->is_string()) return "unknown";
  std::string code;
  for (char ch : std::string_view(error->as_string()).substr(0, kMaxProviderErrorCode)) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_') code += ch;
  }
  return code.empty() ? "unknown" : code;
}

Error BadAnswer(std::string detail) {
  return Error(ErrorCode::kUnavailable, "provider answer invalid", std::move(detail));
}

}  // namespace

ProviderClient::ProviderClient(core::OidcProviderConfig config, ProviderFetch fetch,
                               const Clock& clock, ProviderSettings settings)
    : config_(std::move(config)), fetch_(std::move(fetch)), clock_(clock), settings_(settings) {}

ProviderClient::Counters ProviderClient::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

Result<std::string> ProviderClient::Get(const std::string& url, const char* what) {
  http::OutboundRequest request;
  request.method = "GET";
  request.url = url;
  request.headers.push_back({"Accept", "application/json"});
  auto answer = fetch_(request);
  if (!answer.ok()) return std::move(answer).error().WithContext(what);
  if (answer->status != 200) {
    return Error(ErrorCode::kUnavailable, "provider unavailable",
                 std::string(what) + " answered " + std::to_string(answer->status));
  }
  return std::move(answer->body);
}

Result<ProviderMetadata> ProviderClient::MetadataLocked() {
  const auto now = clock_.SteadyNow();
  if (metadata_ && now - metadata_at_ < settings_.discovery_ttl) return *metadata_;
  ++counters_.discovery_fetches;
  auto body = Get(DiscoveryUrl(config_.issuer), "discovery");
  if (!body.ok()) {
    // A provider briefly down should not stop sign-ins while the old document still
    // describes it; its endpoints rarely move.
    if (metadata_) return *metadata_;
    return std::move(body).error();
  }
  auto parsed = ParseDiscovery(*body, config_.issuer, settings_.allow_loopback_http);
  if (!parsed.ok()) return std::move(parsed).error();
  if (!parsed->s256_supported) {
    return Error(ErrorCode::kUnavailable, "provider metadata invalid",
                 "provider does not support PKCE S256");
  }
  metadata_ = std::move(*parsed);
  metadata_at_ = now;
  return *metadata_;
}

Result<ProviderMetadata> ProviderClient::Metadata() {
  std::lock_guard lock(mutex_);
  return MetadataLocked();
}

Result<std::shared_ptr<const crypto::SigningKeys>> ProviderClient::FetchKeysLocked(
    const ProviderMetadata& meta) {
  ++counters_.jwks_fetches;
  keys_at_ = clock_.SteadyNow();
  auto body = Get(meta.jwks_uri, "jwks");
  if (!body.ok()) return std::move(body).error();
  auto parsed = ParseJwks(*body);
  if (!parsed.ok()) return std::move(parsed).error();
  keys_ = std::make_shared<const crypto::SigningKeys>(std::move(*parsed));
  return keys_;
}

Result<std::string> ProviderClient::AuthorizationUrl(const StartedFlow& flow) {
  auto meta = Metadata();
  if (!meta.ok()) return std::move(meta).error();
  std::string url = meta->authorization_endpoint;
  // The endpoint may carry a query of its own (RFC 6749 section 3.1 allows it).
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += "response_type=code";
  url += "&client_id=" + http::PercentEncode(config_.client_id);
  url += "&redirect_uri=" + http::PercentEncode(config_.redirect_uri);
  url += "&scope=" + http::PercentEncode(config_.scopes);
  url += "&state=" + http::PercentEncode(flow.state);
  url += "&nonce=" + http::PercentEncode(flow.nonce);
  url += "&code_challenge=" + http::PercentEncode(flow.code_challenge);
  url += "&code_challenge_method=S256";
  return url;
}

Result<TokenAnswer> ProviderClient::PostToken(std::string form, bool expect_id_token,
                                              const char* refused) {
  auto meta = Metadata();
  if (!meta.ok()) {
    SecureWipe(form);
    return std::move(meta).error();
  }
  http::OutboundRequest request;
  request.method = "POST";
  request.url = meta->token_endpoint;
  request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  request.headers.push_back({"Accept", "application/json"});
  if (config_.token_auth == "client_secret_post") {
    form += "&client_id=" + http::FormEncode(config_.client_id);
    form += "&client_secret=" + http::FormEncode(config_.client_secret.value.reveal());
  } else {
    // RFC 6749 section 2.3.1: both parts form-encoded before the Basic encoding.
    std::string pair = http::FormEncode(config_.client_id) + ":" +
                       http::FormEncode(config_.client_secret.value.reveal());
    request.secret_headers.emplace_back("Authorization",
                                        Secret("Basic " + crypto::Base64Encode(pair)));
    SecureWipe(pair);
  }
  request.body = std::move(form);
  auto answer = fetch_(request);
  SecureWipe(request.body);
  if (!answer.ok()) return std::move(answer).error().WithContext("token endpoint");

  if (answer->status == 400 || answer->status == 401) {
    return Error(ErrorCode::kUnauthenticated, refused,
                 "token endpoint error " + ProviderErrorCode(answer->body));
  }
  if (answer->status != 200) {
    return Error(ErrorCode::kUnavailable, "provider unavailable",
                 "token endpoint answered " + std::to_string(answer->status));
  }
  if (answer->body.size() > kMaxTokenAnswerBytes) return BadAnswer("token answer too large");
  core::StrictJsonOutcome parsed = core::ParseStrictJson(answer->body, 8);
  SecureWipe(answer->body);
  if (parsed.failure != core::JsonFailure::kNone || !parsed.value.is_object()) {
    return BadAnswer("token answer is not a strict JSON object");
  }
  json::object& doc = parsed.value.as_object();

  TokenAnswer out;
  const json::value* access = doc.if_contains("access_token");
  if (access == nullptr || !access->is_string() || access->as_string().empty()) {
    return BadAnswer("access_token missing");
  }
  out.access_token = Secret(std::string_view(access->as_string()));
  // OIDC Core 3.1.3.3: the token type must be Bearer, compared without case.
  const json::value* type = doc.if_contains("token_type");
  if (type == nullptr || !type->is_string() ||
      !http::EqualsIgnoreCase(type->as_string(), "Bearer")) {
    return BadAnswer("token_type is not Bearer");
  }
  if (const json::value* refresh = doc.if_contains("refresh_token")) {
    if (!refresh->is_string()) return BadAnswer("refresh_token is not a string");
    out.refresh_token = Secret(std::string_view(refresh->as_string()));
  }
  if (const json::value* id_token = doc.if_contains("id_token")) {
    if (!id_token->is_string()) return BadAnswer("id_token is not a string");
    out.id_token = std::string(id_token->as_string());
  }
  if (expect_id_token && out.id_token.empty()) return BadAnswer("id_token missing");
  if (const json::value* expires = doc.if_contains("expires_in")) {
    if (!expires->is_int64() || expires->as_int64() < 0) {
      return BadAnswer("expires_in is not a non-negative integer");
    }
    out.expires_in = expires->as_int64();
  }
  return out;
}

Result<TokenAnswer> ProviderClient::ExchangeCode(std::string_view code, const Secret& verifier) {
  std::string form = "grant_type=authorization_code";
  form += "&code=" + http::FormEncode(code);
  form += "&redirect_uri=" + http::FormEncode(config_.redirect_uri);
  form += "&code_verifier=" + http::FormEncode(verifier.reveal());
  return PostToken(std::move(form), /*expect_id_token=*/true, "provider refused the code");
}

Result<TokenAnswer> ProviderClient::Refresh(const Secret& refresh_token) {
  std::string form = "grant_type=refresh_token";
  form += "&refresh_token=" + http::FormEncode(refresh_token.reveal());
  return PostToken(std::move(form), /*expect_id_token=*/false,
                   "provider refused the refresh token");
}

Status ProviderClient::CompleteFromUserInfo(const Secret& access_token, IdTokenClaims& claims) {
  if (!claims.email.empty()) return Ok();
  auto meta = Metadata();
  if (!meta.ok()) return std::move(meta).error();
  if (meta->userinfo_endpoint.empty()) return Ok();

  http::OutboundRequest request;
  request.method = "GET";
  request.url = meta->userinfo_endpoint;
  request.headers.push_back({"Accept", "application/json"});
  request.secret_headers.emplace_back("Authorization",
                                      Secret("Bearer " + std::string(access_token.reveal())));
  auto answer = fetch_(request);
  if (!answer.ok()) return std::move(answer).error().WithContext("userinfo");
  if (answer->status != 200) {
    return Error(ErrorCode::kUnavailable, "provider unavailable",
                 "userinfo answered " + std::to_string(answer->status));
  }
  if (answer->body.size() > kMaxTokenAnswerBytes) return BadAnswer("userinfo answer too large");
  // A signed (JWT) UserInfo answer would need its own checks; Gatehouse asks for JSON.
  core::StrictJsonOutcome parsed = core::ParseStrictJson(answer->body, 8);
  if (parsed.failure != core::JsonFailure::kNone || !parsed.value.is_object()) {
    return BadAnswer("userinfo answer is not a strict JSON object");
  }
  const json::object& info = parsed.value.as_object();
  const json::value* sub = info.if_contains("sub");
  if (sub == nullptr || !sub->is_string() || sub->as_string() != claims.sub) {
    return Error(ErrorCode::kUnauthenticated, "provider answer invalid", "userinfo sub mismatch");
  }
  ReadProfileClaims(info, claims);
  return Ok();
}

Result<IdTokenClaims> ProviderClient::VerifyIdToken(std::string_view id_token,
                                                    const Secret& nonce) {
  std::shared_ptr<const crypto::SigningKeys> keys;
  {
    std::lock_guard lock(mutex_);
    auto meta = MetadataLocked();
    if (!meta.ok()) return std::move(meta).error();
    keys = keys_;
    const std::optional<std::string> kid = PeekKid(id_token);
    const bool unknown_kid = keys != nullptr && kid && keys->Find(*kid) == nullptr;
    if (keys == nullptr) {
      auto fetched = FetchKeysLocked(*meta);
      if (!fetched.ok()) return std::move(fetched).error();
      keys = *fetched;
    } else if (unknown_kid) {
      // The provider may have rotated its keys; look again, but not more often than the
      // limit, whatever kids tokens claim.
      if (clock_.SteadyNow() - *keys_at_ >= settings_.jwks_min_refresh) {
        auto fetched = FetchKeysLocked(*meta);
        if (fetched.ok()) keys = *fetched;
      } else {
        ++counters_.jwks_refreshes_refused;
      }
    }
  }

  IdTokenExpectations expect;
  expect.issuer = config_.issuer;
  expect.client_id = config_.client_id;
  expect.nonce = std::string(nonce.reveal());
  expect.leeway = settings_.leeway;
  expect.max_age = settings_.id_token_max_age;
  auto claims = auth::VerifyIdToken(id_token, *keys, expect, clock_);
  SecureWipe(expect.nonce);
  return claims;
}

}  // namespace gatehouse::auth
