#include "crypto/jose_jwt.h"

#include <algorithm>
#include <utility>

#include "crypto/jose_error.h"

namespace gatehouse::crypto {
namespace {

namespace json = boost::json;

constexpr std::chrono::seconds kMaxLeeway{300};

Status ReadString(const json::value& value, std::string_view name, std::string& out) {
  if (!value.is_string()) return InvalidToken(std::string(name) + " is not a string");
  out = value.get_string();
  return Ok();
}

bool ReadStringArray(const json::array& array, std::vector<std::string>& out) {
  out.reserve(array.size());
  for (const json::value& item : array) {
    if (!item.is_string()) return false;
    out.emplace_back(item.get_string());
  }
  return true;
}

// RFC 7519 section 2 allows fractional NumericDates; we issue and accept whole seconds
// only, and a JSON string is never a date (no "exp":"9999999999" surprises).
Status ReadDate(const json::value& value, std::string_view name, std::optional<std::int64_t>& out) {
  if (value.is_uint64()) return InvalidToken(std::string(name) + " out of range");
  if (!value.is_int64()) return InvalidToken(std::string(name) + " is not an integer NumericDate");
  const std::int64_t seconds = value.get_int64();
  if (seconds < 0 || seconds > kMaxNumericDate) {
    return InvalidToken(std::string(name) + " out of range");
  }
  out = seconds;
  return Ok();
}

// Types of the registered claims present, in one pass over the claim set. Errors come in
// claim order, so a set with two bad claims reports the first.
Status ReadTypes(const json::object& claims, TokenClaims& out) {
  for (const json::key_value_pair& member : claims) {
    const std::string_view name = member.key();
    const json::value& value = member.value();
    if (name.size() != 3) continue;  // Every registered claim we read has three letters.
    if (name == "iss") {
      GH_RETURN_IF_ERROR(ReadString(value, name, out.iss));
    } else if (name == "sub") {
      GH_RETURN_IF_ERROR(ReadString(value, name, out.sub));
    } else if (name == "sid") {
      GH_RETURN_IF_ERROR(ReadString(value, name, out.sid));
    } else if (name == "jti") {
      GH_RETURN_IF_ERROR(ReadString(value, name, out.jti));
    } else if (name == "aud") {
      // RFC 7519 section 4.1.3: a single string or an array of strings.
      if (value.is_string()) {
        out.aud.emplace_back(value.get_string());
      } else if (!value.is_array() || value.get_array().empty() ||
                 !ReadStringArray(value.get_array(), out.aud)) {
        return InvalidToken("aud is not a string or array of strings");
      }
    } else if (name == "amr") {
      if (!value.is_array() || !ReadStringArray(value.get_array(), out.amr)) {
        return InvalidToken("amr is not an array of strings");
      }
    } else if (name == "exp") {
      GH_RETURN_IF_ERROR(ReadDate(value, name, out.exp));
    } else if (name == "nbf") {
      GH_RETURN_IF_ERROR(ReadDate(value, name, out.nbf));
    } else if (name == "iat") {
      GH_RETURN_IF_ERROR(ReadDate(value, name, out.iat));
    }
  }
  return Ok();
}

}  // namespace

Result<TokenClaims> ValidateClaims(json::object payload, const ClaimsPolicy& policy,
                                   const Clock& clock) {
  // A negative leeway would refuse valid tokens; a huge one would accept expired ones.
  if (policy.leeway < std::chrono::seconds(0) || policy.leeway > kMaxLeeway) {
    return InvalidArgument("invalid claims policy", "leeway outside 0..300 s");
  }

  // Move-constructed, so the claim set keeps its memory (json::object move assignment
  // would copy when the storages differ).
  TokenClaims claims(std::move(payload));
  const json::object& raw = claims.raw;
  GH_RETURN_IF_ERROR(ReadTypes(raw, claims));

  for (const std::string& name : policy.required_claims) {
    if (!raw.contains(name)) return InvalidToken(name + " missing");
  }

  // A present iss is a string (ReadTypes), and only a present aud has elements.
  const bool has_iss = raw.contains("iss");
  const bool has_aud = !claims.aud.empty();
  if (!policy.issuer.empty()) {
    if (!has_iss) return InvalidToken("iss missing");
    if (claims.iss != policy.issuer) return InvalidToken("iss mismatch");
  }

  if (!policy.audience.empty()) {
    if (!has_aud) return InvalidToken("aud missing");
    if (std::find(claims.aud.begin(), claims.aud.end(), policy.audience) == claims.aud.end()) {
      return InvalidToken("aud mismatch");
    }
  } else if (has_aud) {
    return InvalidToken("aud not expected");
  }

  // Both sides are at most about 2^38 here, so the sums cannot overflow.
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  const std::int64_t leeway = policy.leeway.count();
  // RFC 7519 section 4.1.4: the token must not be accepted on or after exp.
  if (claims.exp && now >= *claims.exp + leeway) return InvalidToken("exp in the past");
  // Section 4.1.5: nor before nbf.
  if (claims.nbf && now + leeway < *claims.nbf) return InvalidToken("nbf in the future");
  if (claims.iat && *claims.iat > now + leeway) return InvalidToken("iat in the future");

  return claims;
}

JwtPolicy JwtPolicy::AccessToken(std::string issuer, std::string audience) {
  JwtPolicy policy;
  policy.jws.expected_typ = kAccessTokenTyp;
  policy.claims.issuer = std::move(issuer);
  policy.claims.audience = std::move(audience);
  policy.claims.required_claims = {"exp", "iat", "sub"};
  return policy;
}

Result<TokenClaims> VerifyJwt(std::string_view token, const SigningKeys& keys,
                              const JwtPolicy& policy, const Clock& clock) {
  auto verified = VerifyJws(token, keys, policy.jws);
  if (!verified.ok()) return std::move(verified).error();
  return ValidateClaims(std::move(verified->payload), policy.claims, clock);
}

}  // namespace gatehouse::crypto
