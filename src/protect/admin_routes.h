#pragma once

// The operator endpoints of the protection features, served on the admin listener only
// (never the public one):
//
//   GET    /v1/admin/blocks             active account locks and IP blocks       200
//   DELETE /v1/admin/blocks/{id}        lift one early                           204
//   GET    /v1/admin/ip-rules           configured and runtime allow/deny rules  200
//   POST   /v1/admin/ip-rules           add a runtime rule {cidr, action, note}  201
//   DELETE /v1/admin/ip-rules/{id}      remove a runtime rule                    204
//
// Every request needs `Authorization: Bearer <admin token>` (compared in constant time);
// a wrong or missing token is a 401 and an `unauthorized_access` event. Every change is an
// `admin_action` event naming what changed, so the audit trail shows who lifted what.
// Answers carry `Cache-Control: no-store`. Locks of accounts are shown by their masked
// email, never the address itself.

#include <functional>
#include <string_view>

#include "audit/events.h"
#include "core/clock.h"
#include "core/secret.h"
#include "core/status.h"
#include "http/router.h"
#include "protect/ip_rules.h"
#include "protect/protect_repository.h"

namespace gatehouse::protect {

struct AdminRoutesDeps {
  ProtectRepository& repository;
  IpRules& rules;
  audit::EventSink& events;
  const Clock& clock;
  Secret token;
  // Ends the live lock or block in the shared state (the brute-force guard).
  std::function<Status(BlockKind kind, std::string_view subject)> lift;
  std::size_t max_body_bytes = 16 * 1024;
};

// Every reference in `deps` must outlive the router.
void AddAdminRoutes(http::Router& router, AdminRoutesDeps deps);

// The admin listener's credential check, for every room that serves admin endpoints: Ok
// when `req` carries `Authorization: Bearer <token>` (compared in constant time), else a
// kUnauthenticated error after an `unauthorized_access` event (`admin_token_invalid`).
Status CheckAdminToken(const http::Request& req, const Secret& token, audit::EventSink& events,
                       const Clock& clock);

}  // namespace gatehouse::protect
