#include "core/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "core/config_keys.h"
#include "core/config_oidc.h"
#include "core/profile.h"

extern char** environ;

namespace gatehouse::core {
namespace {

using config_internal::EnvName;
using config_internal::KeyPath;
using config_internal::KeySpec;
using config_internal::KeySpecs;
using config_internal::Kind;
using config_internal::KindName;
using config_internal::Origin;
using config_internal::SecretSpec;
using config_internal::SecretSpecs;
using config_internal::Sections;
using config_internal::Value;
using config_internal::ApplyOidcProviders;
using config_internal::CheckOidcProviders;
using config_internal::OidcProviderPath;
using config_internal::OidcSecretVar;

// A secret file larger than this is surely the wrong file (a certificate bundle, a log).
constexpr std::size_t kMaxSecretFileBytes = 64 * 1024;

// Problems found while loading; reported together so an operator fixes them in one pass.
struct Problems {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;

  void Add(std::string problem) { errors.push_back(std::move(problem)); }
};

std::string AtLine(const toml::node& node) {
  const auto line = node.source().begin.line;
  if (line == 0) return {};
  return " (line " + std::to_string(line) + ")";
}

std::string_view TomlTypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// The typed value of `node` if it has the type `kind` asks for.
std::optional<Value> FromToml(const toml::node& node, Kind kind) {
  switch (kind) {
    case Kind::kString:
      if (const auto* v = node.as_string()) return Value(v->get());
      break;
    case Kind::kInteger:
      if (const auto* v = node.as_integer()) return Value(v->get());
      break;
    case Kind::kBoolean:
      if (const auto* v = node.as_boolean()) return Value(v->get());
      break;
  }
  return std::nullopt;
}

// Environment values are text; numbers and booleans are parsed strictly (no sign for
// positives, no spaces, no hex), so "8443 " or "1e3" is an error rather than a guess.
std::optional<Value> FromEnv(const std::string& text, Kind kind) {
  switch (kind) {
    case Kind::kString:
      return Value(text);
    case Kind::kInteger: {
      std::int64_t n = 0;
      const char* end = text.data() + text.size();
      auto [ptr, ec] = std::from_chars(text.data(), end, n);
      if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
      return Value(n);
    }
    case Kind::kBoolean:
      if (text == "true") return Value(true);
      if (text == "false") return Value(false);
      return std::nullopt;
  }
  return std::nullopt;
}

const KeySpec* FindSpec(std::string_view section, std::string_view key) {
  for (const auto& spec : KeySpecs()) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

const SecretSpec* FindSecret(std::string_view section, std::string_view name) {
  for (const auto& spec : SecretSpecs()) {
    if (spec.section == section && spec.name == name) return &spec;
  }
  return nullptr;
}

bool IsSection(std::string_view name) {
  for (auto section : Sections()) {
    if (section == name) return true;
  }
  return false;
}

// ---- the profile, decided first --------------------------------------------------------------

Profile DecideProfile(const toml::table& root, const std::map<std::string, std::string>& env,
                      Problems& problems) {
  if (auto it = env.find("GATEHOUSE_PROFILE"); it != env.end()) {
    if (auto profile = ParseProfile(it->second)) return *profile;
    problems.Add(
        "profile (GATEHOUSE_PROFILE): must be one of \"development\", \"staging\", "
        "\"production\"");
    return Profile::kDevelopment;
  }
  const toml::node* node = root.get("profile");
  if (node == nullptr || !node->is_string()) return Profile::kDevelopment;  // Type: later pass.
  if (auto profile = ParseProfile(node->as_string()->get())) return *profile;
  problems.Add("profile: must be one of \"development\", \"staging\", \"production\"" +
               AtLine(*node));
  return Profile::kDevelopment;
}

// ---- the TOML pass ---------------------------------------------------------------------------

void ApplyTomlKey(std::string_view section, std::string_view key, const toml::node& node,
                  const Origin& origin, Config& config, Problems& problems) {
  const std::string path = KeyPath(section, key);

  // Secrets in the config file end up in backups, version control and support tickets, so
  // the file may only point at them.
  if (FindSecret(section, key) != nullptr) {
    problems.Add(path + ": secrets may not be written in the config file; use " + path +
                 "_file or the environment (" + EnvName(section, key) + "_FILE or " +
                 EnvName(section, key) + ")" + AtLine(node));
    return;
  }

  const KeySpec* spec = FindSpec(section, key);
  if (spec == nullptr) {
    problems.Add(path + ": unknown key" + AtLine(node));
    return;
  }
  std::optional<Value> value = FromToml(node, spec->kind);
  if (!value) {
    problems.Add(path + ": expected " + std::string(KindName(spec->kind)) + ", got " +
                 std::string(TomlTypeName(node.type())) + AtLine(node));
    return;
  }
  if (std::string problem = spec->set(config, *value, origin); !problem.empty()) {
    problems.Add(path + ": " + problem + AtLine(node));
  }
}

void ApplyToml(const toml::table& root, const Origin& origin, Config& config, Problems& problems) {
  for (const auto& [name, node] : root) {
    const std::string_view key = name.str();
    if (!IsSection(key)) {
      if (node.is_table()) {
        problems.Add("[" + std::string(key) + "]: unknown section" + AtLine(node));
      } else {
        ApplyTomlKey("", key, node, origin, config, problems);
      }
      continue;
    }
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      problems.Add(std::string(key) + ": expected a table, got " +
                   std::string(TomlTypeName(node.type())) + AtLine(node));
      continue;
    }
    for (const auto& [child_name, child] : *table) {
      if (key == "oidc" && child_name.str() == "providers") {
        ApplyOidcProviders(child, origin, config, problems.errors);
        continue;
      }
      ApplyTomlKey(key, child_name.str(), child, origin, config, problems);
    }
  }
}

// ---- the environment pass --------------------------------------------------------------------

void ApplyEnv(const std::map<std::string, std::string>& env, Config& config, Problems& problems) {
  std::error_code ec;
  const Origin cwd_origin{std::filesystem::current_path(ec), {}};  // Empty if cwd is gone.
  std::set<std::string> known(std::begin(kReservedEnvironment), std::end(kReservedEnvironment));

  for (const auto& spec : KeySpecs()) {
    const std::string name = EnvName(spec.section, spec.key);
    known.insert(name);
    if (spec.section.empty() && spec.key == "profile") continue;  // Decided first.
    auto it = env.find(name);
    if (it == env.end()) continue;

    const std::string label = KeyPath(spec.section, spec.key) + " (" + name + ")";
    // The value is not echoed: an operator may have pasted a secret into the wrong variable.
    std::optional<Value> value = FromEnv(it->second, spec.kind);
    if (!value) {
      problems.Add(label + ": expected " + std::string(KindName(spec.kind)));
      continue;
    }
    Origin origin = cwd_origin;
    origin.env_var = name;
    if (std::string problem = spec.set(config, *value, origin); !problem.empty()) {
      problems.Add(label + ": " + problem);
    }
  }
  for (const auto& spec : SecretSpecs()) known.insert(EnvName(spec.section, spec.name));
  for (const auto& provider : config.oidc.providers) {
    known.insert(OidcSecretVar(provider.id));
    known.insert(OidcSecretVar(provider.id) + "_FILE");
  }

  for (const auto& [name, value] : env) {
    if (name.rfind("GATEHOUSE_", 0) == 0 && known.count(name) == 0) {
      problems.warnings.push_back(name + ": not a configuration variable; ignored");
    }
  }
}

// ---- secrets ---------------------------------------------------------------------------------

// Removes one trailing "\n" or "\r\n" (editors and `echo` add one).
void StripTrailingNewline(std::string& text) {
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
}

// Splits off the development marker line; returns whether it was there.
bool StripDevelopmentMarker(std::string& text) {
  if (text.rfind(kDevelopmentSecretMarker, 0) != 0) return false;
  std::size_t rest = kDevelopmentSecretMarker.size();
  if (rest < text.size() && text[rest] == '\r') ++rest;
  if (rest < text.size() && text[rest] != '\n') return false;  // Marker followed by more text.
  if (rest < text.size()) ++rest;
  std::string value = text.substr(rest);
  SecureWipe(text);
  text = std::move(value);
  return true;
}

// Reads a secret file into `out`. Returns a problem text (no key path) or empty.
// `loose_mode` is set when group or others may read the file.
std::string ReadSecretFile(const std::filesystem::path& path, std::string& out, bool& loose_mode,
                           mode_t& mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return "cannot open " + path.string() + ": " + std::strerror(errno);

  // fstat on the open descriptor: the mode checked is the mode of the file actually read.
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string problem = "cannot stat " + path.string() + ": " + std::strerror(errno);
    ::close(fd);
    return problem;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return path.string() + " is not a regular file";
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxSecretFileBytes) {
    ::close(fd);
    return path.string() + " is larger than 64 KiB; is it the right file?";
  }
  mode = st.st_mode & 07777;
  loose_mode = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;

