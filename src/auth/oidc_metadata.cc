#include "auth/oidc_metadata.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "core/strict_json.h"

namespace gatehouse::auth {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxJsonDepth = 16;
constexpr std::size_t kMaxKeys = 64;

Error BadMetadata(std::string detail) {
  return Error(ErrorCode::kUnavailable, "provider metadata invalid", std::move(detail));
}
Error BadKeys(std::string detail) {
  return Error(ErrorCode::kUnavailable, "provider keys invalid", std::move(detail));
}

Result<json::object> ParseObject(std::string_view body, const char* what) {
  if (body.size() > kMaxMetadataBytes) {
    return Error(ErrorCode::kUnavailable, std::string(what) + " invalid",
                 std::string(what) + " is larger than 256 KiB");
  }
  core::StrictJsonOutcome parsed = core::ParseStrictJson(body, kMaxJsonDepth);
  if (parsed.failure != core::JsonFailure::kNone || !parsed.value.is_object()) {
    return Error(ErrorCode::kUnavailable, std::string(what) + " invalid",
                 std::string(what) + " is not a strict JSON object");
  }
  return std::move(parsed.value.as_object());
}

// A required or optional string member.
Result<std::string> Member(const json::object& doc, std::string_view name, bool required) {
  const json::value* v = doc.if_contains(name);
  if (v == nullptr) {
    if (required) return BadMetadata(std::string(name) + " missing");
    return std::string();
  }
  if (!v->is_string()) return BadMetadata(std::string(name) + " is not a string");
  return std::string(v->as_string());
}

}  // namespace

bool IsAcceptableEndpoint(std::string_view url, bool allow_loopback_http) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || parsed->host().empty() || parsed->has_userinfo() || parsed->has_fragment()) {
    return false;
  }
  if (parsed->scheme() == "https") return true;
  const std::string_view host = parsed->encoded_host();
  return allow_loopback_http && parsed->scheme() == "http" &&
         (host == "localhost" || host == "127.0.0.1" || host == "[::1]");
}

std::string DiscoveryUrl(std::string_view issuer) {
  std::string url(issuer);
  if (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/.well-known/openid-configuration";
}

Result<ProviderMetadata> ParseDiscovery(std::string_view body, std::string_view expected_issuer,
                                        bool allow_loopback_http) {
  auto doc = ParseObject(body, "provider metadata");
  if (!doc.ok()) return std::move(doc).error();

  ProviderMetadata meta;
  auto issuer = Member(*doc, "issuer", true);
  if (!issuer.ok()) return std::move(issuer).error();
  // Discovery section 4.3: exactly the issuer the document was fetched for, or a provider
  // could pass off tokens as another's.
  if (*issuer != expected_issuer) return BadMetadata("issuer does not match the configured one");
  meta.issuer = std::move(*issuer);

  struct Endpoint {
    const char* name;
    std::string* out;
    bool required;
  };
  const Endpoint endpoints[] = {
      {"authorization_endpoint", &meta.authorization_endpoint, true},
      {"token_endpoint", &meta.token_endpoint, true},
      {"jwks_uri", &meta.jwks_uri, true},
      {"userinfo_endpoint", &meta.userinfo_endpoint, false},
  };
  for (const Endpoint& e : endpoints) {
    auto value = Member(*doc, e.name, e.required);
    if (!value.ok()) return std::move(value).error();
    if (!value->empty() && !IsAcceptableEndpoint(*value, allow_loopback_http)) {
      return BadMetadata(std::string(e.name) + " is not an https URL");
    }
    *e.out = std::move(*value);
  }

  // Section 3: absent means the provider says nothing; listed without S256 means it
  // cannot verify the challenge Gatehouse sends.
  if (const json::value* methods = doc->if_contains("code_challenge_methods_supported")) {
    if (!methods->is_array()) return BadMetadata("code_challenge_methods_supported is not a list");
    meta.s256_supported = false;
    for (const json::value& m : methods->as_array()) {
      if (m.is_string() && m.as_string() == "S256") meta.s256_supported = true;
    }
  }
  return meta;
}

Result<crypto::SigningKeys> ParseJwks(std::string_view body) {
  auto doc = ParseObject(body, "provider keys");
  if (!doc.ok()) return std::move(doc).error();
  const json::value* keys = doc->if_contains("keys");
  if (keys == nullptr || !keys->is_array()) return BadKeys("keys is not a list");
  if (keys->as_array().size() > kMaxKeys) return BadKeys("more than 64 keys");

  crypto::SigningKeys set;
  for (const json::value& entry : keys->as_array()) {
    if (!entry.is_object()) return BadKeys("a key is not a JSON object");
    auto key = crypto::SigningKey::FromPublicJwk(entry.as_object());
    // Encryption keys, other algorithms and curves sit beside the signing keys in many
    // providers' sets; they are not ours to use.
    if (!key.ok()) continue;
    if (Status added = set.Add(std::move(key).value()); !added.ok()) {
      return BadKeys("two keys share one kid");
    }
  }
  if (set.size() == 0) return BadKeys("no usable signing key");
  return set;
}

}  // namespace gatehouse::auth
