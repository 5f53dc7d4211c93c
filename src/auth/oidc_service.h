#pragma once

// Sign in with an OpenID provider, end to end (docs/oidc.md):
//
//   Start     a flow record (auth/oidc_flow.h) and the provider's authorization URL;
//   Callback  the record taken once, the code exchanged with the PKCE verifier, the ID
//             token verified, then the account: found by (provider, sub); else linked
//             (a signed-in user's link flow, or the same verified email when the
//             provider's link_by_email allows it); else made (create_accounts, verified
//             email no account holds). Only then a session, exactly as a password login
//             makes one. Every failure emits `login_failure` and leaves nothing behind;
//             a TLS key pin mismatch also emits `suspicious_activity`.
//   ProviderToken  a fresh provider access token for the signed-in user, refreshed with the
//             kept refresh token when the kept one is about to expire.
//
// Blocking: every call touches the store, the shared state or the provider: worker pool.
// Thread safety: all methods may be called concurrently.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/events.h"
#include "auth/account_repository.h"
#include "auth/auth_service.h"
#include "auth/identity_repository.h"
#include "auth/oidc_flow.h"
#include "auth/oidc_provider.h"
#include "core/clock.h"
#include "core/status.h"

namespace gatehouse::auth {

struct OidcParts {
  std::map<std::string, std::unique_ptr<ProviderClient>, std::less<>> providers;
  FlowStore* flows = nullptr;
  IdentityRepository* identities = nullptr;
  AccountRepository* accounts = nullptr;
  AuthService* auth = nullptr;
  audit::EventSink* events = nullptr;
  const Clock* clock = nullptr;
  ReturnToPolicy return_to{"", ""};
  std::string default_return_to = "/";
};

struct StartedSignIn {
  std::string authorization_url;
  Secret pre_auth_cookie;
};

// What a callback from the provider carries (its query parameters).
struct CallbackParams {
  std::string code;
  std::string state;
  std::string error;  // RFC 6749 section 4.1.2.1, e.g. "access_denied".
  std::string iss;    // RFC 9207, when the provider sends it.
};

// At most one of grant and challenge is set; neither for a link flow (the user keeps the
// session they started it from).
struct CallbackOutcome {
  std::optional<TokenGrant> grant;
  std::optional<SecondFactorChallenge> challenge;  // The account has a second factor.
  std::string return_to;
  bool linked = false;
  std::string account_id;
};

struct ProviderAccessToken {
  Secret access_token;
  std::int64_t expires_at = 0;  // 0: the provider gave no expiry.
};

class OidcService {
 public:
  explicit OidcService(OidcParts parts);

  bool HasProvider(std::string_view id) const;

  // kNotFound for an unknown provider; kInvalidArgument for a refused return_to.
  // `link_account` is the signed-in user's account for a link flow, else empty.
  Result<StartedSignIn> Start(std::string_view provider, std::string_view return_to,
                              std::string_view link_account, const RequestContext& ctx);

  // Errors carry a client-safe message; kPermissionDenied for flow problems (state,
  // cookie, an answer naming another issuer, an email that is not verified, no account
  // to be made), kUnauthenticated for the provider's refusal or a bad ID token,
  // kAlreadyExists for an email that belongs to an account this provider may not be linked
  // to automatically, kUnavailable when the provider cannot be reached.
  Result<CallbackOutcome> Callback(std::string_view provider, const CallbackParams& params,
                                   std::string_view pre_auth_cookie, const RequestContext& ctx);

  // kNotFound when the account has no identity at the provider or no token is kept;
  // kUnauthenticated when the provider refused the refresh token.
  Result<ProviderAccessToken> ProviderToken(std::string_view account_id, std::string_view provider);

  Result<std::vector<Identity>> Linked(std::string_view account_id);
  Status Unlink(std::string_view account_id, std::string_view provider, const RequestContext& ctx);

 private:
  ProviderClient* Find(std::string_view id) const;
  Result<Account> ResolveAccount(ProviderClient& provider, const IdTokenClaims& claims,
                                 const FlowRecord& flow, bool* linked_now);
  Error Fail(const Error& error, std::string_view provider, std::string_view reason,
             const RequestContext& ctx, std::string_view account_id = {});

  OidcParts parts_;
};

}  // namespace gatehouse::auth
