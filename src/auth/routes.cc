#include "auth/routes.h"

#include <memory>

#include <boost/json.hpp>

#include "auth/api_key_routes.h"
#include "auth/oidc_routes.h"
#include "auth/request_traits.h"
#include "auth/route_support.h"
#include "core/mask.h"
#include "http/json_body.h"
#include "http/problem.h"

namespace gatehouse::auth {
namespace {

using http::Method;
using http::Request;
using http::Response;
using http::RouteParams;
namespace json = boost::json;

constexpr std::size_t kMaxDisplayNameBytes = 100;

using Shared = RouteShared;

Status CheckDisplayName(std::string_view name) {
  if (name.empty() || name.size() > kMaxDisplayNameBytes) {
    return InvalidArgument("display_name must be 1 to 100 bytes");
  }
  for (unsigned char ch : name) {
    if (ch < 0x20 || ch == 0x7f) return InvalidArgument("display_name has control characters");
  }
  return Ok();
}

// A 400 problem that names every violated password rule.
Response PolicyProblem(const Request& req, const Error& error, const PolicyFailure& failure) {
  Response response = http::MakeProblem(error, req.request_id, /*verbose=*/false);
  json::object body = json::parse(response.body).as_object();
  json::array violations;
  for (const PolicyViolation& v : failure.violations) {
    violations.push_back(json::object{{"code", v.code}, {"message", v.message}});
  }
  body["violations"] = std::move(violations);
  response.body = json::serialize(body);
  NoStore(response);
  return response;
}

// 200 without a session: the client answers the challenge at POST /v1/auth/mfa/verify.
Response ChallengeAnswer(const SecondFactorChallenge& challenge) {
  json::array methods;
  for (const std::string& m : challenge.methods) methods.emplace_back(m);
  return JsonAnswer(200, json::object{{"mfa_required", true},
                                      {"methods", std::move(methods)},
                                      {"ticket", challenge.ticket.reveal()},
                                      {"expires_in", challenge.expires_in.count()}});
}

Result<Response> Register(Request& req, const Shared& shared) {
  auto body = ReadBody(req, shared);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Required("email", http::JsonType::kString)
                         .Required("password", http::JsonType::kString)
                         .Optional("display_name", http::JsonType::kString)
                         .Optional("phone", http::JsonType::kString)
                         .Check(*body));
  std::optional<std::string> display_name;
  if (body->contains("display_name")) {
    GH_RETURN_IF_ERROR(CheckDisplayName(Text(*body, "display_name")));
    display_name = std::string(Text(*body, "display_name"));
  }
  std::optional<std::string> phone;
  if (body->contains("phone")) {
    GH_RETURN_IF_ERROR(CheckPhone(Text(*body, "phone")));
    phone = std::string(Text(*body, "phone"));
  }

  PolicyFailure failure;
  auto registered =
      shared.service.Register(Text(*body, "email"), Text(*body, "password"),
                              std::move(display_name), std::move(phone), ContextOf(req, shared),
                              &failure);
  if (!registered.ok()) {
    if (!failure.violations.empty()) return PolicyProblem(req, registered.error(), failure);
    return std::move(registered).error();
  }
  return JsonAnswer(201, json::object{{"id", registered->account_id},
                                      {"email", registered->email}});
}

Result<Response> Login(Request& req, const Shared& shared) {
  auto body = ReadBody(req, shared);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Required("email", http::JsonType::kString)
                         .Required("password", http::JsonType::kString)
                         .Optional("captcha", http::JsonType::kObject)
                         .Check(*body));
  std::optional<std::pair<std::string, std::string>> captcha;
  if (const json::value* c = body->if_contains("captcha")) {
    GH_RETURN_IF_ERROR(http::JsonFields()
                           .Required("challenge", http::JsonType::kString)
                           .Required("solution", http::JsonType::kString)
                           .Check(c->as_object()));
    captcha.emplace(Text(c->as_object(), "challenge"), Text(c->as_object(), "solution"));
  }
  const std::string_view email = Text(*body, "email");
  const RequestContext ctx = ContextOf(req, shared);
  const LoginGuard* guard = shared.options.login_guard;
  if (guard == nullptr) {
    auto outcome = shared.service.Login(email, Text(*body, "password"), ctx);
    if (!outcome.ok()) return std::move(outcome).error();
    if (outcome->challenge) return ChallengeAnswer(*outcome->challenge);
    return GrantAnswer(*outcome->grant, shared);
  }

