#pragma once

// JWT claims (RFC 7519 section 4.1), validated after the signature (jose_jws.h).
//
// ValidateClaims checks, in this order, each failure being kUnauthenticated "invalid
// token" with the quoted detail:
//  - Types of the registered claims that are present: iss, sub, sid, jti strings ("<name>
//    is not a string"); aud a string or a non-empty array of strings (RFC 7519 section
//    4.1.3; "aud is not a string or array of strings"); amr an array of strings ("amr is
//    not an array of strings"); exp, nbf, iat JSON integers (a NumericDate, section 2,
//    but fractions and strings are refused) from 0 to 253402300799, the end of year 9999
//    ("<name> is not an integer NumericDate", "<name> out of range").
//  - Required claims from the policy are present ("<name> missing"). exp is required by
//    default: a token without it never expires.
//  - iss equals ClaimsPolicy::issuer when that is set ("iss mismatch"; "iss missing").
//  - aud: when ClaimsPolicy::audience is set, aud must contain it ("aud mismatch"; "aud
//    missing"). When it is not set, a token that has aud is refused ("aud not expected"):
//    RFC 7519 section 4.1.3 says a recipient that does not find itself in aud must reject.
//  - exp: refused when now >= exp + leeway ("exp in the past").
//  - nbf: refused when now + leeway < nbf ("nbf in the future").
//  - iat: refused when iat > now + leeway ("iat in the future"); a token issued in the
//    future comes from a wrong clock or a forger.
// "now" is the injected Clock's wall time, truncated to whole seconds.
//
// Thread safety: pure functions; call concurrently.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "core/clock.h"
#include "core/status.h"
#include "crypto/jose_jwk.h"
#include "crypto/jose_jws.h"

namespace gatehouse::crypto {

// RFC 9068 section 2.1: the `typ` of a JWT access token.
inline constexpr char kAccessTokenTyp[] = "at+jwt";
// The largest NumericDate accepted: 9999-12-31T23:59:59Z.
inline constexpr std::int64_t kMaxNumericDate = 253402300799;

struct ClaimsPolicy {
  std::string issuer;    // When set, iss must equal it.
  std::string audience;  // When set, aud must contain it; when empty, aud must be absent.
  // Allowed clock skew for exp, nbf and iat. REQUIRES: 0 <= leeway <= 5 minutes.
  std::chrono::seconds leeway{30};
  std::vector<std::string> required_claims{"exp"};
};

// The registered claims Gatehouse uses, plus the whole verified claim set.
struct TokenClaims {
  TokenClaims() = default;
  // Takes the claim set over, keeping its memory resource.
  explicit TokenClaims(boost::json::object claims) : raw(std::move(claims)) {}

  std::string iss;
  std::string sub;
  std::string sid;  // Session id (RFC 9068 leaves it open; OpenID uses "sid").
  std::string jti;
  std::vector<std::string> aud;  // A single-string aud becomes one element.
  std::vector<std::string> amr;  // Authentication methods (RFC 8176).
  std::optional<std::int64_t> exp;
  std::optional<std::int64_t> nbf;
  std::optional<std::int64_t> iat;
  boost::json::object raw;  // Every claim, for application-specific ones.
};

// Errors: as listed above; kInvalidArgument "invalid claims policy" for a policy whose
// leeway is out of range.
Result<TokenClaims> ValidateClaims(boost::json::object payload, const ClaimsPolicy& policy,
                                   const Clock& clock);

// What an access-token check needs: the JWS rules and the claims rules.
struct JwtPolicy {
  JwsVerifyOptions jws;
  ClaimsPolicy claims;

  // typ "at+jwt" required, iss and aud checked, exp, iat and sub required.
  static JwtPolicy AccessToken(std::string issuer, std::string audience);
};

// VerifyJws with `keys`, then ValidateClaims.
Result<TokenClaims> VerifyJwt(std::string_view token, const SigningKeys& keys,
                              const JwtPolicy& policy, const Clock& clock);

}  // namespace gatehouse::crypto
