#pragma once

// What the account routes (auth/routes.cc) and the second-factor routes (auth/mfa_routes.cc)
// share: the request context, JSON answers that are never cached, strict bodies, the
// signed-in caller with its per-account limit, and the token answer of a completed sign-in.
//
// Thread safety: pure functions over their arguments; RouteShared is immutable after start.

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "audit/events.h"
#include "auth/auth_service.h"
#include "auth/routes.h"
#include "auth/token_service.h"
#include "core/status.h"
#include "http/message.h"

namespace gatehouse::auth {

struct RouteShared {
  AuthService& service;
  const TokenService& tokens;
  audit::EventSink& events;
  AuthRoutesOptions options;
};

RequestContext ContextOf(const http::Request& req, const RouteShared& shared);

// RFC 6749 section 5.1: answers holding tokens or codes must not be cached anywhere.
void NoStore(http::Response& response);
http::Response JsonAnswer(int status, const boost::json::object& body);
http::Response EmptyAnswer(int status);

// The strict JSON object body (http/json_body.h) under the routes' size cap.
Result<boost::json::object> ReadBody(const http::Request& req, const RouteShared& shared);
// The string member `key`, or empty when absent or not a string (check types first).
std::string_view Text(const boost::json::object& body, std::string_view key);

// E.164: a '+' and 8 to 15 digits (ITU-T E.164 section 6).
Status CheckPhone(std::string_view phone);

// The caller's principal from a bearer token or the session cookie; cookie-authenticated
// unsafe requests must come from an allowed origin. A rejected token emits
// `unauthorized_access`.
Result<Principal> Authenticated(const http::Request& req, const RouteShared& shared,
                                const RequestContext& ctx);
// The same from memory only, for an I/O thread: nullopt where the answer needs the store
// (AuthService::AuthenticateFromMemory).
std::optional<Result<Principal>> AuthenticatedFromMemory(const http::Request& req,
                                                         const RouteShared& shared,
                                                         const RequestContext& ctx);

// Authenticated, then the per-account limit. On a limit refusal `*refusal` is the 429.
Result<Principal> SignedIn(const http::Request& req, const RouteShared& shared,
                           const RequestContext& ctx, std::optional<http::Response>* refusal);

// The signed-in caller of a route (SignedIn), or the answer that refuses the request: when
// `refusal` is set it is the 429 to send, and `principal` is empty.
struct Caller {
  std::optional<Principal> principal;
  std::optional<http::Response> refusal;
  RequestContext ctx;
};
Result<Caller> SignedInCaller(const http::Request& req, const RouteShared& shared);

// The OAuth 2.0 token answer of a sign-in, with the session and refresh cookies.
http::Response GrantAnswer(const TokenGrant& grant, const RouteShared& shared);

}  // namespace gatehouse::auth
