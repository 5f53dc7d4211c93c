#include "cli/oidc_setup.h"

#include "auth/identity_repository.h"
#include "auth/oidc_flow.h"
#include "auth/oidc_provider.h"
#include "http/outbound_client.h"

namespace gatehouse::cli {
namespace {

class Components final : public OidcComponents {
 public:
  Components(store::Store& store, const crypto::KeyRing& keys, state::StateStore& state,
             const Clock& clock, std::chrono::seconds flow_ttl)
      : flows(state, keys, flow_ttl), identities(store, keys, clock) {}

  auth::OidcService& service() override { return *oidc; }

  auth::FlowStore flows;
  auth::IdentityRepository identities;
  std::vector<std::unique_ptr<http::OutboundClient>> clients;
  std::unique_ptr<auth::OidcService> oidc;
};

}  // namespace

Result<std::unique_ptr<OidcComponents>> SetUpOidc(
    const core::Config& config, store::Store& store, const crypto::KeyRing& keys,
    state::StateStore& state, audit::EventSink& events, const Clock& clock,
    auth::AccountRepository& accounts, auth::AuthService& auth, const std::string& own_origin) {
  if (config.oidc.providers.empty()) return std::unique_ptr<OidcComponents>();
  const bool development = config.profile == core::Profile::kDevelopment;
  auto components = std::make_unique<Components>(store, keys, state, clock, config.oidc.flow_ttl);

  auth::OidcParts parts;
  for (const core::OidcProviderConfig& provider : config.oidc.providers) {
    http::OutboundOptions options;
    options.ca_file = provider.ca_file;
    options.pinned_public_keys = provider.pinned_public_keys;
    // The configuration refuses verify_tls = false outside development.
    options.verify_tls = provider.verify_tls || !development;
    options.allow_plain_http = development;
    options.max_response_bytes = auth::kMaxMetadataBytes;
    auto client = http::OutboundClient::Create(options);
    if (!client.ok()) {
      return std::move(client).error().WithContext("oidc.providers[" + provider.id + "]");
    }
    http::OutboundClient* raw = client->get();
    components->clients.push_back(std::move(*client));

    auth::ProviderSettings settings;
    settings.discovery_ttl = config.oidc.discovery_ttl;
    settings.jwks_min_refresh = config.oidc.jwks_min_refresh;
    settings.leeway = config.tokens.leeway;
    settings.id_token_max_age = config.oidc.flow_ttl;
    settings.allow_loopback_http = development;
    parts.providers.emplace(
        provider.id, std::make_unique<auth::ProviderClient>(
                         provider, [raw](const http::OutboundRequest& r) { return raw->Send(r); },
                         clock, settings));
  }
  parts.flows = &components->flows;
  parts.identities = &components->identities;
  parts.accounts = &accounts;
  parts.auth = &auth;
  parts.events = &events;
  parts.clock = &clock;
  parts.return_to = auth::ReturnToPolicy(own_origin, config.oidc.return_to_origins);
  parts.default_return_to = config.oidc.default_return_to;
  components->oidc = std::make_unique<auth::OidcService>(std::move(parts));
  return std::unique_ptr<OidcComponents>(std::move(components));
}

}  // namespace gatehouse::cli
