#pragma once

// The HTTP face of accounts, tokens and sessions:
//
//   POST   /v1/auth/register        create an account                      201
//   POST   /v1/auth/login           password login: tokens and cookies     200
//   POST   /v1/auth/captcha         a proof-of-work challenge              200
//   POST   /v1/auth/refresh         rotate the refresh token               200
//   POST   /v1/auth/logout          end the session, deny the token        204
//   GET    /v1/auth/verify          forward auth (nginx, Traefik, Envoy)   200 / 401
//   POST   /v1/me/password          change the password                    204
//   GET    /v1/me/sessions          the caller's live sessions             200
//   DELETE /v1/me/sessions/{id}     end one of them                        204
//   DELETE /v1/me/sessions/others   end all but the current one            200
//   GET    /.well-known/jwks.json   public signing keys                    200
//
// With second factors (options.mfa), the routes of auth/mfa_routes.cc too; login then answers
// an account with a factor with {"mfa_required": true, "methods", "ticket"} and no session.
// With API keys on, also the routes of auth/api_key_routes.h, and /v1/auth/verify accepts
// a key in the API key header (a request carrying both a key and a token is refused).
//
// Every answer of these routes carries `Cache-Control: no-store`.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "audit/events.h"
#include "auth/api_key_service.h"
#include "auth/auth_service.h"
#include "auth/login_guard.h"
#include "auth/oidc_service.h"
#include "auth/token_service.h"
#include "http/router.h"
#include "protect/rate_limit.h"

namespace gatehouse::auth {

class MfaService;

struct AuthRoutesOptions {
  // Run /v1/auth/verify inline on the I/O thread. Only when the shared state answers
  // without blocking (the memory driver); with Redis it runs on the worker pool.
  bool verify_inline = true;
  std::string own_origin;       // "https://host[:port]" of this service.
  std::string allowed_origins;  // Comma-separated, for cookie-authenticated unsafe methods.
  std::string fingerprint_traits;
  std::chrono::seconds session_cookie_max_age{8 * 3600};
  std::chrono::seconds refresh_cookie_max_age{7 * 24 * 3600};
  std::size_t max_body_bytes = 64 * 1024;
  // Per-account limit on the /v1/me routes and logout, on top of the per-address limit
  // of the gate (one account spread over many addresses is still one account). Null
  // limiter: none. Not owned; must outlive the router.
  protect::RateLimiter* limiter = nullptr;
  protect::RateLimitClass user_class;
  // Brute-force defence of password login; null turns it off (tests of other parts only).
  // Not owned; must outlive the router.
  const LoginGuard* login_guard = nullptr;
  // Sign-in with OpenID providers (auth/oidc_routes.h); null: no such routes. Not owned.
  OidcService* oidc = nullptr;
  std::chrono::seconds pre_auth_cookie_max_age{600};
  // Second factors; null: no MFA routes and password login alone. Not owned.
  MfaService* mfa = nullptr;
  // API keys (auth/api_key_service.h); null turns them off. Not owned; must outlive the
  // router.
  ApiKeyService* api_keys = nullptr;
  std::string api_key_header = "X-API-Key";
};

// `service`, `tokens` and `events` must outlive the router.
void AddAuthRoutes(http::Router& router, AuthService& service, const TokenService& tokens,
                   audit::EventSink& events, AuthRoutesOptions options);

struct RouteShared;
// The second-factor routes (auth/mfa_routes.cc); AddAuthRoutes calls it when options.mfa is
// set.
void AddMfaRoutes(http::Router& router, std::shared_ptr<const RouteShared> shared, MfaService& mfa);

}  // namespace gatehouse::auth
