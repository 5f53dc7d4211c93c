#pragma once

// What an OpenID provider publishes about itself, read strictly: the discovery document
// (OpenID Connect Discovery 1.0 section 3) and its JWK Set (RFC 7517 section 5).
//
// Both come over the network from a party we trust only for this one job, so the parsers
// refuse what they do not need to accept: documents over kMaxMetadataBytes, repeated member
// names, an issuer that is not exactly the configured one (Discovery section 4.3, which
// stops a provider from speaking for another), endpoints that are not https URLs, and key
// sets without a single usable signing key.
//
// Thread safety: pure functions.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "crypto/jose_jwk.h"

namespace gatehouse::auth {

inline constexpr std::size_t kMaxMetadataBytes = 256 * 1024;

struct ProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  std::string userinfo_endpoint;  // May be empty.
  // From code_challenge_methods_supported; a provider that lists methods without S256
  // cannot do PKCE the way Gatehouse always does it.
  bool s256_supported = true;
};

// Parses a discovery document fetched for `expected_issuer`. `allow_loopback_http` lets
// endpoints be http://localhost... (development providers on the operator's machine).
// Errors: kUnavailable "provider metadata invalid" with a detail naming the problem (the
// provider answered, but with nothing Gatehouse can use: retrying later may help).
Result<ProviderMetadata> ParseDiscovery(std::string_view body, std::string_view expected_issuer,
                                        bool allow_loopback_http);

// The signing keys of a JWK Set. Keys Gatehouse cannot use for signatures (use "enc",
// unsupported kty or curve, RSA under 2048 bits) are skipped, since providers publish
// several kinds side by side; a key set with none left, or with two keys under one kid, is
// an error. Errors: kUnavailable "provider keys invalid" naming the problem.
Result<crypto::SigningKeys> ParseJwks(std::string_view body);

// The discovery URL of an issuer: <issuer>/.well-known/openid-configuration, with one '/'
// between them whether or not the issuer ends with one (Discovery section 4).
std::string DiscoveryUrl(std::string_view issuer);

// True when `url` is https, or http to a loopback host and `allow_loopback_http`.
bool IsAcceptableEndpoint(std::string_view url, bool allow_loopback_http);

}  // namespace gatehouse::auth
