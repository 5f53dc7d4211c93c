#include "protect/admin_routes.h"

#include <memory>

#include <boost/json.hpp>

#include "core/mask.h"
#include "crypto/constant_time.h"
#include "http/json_body.h"

namespace gatehouse::protect {
namespace {

using http::Method;
using http::Request;
using http::Response;
using http::RouteParams;
namespace json = boost::json;

constexpr std::string_view kActor = "admin";

Response JsonAnswer(int status, const json::object& body) {
  Response response = Response::Json(status, json::serialize(body));
  response.AddHeader("Cache-Control", "no-store");
  return response;
}

Response Empty(int status) {
  Response response;
  response.status = status;
  response.AddHeader("Cache-Control", "no-store");
  return response;
}

audit::SecurityEvent EventFor(const Request& req, const AdminRoutesDeps& deps,
                              audit::EventType type, std::string reason) {
  audit::SecurityEvent event;
  event.type = type;
  event.severity = type == audit::EventType::kAdminAction ? audit::Severity::kMedium
                                                          : audit::Severity::kHigh;
  event.time = deps.clock.Now();
  event.request_id = req.request_id;
  event.client_ip = req.client_ip;
  event.reason = std::move(reason);
  return event;
}

Status CheckToken(const Request& req, const AdminRoutesDeps& deps) {
  return CheckAdminToken(req, deps.token, deps.events, deps.clock);
}

void AdminAction(const Request& req, const AdminRoutesDeps& deps, std::string reason,
                 std::vector<std::pair<std::string, std::string>> attributes) {
  audit::SecurityEvent event =
      EventFor(req, deps, audit::EventType::kAdminAction, std::move(reason));
  event.attributes = std::move(attributes);
  event.attributes.emplace_back("actor", kActor);
  deps.events.Emit(event);
}

json::object BlockJson(const BlockRecord& block) {
  json::object o{{"id", block.id},
                 {"kind", BlockKindName(block.kind)},
                 {"label", block.label},
                 {"until_ms", block.until_ms},
                 {"created_ms", block.created_ms}};
  return o;
}

json::object RuleJson(const IpRule& rule) {
  return json::object{{"cidr", ToString(rule.cidr)}, {"action", IpRuleActionName(rule.action)}};
}

Result<Response> ListBlocks(const Request& req, const AdminRoutesDeps& deps) {
  GH_RETURN_IF_ERROR(CheckToken(req, deps));
  std::optional<BlockKind> kind;
  if (!req.query.empty()) {
    if (!req.query.starts_with("kind=")) {
      return InvalidArgument("unknown query parameter", "only kind=account|ip is accepted");
    }
    kind = ParseBlockKind(req.query.substr(5));
    if (!kind) return InvalidArgument("kind must be account or ip");
  }
  auto blocks = deps.repository.ListActiveBlocks(kind);
  if (!blocks.ok()) return std::move(blocks).error();
  json::array list;
  for (const BlockRecord& block : *blocks) list.push_back(BlockJson(block));
  AdminAction(req, deps, "blocks_listed", {{"count", std::to_string(blocks->size())}});
  return JsonAnswer(200, json::object{{"blocks", std::move(list)}});
}

Result<Response> LiftBlock(const Request& req, const RouteParams& params,
                           const AdminRoutesDeps& deps) {
  GH_RETURN_IF_ERROR(CheckToken(req, deps));
  const std::string_view id = params.Get("id").value_or("");
  auto lifted = deps.repository.MarkLifted(id, kActor);
  if (!lifted.ok()) return std::move(lifted).error();
  if (!*lifted) return Error(ErrorCode::kNotFound, "no active block with this id");
  GH_RETURN_IF_ERROR(deps.lift((*lifted)->kind, (*lifted)->subject));
  AdminAction(req, deps, "block_lifted",
              {{"block_id", (*lifted)->id},
               {"kind", std::string(BlockKindName((*lifted)->kind))},
               {"label", (*lifted)->label}});
  return Empty(204);
}

Result<Response> ListRules(const Request& req, const AdminRoutesDeps& deps) {
  GH_RETURN_IF_ERROR(CheckToken(req, deps));
  json::array configured;
  for (const Cidr& cidr : deps.rules.configured().allow) {
    configured.push_back(RuleJson({cidr, IpRuleAction::kAllow}));
  }
  for (const Cidr& cidr : deps.rules.configured().deny) {
    configured.push_back(RuleJson({cidr, IpRuleAction::kDeny}));
  }
  auto records = deps.repository.ListRules();
  if (!records.ok()) return std::move(records).error();
  json::array runtime;
  for (const IpRuleRecord& r : *records) {
    json::object o = RuleJson(r.rule);
    o["id"] = r.id;
    o["note"] = r.note;
    o["created_ms"] = r.created_ms;
    o["created_by"] = r.created_by;
    runtime.push_back(std::move(o));
  }
  AdminAction(req, deps, "ip_rules_listed", {{"count", std::to_string(records->size())}});
  return JsonAnswer(200, json::object{{"configured", std::move(configured)},
                                      {"runtime", std::move(runtime)}});
}

Result<Response> AddRule(const Request& req, const AdminRoutesDeps& deps) {
  GH_RETURN_IF_ERROR(CheckToken(req, deps));
  http::JsonLimits limits;
  limits.max_body_bytes = deps.max_body_bytes;
  auto body = http::ParseJsonObject(req, limits);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Required("cidr", http::JsonType::kString)
                         .Required("action", http::JsonType::kString)
                         .Optional("note", http::JsonType::kString)
                         .Check(*body));
  NewIpRule rule;
  rule.cidr = std::string(body->at("cidr").as_string());
  std::optional<IpRuleAction> action = ParseIpRuleAction(body->at("action").as_string());
  if (!action) return InvalidArgument("action must be allow or deny");
  rule.action = *action;
  if (const json::value* note = body->if_contains("note")) {
    rule.note = std::string(note->as_string());
  }
  rule.created_by = std::string(kActor);
  auto added = deps.repository.AddRule(rule);
  if (!added.ok()) return std::move(added).error();
  // In force here at once; other instances reload within ip_lists.reload_interval_s.
  auto reloaded = ReloadIpRules(deps.repository, deps.rules);
  if (!reloaded.ok()) return std::move(reloaded).error();
  AdminAction(req, deps, "ip_rule_added",
              {{"rule_id", added->id},
               {"cidr", ToString(added->rule.cidr)},
               {"action", std::string(IpRuleActionName(added->rule.action))}});
  json::object answer = RuleJson(added->rule);
  answer["id"] = added->id;
  answer["note"] = added->note;
  answer["created_ms"] = added->created_ms;
  return JsonAnswer(201, answer);
}

Result<Response> RemoveRule(const Request& req, const RouteParams& params,
                            const AdminRoutesDeps& deps) {
  GH_RETURN_IF_ERROR(CheckToken(req, deps));
  auto removed = deps.repository.RemoveRule(params.Get("id").value_or(""));
  if (!removed.ok()) return std::move(removed).error();
  if (!*removed) return Error(ErrorCode::kNotFound, "no rule with this id");
  auto reloaded = ReloadIpRules(deps.repository, deps.rules);
  if (!reloaded.ok()) return std::move(reloaded).error();
  AdminAction(req, deps, "ip_rule_removed",
              {{"rule_id", (*removed)->id}, {"cidr", ToString((*removed)->rule.cidr)}});
  return Empty(204);
}

}  // namespace

