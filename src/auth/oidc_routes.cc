#include "auth/oidc_routes.h"

#include <memory>

#include <boost/json.hpp>
#include <boost/url/parse_query.hpp>

#include "auth/request_traits.h"
#include "auth/route_support.h"
#include "http/problem.h"

namespace gatehouse::auth {
namespace {

using http::Method;
using http::Request;
using http::Response;
using http::RouteParams;
namespace json = boost::json;

constexpr std::size_t kMaxQueryBytes = 4096;

// Lax, unlike the session cookie: the callback is a top-level navigation coming from the
// provider's site, which a Strict cookie would not accompany. Only the callback reads it.
std::string PreAuthCookie(std::string_view value, std::chrono::seconds max_age) {
  return std::string(kPreAuthCookie) + "=" + std::string(value) +
         "; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=" + std::to_string(max_age.count());
}
std::string ClearPreAuthCookie() {
  return std::string(kPreAuthCookie) + "=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0";
}

// The query parameters this room reads, decoded. A name given twice is refused: which of
// two `state` values counts would otherwise depend on the parser.
Result<std::map<std::string, std::string, std::less<>>> Query(const Request& req) {
  if (req.query.size() > kMaxQueryBytes) return InvalidArgument("query too long");
  auto parsed = boost::urls::parse_query(req.query);
  if (!parsed) return InvalidArgument("query is not well-formed");
  std::map<std::string, std::string, std::less<>> out;
  for (const auto& param : *parsed) {
    std::string key = param.key.decode();
    if (!out.emplace(std::move(key), param.has_value ? param.value.decode() : "").second) {
      return InvalidArgument("a query parameter is repeated");
    }
  }
  return out;
}

std::string_view Param(const std::map<std::string, std::string, std::less<>>& query,
                       std::string_view name) {
  auto it = query.find(name);
  return it == query.end() ? std::string_view() : std::string_view(it->second);
}

Response Problem(const Request& req, const Error& error) {
  Response response = http::MakeProblem(error, req.request_id, /*verbose=*/false);
  NoStore(response);
  response.AddHeader("Set-Cookie", ClearPreAuthCookie());
  return response;
}

Result<Response> Start(Request& req, const RouteParams& params, OidcService& service,
                       const RouteShared& shared) {
  auto query = Query(req);
  if (!query.ok()) return std::move(query).error();
  const RequestContext ctx = ContextOf(req, shared);
  auto started =
      service.Start(params.Get("provider").value_or(""), Param(*query, "return_to"), "", ctx);
  if (!started.ok()) return std::move(started).error();
  Response response;
  response.status = 302;
  response.AddHeader("Location", started->authorization_url);
  response.AddHeader("Set-Cookie", PreAuthCookie(started->pre_auth_cookie.reveal(),
                                                 shared.options.pre_auth_cookie_max_age));
  NoStore(response);
  return response;
}

Result<Response> Callback(Request& req, const RouteParams& params, OidcService& service,
                          const RouteShared& shared) {
  auto query = Query(req);
  if (!query.ok()) return Problem(req, query.error());
  CallbackParams callback;
  callback.code = std::string(Param(*query, "code"));
  callback.state = std::string(Param(*query, "state"));
  callback.error = std::string(Param(*query, "error"));
  callback.iss = std::string(Param(*query, "iss"));
  const std::string cookie = FindCookie(req, kPreAuthCookie).value_or("");

  auto signed_in = service.Callback(params.Get("provider").value_or(""), callback, cookie,
                                    ContextOf(req, shared));
  if (!signed_in.ok()) return Problem(req, signed_in.error());

  // 303: the browser follows with a GET whatever method brought it here.
  Response response;
  response.status = 303;
  response.AddHeader("Set-Cookie", ClearPreAuthCookie());
  if (signed_in->challenge) {
    // The second factor comes first. The ticket rides in the fragment, which browsers never
    // send to a server or put in a Referer; the page at return_to reads it and posts it to
    // /v1/auth/mfa/verify with the code. It is single use, short-lived and bound to this
    // device.
    const SecondFactorChallenge& challenge = *signed_in->challenge;
    std::string methods;
    for (const std::string& m : challenge.methods) methods += (methods.empty() ? "" : ",") + m;
    response.AddHeader("Location",
                       signed_in->return_to + "#mfa_required=true&mfa_ticket=" +
                           std::string(challenge.ticket.reveal()) + "&mfa_methods=" + methods +
                           "&expires_in=" + std::to_string(challenge.expires_in.count()));
  } else {
    response.AddHeader("Location", signed_in->return_to);
  }
  if (signed_in->grant) {
    const TokenGrant& grant = *signed_in->grant;
    response.AddHeader("Set-Cookie",
                       SessionCookie(grant.access.token, shared.options.session_cookie_max_age));
    response.AddHeader("Set-Cookie", RefreshCookie(grant.refresh_token.reveal(),
                                                   shared.options.refresh_cookie_max_age));
  }
  NoStore(response);
  return response;
}

Result<Response> Link(Request& req, const RouteParams& params, OidcService& service,
                      const RouteShared& shared) {
  auto caller = SignedInCaller(req, shared);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  const Principal& principal = *caller->principal;
  const RequestContext& ctx = caller->ctx;
  auto query = Query(req);
  if (!query.ok()) return std::move(query).error();
  auto started = service.Start(params.Get("provider").value_or(""), Param(*query, "return_to"),
                               principal.account_id, ctx);
  if (!started.ok()) return std::move(started).error();
  Response response =
      JsonAnswer(200, json::object{{"authorization_url", started->authorization_url}});
  response.AddHeader("Set-Cookie", PreAuthCookie(started->pre_auth_cookie.reveal(),
                                                 shared.options.pre_auth_cookie_max_age));
  return response;
}

Result<Response> List(Request& req, const RouteParams&, OidcService& service,
                      const RouteShared& shared) {
  auto caller = SignedInCaller(req, shared);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  const Principal& principal = *caller->principal;
  auto linked = service.Linked(principal.account_id);
  if (!linked.ok()) return std::move(linked).error();
  json::array list;
  for (const Identity& identity : *linked) {
    list.push_back(json::object{{"provider", identity.provider},
                                {"linked_at", identity.created_at},
                                {"last_login_at", identity.last_login_at},
                                {"has_refresh_token", identity.has_refresh_token}});
  }
  return JsonAnswer(200, json::object{{"providers", std::move(list)}});
}

Result<Response> Unlink(Request& req, const RouteParams& params, OidcService& service,
                        const RouteShared& shared) {
  auto caller = SignedInCaller(req, shared);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  const Principal& principal = *caller->principal;
  const RequestContext& ctx = caller->ctx;
  GH_RETURN_IF_ERROR(
      service.Unlink(principal.account_id, params.Get("provider").value_or(""), ctx));
  return EmptyAnswer(204);
}

Result<Response> ProviderToken(Request& req, const RouteParams& params, OidcService& service,
                               const RouteShared& shared) {
  auto caller = SignedInCaller(req, shared);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  const Principal& principal = *caller->principal;
  auto token = service.ProviderToken(principal.account_id, params.Get("provider").value_or(""));
  if (!token.ok()) return std::move(token).error();
  json::object body{{"access_token", token->access_token.reveal()}, {"token_type", "Bearer"}};
  if (token->expires_at != 0) body["expires_at"] = token->expires_at;
  return JsonAnswer(200, body);
}

}  // namespace

void AddOidcRoutes(http::Router& router, std::shared_ptr<const RouteShared> shared,
                   OidcService& oidc) {
  OidcService* service = &oidc;
  // Starts and callbacks cost a provider round trip each: the auth class's limit.
  const http::RouteOptions auth{.offload = true, .rate_class = "auth"};
  const http::RouteOptions signed_in{.offload = true, .rate_class = "protected"};

  using Handler = Result<Response> (*)(Request&, const RouteParams&, OidcService&,
                                       const RouteShared&);
  auto add = [&](Method method, std::string path, Handler handler,
                 const http::RouteOptions& options) {
    router.Add(
        method, std::move(path),
        [service, shared, handler](Request& req, const RouteParams& p) {
          return handler(req, p, *service, *shared);
        },
        options);
  };
  add(Method::kGet, "/v1/auth/oidc/{provider}/start", Start, auth);
  add(Method::kGet, "/v1/auth/oidc/{provider}/callback", Callback, auth);
  add(Method::kGet, "/v1/me/providers", List, signed_in);
  add(Method::kPost, "/v1/me/providers/{provider}/link", Link, signed_in);
  add(Method::kDelete, "/v1/me/providers/{provider}", Unlink, signed_in);
  add(Method::kGet, "/v1/me/providers/{provider}/token", ProviderToken, signed_in);
}

}  // namespace gatehouse::auth
