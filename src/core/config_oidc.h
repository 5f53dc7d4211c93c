#pragma once

// Internal to the configuration loader (config.cc): the [[oidc.providers]] tables. Unlike
// the fixed sections of config_keys.h, providers are a list the operator extends, so they
// have their own small reader, checks and renderer. Every problem text starts with the
// provider's path, "oidc.providers[google].issuer: ...", or "oidc.providers[#2]" while the
// table has no valid id.

#include <toml++/toml.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/config_keys.h"

namespace gatehouse::core::config_internal {

// Reads the array of tables under oidc.providers into config.oidc.providers. Needs
// config.profile (development may use plain-HTTP loopback issuers and turn off TLS
// verification). Problems go to `errors`.
void ApplyOidcProviders(const toml::node& node, const Origin& origin, Config& config,
                        std::vector<std::string>& errors);

// GATEHOUSE_OIDC_<ID>_CLIENT_SECRET: the variable that can carry provider `id`'s secret
// (with _FILE: a file holding it).
std::string OidcSecretVar(std::string_view id);

// "oidc.providers[<id>]".
std::string OidcProviderPath(const OidcProviderConfig& provider);

// Checks that need the secrets loaded: every provider has its client secret.
void CheckOidcProviders(const Config& config, std::vector<std::string>& errors);

// The providers as [[oidc.providers]] tables for RenderMasked, secrets masked.
std::string RenderOidcProviders(const Config& config);

}  // namespace gatehouse::core::config_internal
