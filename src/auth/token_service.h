#pragma once

// Access tokens: JWTs (RFC 9068 profile, `typ` "at+jwt") signed with the configured key,
// verified strictly (crypto/jose_*.h). The claims: iss, sub (account id), aud, exp, nbf,
// iat, jti (random, the revocation handle), sid (session id), amr (RFC 8176 methods).
//
// Thread-safe: the key set is immutable after construction.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/token_cache.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/status.h"
#include "crypto/jose_jwk.h"
#include "crypto/jose_jwt.h"

namespace gatehouse::auth {

// Builds the key set from configuration: the signing key (HS256 secret or PEM private
// key) and the previous key, which only verifies. HS256 kids are derived from a hash of
// the secret, so they are stable across restarts and reveal nothing of it.
Result<crypto::SigningKeys> BuildSigningKeys(const core::TokensConfig& config);

struct TokenSettings {
  std::string issuer = "gatehouse";
  std::string audience = "gatehouse";
  std::chrono::seconds access_ttl{24 * 3600};
  std::chrono::seconds leeway{30};
  // Verified tokens remembered (auth/token_cache.h); 0 verifies every presentation.
  std::size_t cache_entries = 4096;
};

struct IssuedToken {
  std::string token;
  std::string jti;
  std::int64_t expires_at = 0;  // Unix seconds.
};

class TokenService {
 public:
  // `clock` must outlive the service.
  TokenService(crypto::SigningKeys keys, TokenSettings settings, const Clock& clock);

  // REQUIRES: account_id and session_id are non-empty.
  Result<IssuedToken> IssueAccess(std::string_view account_id, std::string_view session_id,
                                  const std::vector<std::string>& amr) const;

  // Signature, algorithm for the kid, typ, iss, aud, exp/nbf/iat. Errors are
  // kUnauthenticated with the generic "invalid token" message and a specific detail.
  // Does not consult the deny list or the session: see auth/live_sessions.h.
  Result<crypto::TokenClaims> VerifyAccess(std::string_view token) const;

  // VerifyAccess through the verified-token cache: the same answer for the same token at
  // the same time, with the signature checked once per token rather than once per request.
  Result<std::shared_ptr<const AccessClaims>> VerifyAccessCached(std::string_view token) const;

  // The JWK Set of the asymmetric keys (empty "keys" array with HS256).
  const std::string& PublicJwks() const { return jwks_; }
  const TokenSettings& settings() const { return settings_; }

 private:
  crypto::SigningKeys keys_;
  TokenSettings settings_;
  crypto::JwtPolicy policy_;
  std::string jwks_;
  const Clock& clock_;
  // Behind a pointer so that the service stays movable (the cache holds mutexes).
  std::unique_ptr<VerifiedTokenCache> cache_;
};

}  // namespace gatehouse::auth
