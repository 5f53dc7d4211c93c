#pragma once

// Profile rules: what each profile defaults to and what production refuses.
//
//   development  debug logs, verbose errors, relaxed rate limits, encryption optional;
//                no rule findings.
//   staging      info logs, terse errors, standard rate limits, encryption required;
//                a missing required secret or an HMAC secret under 32 bytes stops the
//                start, every other production finding is a warning.
//   production   info logs, terse errors, strict rate limits, encryption required;
//                every finding stops the start.
//
// All functions are pure and thread-safe.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"

namespace gatehouse::core {

// Minimum length of the token HMAC secret and the master key: RFC 7518 section 3.2 asks for
// an HS256 key of at least the hash size (256 bits).
inline constexpr std::size_t kMinSecretBytes = 32;

struct ProfileDefaults {
  log::Level log_level;
  bool verbose_errors;
  RateLimitStrictness rate_limit_strictness;
  bool require_encryption;
};
ProfileDefaults DefaultsFor(Profile profile);

// Every way `config` falls short of production, one message per problem, each starting with
// the key path. Evaluated regardless of config.profile. Empty when production may start.
std::vector<std::string> ProductionProblems(const Config& config);

struct ProfileFindings {
  std::vector<std::string> errors;    // The service must not start.
  std::vector<std::string> warnings;  // Start, but log these.
};
// Applies the rules of config.profile (see the table above).
ProfileFindings CheckProfile(const Config& config);

// True when `value` is a well-known weak secret: one byte repeated, or (ignoring case) a
// placeholder such as "changeme", "secret" or "password".
bool IsWeakSecret(std::string_view value);

// LoadConfig, then CheckProfile. Fails with every load problem, or with every profile error
// (one per line in Error::detail()); profile warnings are appended to Config::warnings.
Result<Config> LoadAndValidate(const std::filesystem::path& file,
                               const std::map<std::string, std::string>& env);

}  // namespace gatehouse::core