  // The attempt is reserved before the password is checked, so parallel guesses cannot
  // outrun the lock.
  auto begun = guard->Begin(req, email, captcha);
  if (!begun.ok()) return std::move(begun).error();
  if (begun->refusal) return std::move(*begun->refusal);
  auto outcome = shared.service.Login(email, Text(*body, "password"), ctx);
  if (!outcome.ok()) {
    if (outcome.error().code() != ErrorCode::kUnauthenticated) {
      guard->Abandoned(std::move(*begun->attempt));
      return std::move(outcome).error();
    }
    return guard->Failed(req, std::move(*begun->attempt), email, begun->account_key,
                         outcome.error());
  }
  if (outcome->challenge) {
    // The password was right; the device becomes known only once the second factor is in.
    GH_RETURN_IF_ERROR(guard->PasswordAccepted(std::move(*begun->attempt)));
    return ChallengeAnswer(*outcome->challenge);
  }
  auto device_cookie = guard->Succeeded(std::move(*begun->attempt), begun->account_key);
  Response response = GrantAnswer(*outcome->grant, shared);
  // The session stands even if the device cookie could not be made; the next login
  // makes one.
  if (device_cookie.ok()) response.AddHeader("Set-Cookie", std::move(*device_cookie));
  return response;
}

Result<Response> Captcha(Request& req, const Shared& shared) {
  if (shared.options.login_guard == nullptr) {
    return Error(ErrorCode::kNotFound, "no CAPTCHA on this server");
  }
  protect::PowChallenge challenge = shared.options.login_guard->IssueChallenge(req);
  return JsonAnswer(
      200, json::object{{"challenge", challenge.text},
                        {"difficulty_bits", challenge.difficulty_bits},
                        {"expires_at", std::chrono::duration_cast<std::chrono::seconds>(
                                           challenge.expires_at.time_since_epoch())
                                           .count()}});
}

Result<Response> Refresh(Request& req, const Shared& shared) {
  // The token comes from the JSON body, or else from the refresh cookie (browsers).
  std::optional<Secret> token;
  if (!req.body.empty()) {
    auto body = ReadBody(req, shared);
    if (!body.ok()) return std::move(body).error();
    GH_RETURN_IF_ERROR(
        http::JsonFields().Required("refresh_token", http::JsonType::kString).Check(*body));
    token = Secret(Text(*body, "refresh_token"));
  } else if (auto cookie = FindCookie(req, kRefreshCookie)) {
    if (!OriginAllowed(req, shared.options.allowed_origins, shared.options.own_origin)) {
      return Error(ErrorCode::kPermissionDenied, "request origin not allowed");
    }
    token = Secret(*cookie);
  } else {
    return Error(ErrorCode::kUnauthenticated, "refresh token required");
  }
  auto grant = shared.service.Refresh(*token, ContextOf(req, shared));
  if (!grant.ok()) return std::move(grant).error();
  return GrantAnswer(*grant, shared);
}

Result<Response> Logout(Request& req, const Shared& shared) {
  RequestContext ctx = ContextOf(req, shared);
  std::optional<Response> refusal;
  auto principal = SignedIn(req, shared, ctx, &refusal);
  if (refusal) return std::move(*refusal);
  if (!principal.ok()) return std::move(principal).error();
  GH_RETURN_IF_ERROR(shared.service.Logout(*principal, ctx));
  Response response = EmptyAnswer(204);
  response.AddHeader("Set-Cookie", ClearSessionCookie());
  response.AddHeader("Set-Cookie", ClearRefreshCookie());
  return response;
}

// Forward auth with an API key. `may_block` false: from memory only, nullopt when the store
// must be asked (the pipeline then runs the handler on the worker pool).
std::optional<Result<Response>> VerifyKey(Request& req, const Shared& shared,
                                          std::string_view presented, bool may_block) {
  // Two credentials could name two principals; which one a backend trusts must not be a
  // guess, so neither is taken.
  if (BearerToken(req) || FindCookie(req, kSessionCookie)) {
    return Result<Response>(Error(ErrorCode::kUnauthenticated,
                                  "send either an API key or a bearer token or session, not both"));
  }
  RequestContext ctx;
  ctx.request_id = req.request_id;
  ctx.client_ip = req.client_ip;
  std::optional<Result<KeyAuthentication>> auth =
      may_block ? std::optional<Result<KeyAuthentication>>(
                      shared.options.api_keys->Authenticate(presented, ctx))
                : shared.options.api_keys->AuthenticateFromMemory(presented, ctx);
  if (!auth) return std::nullopt;
  if (!auth->ok()) return Result<Response>(std::move(*auth).error());
  return Result<Response>(KeyVerifyAnswer(req, **auth));
}

