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

#include <memory>

#include "auth/auth_service.h"
#include "auth/oidc_service.h"
#include "http/message.h"
#include "http/router.h"

namespace gatehouse::auth {

struct RouteShared;
// `oidc` must outlive the router. AddAuthRoutes calls it when options.oidc is set; the
// signed-in routes recognise their caller exactly as the account routes do.
void AddOidcRoutes(http::Router& router, std::shared_ptr<const RouteShared> shared,
                   OidcService& oidc);

}  // namespace gatehouse::auth
