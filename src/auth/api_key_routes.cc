#include "auth/api_key_routes.h"

#include <memory>

#include <boost/json.hpp>

#include "auth/route_support.h"
#include "http/json_body.h"
#include "http/problem.h"
#include "protect/rate_limit.h"

namespace gatehouse::auth {
namespace {

using http::Method;
using http::Request;
using http::Response;
using http::RouteParams;
namespace json = boost::json;

RequestContext ContextOf(const Request& req) {
  RequestContext ctx;
  ctx.request_id = req.request_id;
  ctx.client_ip = req.client_ip;
  return ctx;
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json::value OptionalInt(const std::optional<std::int64_t>& value) {
  if (!value) return nullptr;
  return *value;
}

json::value OptionalText(const std::string& text) {
  if (text.empty()) return nullptr;
  return json::string(text);
}

std::string_view StatusOf(const ApiKeyRecord& key, std::int64_t now) {
  if (key.revoked_at) return "revoked";
  if (now >= key.EndsAt()) return "expired";
  if (key.grace_until) return "rotated";
  return "active";
}

json::object KeyJson(const ApiKeyRecord& key, std::int64_t now) {
  json::array scopes;
  for (const std::string& scope : key.scopes) scopes.emplace_back(scope);
  return json::object{
      {"id", key.id},
      {"prefix", key.prefix},
      {"name", key.name},
      {"scopes", std::move(scopes)},
      {"owner", json::object{{"type", OwnerKindName(key.owner_kind)}, {"id", key.owner_id}}},
      {"status", StatusOf(key, now)},
      {"created_at", key.created_at},
      {"expires_at", key.expires_at},
      {"grace_until", OptionalInt(key.grace_until)},
      {"rotated_from", OptionalText(key.rotated_from)},
      {"rotated_to", OptionalText(key.rotated_to)},
      {"revoked_at", OptionalInt(key.revoked_at)},
      {"rate_limit", OptionalText(key.rate_limit)},
      // The last network only (/24, /48): an address is personal data and the view needs no
      // more (docs/api-keys.md).
      {"usage", json::object{{"request_count", key.usage_count},
                             {"last_used_at", OptionalInt(key.last_used_at)},
                             {"last_ip", OptionalText(key.last_ip)}}},
  };
}

json::object IssuedJson(const IssuedApiKey& issued) {
  json::object body = KeyJson(issued.record, issued.record.created_at);
  body["key"] = issued.key.reveal();
  return body;
}

json::object ServiceAccountJson(const ServiceAccount& account) {
  return json::object{
      {"id", account.id},
      {"name", account.name},
      {"description", account.description},
      {"owner_account_id", account.owner_account_id
                               ? json::value(json::string(*account.owner_account_id))
                               : json::value(nullptr)},
      {"created_at", account.created_at},
      {"disabled_at", OptionalInt(account.disabled_at)}};
}

Result<json::object> ReadBody(const Request& req, std::size_t max_body_bytes) {
  http::JsonLimits limits;
  limits.max_body_bytes = max_body_bytes;
  return http::ParseJsonObject(req, limits);
}

Status NoQuery(const Request& req) {
  if (req.query.empty()) return Ok();
  return InvalidArgument("this endpoint takes no query parameters");
}

std::string Text(const json::object& body, std::string_view key) {
  const json::value* v = body.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// ---- the handlers, shared by both listeners once the actor is known ------------------------

Result<Response> CreateKey(const Request& req, ApiKeyService& service, const KeyActor& actor,
                           std::size_t max_body_bytes) {
  auto body = ReadBody(req, max_body_bytes);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Required("name", http::JsonType::kString)
                         .Optional("scopes", http::JsonType::kArray)
                         .Optional("expires_in_s", http::JsonType::kInteger)
                         .Optional("service_account_id", http::JsonType::kString)
                         .Optional("rate_limit", http::JsonType::kString)
                         .Check(*body));
  NewKeyRequest request;
  request.name = Text(*body, "name");
  if (const json::value* scopes = body->if_contains("scopes")) {
    for (const json::value& scope : scopes->as_array()) {
      if (!scope.is_string()) return InvalidArgument("scopes must be an array of strings");
      request.scopes.emplace_back(scope.as_string());
    }
  }
  if (const json::value* lifetime = body->if_contains("expires_in_s")) {
    request.lifetime = std::chrono::seconds(lifetime->as_int64());
  }
  if (body->contains("service_account_id")) {
    request.service_account_id = Text(*body, "service_account_id");
  }
  if (body->contains("rate_limit")) request.rate_limit = Text(*body, "rate_limit");

  auto issued = service.Create(actor, request);
  if (!issued.ok()) return std::move(issued).error();
  return JsonAnswer(201, IssuedJson(*issued));
}

Result<Response> ListKeys(const Request& req, ApiKeyService& service, const KeyActor& actor) {
  GH_RETURN_IF_ERROR(NoQuery(req));
  auto keys = service.List(actor);
  if (!keys.ok()) return std::move(keys).error();
  const std::int64_t now = UnixNow();
  json::array list;
  for (const ApiKeyRecord& key : *keys) list.push_back(KeyJson(key, now));
  return JsonAnswer(200, json::object{{"api_keys", std::move(list)}});
}

Result<Response> RevokeKey(const RouteParams& params, ApiKeyService& service,
                           const KeyActor& actor) {
  GH_RETURN_IF_ERROR(service.Revoke(actor, params.Get("id").value_or("")));
  return EmptyAnswer(204);
}

Result<Response> RotateKey(const Request& req, const RouteParams& params, ApiKeyService& service,
                           const KeyActor& actor) {
  // The successor copies everything from the old key; a body would have nothing to say.
  if (!req.body.empty()) return InvalidArgument("rotate takes no request body");
  auto rotation = service.Rotate(actor, params.Get("id").value_or(""));
  if (!rotation.ok()) return std::move(rotation).error();
  json::object body = IssuedJson(rotation->successor);
  body["replaces"] =
      json::object{{"id", rotation->replaced_id}, {"ends_at", rotation->replaced_ends_at}};
  return JsonAnswer(201, body);
}

Result<Response> CreateServiceAccount(const Request& req, ApiKeyService& service,
                                      const KeyActor& actor, std::size_t max_body_bytes) {
  auto body = ReadBody(req, max_body_bytes);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Required("name", http::JsonType::kString)
                         .Optional("description", http::JsonType::kString)
                         .Check(*body));
  auto created =
      service.CreateServiceAccount(actor, Text(*body, "name"), Text(*body, "description"));
  if (!created.ok()) return std::move(created).error();
  return JsonAnswer(201, ServiceAccountJson(*created));
}

Result<Response> ListServiceAccounts(const Request& req, ApiKeyService& service,
                                     const KeyActor& actor) {
  GH_RETURN_IF_ERROR(NoQuery(req));
  auto accounts = service.ListServiceAccounts(actor);
  if (!accounts.ok()) return std::move(accounts).error();
  json::array list;
  for (const ServiceAccount& account : *accounts) list.push_back(ServiceAccountJson(account));
  return JsonAnswer(200, json::object{{"service_accounts", std::move(list)}});
}

Result<Response> DisableServiceAccount(const RouteParams& params, ApiKeyService& service,
                                       const KeyActor& actor) {
  GH_RETURN_IF_ERROR(service.DisableServiceAccount(actor, params.Get("id").value_or("")));
  return EmptyAnswer(204);
}

// ---- the public listener -------------------------------------------------------------------

// Runs `handler` for the signed-in user of `req`.
template <typename Handler>
Result<Response> AsUser(const Request& req, const ApiKeyRouteDeps& deps, Handler handler) {
  std::optional<Response> refusal;
  auto principal = deps.signed_in(req, &refusal);
  if (refusal) return std::move(*refusal);
  if (!principal.ok()) return std::move(principal).error();
  KeyActor actor;
  actor.account_id = principal->account_id;
  actor.context = ContextOf(req);
  return handler(actor);
}

Result<Response> SelfKey(const Request& req, const ApiKeyRouteDeps& deps) {
  GH_RETURN_IF_ERROR(NoQuery(req));
  auto presented = PresentedKey(req, deps.header);
  if (!presented.ok()) return std::move(presented).error();
  if (!*presented) {
    return Error(ErrorCode::kUnauthenticated, "this endpoint needs an API key in " + deps.header);
  }
  auto auth = deps.service->Authenticate(**presented, ContextOf(req));
  if (!auth.ok()) return std::move(auth).error();
  if (auth->limited) return KeyVerifyAnswer(req, *auth);
  const CachedApiKey& key = *auth->key;
  json::array scopes;
  for (const std::string& scope : SplitScopes(key.scopes)) scopes.emplace_back(scope);
  return JsonAnswer(200,
                    json::object{{"id", key.id},
                                 {"prefix", key.prefix},
                                 {"owner", json::object{{"type", OwnerKindName(key.owner_kind)},
                                                        {"id", key.owner_id}}},
                                 {"scopes", std::move(scopes)},
                                 {"expires_at", key.expires_at},
                                 {"ends_at", key.EndsAt()},
                                 {"grace_until", OptionalInt(key.grace_until)}});
}

// ---- the admin listener --------------------------------------------------------------------

void AdminAction(const Request& req, const ApiKeyAdminRouteDeps& deps, std::string reason,
                 std::vector<std::pair<std::string, std::string>> attributes) {
  audit::SecurityEvent event;
  event.type = audit::EventType::kAdminAction;
  event.severity = audit::Severity::kMedium;
  event.time = deps.clock->Now();
  event.request_id = req.request_id;
  event.client_ip = req.client_ip;
  event.reason = std::move(reason);
  event.attributes = std::move(attributes);
  event.attributes.emplace_back("actor", std::string(kAdminActor));
  deps.events->Emit(event);
}

// Runs `handler` as the admin, and records the use when it succeeded.
template <typename Handler>
Result<Response> AsAdmin(const Request& req, const ApiKeyAdminRouteDeps& deps,
                         std::string_view action, std::string_view target, Handler handler) {
  GH_RETURN_IF_ERROR(deps.check_admin(req));
  KeyActor actor;
  actor.admin = true;
  actor.context = ContextOf(req);
  Result<Response> answer = handler(actor);
  if (answer.ok()) {
    std::vector<std::pair<std::string, std::string>> attributes;
    if (!target.empty()) attributes.emplace_back("target_id", std::string(target));
    AdminAction(req, deps, std::string(action), std::move(attributes));
  }
  return answer;
}

}  // namespace

Result<std::optional<std::string_view>> PresentedKey(const http::Request& req,
                                                     std::string_view header) {
  std::optional<std::string_view> found;
  for (const http::Header& h : req.headers) {
    if (!http::EqualsIgnoreCase(h.name, header)) continue;
    if (found) {
      return Error(ErrorCode::kUnauthenticated, "the request carries more than one API key");
    }
    found = h.value;
  }
  return found;
}

bool LooksLikeApiKey(std::string_view token) {
  return token.starts_with(ApiKeyPrefix(KeyEnvironment::kLive)) ||
         token.starts_with(ApiKeyPrefix(KeyEnvironment::kTest));
}

http::Response KeyVerifyAnswer(const http::Request& req, const KeyAuthentication& auth) {
  if (auth.limited) {
    Response refusal = http::MakeStatusProblem(429, req.request_id);
    const protect::AppliedLimit applied[] = {{&auth.limit_class, auth.decision}};
    for (auto& [name, value] : protect::RateLimitHeaders(applied)) {
      refusal.AddHeader(std::move(name), std::move(value));
    }
    return refusal;
  }
  const CachedApiKey& key = *auth.key;
  Response response = EmptyAnswer(200);
  response.AddHeader("X-Auth-User", key.owner_id);
  response.AddHeader("X-Auth-Owner-Type", std::string(OwnerKindName(key.owner_kind)));
  response.AddHeader("X-Auth-Key-Id", key.id);
  response.AddHeader("X-Auth-Scopes", key.scopes);
  response.AddHeader("X-Auth-Methods", "api_key");
  return response;
}

void AddApiKeyRoutes(http::Router& router, ApiKeyRouteDeps deps) {
  auto d = std::make_shared<ApiKeyRouteDeps>(std::move(deps));
  const http::RouteOptions offload{.offload = true, .rate_class = "protected"};

  router.Add(
      Method::kPost, "/v1/apikeys",
      [d](Request& req, const RouteParams&) {
        return AsUser(req, *d, [&](const KeyActor& actor) {
          return CreateKey(req, *d->service, actor, d->max_body_bytes);
        });
      },
      offload);
  router.Add(
      Method::kGet, "/v1/apikeys",
      [d](Request& req, const RouteParams&) {
        return AsUser(req, *d,
                      [&](const KeyActor& actor) { return ListKeys(req, *d->service, actor); });
      },
      offload);
  router.Add(
      Method::kGet, "/v1/apikeys/self",
      [d](Request& req, const RouteParams&) { return SelfKey(req, *d); },
      http::RouteOptions{.offload = true, .rate_class = "api_key"});
  router.Add(
      Method::kDelete, "/v1/apikeys/{id}",
      [d](Request& req, const RouteParams& params) {
        return AsUser(req, *d,
                      [&](const KeyActor& actor) { return RevokeKey(params, *d->service, actor); });
      },
      offload);
  router.Add(
      Method::kPost, "/v1/apikeys/{id}/rotate",
      [d](Request& req, const RouteParams& params) {
        return AsUser(req, *d, [&](const KeyActor& actor) {
          return RotateKey(req, params, *d->service, actor);
        });
      },
      offload);
  router.Add(
      Method::kPost, "/v1/service-accounts",
      [d](Request& req, const RouteParams&) {
        return AsUser(req, *d, [&](const KeyActor& actor) {
          return CreateServiceAccount(req, *d->service, actor, d->max_body_bytes);
        });
      },
      offload);
  router.Add(
      Method::kGet, "/v1/service-accounts",
      [d](Request& req, const RouteParams&) {
        return AsUser(req, *d, [&](const KeyActor& actor) {
          return ListServiceAccounts(req, *d->service, actor);
        });
      },
      offload);
  router.Add(
      Method::kDelete, "/v1/service-accounts/{id}",
      [d](Request& req, const RouteParams& params) {
        return AsUser(req, *d, [&](const KeyActor& actor) {
          return DisableServiceAccount(params, *d->service, actor);
        });
      },
      offload);
}

void AddApiKeyAdminRoutes(http::Router& router, ApiKeyAdminRouteDeps deps) {
  auto d = std::make_shared<ApiKeyAdminRouteDeps>(std::move(deps));
  const http::RouteOptions offload{.offload = true, .rate_class = "default"};

  router.Add(
      Method::kPost, "/v1/apikeys",
      [d](Request& req, const RouteParams&) {
        return AsAdmin(req, *d, "api_key_created", "", [&](const KeyActor& actor) {
          return CreateKey(req, *d->service, actor, d->max_body_bytes);
        });
      },
      offload);
  router.Add(
      Method::kGet, "/v1/apikeys",
      [d](Request& req, const RouteParams&) {
        return AsAdmin(req, *d, "api_keys_listed", "",
                       [&](const KeyActor& actor) { return ListKeys(req, *d->service, actor); });
      },
      offload);
  router.Add(
      Method::kDelete, "/v1/apikeys/{id}",
      [d](Request& req, const RouteParams& params) {
        return AsAdmin(
            req, *d, "api_key_revoked", params.Get("id").value_or(""),
            [&](const KeyActor& actor) { return RevokeKey(params, *d->service, actor); });
      },
      offload);
  router.Add(
      Method::kPost, "/v1/apikeys/{id}/rotate",
      [d](Request& req, const RouteParams& params) {
        return AsAdmin(
            req, *d, "api_key_rotated", params.Get("id").value_or(""),
            [&](const KeyActor& actor) { return RotateKey(req, params, *d->service, actor); });
      },
      offload);
  router.Add(
      Method::kPost, "/v1/service-accounts",
      [d](Request& req, const RouteParams&) {
        return AsAdmin(req, *d, "service_account_created", "", [&](const KeyActor& actor) {
          return CreateServiceAccount(req, *d->service, actor, d->max_body_bytes);
        });
      },
      offload);
  router.Add(
      Method::kGet, "/v1/service-accounts",
      [d](Request& req, const RouteParams&) {
        return AsAdmin(req, *d, "service_accounts_listed", "", [&](const KeyActor& actor) {
          return ListServiceAccounts(req, *d->service, actor);
        });
      },
      offload);
  router.Add(
      Method::kDelete, "/v1/service-accounts/{id}",
      [d](Request& req, const RouteParams& params) {
        return AsAdmin(req, *d, "service_account_disabled", params.Get("id").value_or(""),
                       [&](const KeyActor& actor) {
                         return DisableServiceAccount(params, *d->service, actor);
                       });
      },
      offload);
}

}  // namespace gatehouse::auth