// Forward auth with a token or the session cookie; `may_block` as for VerifyKey.
std::optional<Result<Response>> VerifyToken(Request& req, const Shared& shared, bool may_block) {
  RequestContext ctx = ContextOf(req, shared);
  std::optional<Result<Principal>> answer =
      may_block ? std::optional<Result<Principal>>(Authenticated(req, shared, ctx))
                : AuthenticatedFromMemory(req, shared, ctx);
  if (!answer) return std::nullopt;
  Result<Principal>& principal = *answer;
  if (!principal.ok()) return Result<Response>(std::move(principal).error());
  std::string methods;
  for (const std::string& m : principal->amr) {
    if (!methods.empty()) methods += ',';
    methods += m;
  }
  Response response = EmptyAnswer(200);
  // The principal is not needed after this, so its strings are moved, not copied.
  response.AddHeader("X-Auth-User", std::move(principal->account_id));
  response.AddHeader("X-Auth-Session", std::move(principal->session_id));
  response.AddHeader("X-Auth-Methods", std::move(methods));
  return Result<Response>(std::move(response));
}

std::optional<Result<Response>> VerifyAny(Request& req, const Shared& shared, bool may_block) {
  if (shared.options.api_keys != nullptr) {
    auto presented = PresentedKey(req, shared.options.api_key_header);
    if (!presented.ok()) return Result<Response>(std::move(presented).error());
    if (*presented) return VerifyKey(req, shared, **presented, may_block);
  }
  return VerifyToken(req, shared, may_block);
}

Result<Response> Verify(Request& req, const Shared& shared) {
  return *VerifyAny(req, shared, /*may_block=*/true);
}

// The I/O thread's attempt (the memory state): answered from memory, or nullopt when the
// store must be asked (a key the cache does not know, a token replayed from another device).
std::optional<Result<Response>> VerifyInline(Request& req, const Shared& shared) {
  return VerifyAny(req, shared, /*may_block=*/false);
}

Result<Response> ChangePassword(Request& req, const Shared& shared) {
  RequestContext ctx = ContextOf(req, shared);
  std::optional<Response> refusal;
  auto principal = SignedIn(req, shared, ctx, &refusal);
  if (refusal) return std::move(*refusal);
  if (!principal.ok()) return std::move(principal).error();
  auto body = ReadBody(req, shared);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Required("current_password", http::JsonType::kString)
                         .Required("new_password", http::JsonType::kString)
                         .Check(*body));
  PolicyFailure failure;
  Status changed = shared.service.ChangePassword(*principal, Text(*body, "current_password"),
                                                 Text(*body, "new_password"), ctx, &failure);
  if (!changed.ok()) {
    if (!failure.violations.empty()) return PolicyProblem(req, changed.error(), failure);
    return std::move(changed).error();
  }
  return EmptyAnswer(204);
}

Result<Response> ListSessions(Request& req, const Shared& shared) {
  RequestContext ctx = ContextOf(req, shared);
  std::optional<Response> refusal;
  auto principal = SignedIn(req, shared, ctx, &refusal);
  if (refusal) return std::move(*refusal);
  if (!principal.ok()) return std::move(principal).error();
  auto sessions = shared.service.ListSessions(*principal);
  if (!sessions.ok()) return std::move(sessions).error();
  json::array list;
  for (const SessionRecord& s : *sessions) {
    list.push_back(json::object{{"id", s.id},
                                {"created_at", s.created_at},
                                {"last_seen_at", s.last_seen_at},
                                {"expires_at", s.absolute_expires_at},
                                {"ip", core::MaskIp(s.client_ip)},
                                {"user_agent", s.user_agent},
                                {"current", s.id == principal->session_id}});
  }
  return JsonAnswer(200, json::object{{"sessions", std::move(list)}});
}

Result<Response> RevokeSession(Request& req, const RouteParams& params, const Shared& shared) {
  RequestContext ctx = ContextOf(req, shared);
  std::optional<Response> refusal;
  auto principal = SignedIn(req, shared, ctx, &refusal);
  if (refusal) return std::move(*refusal);
  if (!principal.ok()) return std::move(principal).error();
  GH_RETURN_IF_ERROR(shared.service.RevokeSession(*principal, params.Get("id").value_or("")));
  return EmptyAnswer(204);
}

