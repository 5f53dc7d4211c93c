#pragma once

// Builds the protection parts from the configuration: the rate limiter, the request gate
// the pipeline admits every request through, and their housekeeping. Owns what it builds;
// must outlive the pipeline and the server.

#include <memory>
#include <string>
#include <vector>

#include "audit/events.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/status.h"
#include "http/gate.h"
#include "crypto/keyring.h"
#include "http/router.h"
#include "protect/brute_force.h"
#include "protect/device_cookie.h"
#include "protect/ip_rules.h"
#include "protect/pow_captcha.h"
#include "protect/protect_repository.h"
#include "protect/rate_limit.h"
#include "state/state.h"
#include "store/store.h"

namespace gatehouse::cli {

class ProtectParts {
 public:
  virtual ~ProtectParts() = default;
  virtual const http::Gate& gate() const = 0;
  // Null when rate limiting is off.
  virtual protect::RateLimiter* limiter() = 0;
  // The configured classes (empty when rate limiting is off).
  virtual const std::vector<protect::RateLimitClass>& classes() const = 0;
  virtual protect::BruteForceGuard& guard() = 0;
  virtual const protect::PowCaptcha& captcha() const = 0;
  virtual const protect::DeviceCookies& devices() const = 0;
  virtual const protect::IpRules& ip_rules() const = 0;
  virtual protect::ProtectRepository& repository() = 0;
  // Tells the gate's block view that this process blocked an address for `duration`.
  virtual void NoteIpBlock(std::chrono::milliseconds duration) = 0;
  // Adds the operator endpoints (protect/admin_routes.h) to the admin listener's router.
  virtual void AddAdminRoutes(http::Router& router, const Secret& token) = 0;
};

// "a, b,c" -> {"a", "b", "c"}; empty items are dropped.
std::vector<std::string> SplitList(std::string_view text);

// Checks what the loader cannot (CIDR syntax, class specs); for `config check` and serve.
Status ValidateProtectConfig(const core::Config& config);

// Every reference must outlive the returned object.
Result<std::unique_ptr<ProtectParts>> SetUpProtect(const core::Config& config,
                                                   const crypto::KeyRing& keys,
                                                   store::Store& store,
                                                   state::StateStore& state,
                                                   audit::EventSink& events,
                                                   const Clock& clock);

}  // namespace gatehouse::cli
