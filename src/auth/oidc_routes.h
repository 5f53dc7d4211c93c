#pragma once

// The HTTP face of signing in with OpenID providers (docs/oidc.md):
//
//   GET    /v1/auth/oidc/{provider}/start        302 to the provider, pre-auth cookie
//   GET    /v1/auth/oidc/{provider}/callback     303 to return_to with the session cookies
//   GET    /v1/me/providers                      the caller's linked providers       200
//   POST   /v1/me/providers/{provider}/link      starts a link flow: authorization_url 200
//   DELETE /v1/me/providers/{provider}           unlinks                              204
//   GET    /v1/me/providers/{provider}/token     a fresh provider access token       200
//
// Every answer carries `Cache-Control: no-store`. Failures are problem answers (the
// callback's included) and clear the pre-auth cookie.

#include <chrono>
#include <functional>
#include <optional>

#include "auth/auth_service.h"
#include "auth/oidc_service.h"
#include "http/message.h"
#include "http/router.h"

namespace gatehouse::auth {

// What the account routes lend the OIDC routes, so that a signed-in caller is recognised
// exactly as everywhere else (token or cookie, Origin check, per-account limit).
struct SignedInHooks {
  std::function<RequestContext(const http::Request&)> context;
  // On a limit refusal `*refusal` is the answer to send.
  std::function<Result<Principal>(const http::Request&, const RequestContext&,
                                  std::optional<http::Response>*)>
      signed_in;
  std::chrono::seconds session_cookie_max_age{8 * 3600};
  std::chrono::seconds refresh_cookie_max_age{7 * 24 * 3600};
  std::chrono::seconds pre_auth_cookie_max_age{600};
};

// `service` must outlive the router.
void AddOidcRoutes(http::Router& router, OidcService& service, SignedInHooks hooks);

}  // namespace gatehouse::auth
