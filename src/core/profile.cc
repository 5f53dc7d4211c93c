#include "core/profile.h"

#include <algorithm>
#include <cctype>

#include "core/config_keys.h"

namespace gatehouse::core {
namespace {

// How a finding is treated in staging: missing secrets and short HMAC keys stop it (tokens
// signed with them could be forged or could not be verified after a fix), the rest warn.
enum class Severity { kStagingError, kStagingWarning };

struct Finding {
  Severity severity;
  std::string message;
};

// Placeholder values people paste while trying things out. Compared ignoring case.
constexpr std::string_view kWeakSecrets[] = {
    "changeme",         "change-me", "change_me", "changeit", "secret",   "password",
    "passw0rd",         "default",   "example",   "test",     "testing",  "admin",
    "gatehouse",        "letmein",   "qwerty",    "123456",   "12345678", "1234567890",
    "0123456789abcdef", "todo",      "xxx",
};

std::string MissingText(std::string_view section, std::string_view name) {
  std::string path = std::string(section) + "." + std::string(name);
  std::string env = "GATEHOUSE_" + path;
  for (char& ch : env) {
    ch = ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return path + ": missing; set " + path + "_file, " + env + "_FILE or " + env;
}

void CheckSecret(const SecretSetting& secret, std::string_view section, std::string_view name,
                 bool check_strength, std::vector<Finding>& findings) {
  const std::string path = std::string(section) + "." + std::string(name);
  if (!secret.present()) {
    findings.push_back({Severity::kStagingError, MissingText(section, name)});
    return;
  }
  if (secret.development_marker) {
    findings.push_back({Severity::kStagingWarning,
                        path + ": is a development secret (its file starts with the development "
                               "marker); generate a new one for this deployment"});
  }
  if (check_strength && IsWeakSecret(secret.value.reveal())) {
    findings.push_back({Severity::kStagingWarning,
                        path + ": is a well-known weak value; generate a random secret"});
  }
}

std::vector<Finding> Evaluate(const Config& config) {
  std::vector<Finding> findings;
  const ServerConfig& server = config.server;

  // Without TLS, passwords, tokens and session cookies cross the network in clear text.
  if (!server.tls) {
    findings.push_back({Severity::kStagingWarning,
                        "server.tls: must be true; the public listener may not serve plain "
                        "HTTP"});
  }

  CheckSecret(config.crypto.master_key, "crypto", "master_key", true, findings);
  if (config.crypto.master_key.present() && config.crypto.master_key.size() < kMinSecretBytes) {
    findings.push_back(
        {Severity::kStagingWarning, "crypto.master_key: must be at least 32 bytes (has " +
                                        std::to_string(config.crypto.master_key.size()) + ")"});
  }

  // The secret that signs access tokens: the HMAC key for HS256, the private key otherwise.
  if (config.tokens.algorithm == TokenAlgorithm::kHs256) {
    CheckSecret(config.tokens.hmac_secret, "tokens", "hmac_secret", true, findings);
    // RFC 7518 section 3.2: an HS256 key shorter than the hash output makes forging tokens
    // by brute force easier; refused in staging too.
    if (config.tokens.hmac_secret.present() &&
        config.tokens.hmac_secret.size() < kMinSecretBytes) {
      findings.push_back(
          {Severity::kStagingError, "tokens.hmac_secret: must be at least 32 bytes (has " +
                                        std::to_string(config.tokens.hmac_secret.size()) + ")"});
    }
  } else {
    CheckSecret(config.tokens.signing_key, "tokens", "signing_key", false, findings);
  }
  if (config.tokens.previous_hmac_secret.present() &&
      config.tokens.previous_hmac_secret.size() < kMinSecretBytes) {
    findings.push_back({Severity::kStagingError,
                        "tokens.previous_hmac_secret: must be at least 32 bytes (has " +
                            std::to_string(config.tokens.previous_hmac_secret.size()) + ")"});
  }

  // A Redis without a password lets anyone on its network lift deny-list entries and
  // lockouts.
  if (config.state.driver == StateDriver::kRedis) {
    CheckSecret(config.state.redis_password, "state", "redis_password", true, findings);
  }

  if (config.store.driver == StoreDriver::kPostgres) {
    CheckSecret(config.store.postgres_url, "store", "postgres_url", false, findings);
  }

  // Debug and trace lines carry request detail that is fine on a laptop and a liability on
  // a shared log pipeline.
  if (config.log.level == log::Level::kDebug || config.log.level == log::Level::kTrace) {
    findings.push_back(
        {Severity::kStagingWarning, "log.level: must be info, warn or error (is " +
                                        std::string(log::LevelName(config.log.level)) + ")"});
  }
  // Verbose errors hand internal detail (paths, SQL states) to any client.
  if (server.verbose_errors) {
    findings.push_back({Severity::kStagingWarning,
                        "server.verbose_errors: must be false; error details would reach "
                        "clients"});
  }
  // Without limits, password guessing and registration floods are bounded by CPU alone.
  if (!config.rate_limit.enabled) {
    findings.push_back({Severity::kStagingWarning,
                        "rate_limit.enabled: must be true; every route must be rate limited"});
  }
  // The admin token lifts lockouts and IP blocks: as strong as the token signing key.
  if (config.admin.enabled && config.admin.token.present() &&
      config.admin.token.size() < kMinSecretBytes) {
    findings.push_back(
        {Severity::kStagingError, "admin.token: must be at least 32 bytes (has " +
                                      std::to_string(config.admin.token.size()) + ")"});
  }
  if (server.expose_admin) {
    findings.push_back({Severity::kStagingWarning,
                        "server.expose_admin: must be false; admin endpoints may not be "
                        "served on the public listener"});
  }
  if (server.expose_test_endpoints) {
    findings.push_back({Severity::kStagingWarning,
                        "server.expose_test_endpoints: must be false; test endpoints may not "
                        "be served on the public listener"});
  }
  for (const OidcProviderConfig& provider : config.oidc.providers) {
    const std::string path = "oidc.providers[" + provider.id + "].client_secret";
    if (provider.client_secret.development_marker) {
      findings.push_back({Severity::kStagingWarning,
                          path + ": is a development secret; use the one the provider issued"});
    }
    if (provider.client_secret.present() && IsWeakSecret(provider.client_secret.value.reveal())) {
      findings.push_back({Severity::kStagingWarning, path + ": is a well-known weak value"});
    }
  }
  // The SMS provider receives every login code: its connection must be verified TLS
  // everywhere but on a developer's machine, so staging refuses these too.
  if (config.mfa.sms_enabled && !config.mfa.sms_verify_tls) {
    findings.push_back({Severity::kStagingError,
                        "mfa.sms_verify_tls: must be true; login codes would go to an "
                        "unverified peer"});
  }
  if (config.mfa.sms_enabled && config.mfa.sms_allow_plain_http) {
    findings.push_back({Severity::kStagingError,
                        "mfa.sms_allow_plain_http: must be false; login codes would cross the "
                        "network in clear text"});
  }
  if (!config.crypto.require_encryption) {
    findings.push_back({Severity::kStagingWarning,
                        "crypto.require_encryption: must be true; personal data would be "
                        "stored unencrypted"});
  }
  return findings;
}

}  // namespace

ProfileDefaults DefaultsFor(Profile profile) {
  switch (profile) {
    case Profile::kDevelopment:
      return {log::Level::kDebug, true, RateLimitStrictness::kRelaxed, false};
    case Profile::kStaging:
      return {log::Level::kInfo, false, RateLimitStrictness::kStandard, true};
    case Profile::kProduction:
      return {log::Level::kInfo, false, RateLimitStrictness::kStrict, true};
  }
  return {log::Level::kInfo, false, RateLimitStrictness::kStrict, true};
}

bool IsWeakSecret(std::string_view value) {
  if (value.empty()) return true;
  if (std::all_of(value.begin(), value.end(), [&](char ch) { return ch == value.front(); })) {
    return true;
  }
  std::string lower(value.size(), '\0');
  std::transform(value.begin(), value.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  bool weak =
      std::find(std::begin(kWeakSecrets), std::end(kWeakSecrets), lower) != std::end(kWeakSecrets);
  SecureWipe(lower);
  return weak;
}

std::vector<std::string> ProductionProblems(const Config& config) {
  std::vector<std::string> problems;
  for (auto& finding : Evaluate(config)) problems.push_back(std::move(finding.message));
  return problems;
}

ProfileFindings CheckProfile(const Config& config) {
  ProfileFindings result;
  switch (config.profile) {
    case Profile::kDevelopment:
      break;
    case Profile::kStaging:
      for (auto& finding : Evaluate(config)) {
        auto& list = finding.severity == Severity::kStagingError ? result.errors : result.warnings;
        list.push_back(std::move(finding.message));
      }
      break;
    case Profile::kProduction:
      result.errors = ProductionProblems(config);
      break;
  }
  return result;
}

Result<Config> LoadAndValidate(const std::filesystem::path& file,
                               const std::map<std::string, std::string>& env) {
  auto outcome = config_internal::LoadCollecting(file, env);
  if (!outcome.ok()) return std::move(outcome).error();
  Config& config = outcome->config;
  std::vector<std::string>& load_errors = outcome->errors;

  // Profile findings are added even when loading found errors, so one run lists everything;
  // a finding about a key that already has a load error ("missing" after an unreadable file)
  // would only repeat it and is left out.
  ProfileFindings findings = CheckProfile(config);
  auto already_reported = [&](const std::string& finding) {
    const std::string key = finding.substr(0, finding.find(':'));
    return std::any_of(load_errors.begin(), load_errors.end(), [&](const std::string& e) {
      return e.rfind(key + ":", 0) == 0 || e.rfind(key + " (", 0) == 0 ||
             e.rfind(key + "_file", 0) == 0;
    });
  };
  std::vector<std::string> errors = load_errors;
  for (auto& line : findings.errors) {
    if (!already_reported(line)) errors.push_back(std::move(line));
  }

  if (!load_errors.empty()) {
    return InvalidArgument("invalid configuration", config_internal::JoinProblems(errors));
  }
  if (!errors.empty()) {
    return InvalidArgument(
        "configuration refused by the " + std::string(ProfileName(config.profile)) + " profile",
        config_internal::JoinProblems(errors));
  }
  for (auto& line : findings.warnings) config.warnings.push_back(std::move(line));
  return std::move(config);
}

}  // namespace gatehouse::core
