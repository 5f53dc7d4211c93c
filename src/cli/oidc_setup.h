#pragma once

// Builds sign-in with OpenID providers from [oidc] and [[oidc.providers]]: one outbound
// HTTPS client per provider (its CA file, key pins and TLS rules), the provider clients,
// the flow store and the identity links. Null when no provider is configured.

#include <memory>
#include <string>

#include "audit/events.h"
#include "auth/account_repository.h"
#include "auth/auth_service.h"
#include "auth/oidc_service.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/status.h"
#include "crypto/keyring.h"
#include "state/state.h"
#include "store/store.h"

namespace gatehouse::cli {

class OidcComponents {
 public:
  virtual ~OidcComponents() = default;
  virtual auth::OidcService& service() = 0;
};

// Every reference must outlive the returned object. `own_origin` is this service's
// "https://host[:port]", always allowed as a return_to origin.
Result<std::unique_ptr<OidcComponents>> SetUpOidc(
    const core::Config& config, store::Store& store, const crypto::KeyRing& keys,
    state::StateStore& state, audit::EventSink& events, const Clock& clock,
    auth::AccountRepository& accounts, auth::AuthService& auth, const std::string& own_origin);

}  // namespace gatehouse::cli
