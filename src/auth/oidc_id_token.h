#pragma once

// The ID token a provider returns from its token endpoint, checked as OpenID Connect Core
// 1.0 section 3.1.3.7 asks, before anything in it is believed:
//   - a JWS signed by one of the provider's published keys (crypto/jose_jws.h rules: the
//     key's own algorithm, no keys from headers, no `none`); RS256, ES256 and EdDSA;
//   - iss exactly the provider's issuer; aud holds our client id; with several audiences
//     azp is required, and azp when present is our client id (the token was issued to us,
//     not to another client that could replay it here);
//   - exp not passed, iat present, not in the future and not older than max_age (a token
//     minted long ago and kept is a replay, whatever its exp says), all with leeway;
//   - nonce present and equal to the one this sign-in sent (compared in constant time):
//     a token from another sign-in, even a valid one for this client, is refused;
//   - sub a string of 1..255 characters (Core section 2).
// Failures are kUnauthenticated "invalid token" with the detail naming the rule, for the
// log; what the browser is told is decided by the caller.
//
// Thread safety: pure function.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/clock.h"
#include "core/status.h"
#include "crypto/jose_jwk.h"

namespace gatehouse::auth {

struct IdTokenExpectations {
  std::string issuer;
  std::string client_id;
  std::string nonce;
  std::chrono::seconds leeway{60};
  std::chrono::seconds max_age{600};
};

struct IdTokenClaims {
  std::string sub;
  std::string email;  // Empty when the provider shared none.
  bool email_verified = false;
  std::string name;  // Display name, may be empty.
  std::int64_t exp = 0;
};

Result<IdTokenClaims> VerifyIdToken(std::string_view token, const crypto::SigningKeys& keys,
                                    const IdTokenExpectations& expect, const Clock& clock);

// Reads email, email_verified and name from a verified claim set (an ID token's, or a
// UserInfo answer whose sub was checked). Malformed or oversized values are left empty:
// they are informational and decide nothing alone. email_verified is true only for JSON
// true or the string "true" (some providers send a string).
void ReadProfileClaims(const boost::json::object& claims, IdTokenClaims& out);

}  // namespace gatehouse::auth
