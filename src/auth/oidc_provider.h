#pragma once

// Talking to one OpenID provider: its discovery document and key set (cached), the
// authorization URL, and the token endpoint (the code exchange with PKCE, and refresh).
//
// Caching. The discovery document is kept for discovery_ttl and read again after. The key
// set is read on first use and again only when a token names a kid it does not hold (the
// provider rotated its keys), at most once per jwks_min_refresh: a forged kid must not
// make Gatehouse hammer the provider (or be used to probe it) once per request.
//
// The network goes through `fetch` (the server passes http::OutboundClient::Send, with the
// provider's TLS trust and key pins): unit tests use a function that answers from memory
// and counts the calls.
//
// Thread safety: all methods may be called from any worker thread at once; one mutex
// guards the caches, and fetches happen under it, so concurrent sign-ins share one fetch.
// Calls block on the network: run them on the worker pool.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "auth/oidc_flow.h"
#include "auth/oidc_id_token.h"
#include "auth/oidc_metadata.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/jose_jwk.h"
#include "http/outbound_client.h"

namespace gatehouse::auth {

using ProviderFetch = std::function<Result<http::OutboundResponse>(const http::OutboundRequest&)>;

struct ProviderSettings {
  std::chrono::seconds discovery_ttl{3600};
  std::chrono::seconds jwks_min_refresh{60};
  std::chrono::seconds leeway{60};
  std::chrono::seconds id_token_max_age{600};
  bool allow_loopback_http = false;  // Development: providers on http://localhost.
};

// What the token endpoint answered (RFC 6749 section 5.1, OpenID Connect Core 3.1.3.3).
struct TokenAnswer {
  Secret access_token;
  Secret refresh_token;         // Empty when none was issued.
  std::string id_token;         // Empty for a refresh that returned none.
  std::int64_t expires_in = 0;  // Seconds; 0 when the provider did not say.
};

class ProviderClient {
 public:
  // `clock` must outlive the client.
  ProviderClient(core::OidcProviderConfig config, ProviderFetch fetch, const Clock& clock,
                 ProviderSettings settings);

  const core::OidcProviderConfig& config() const { return config_; }

  // The discovery document, from the cache while it is fresh.
  // Errors: kUnavailable (fetch failed, non-200, invalid document).
  Result<ProviderMetadata> Metadata();

  // The URL the browser is sent to (RFC 6749 section 4.1.1, OIDC Core 3.1.2.1, RFC 7636
  // section 4.3): response_type=code, client_id, redirect_uri, scope, state, nonce,
  // code_challenge and code_challenge_method=S256.
  Result<std::string> AuthorizationUrl(const StartedFlow& flow);

  // Exchanges an authorization code (RFC 6749 section 4.1.3 with the PKCE verifier).
  // Errors: kUnauthenticated "provider refused the code" (an OAuth error answer; the detail
  // has the provider's error code), kUnavailable for transport or malformed answers.
  Result<TokenAnswer> ExchangeCode(std::string_view code, const Secret& verifier);

  // Uses a refresh token (RFC 6749 section 6). Errors as ExchangeCode, with
  // kUnauthenticated "provider refused the refresh token".
  Result<TokenAnswer> Refresh(const Secret& refresh_token);

  // Verifies an ID token against the provider's keys (auth/oidc_id_token.h), reading the
  // key set again once for a kid it does not know, within the refresh limit.
  Result<IdTokenClaims> VerifyIdToken(std::string_view id_token, const Secret& nonce);

  // Fills in email, email_verified and name from the UserInfo endpoint (OIDC Core section
  // 5.3) when the ID token did not carry an email, as providers that follow Core 5.4
  // strictly do. The answer must name the same sub (section 5.3.2), or it is someone
  // else's. Without a userinfo_endpoint the claims stay as they are.
  // Errors: kUnauthenticated "provider answer invalid" for a sub mismatch; kUnavailable.
  Status CompleteFromUserInfo(const Secret& access_token, IdTokenClaims& claims);

  // How often the network was used, for tests and metrics.
  struct Counters {
    std::uint64_t discovery_fetches = 0;
    std::uint64_t jwks_fetches = 0;
    std::uint64_t jwks_refreshes_refused = 0;  // Unknown kids within the refresh limit.
  };
  Counters counters() const;

 private:
  Result<ProviderMetadata> MetadataLocked();
  Result<std::shared_ptr<const crypto::SigningKeys>> FetchKeysLocked(const ProviderMetadata& meta);
  Result<TokenAnswer> PostToken(std::string form, bool expect_id_token, const char* refused);
  Result<std::string> Get(const std::string& url, const char* what);

  core::OidcProviderConfig config_;
  ProviderFetch fetch_;
  const Clock& clock_;
  ProviderSettings settings_;

  mutable std::mutex mutex_;
  std::optional<ProviderMetadata> metadata_;
  std::chrono::steady_clock::time_point metadata_at_{};
  std::shared_ptr<const crypto::SigningKeys> keys_;
  std::optional<std::chrono::steady_clock::time_point> keys_at_;
  Counters counters_;
};

}  // namespace gatehouse::auth