Result<Response> RevokeOthers(Request& req, const Shared& shared) {
  RequestContext ctx = ContextOf(req, shared);
  std::optional<Response> refusal;
  auto principal = SignedIn(req, shared, ctx, &refusal);
  if (refusal) return std::move(*refusal);
  if (!principal.ok()) return std::move(principal).error();
  auto revoked = shared.service.RevokeOtherSessions(*principal);
  if (!revoked.ok()) return std::move(revoked).error();
  return JsonAnswer(200, json::object{{"revoked", *revoked}});
}

}  // namespace

void AddAuthRoutes(http::Router& router, AuthService& service, const TokenService& tokens,
                   audit::EventSink& events, AuthRoutesOptions options) {
  auto shared = std::make_shared<Shared>(Shared{service, tokens, events, std::move(options)});
  if (shared->options.mfa != nullptr) AddMfaRoutes(router, shared, *shared->options.mfa);
  if (shared->options.oidc != nullptr) AddOidcRoutes(router, shared, *shared->options.oidc);
  const http::RouteOptions offload{.offload = true, .rate_class = "auth"};
  const http::RouteOptions protected_offload{.offload = true, .rate_class = "protected"};

  router.Add(
      Method::kPost, "/v1/auth/register",
      [shared](Request& req, const RouteParams&) { return Register(req, *shared); },
      http::RouteOptions{.offload = true, .rate_class = "registration"});
  router.Add(
      Method::kPost, "/v1/auth/login",
      [shared](Request& req, const RouteParams&) { return Login(req, *shared); }, offload);
  router.Add(
      Method::kPost, "/v1/auth/captcha",
      [shared](Request& req, const RouteParams&) { return Captcha(req, *shared); },
      http::RouteOptions{.offload = false, .rate_class = "default"});
  router.Add(
      Method::kPost, "/v1/auth/refresh",
      [shared](Request& req, const RouteParams&) { return Refresh(req, *shared); }, offload);
  router.Add(
      Method::kPost, "/v1/auth/logout",
      [shared](Request& req, const RouteParams&) { return Logout(req, *shared); },
      protected_offload);
  // Forward auth. A request carrying an API key is counted per address under "api_key":
  // a service calling with its key is held to its key's limit (checked in the handler, per
  // key) and to that class per address, not to the "protected" class meant for people.
  http::RouteOptions verify_options{.offload = true, .rate_class = "protected"};
  if (shared->options.api_keys != nullptr) {
    verify_options.rate_class_of = [shared](const Request& req) -> std::string_view {
      return req.FindHeader(shared->options.api_key_header) ? "api_key" : "protected";
    };
  }
  // With the memory state, tokens and cached keys are answered on the I/O thread; a key the
  // store must be asked about goes to the worker pool. With Redis everything does.
  if (shared->options.verify_inline) {
    verify_options.try_inline = [shared](Request& req, const RouteParams&) {
      return VerifyInline(req, *shared);
    };
  }
  router.Add(
      Method::kGet, "/v1/auth/verify",
      [shared](Request& req, const RouteParams&) { return Verify(req, *shared); },
      std::move(verify_options));
  router.Add(
      Method::kPost, "/v1/me/password",
      [shared](Request& req, const RouteParams&) { return ChangePassword(req, *shared); },
      offload);
  router.Add(
      Method::kGet, "/v1/me/sessions",
      [shared](Request& req, const RouteParams&) { return ListSessions(req, *shared); },
      protected_offload);
  router.Add(
      Method::kDelete, "/v1/me/sessions/others",
      [shared](Request& req, const RouteParams&) { return RevokeOthers(req, *shared); },
      protected_offload);
  router.Add(
      Method::kDelete, "/v1/me/sessions/{id}",
      [shared](Request& req, const RouteParams& params) {
        return RevokeSession(req, params, *shared);
      },
      protected_offload);
  if (shared->options.api_keys != nullptr) {
    ApiKeyRouteDeps key_deps;
    key_deps.service = shared->options.api_keys;
    key_deps.header = shared->options.api_key_header;
    key_deps.max_body_bytes = shared->options.max_body_bytes;
    key_deps.signed_in = [shared](const Request& req, std::optional<Response>* refusal) {
      return SignedIn(req, *shared, ContextOf(req, *shared), refusal);
    };
    AddApiKeyRoutes(router, std::move(key_deps));
  }
  router.Add(Method::kGet, "/.well-known/jwks.json",
             [shared](Request&, const RouteParams&) -> Result<Response> {
               Response response = Response::Json(200, shared->tokens.PublicJwks());
               // Public keys may be cached briefly; a rotation adds the new key before
               // it signs anything.
               response.AddHeader("Cache-Control", "public, max-age=300");
               return response;
             });
}

}  // namespace gatehouse::auth