  out.clear();
  out.reserve(kMaxSecretFileBytes);  // No reallocation, so no unwiped copy left behind.
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string problem = "cannot read " + path.string() + ": " + std::strerror(errno);
      SecureWipe(buf, sizeof(buf));
      ::close(fd);
      return problem;
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > kMaxSecretFileBytes) {
      SecureWipe(buf, sizeof(buf));
      ::close(fd);
      return path.string() + " is larger than 64 KiB; is it the right file?";
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  SecureWipe(buf, sizeof(buf));
  ::close(fd);
  return {};
}

std::string OctalMode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode));
  return text;
}

// Loads one secret: `path` names it in problems, `value_var` is the variable that can carry
// it (with "_FILE", a file holding it), secret.file the file the TOML named.
void LoadSecretSetting(SecretSetting& secret, const std::string& path,
                       const std::string& value_var,
                       const std::map<std::string, std::string>& env, Profile profile,
                       Problems& problems) {
  const std::string file_var = value_var + "_FILE";
  std::string content;

  auto value_it = env.find(value_var);
  if (value_it != env.end()) {
    // Two sources for one secret is ambiguous; refuse rather than guess which one is stale.
    if (env.count(file_var) != 0) {
      problems.Add(path + ": both " + value_var + " and " + file_var + " are set; set only one");
      return;
    }
    content = value_it->second;
    secret.file.clear();
    secret.env_var = value_var;
  } else if (!secret.file.empty()) {
    const std::string label =
        secret.env_var.empty() ? path + "_file" : path + "_file (" + secret.env_var + ")";
    bool loose_mode = false;
    mode_t mode = 0;
    if (std::string problem = ReadSecretFile(secret.file, content, loose_mode, mode);
        !problem.empty()) {
      SecureWipe(content);
      problems.Add(label + ": " + problem);
      return;
    }
    if (loose_mode) {
      std::string problem = label + ": " + secret.file.string() +
                            " is readable or writable by group or others (mode " + OctalMode(mode) +
                            "); use mode 0600 or 0400";
      // A secret other local users can read is not a secret; production refuses it.
      if (profile == Profile::kProduction) {
        SecureWipe(content);
        problems.Add(std::move(problem));
        return;
      }
      problems.warnings.push_back(std::move(problem));
    }
  } else {
    return;  // Missing; whether that matters is decided by the cross-checks and the profile.
  }

  StripTrailingNewline(content);
  secret.development_marker = StripDevelopmentMarker(content);
  if (content.empty()) {
    problems.Add(path + ": is empty");
  } else {
    secret.value = Secret(content);
  }
  SecureWipe(content);
}