// The bearer token must equal the configured one; the comparison takes the same time
// whatever the bytes, and a missing header is compared like a wrong one.
Status CheckAdminToken(const http::Request& req, const Secret& token, audit::EventSink& events,
                       const Clock& clock) {
  std::string_view header = req.FindHeader("Authorization").value_or("");
  std::string_view presented;
  if (header.size() > 7 && (header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer ")) {
    presented = header.substr(7);
  }
  if (crypto::ConstantTimeEquals(presented, token.reveal()) && !presented.empty()) {
    return Ok();
  }
  audit::SecurityEvent event;
  event.type = audit::EventType::kUnauthorizedAccess;
  event.severity = audit::Severity::kHigh;
  event.time = clock.Now();
  event.request_id = req.request_id;
  event.client_ip = req.client_ip;
  event.reason = "admin_token_invalid";
  event.attributes = {{"path", req.path}};
  events.Emit(event);
  return Error(ErrorCode::kUnauthenticated, "admin token required");
}

void AddAdminRoutes(http::Router& router, AdminRoutesDeps deps) {
  auto shared = std::make_shared<AdminRoutesDeps>(std::move(deps));
  const http::RouteOptions offload{.offload = true, .rate_class = "default"};
  router.Add(
      Method::kGet, "/v1/admin/blocks",
      [shared](Request& req, const RouteParams&) { return ListBlocks(req, *shared); }, offload);
  router.Add(
      Method::kDelete, "/v1/admin/blocks/{id}",
      [shared](Request& req, const RouteParams& p) { return LiftBlock(req, p, *shared); },
      offload);
  router.Add(
      Method::kGet, "/v1/admin/ip-rules",
      [shared](Request& req, const RouteParams&) { return ListRules(req, *shared); }, offload);
  router.Add(
      Method::kPost, "/v1/admin/ip-rules",
      [shared](Request& req, const RouteParams&) { return AddRule(req, *shared); }, offload);
  router.Add(
      Method::kDelete, "/v1/admin/ip-rules/{id}",
      [shared](Request& req, const RouteParams& p) { return RemoveRule(req, p, *shared); },
      offload);
}

}  // namespace gatehouse::protect
