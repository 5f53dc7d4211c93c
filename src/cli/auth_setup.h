#pragma once

// Builds the accounts, tokens and sessions parts from the configuration and adds their
// routes. Owns what it builds; must outlive the server that serves the routes.

#include <memory>

#include "audit/events.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/status.h"
#include "crypto/keyring.h"
#include "cli/protect_setup.h"
#include "http/router.h"
#include "state/state.h"
#include "store/store.h"

namespace gatehouse::cli {

class AuthComponents {
 public:
  virtual ~AuthComponents() = default;
  // Adds the API key and service account endpoints for operators (auth/api_key_routes.h)
  // to the admin listener's router; nothing when API keys are off.
  virtual void AddAdminRoutes(http::Router& router, const Secret& token) = 0;
};

// The shared state the configuration asks for (memory or Redis).
Result<std::unique_ptr<state::StateStore>> OpenConfiguredState(const core::Config& config,
                                                               const Clock& clock);

// Every reference must outlive the returned object.
Result<std::unique_ptr<AuthComponents>> SetUpAuth(const core::Config& config,
                                                  store::Store& store,
                                                  const crypto::KeyRing& keys,
                                                  state::StateStore& state,
                                                  audit::EventSink& events, const Clock& clock,
                                                  ProtectParts& protect, http::Router& router);

}  // namespace gatehouse::cli