void LoadSecret(const SecretSpec& spec, const std::map<std::string, std::string>& env,
                Profile profile, Config& config, Problems& problems) {
  LoadSecretSetting(spec.get(config), KeyPath(spec.section, spec.name),
                    EnvName(spec.section, spec.name), env, profile, problems);
}

// ---- checks across keys ----------------------------------------------------------------------

// The SMS sender needs a complete description once it is on; an ambiguous or half-configured
// sender refuses to start rather than fail at the first login.
void CheckMfaKeys(const MfaConfig& mfa, Problems& problems) {
  if (mfa.sms_message.find("${code}") == std::string::npos) {
    problems.Add("mfa.sms_message: must contain ${code}");
  }
  if (!mfa.sms_enabled) return;
  if (mfa.sms_preset == "twilio") {
    if (mfa.sms_twilio_account_sid.empty()) {
      problems.Add("mfa.sms_twilio_account_sid: required when mfa.sms_preset = \"twilio\"");
    }
    if (mfa.sms_from.empty()) {
      problems.Add("mfa.sms_from: required when mfa.sms_preset = \"twilio\"");
    }
    if (!mfa.sms_body_template.empty()) {
      problems.Add(
          "mfa.sms_body_template: the twilio preset sets the body; leave it empty or use "
          "mfa.sms_preset = \"custom\"");
    }
    if (!mfa.sms_auth_header.present()) {
      problems.Add(
          "mfa.sms_auth_header: required by the twilio preset (\"Basic base64(sid:token)\"); "
          "set mfa.sms_auth_header_file or GATEHOUSE_MFA_SMS_AUTH_HEADER_FILE");
    }
    return;
  }
  if (mfa.sms_url.empty()) {
    problems.Add("mfa.sms_url: required when mfa.sms_enabled = true");
  }
  if (mfa.sms_body_template.empty()) {
    problems.Add("mfa.sms_body_template: required when mfa.sms_enabled = true");
  } else if (mfa.sms_body_template.find("${to}") == std::string::npos ||
             mfa.sms_body_template.find("${message}") == std::string::npos) {
    problems.Add("mfa.sms_body_template: must contain ${to} and ${message}");
  }
  if (mfa.sms_url.starts_with("http://") && !mfa.sms_allow_plain_http) {
    problems.Add("mfa.sms_url: must be https:// unless mfa.sms_allow_plain_http = true");
  }
}

