#pragma once

// The HTTP face of API keys and service accounts (docs/api-keys.md).
//
// Public listener: a signed-in user (bearer token or session cookie), over their own keys
// and those of the service accounts they own:
//   POST   /v1/apikeys                  issue a key; the answer is the only time it shows 201
//   GET    /v1/apikeys                  the keys with usage figures, never a secret      200
//   DELETE /v1/apikeys/{id}             revoke, on every instance within a second        204
//   POST   /v1/apikeys/{id}/rotate      a successor; the old key keeps a grace period    201
//   GET    /v1/apikeys/self             the key presented in the API key header          200
//   POST   /v1/service-accounts          a service account owned by the caller           201
//   GET    /v1/service-accounts          the caller's service accounts                   200
//   DELETE /v1/service-accounts/{id}     disable it and revoke its keys                  204
// Admin listener (the admin token, protect/admin_routes.h): the same paths but /self,
// over every key and service account; each use is also an admin_action event.
//
// Forward auth (/v1/auth/verify, auth/routes.cc) answers keys through KeyVerifyAnswer.
// Every answer carries `Cache-Control: no-store`.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "audit/events.h"
#include "auth/api_key_service.h"
#include "auth/auth_service.h"
#include "core/clock.h"
#include "http/router.h"

namespace gatehouse::auth {

struct ApiKeyRouteDeps {
  ApiKeyService* service = nullptr;  // Not owned; must outlive the router.
  // The signed-in user of a request (routes.cc): the principal, or an error; when the
  // per-account limit refused, `*refusal` holds the 429 to answer.
  std::function<Result<Principal>(const http::Request&, std::optional<http::Response>*)> signed_in;
  std::string header = "X-API-Key";
  std::size_t max_body_bytes = 16 * 1024;
};

void AddApiKeyRoutes(http::Router& router, ApiKeyRouteDeps deps);

struct ApiKeyAdminRouteDeps {
  ApiKeyService* service = nullptr;  // Not owned; must outlive the router.
  // Ok when the request carries the admin token (it reports a wrong one itself).
  std::function<Status(const http::Request&)> check_admin;
  audit::EventSink* events = nullptr;  // For admin_action; not owned.
  const Clock* clock = nullptr;
  std::size_t max_body_bytes = 16 * 1024;
};

void AddApiKeyAdminRoutes(http::Router& router, ApiKeyAdminRouteDeps deps);

// The key a request presents in `header`: nullopt when there is none. A header given
// twice is a kUnauthenticated error: which copy a proxy and this service read could
// differ, so neither is taken.
Result<std::optional<std::string_view>> PresentedKey(const http::Request& req,
                                                     std::string_view header);

// Whether a bearer token looks like an API key sent in the wrong place.
bool LooksLikeApiKey(std::string_view token);

// The answer of forward auth for an authenticated key: 200 with X-Auth-User (the owner's
// id), X-Auth-Owner-Type ("user" or "service_account"), X-Auth-Key-Id, X-Auth-Scopes
// (space-separated) and X-Auth-Methods ("api_key"); or, when the key's limit refused, 429
// with its RateLimit headers and Retry-After.
http::Response KeyVerifyAnswer(const http::Request& req, const KeyAuthentication& auth);

}  // namespace gatehouse::auth
