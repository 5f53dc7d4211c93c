#include "auth/route_support.h"

#include "auth/api_key_routes.h"

#include <boost/json.hpp>

#include "auth/request_traits.h"
#include "http/json_body.h"
#include "http/problem.h"
#include "protect/rate_limit.h"

namespace gatehouse::auth {
namespace {

namespace json = boost::json;
using http::Request;
using http::Response;

constexpr std::size_t kMaxUserAgentBytes = 256;

// The per-account limit of the signed-in routes: "user:<account id>" under the protected
// class. A refusal is a 429 with the same headers the gate sends for an address.
Status CheckUserLimit(const Principal& principal, const RouteShared& shared, Response* refusal,
                      const Request& req) {
  if (shared.options.limiter == nullptr) return Ok();
  const protect::RateLimitClass& cls = shared.options.user_class;
  auto decision = shared.options.limiter->Check(cls, "user:" + principal.account_id);
  if (!decision.ok()) return std::move(decision).error();
  if (decision->allowed) return Ok();
  *refusal = http::MakeStatusProblem(429, req.request_id);
  const protect::AppliedLimit applied[] = {{&cls, *decision}};
  for (auto& [name, value] : protect::RateLimitHeaders(applied)) {
    refusal->AddHeader(std::move(name), std::move(value));
  }
  return Error(ErrorCode::kResourceExhausted, "rate limited");
}

}  // namespace

RequestContext ContextOf(const Request& req, const RouteShared& shared) {
  RequestContext ctx;
  ctx.request_id = req.request_id;
  ctx.client_ip = req.client_ip;
  ctx.user_agent =
      std::string(req.FindHeader("User-Agent").value_or("").substr(0, kMaxUserAgentBytes));
  ctx.fingerprint = DeviceFingerprint(req, shared.options.fingerprint_traits);
  return ctx;
}

void NoStore(Response& response) {
  response.AddHeader("Cache-Control", "no-store");
  response.AddHeader("Pragma", "no-cache");
}

Response JsonAnswer(int status, const json::object& body) {
  Response response = Response::Json(status, json::serialize(body));
  NoStore(response);
  return response;
}

Response EmptyAnswer(int status) {
  Response response;
  response.status = status;
  NoStore(response);
  return response;
}

Result<json::object> ReadBody(const Request& req, const RouteShared& shared) {
  http::JsonLimits limits;
  limits.max_body_bytes = shared.options.max_body_bytes;
  return http::ParseJsonObject(req, limits);
}

std::string_view Text(const json::object& body, std::string_view key) {
  const json::value* v = body.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
}

Status CheckPhone(std::string_view phone) {
  if (phone.size() < 9 || phone.size() > 16 || phone[0] != '+') {
    return InvalidArgument("phone must be in E.164 form, e.g. +14155552671");
  }
  for (char ch : phone.substr(1)) {
    if (ch < '0' || ch > '9') return InvalidArgument("phone must be in E.164 form");
  }
  return Ok();
}

namespace {

std::optional<Result<Principal>> AuthenticatedImpl(const Request& req, const RouteShared& shared,
                                                   const RequestContext& ctx, bool may_block) {
  // A bearer token is used where it lies in the request; only a cookie's is copied out.
  std::string_view token;
  std::optional<std::string> cookie;
  bool via_cookie = false;
  if (auto bearer = BearerToken(req)) {
    if (shared.options.api_keys != nullptr && LooksLikeApiKey(*bearer)) {
      // Not a token: say where it goes instead of reporting a malformed JWT.
      return Error(ErrorCode::kUnauthenticated, "API keys are sent in the " +
                                                    shared.options.api_key_header +
                                                    " header, not as a bearer token");
    }
    token = *bearer;
  } else if ((cookie = FindCookie(req, kSessionCookie))) {
    token = *cookie;
    via_cookie = true;
  } else if (shared.options.api_keys != nullptr && req.FindHeader(shared.options.api_key_header)) {
    // Keys act for services; managing accounts, sessions and keys needs a person.
    return Error(ErrorCode::kUnauthenticated,
                 "this endpoint needs a signed-in user; API keys are accepted by "
                 "/v1/auth/verify and /v1/apikeys/self");
  } else {
    return Error(ErrorCode::kUnauthenticated, "authentication required");
  }
  // CSRF defence on top of SameSite: a cookie-authenticated unsafe request must come from an
  // allowed origin.
  if (via_cookie && IsUnsafeMethod(req.method) &&
      !OriginAllowed(req, shared.options.allowed_origins, shared.options.own_origin)) {
    return Error(ErrorCode::kPermissionDenied, "request origin not allowed",
                 "cookie-authenticated unsafe request without an allowed Origin");
  }
  std::optional<Result<Principal>> answer =
      may_block ? std::optional<Result<Principal>>(
                      shared.service.Authenticate(token, via_cookie, ctx))
                : shared.service.AuthenticateFromMemory(token, via_cookie, ctx);
  if (!answer) return std::nullopt;
  Result<Principal>& principal = *answer;
  if (!principal.ok() && principal.error().code() == ErrorCode::kUnauthenticated) {
    audit::SecurityEvent event;
    event.type = audit::EventType::kUnauthorizedAccess;
    event.severity = audit::Severity::kLow;
    event.request_id = ctx.request_id;
    event.client_ip = ctx.client_ip;
    event.reason = "invalid_token";
    event.attributes = {{"path", req.path}, {"detail", principal.error().detail()}};
    shared.events.Emit(event);
  }
  return answer;
}

}  // namespace

Result<Principal> Authenticated(const Request& req, const RouteShared& shared,
                                const RequestContext& ctx) {
  return *AuthenticatedImpl(req, shared, ctx, /*may_block=*/true);
}

std::optional<Result<Principal>> AuthenticatedFromMemory(const Request& req,
                                                         const RouteShared& shared,
                                                         const RequestContext& ctx) {
  return AuthenticatedImpl(req, shared, ctx, /*may_block=*/false);
}

Result<Principal> SignedIn(const Request& req, const RouteShared& shared, const RequestContext& ctx,
                           std::optional<Response>* refusal) {
  auto principal = Authenticated(req, shared, ctx);
  if (!principal.ok()) return principal;
  Response limited;
  Status s = CheckUserLimit(*principal, shared, &limited, req);
  if (!s.ok()) {
    if (s.error().code() == ErrorCode::kResourceExhausted) *refusal = std::move(limited);
    return std::move(s).error();
  }
  return principal;
}

Result<Caller> SignedInCaller(const Request& req, const RouteShared& shared) {
  Caller caller;
  caller.ctx = ContextOf(req, shared);
  auto principal = SignedIn(req, shared, caller.ctx, &caller.refusal);
  if (caller.refusal) return caller;
  if (!principal.ok()) return std::move(principal).error();
  caller.principal = std::move(*principal);
  return caller;
}

Response GrantAnswer(const TokenGrant& grant, const RouteShared& shared) {
  json::object body;
  body["access_token"] = grant.access.token;
  body["token_type"] = "Bearer";
  body["expires_in"] = shared.tokens.settings().access_ttl.count();
  body["refresh_token"] = grant.refresh_token.reveal();
  Response response = JsonAnswer(200, body);
  response.AddHeader("Set-Cookie",
                     SessionCookie(grant.access.token, shared.options.session_cookie_max_age));
  response.AddHeader("Set-Cookie", RefreshCookie(grant.refresh_token.reveal(),
                                                 shared.options.refresh_cookie_max_age));
  return response;
}

}  // namespace gatehouse::auth