// "a, b,c" -> {"a", "b", "c"}; surrounding spaces and empty items dropped.
std::vector<std::string_view> SplitTrimmed(std::string_view text) {
  std::vector<std::string_view> items;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.push_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

void CheckCrossKeys(const Config& config, Problems& problems) {
  const ServerConfig& server = config.server;
  if (server.tls && server.cert_file.empty()) {
    problems.Add("server.cert_file: required when server.tls = true");
  }
  if (server.tls && server.key_file.empty()) {
    problems.Add("server.key_file: required when server.tls = true");
  }
  if (server.redirect_port != 0 && server.redirect_port == server.port) {
    problems.Add("server.redirect_port: must differ from server.port");
  }
  if (server.redirect_port != 0 && !server.tls) {
    problems.Add("server.redirect_port: needs server.tls = true (it redirects to https)");
  }
  if (config.store.driver == StoreDriver::kPostgres && !config.store.postgres_url.present()) {
    problems.Add(
        "store.postgres_url: required when store.driver = \"postgres\"; set "
        "store.postgres_url_file, GATEHOUSE_STORE_POSTGRES_URL_FILE or "
        "GATEHOUSE_STORE_POSTGRES_URL");
  }
  if (config.tokens.algorithm != TokenAlgorithm::kHs256 && !config.tokens.signing_key.present()) {
    problems.Add("tokens.signing_key: required when tokens.algorithm = \"" +
                 std::string(TokenAlgorithmName(config.tokens.algorithm)) +
                 "\"; set tokens.signing_key_file or GATEHOUSE_TOKENS_SIGNING_KEY_FILE");
  }
  if (config.sessions.idle_timeout > config.sessions.absolute_timeout) {
    problems.Add("sessions.idle_timeout_s: must not exceed sessions.absolute_timeout_s");
  }
  if (config.passwords.min_bytes > config.passwords.max_bytes) {
    problems.Add("passwords.min_bytes: must not exceed passwords.max_bytes");
  }
  CheckOidcProviders(config, problems.errors);
  CheckMfaKeys(config.mfa, problems);
  if (config.api_keys.default_lifetime_days > config.api_keys.max_lifetime_days) {
    problems.Add("api_keys.default_lifetime_days: must not exceed api_keys.max_lifetime_days");
  }
  // An admin-only scope outside the vocabulary could never be granted at all.
  if (!config.api_keys.scopes.empty()) {
    const std::vector<std::string_view> vocabulary = SplitTrimmed(config.api_keys.scopes);
    for (std::string_view scope : SplitTrimmed(config.api_keys.admin_only_scopes)) {
      if (std::find(vocabulary.begin(), vocabulary.end(), scope) == vocabulary.end()) {
        problems.Add("api_keys.admin_only_scopes: \"" + std::string(scope) +
                     "\" is not in api_keys.scopes");
      }
    }
  }
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

}  // namespace

std::string_view ProfileName(Profile profile) {
  switch (profile) {
    case Profile::kDevelopment:
      return "development";
    case Profile::kStaging:
      return "staging";
    case Profile::kProduction:
      return "production";
  }
  return "development";
}

std::optional<Profile> ParseProfile(std::string_view name) {
  for (auto p : {Profile::kDevelopment, Profile::kStaging, Profile::kProduction}) {
    if (ProfileName(p) == name) return p;
  }
  return std::nullopt;
}

std::string_view StoreDriverName(StoreDriver driver) {
  return driver == StoreDriver::kPostgres ? "postgres" : "sqlite";
}

std::string_view TokenAlgorithmName(TokenAlgorithm algorithm) {
  switch (algorithm) {
    case TokenAlgorithm::kHs256:
      return "HS256";
    case TokenAlgorithm::kEdDsa:
      return "EdDSA";
    case TokenAlgorithm::kEs256:
      return "ES256";
  }
  return "HS256";
}

std::string_view SessionLimitPolicyName(SessionLimitPolicy policy) {
  return policy == SessionLimitPolicy::kRefuseNew ? "refuse_new" : "evict_oldest";
}

std::string_view StateDriverName(StateDriver driver) {
  return driver == StateDriver::kRedis ? "redis" : "memory";
}

std::string_view RateLimitStrictnessName(RateLimitStrictness strictness) {
  switch (strictness) {
    case RateLimitStrictness::kRelaxed:
      return "relaxed";
    case RateLimitStrictness::kStandard:
      return "standard";
    case RateLimitStrictness::kStrict:
      return "strict";
  }
  return "standard";
}

Config DefaultConfig(Profile profile) {
  const ProfileDefaults defaults = DefaultsFor(profile);
  Config config;
  config.profile = profile;
  config.log.level = defaults.log_level;
  config.server.verbose_errors = defaults.verbose_errors;
  config.rate_limit.strictness = defaults.rate_limit_strictness;
  config.crypto.require_encryption = defaults.require_encryption;
  return config;
}

namespace config_internal {

Result<LoadOutcome> LoadCollecting(const std::filesystem::path& file,
                                   const std::map<std::string, std::string>& env) {
  std::error_code ec;
  const std::filesystem::path source = std::filesystem::absolute(file, ec).lexically_normal();
  if (ec) return InvalidArgument("invalid configuration", file.string() + ": " + ec.message());

  // toml++ reports syntax errors by exception; they stop here.
  toml::table root;
  try {
    root = toml::parse_file(source.string());
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return InvalidArgument("invalid configuration",
                           source.string() + ":" + std::to_string(where.line) + ":" +
                               std::to_string(where.column) + ": " + std::string(e.description()));
  }

  Problems problems;
  const Profile profile = DecideProfile(root, env, problems);
  LoadOutcome outcome{DefaultConfig(profile), {}};
  Config& config = outcome.config;
  config.source_file = source;
  const Origin file_origin{source.parent_path(), {}};
  config.store.sqlite_path = (file_origin.base / "var/gatehouse.db").lexically_normal();

  ApplyToml(root, file_origin, config, problems);
  ApplyEnv(env, config, problems);
  for (const auto& spec : SecretSpecs()) LoadSecret(spec, env, profile, config, problems);
  for (auto& provider : config.oidc.providers) {
    if (provider.id.empty()) continue;
    const std::string file_var = OidcSecretVar(provider.id) + "_FILE";
    if (auto it = env.find(file_var); it != env.end()) {
      std::error_code cwd_error;
      std::filesystem::path file(it->second);
      if (file.is_relative()) file = std::filesystem::current_path(cwd_error) / file;
      provider.client_secret.file = file.lexically_normal();
      provider.client_secret.env_var = file_var;
    }
    LoadSecretSetting(provider.client_secret, OidcProviderPath(provider) + ".client_secret",
                      OidcSecretVar(provider.id), env, profile, problems);
  }
  CheckCrossKeys(config, problems);

  outcome.errors = std::move(problems.errors);
  config.warnings = std::move(problems.warnings);
  return outcome;
}

std::string JoinProblems(const std::vector<std::string>& lines) { return JoinLines(lines); }

}  // namespace config_internal

Result<Config> LoadConfig(const std::filesystem::path& file,
                          const std::map<std::string, std::string>& env) {
  auto outcome = config_internal::LoadCollecting(file, env);
  if (!outcome.ok()) return std::move(outcome).error();
  if (!outcome->errors.empty()) {
    return InvalidArgument("invalid configuration", JoinLines(outcome->errors));
  }
  return std::move(outcome->config);
}

std::vector<std::string> ConfigProblems(const Error& error) {
  std::vector<std::string> lines;
  std::istringstream in(error.detail());
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::map<std::string, std::string> ProcessEnvironment() {
  // Only GATEHOUSE_* is copied: other variables may hold unrelated credentials that have no
  // business sitting in another map.
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    if (text.rfind("GATEHOUSE_", 0) != 0) continue;
    auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

unsigned ResolveThreadCount(unsigned configured) {
  if (configured != 0) return configured;
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

}  // namespace gatehouse::core
