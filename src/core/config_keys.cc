#include "core/config_keys.h"

#include <arpa/inet.h>

#include <cctype>
#include <chrono>
#include <concepts>
#include <optional>

namespace gatehouse::core::config_internal {
namespace {

// ---- storing and reading typed fields --------------------------------------------------------

template <std::integral T>
void Store(T& field, std::int64_t n) {
  field = static_cast<T>(n);
}
void Store(std::chrono::milliseconds& field, std::int64_t n) {
  field = std::chrono::milliseconds(n);
}

void Store(std::chrono::seconds& field, std::int64_t n) { field = std::chrono::seconds(n); }

template <std::integral T>
std::int64_t Load(const T& field) {
  return static_cast<std::int64_t>(field);
}
std::int64_t Load(const std::chrono::milliseconds& field) { return field.count(); }
std::int64_t Load(const std::chrono::seconds& field) { return field.count(); }

std::filesystem::path Resolve(const std::string& text, const Origin& origin) {
  if (text.empty()) return {};
  std::filesystem::path path(text);
  if (path.is_relative()) path = origin.base / path;
  return path.lexically_normal();
}

// ---- key builders ----------------------------------------------------------------------------
// `access` is a generic lambda returning a reference to the field, for const and non-const
// Config alike.

template <typename Access>
KeySpec IntKey(std::string_view section, std::string_view key, std::int64_t min, std::int64_t max,
               Access access) {
  KeySpec spec{section, key, Kind::kInteger, {}, {}, key};
  spec.set = [=](Config& c, const Value& v, const Origin&) -> std::string {
    std::int64_t n = std::get<std::int64_t>(v);
    // Out-of-range values are refused, never clamped: a clamped limit is a silent surprise.
    if (n < min || n > max) return "must be " + std::to_string(min) + ".." + std::to_string(max);
    Store(access(c), n);
    return {};
  };
  spec.render = [=](const Config& c) { return std::to_string(Load(access(c))); };
  return spec;
}

template <typename Access>
KeySpec BoolKey(std::string_view section, std::string_view key, Access access) {
  KeySpec spec{section, key, Kind::kBoolean, {}, {}, key};
  spec.set = [=](Config& c, const Value& v, const Origin&) -> std::string {
    access(c) = std::get<bool>(v);
    return {};
  };
  spec.render = [=](const Config& c) { return std::string(access(c) ? "true" : "false"); };
  return spec;
}

// A string checked by `check` (returns a problem text or empty).
template <typename Check, typename Access>
KeySpec StringKey(std::string_view section, std::string_view key, Check check, Access access) {
  KeySpec spec{section, key, Kind::kString, {}, {}, key};
  spec.set = [=](Config& c, const Value& v, const Origin&) -> std::string {
    const auto& text = std::get<std::string>(v);
    std::string problem = check(text);
    if (!problem.empty()) return problem;
    access(c) = text;
    return {};
  };
  spec.render = [=](const Config& c) { return TomlString(access(c)); };
  return spec;
}

template <typename Access>
KeySpec PathKey(std::string_view section, std::string_view key, Access access) {
  KeySpec spec{section, key, Kind::kString, {}, {}, key};
  spec.set = [=](Config& c, const Value& v, const Origin& origin) -> std::string {
    access(c) = Resolve(std::get<std::string>(v), origin);
    return {};
  };
  spec.render = [=](const Config& c) { return TomlString(access(c).string()); };
  return spec;
}

// A log destination: a keyword or a path.
template <typename Access>
KeySpec SinkKey(std::string_view section, std::string_view key, bool allow_off, Access access) {
  KeySpec spec{section, key, Kind::kString, {}, {}, key};
  spec.set = [=](Config& c, const Value& v, const Origin& origin) -> std::string {
    const auto& text = std::get<std::string>(v);
    if (text.empty()) {
      return allow_off ? "must be \"stdout\", \"stderr\", \"off\" or a file path"
                       : "must be \"stdout\", \"stderr\" or a file path";
    }
    if (text == "off" && !allow_off) return "cannot be \"off\" (security events are logged here)";
    if (text == "stdout" || text == "stderr" || text == "off") {
      access(c) = text;
    } else {
      access(c) = Resolve(text, origin).string();
    }
    return {};
  };
  spec.render = [=](const Config& c) { return TomlString(access(c)); };
  return spec;
}

template <typename Enum, typename Parse, typename Name, typename Access>
KeySpec EnumKey(std::string_view section, std::string_view key, std::string_view choices,
                Parse parse, Name name, Access access) {
  KeySpec spec{section, key, Kind::kString, {}, {}, key};
  spec.set = [=](Config& c, const Value& v, const Origin&) -> std::string {
    std::optional<Enum> parsed = parse(std::get<std::string>(v));
    if (!parsed) return "must be one of " + std::string(choices);
    access(c) = *parsed;
    return {};
  };
  spec.render = [=](const Config& c) { return TomlString(name(access(c))); };
  return spec;
}

// `name_file` of a secret: records the path; the file is read after every source applied.
template <typename Access>
KeySpec SecretFileKey(std::string_view section, std::string_view key, std::string_view name,
                      Access access) {
  KeySpec spec{section, key, Kind::kString, {}, {}, name};
  spec.set = [=](Config& c, const Value& v, const Origin& origin) -> std::string {
    SecretSetting& secret = access(c);
    secret.file = Resolve(std::get<std::string>(v), origin);
    secret.env_var = origin.env_var;
    return {};
  };
  spec.render = [=](const Config& c) { return RenderSecretState(access(c)); };
  return spec;
}

// ---- value checks ----------------------------------------------------------------------------

std::string CheckIpLiteral(const std::string& text) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    return {};
  }
  return "must be an IPv4 or IPv6 address (for example \"127.0.0.1\" or \"::\")";
}

// public_host goes verbatim into Location headers, so it is held to host[:port] characters:
// anything else (a slash, a CR/LF, a userinfo '@') could turn a redirect into an open redirect
// or a header injection.
std::string CheckPublicHost(const std::string& text) {
  for (unsigned char ch : text) {
    bool ok =
        std::isalnum(ch) != 0 || ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']';
    if (!ok) return "must be host or host:port (letters, digits, '.', '-', ':', '[', ']')";
  }
  return {};
}

std::optional<StoreDriver> ParseStoreDriver(std::string_view name) {
  if (name == "sqlite") return StoreDriver::kSqlite;
  if (name == "postgres") return StoreDriver::kPostgres;
  return std::nullopt;
}

std::optional<TokenAlgorithm> ParseTokenAlgorithm(std::string_view name) {
  for (auto a : {TokenAlgorithm::kHs256, TokenAlgorithm::kEdDsa, TokenAlgorithm::kEs256}) {
    if (TokenAlgorithmName(a) == name) return a;
  }
  return std::nullopt;
}

std::optional<SessionLimitPolicy> ParseLimitPolicy(std::string_view name) {
  for (auto p : {SessionLimitPolicy::kEvictOldest, SessionLimitPolicy::kRefuseNew}) {
    if (SessionLimitPolicyName(p) == name) return p;
  }
  return std::nullopt;
}

std::optional<StateDriver> ParseStateDriver(std::string_view name) {
  for (auto d : {StateDriver::kMemory, StateDriver::kRedis}) {
    if (StateDriverName(d) == name) return d;
  }
  return std::nullopt;
}

// A token claim value: printable ASCII without quotes or backslashes, 1..256 bytes.
std::string CheckClaimText(const std::string& text) {
  if (text.empty() || text.size() > 256) return "must be 1..256 characters";
  for (unsigned char ch : text) {
    if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\') {
      return "must be printable ASCII without spaces, quotes or backslashes";
    }
  }
  return {};
}

// A comma-separated list of fingerprint traits.
std::string CheckFingerprintTraits(const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view trait = rest.substr(0, comma);
    if (trait != "user_agent" && trait != "accept_language" && trait != "client_ip" &&
        trait != "ip_prefix") {
      return "must list traits from \"user_agent\", \"accept_language\", \"client_ip\","
             " \"ip_prefix\", separated by commas";
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return {};
}

// A comma-separated list of origins ("https://host[:port]"), each without a path.
std::string CheckOrigins(const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view origin = rest.substr(0, comma);
    const bool scheme = origin.starts_with("https://") || origin.starts_with("http://");
    const std::size_t host_start = origin.find("://") + 3;
    if (!scheme || origin.size() <= host_start ||
        origin.find('/', host_start) != std::string_view::npos) {
      return "must be origins like \"https://app.example.com\", separated by commas";
    }
    for (unsigned char ch : origin) {
      if (ch < 0x21 || ch > 0x7e) return "must not contain spaces or control characters";
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return {};
}

// "LIMIT/WINDOW", e.g. "5/60s" (protect/limits_config.cc parses it for real), or empty.
std::string CheckRateSpec(const std::string& text) {
  if (text.empty()) return {};
  if (!ParseRateSpec(text)) {
    return "must be LIMIT/WINDOW like \"5/60s\" (limit 1..65535, window 16ms..24h, "
           "units ms, s, m, h)";
  }
  return {};
}

std::string CheckPolicy(const std::string& text, bool allow_empty) {
  if (allow_empty && text.empty()) return {};
  if (text == "fallback_local" || text == "fail_open" || text == "fail_closed") return {};
  return std::string("must be \"fallback_local\", \"fail_open\" or \"fail_closed\"") +
         (allow_empty ? " (or empty for rate_limit.on_unavailable)" : "");
}
std::string CheckPolicyRequired(const std::string& text) { return CheckPolicy(text, false); }
std::string CheckPolicyOptional(const std::string& text) { return CheckPolicy(text, true); }

// Comma-separated addresses or CIDRs; the protect room parses them strictly at start.
std::string CheckAddressList(const std::string& text) {
  for (unsigned char ch : text) {
    if (!(std::isxdigit(ch) || ch == '.' || ch == ':' || ch == '/' || ch == ',' || ch == ' ')) {
      return "must be addresses or CIDRs like \"10.0.0.0/8, 2001:db8::/32\", "
             "separated by commas";
    }
  }
  return {};
}

std::string CheckForwardedHeader(const std::string& text) {
  if (text == "x-forwarded-for" || text == "forwarded") return {};
  return "must be \"x-forwarded-for\" or \"forwarded\"";
}

// A Redis key prefix: short, printable, no spaces.
std::string CheckStatePrefix(const std::string& text) {
  if (text.size() > 32) return "must be at most 32 characters";
  for (unsigned char ch : text) {
    if (ch < 0x21 || ch > 0x7e) return "must be printable ASCII without spaces";
  }
  return {};
}

std::string AnyHost(const std::string& text) {
  if (text.empty() || text.size() > 253) return "must be a host name or address";
  for (unsigned char ch : text) {
    if (!(std::isalnum(ch) != 0 || ch == '.' || ch == '-' || ch == ':')) {
      return "must be a host name or address";
    }
  }
  return {};
}

// The MFA issuer is the key URI's label prefix ("issuer:account"): printable, no colon.
std::string CheckIssuer(const std::string& text) {
  if (text.empty() || text.size() > 64) return "must be 1..64 characters";
  for (unsigned char ch : text) {
    if (ch < 0x20 || ch == 0x7f || ch == ':') return "must be printable and without ':'";
  }
  return {};
}

std::string CheckOtpAlgorithm(const std::string& text) {
  if (text == "SHA1" || text == "SHA256" || text == "SHA512") return {};
  return "must be \"SHA1\", \"SHA256\" or \"SHA512\"";
}

std::string CheckSmsPreset(const std::string& text) {
  if (text == "custom" || text == "twilio") return {};
  return "must be \"custom\" or \"twilio\"";
}

std::string CheckBodyFormat(const std::string& text) {
  if (text == "form" || text == "json") return {};
  return "must be \"form\" or \"json\"";
}

std::string CheckOptionalUrl(const std::string& text) {
  if (text.empty() || text.starts_with("https://") || text.starts_with("http://")) {
    for (unsigned char ch : text) {
      if (ch < 0x21 || ch == 0x7f) return "must not contain spaces or control characters";
    }
    return {};
  }
  return "must be an https:// URL";
}

// Text that goes into a message or a request body: any printable text, at most 2048 bytes.
std::string CheckTemplateText(const std::string& text) {
  if (text.size() > 2048) return "must be at most 2048 bytes";
  for (unsigned char ch : text) {
    if (ch < 0x20 && ch != '\n' && ch != '\t') return "must not contain control characters";
  }
  return {};
}

std::string CheckHeaderName(const std::string& text) {
  if (text.empty() || text.size() > 64) return "must be 1..64 characters";
  for (unsigned char ch : text) {
    if (!(std::isalnum(ch) != 0 || ch == '-' || ch == '_')) {
      return "must be a header name (letters, digits, '-', '_')";
    }
  }
  return {};
}

std::string CheckShortText(const std::string& text) {
  if (text.size() > 128) return "must be at most 128 characters";
  for (unsigned char ch : text) {
    if (ch < 0x20 || ch == 0x7f) return "must not contain control characters";
  }
  return {};
}

std::string CheckPins(const std::string& text) {
  for (unsigned char ch : text) {
    if (!(std::isalnum(ch) != 0 || ch == '/' || ch == '+' || ch == '=' || ch == ';')) {
      return "must be sha256//<base64> entries separated by ';'";
    }
  }
  return {};
}

// A request header field name (RFC 9110 section 5.1: a token) that is not one the server
// or the other credentials already own.
std::string CheckKeyHeaderName(const std::string& text) {
  if (text.empty() || text.size() > 64) return "must be 1..64 characters";
  for (unsigned char ch : text) {
    const bool ok =
        std::isalnum(ch) != 0 ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) != std::string_view::npos;
    if (!ok) return "must be a header field name (letters, digits, '-' and the like)";
  }
  std::string lower;
  for (unsigned char ch : text) lower += static_cast<char>(std::tolower(ch));
  for (std::string_view reserved : {"authorization", "cookie", "host", "content-length",
                                    "transfer-encoding", "x-forwarded-for", "forwarded"}) {
    if (lower == reserved) return "must not be a header the server already interprets";
  }
  return {};
}

std::string CheckKeyEnvironment(const std::string& text) {
  if (text.empty() || text == "live" || text == "test") return {};
  return "must be \"live\", \"test\" or empty (the profile decides)";
}

// Comma-separated scopes, each 1..64 characters of [A-Za-z0-9:._/-].
std::string CheckScopeList(const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view scope = rest.substr(0, comma);
    while (!scope.empty() && scope.front() == ' ') scope.remove_prefix(1);
    while (!scope.empty() && scope.back() == ' ') scope.remove_suffix(1);
    if (scope.empty() || scope.size() > 64) return "must list scopes of 1..64 characters";
    for (unsigned char ch : scope) {
      if (!(std::isalnum(ch) != 0 || ch == ':' || ch == '.' || ch == '_' || ch == '/' ||
            ch == '-')) {
        return "scopes may hold only letters, digits and ':', '.', '_', '/', '-'";
      }
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return {};
}

std::optional<RateLimitStrictness> ParseStrictness(std::string_view name) {
  for (auto s : {RateLimitStrictness::kRelaxed, RateLimitStrictness::kStandard,
                 RateLimitStrictness::kStrict}) {
    if (RateLimitStrictnessName(s) == name) return s;
  }
  return std::nullopt;
}

std::vector<KeySpec> BuildKeySpecs() {
  constexpr std::int64_t kMaxPort = 65535;
  constexpr std::int64_t kHour = 3'600'000;
  std::vector<KeySpec> specs;

  // The profile is decided before any other key (it picks the defaults, and the environment
  // may override the file), so LoadConfig has already validated and stored it; the entry is
  // here for the type check and the rendering.
  specs.push_back(EnumKey<Profile>(
      "", "profile", "\"development\", \"staging\", \"production\"", ParseProfile, ProfileName,
      [](auto& c) -> auto& { return c.profile; }));
  specs.back().set = [](Config&, const Value&, const Origin&) { return std::string(); };

  specs.push_back(StringKey(
      "server", "listen", CheckIpLiteral, [](auto& c) -> auto& { return c.server.listen; }));
  specs.push_back(IntKey(
      "server", "port", 1, kMaxPort, [](auto& c) -> auto& { return c.server.port; }));
  specs.push_back(BoolKey(
      "server", "tls", [](auto& c) -> auto& { return c.server.tls; }));
  specs.push_back(PathKey(
      "server", "cert_file", [](auto& c) -> auto& { return c.server.cert_file; }));
  specs.push_back(PathKey(
      "server", "key_file", [](auto& c) -> auto& { return c.server.key_file; }));
  specs.push_back(IntKey(
      "server", "redirect_port", 0, kMaxPort,
      [](auto& c) -> auto& { return c.server.redirect_port; }));
  specs.push_back(StringKey(
      "server", "public_host", CheckPublicHost,
      [](auto& c) -> auto& { return c.server.public_host; }));
  specs.push_back(IntKey(
      "server", "io_threads", 0, 1024, [](auto& c) -> auto& { return c.server.io_threads; }));
  specs.push_back(IntKey(
      "server", "max_header_bytes", 1, 1 << 20,
      [](auto& c) -> auto& { return c.server.max_header_bytes; }));
  specs.push_back(IntKey(
      "server", "max_body_bytes", 1, 1 << 30,
      [](auto& c) -> auto& { return c.server.max_body_bytes; }));
  specs.push_back(IntKey(
      "server", "read_timeout_ms", 1, kHour,
      [](auto& c) -> auto& { return c.server.read_timeout; }));
  specs.push_back(IntKey(
      "server", "idle_timeout_ms", 1, 24 * kHour,
      [](auto& c) -> auto& { return c.server.idle_timeout; }));
  specs.push_back(IntKey(
      "server", "max_connections", 1, 1'000'000,
      [](auto& c) -> auto& { return c.server.max_connections; }));
  specs.push_back(IntKey(
      "server", "drain_timeout_ms", 0, kHour,
      [](auto& c) -> auto& { return c.server.drain_timeout; }));
  specs.push_back(IntKey(
      "server", "worker_threads", 0, 1024,
      [](auto& c) -> auto& { return c.server.worker_threads; }));
  specs.push_back(IntKey(
      "server", "worker_queue", 1, 1'000'000,
      [](auto& c) -> auto& { return c.server.worker_queue; }));
  specs.push_back(BoolKey(
      "server", "verbose_errors", [](auto& c) -> auto& { return c.server.verbose_errors; }));
  specs.push_back(BoolKey(
      "server", "expose_admin", [](auto& c) -> auto& { return c.server.expose_admin; }));
  specs.push_back(BoolKey(
      "server", "expose_test_endpoints",
      [](auto& c) -> auto& { return c.server.expose_test_endpoints; }));
  specs.push_back(IntKey(
      "server", "tls_handshake_timeout_ms", 1, 600'000,
      [](auto& c) -> auto& { return c.server.tls_handshake_timeout; }));

  specs.push_back(EnumKey<log::Level>(
      "log", "level", "\"trace\", \"debug\", \"info\", \"warn\", \"error\"", log::ParseLevel,
      log::LevelName, [](auto& c) -> auto& { return c.log.level; }));
  specs.push_back(SinkKey(
      "log", "access_log", /*allow_off=*/true, [](auto& c) -> auto& { return c.log.access_log; }));
  specs.push_back(SinkKey(
      "log", "app_log", /*allow_off=*/false, [](auto& c) -> auto& { return c.log.app_log; }));

  specs.push_back(SecretFileKey(
      "crypto", "master_key_file", "master_key",
      [](auto& c) -> auto& { return c.crypto.master_key; }));
  // libsodium's argon2id floor is 8 KiB; 4 GiB is far past any sane setting.
  specs.push_back(IntKey(
      "crypto", "argon2_memory_kib", 8, 4 * 1024 * 1024,
      [](auto& c) -> auto& { return c.crypto.argon2_memory_kib; }));
  specs.push_back(IntKey(
      "crypto", "argon2_iterations", 1, 100,
      [](auto& c) -> auto& { return c.crypto.argon2_iterations; }));
  // RFC 9106 section 3.1: parallelism p is 1..2^24-1.
  specs.push_back(IntKey(
      "crypto", "argon2_parallelism", 1, (1 << 24) - 1,
      [](auto& c) -> auto& { return c.crypto.argon2_parallelism; }));
  specs.push_back(BoolKey(
      "crypto", "require_encryption",
      [](auto& c) -> auto& { return c.crypto.require_encryption; }));

  specs.push_back(EnumKey<TokenAlgorithm>(
      "tokens", "algorithm", "\"HS256\", \"EdDSA\", \"ES256\"", ParseTokenAlgorithm,
      TokenAlgorithmName, [](auto& c) -> auto& { return c.tokens.algorithm; }));
  specs.push_back(SecretFileKey(
      "tokens", "hmac_secret_file", "hmac_secret",
      [](auto& c) -> auto& { return c.tokens.hmac_secret; }));
  specs.push_back(SecretFileKey(
      "tokens", "previous_hmac_secret_file", "previous_hmac_secret",
      [](auto& c) -> auto& { return c.tokens.previous_hmac_secret; }));
  specs.push_back(SecretFileKey(
      "tokens", "signing_key_file", "signing_key",
      [](auto& c) -> auto& { return c.tokens.signing_key; }));
  specs.push_back(PathKey(
      "tokens", "previous_public_key_file",
      [](auto& c) -> auto& { return c.tokens.previous_public_key_file; }));
  specs.push_back(StringKey(
      "tokens", "issuer", CheckClaimText, [](auto& c) -> auto& { return c.tokens.issuer; }));
  specs.push_back(StringKey(
      "tokens", "audience", CheckClaimText, [](auto& c) -> auto& { return c.tokens.audience; }));
  specs.push_back(IntKey(
      "tokens", "access_ttl_s", 60, 7 * 24 * 3600,
      [](auto& c) -> auto& { return c.tokens.access_ttl; }));
  specs.push_back(IntKey(
      "tokens", "refresh_ttl_s", 300, 90 * 24 * 3600,
      [](auto& c) -> auto& { return c.tokens.refresh_ttl; }));
  specs.push_back(IntKey(
      "tokens", "leeway_s", 0, 300, [](auto& c) -> auto& { return c.tokens.leeway; }));
  specs.push_back(IntKey(
      "tokens", "refresh_grace_s", 0, 120,
      [](auto& c) -> auto& { return c.tokens.refresh_grace; }));
  specs.push_back(IntKey(
      "tokens", "verified_cache_entries", 0, 1'000'000,
      [](auto& c) -> auto& { return c.tokens.verified_cache_entries; }));

  specs.push_back(IntKey(
      "sessions", "idle_timeout_s", 60, 7 * 24 * 3600,
      [](auto& c) -> auto& { return c.sessions.idle_timeout; }));
  specs.push_back(IntKey(
      "sessions", "absolute_timeout_s", 300, 90 * 24 * 3600,
      [](auto& c) -> auto& { return c.sessions.absolute_timeout; }));
  specs.push_back(IntKey(
      "sessions", "max_per_user", 1, 1000,
      [](auto& c) -> auto& { return c.sessions.max_per_user; }));
  specs.push_back(EnumKey<SessionLimitPolicy>(
      "sessions", "limit_policy", "\"evict_oldest\", \"refuse_new\"", ParseLimitPolicy,
      SessionLimitPolicyName, [](auto& c) -> auto& { return c.sessions.limit_policy; }));
  specs.push_back(StringKey(
      "sessions", "fingerprint", CheckFingerprintTraits,
      [](auto& c) -> auto& { return c.sessions.fingerprint; }));
  specs.push_back(StringKey(
      "sessions", "allowed_origins", CheckOrigins,
      [](auto& c) -> auto& { return c.sessions.allowed_origins; }));

  specs.push_back(EnumKey<StateDriver>(
      "state", "driver", "\"memory\", \"redis\"", ParseStateDriver, StateDriverName,
      [](auto& c) -> auto& { return c.state.driver; }));
  specs.push_back(StringKey(
      "state", "redis_host", AnyHost, [](auto& c) -> auto& { return c.state.redis_host; }));
  specs.push_back(IntKey(
      "state", "redis_port", 1, kMaxPort, [](auto& c) -> auto& { return c.state.redis_port; }));
  specs.push_back(SecretFileKey(
      "state", "redis_password_file", "redis_password",
      [](auto& c) -> auto& { return c.state.redis_password; }));
  specs.push_back(StringKey(
      "state", "prefix", CheckStatePrefix, [](auto& c) -> auto& { return c.state.prefix; }));
  specs.push_back(IntKey(
      "state", "max_entries", 1000, 100'000'000,
      [](auto& c) -> auto& { return c.state.max_entries; }));
  specs.push_back(IntKey(
      "state", "redis_timeout_ms", 10, 60'000,
      [](auto& c) -> auto& { return c.state.redis_timeout; }));

  specs.push_back(IntKey(
      "passwords", "min_bytes", 8, 64, [](auto& c) -> auto& { return c.passwords.min_bytes; }));
  specs.push_back(IntKey(
      "passwords", "max_bytes", 64, 4096, [](auto& c) -> auto& { return c.passwords.max_bytes; }));
  specs.push_back(BoolKey(
      "passwords", "require_complexity",
      [](auto& c) -> auto& { return c.passwords.require_complexity; }));
  specs.push_back(PathKey(
      "passwords", "blocklist_file", [](auto& c) -> auto& { return c.passwords.blocklist_file; }));

  specs.push_back(EnumKey<StoreDriver>(
      "store", "driver", "\"sqlite\", \"postgres\"", ParseStoreDriver, StoreDriverName,
      [](auto& c) -> auto& { return c.store.driver; }));
  specs.push_back(PathKey(
      "store", "sqlite_path", [](auto& c) -> auto& { return c.store.sqlite_path; }));
  specs.push_back(SecretFileKey(
      "store", "postgres_url_file", "postgres_url",
      [](auto& c) -> auto& { return c.store.postgres_url; }));
  specs.push_back(IntKey(
      "store", "postgres_pool_size", 1, 1024,
      [](auto& c) -> auto& { return c.store.postgres_pool_size; }));

  specs.push_back(EnumKey<RateLimitStrictness>(
      "rate_limit", "strictness", "\"relaxed\", \"standard\", \"strict\"", ParseStrictness,
      RateLimitStrictnessName, [](auto& c) -> auto& { return c.rate_limit.strictness; }));
  specs.push_back(BoolKey(
      "rate_limit", "enabled", [](auto& c) -> auto& { return c.rate_limit.enabled; }));
  specs.push_back(StringKey(
      "rate_limit", "default", CheckRateSpec,
      [](auto& c) -> auto& { return c.rate_limit.default_class; }));
  specs.push_back(StringKey(
      "rate_limit", "auth", CheckRateSpec, [](auto& c) -> auto& { return c.rate_limit.auth; }));
  specs.push_back(StringKey(
      "rate_limit", "registration", CheckRateSpec,
      [](auto& c) -> auto& { return c.rate_limit.registration; }));
  specs.push_back(StringKey(
      "rate_limit", "protected", CheckRateSpec,
      [](auto& c) -> auto& { return c.rate_limit.protected_class; }));
  specs.push_back(StringKey(
      "rate_limit", "api_key", CheckRateSpec,
      [](auto& c) -> auto& { return c.rate_limit.api_key; }));
  specs.push_back(StringKey(
      "rate_limit", "on_unavailable", CheckPolicyRequired,
      [](auto& c) -> auto& { return c.rate_limit.on_unavailable; }));
  specs.push_back(StringKey(
      "rate_limit", "default_on_unavailable", CheckPolicyOptional,
      [](auto& c) -> auto& { return c.rate_limit.default_on_unavailable; }));
  specs.push_back(StringKey(
      "rate_limit", "auth_on_unavailable", CheckPolicyOptional,
      [](auto& c) -> auto& { return c.rate_limit.auth_on_unavailable; }));
  specs.push_back(StringKey(
      "rate_limit", "registration_on_unavailable", CheckPolicyOptional,
      [](auto& c) -> auto& { return c.rate_limit.registration_on_unavailable; }));
  specs.push_back(StringKey(
      "rate_limit", "protected_on_unavailable", CheckPolicyOptional,
      [](auto& c) -> auto& { return c.rate_limit.protected_on_unavailable; }));
  specs.push_back(StringKey(
      "rate_limit", "api_key_on_unavailable", CheckPolicyOptional,
      [](auto& c) -> auto& { return c.rate_limit.api_key_on_unavailable; }));

  specs.push_back(StringKey(
      "client_ip", "trusted_proxies", CheckAddressList,
      [](auto& c) -> auto& { return c.client_ip.trusted_proxies; }));
  specs.push_back(StringKey(
      "client_ip", "forwarded_header", CheckForwardedHeader,
      [](auto& c) -> auto& { return c.client_ip.forwarded_header; }));

  specs.push_back(StringKey(
      "ip_lists", "allow", CheckAddressList, [](auto& c) -> auto& { return c.ip_lists.allow; }));
  specs.push_back(StringKey(
      "ip_lists", "deny", CheckAddressList, [](auto& c) -> auto& { return c.ip_lists.deny; }));
  specs.push_back(IntKey(
      "ip_lists", "reload_interval_s", 1, 3600,
      [](auto& c) -> auto& { return c.ip_lists.reload_interval; }));

  specs.push_back(IntKey(
      "brute_force", "captcha_after", 1, 1000,
      [](auto& c) -> auto& { return c.brute_force.captcha_after; }));
  specs.push_back(IntKey(
      "brute_force", "lock_after", 1, 1000,
      [](auto& c) -> auto& { return c.brute_force.lock_after; }));
  specs.push_back(IntKey(
      "brute_force", "lock_duration_s", 1, 7 * 24 * 3600,
      [](auto& c) -> auto& { return c.brute_force.lock_duration; }));
  specs.push_back(IntKey(
      "brute_force", "failure_window_s", 1, 7 * 24 * 3600,
      [](auto& c) -> auto& { return c.brute_force.failure_window; }));
  specs.push_back(IntKey(
      "brute_force", "delay_base_ms", 1, 60'000,
      [](auto& c) -> auto& { return c.brute_force.delay_base; }));
  specs.push_back(IntKey(
      "brute_force", "delay_cap_s", 1, 3600,
      [](auto& c) -> auto& { return c.brute_force.delay_cap; }));
  specs.push_back(IntKey(
      "brute_force", "ip_block_threshold", 1, 1000,
      [](auto& c) -> auto& { return c.brute_force.ip_block_threshold; }));
  specs.push_back(IntKey(
      "brute_force", "ip_window_s", 1, 7 * 24 * 3600,
      [](auto& c) -> auto& { return c.brute_force.ip_window; }));
  specs.push_back(IntKey(
      "brute_force", "ip_block_base_s", 1, 7 * 24 * 3600,
      [](auto& c) -> auto& { return c.brute_force.ip_block_base; }));
  specs.push_back(IntKey(
      "brute_force", "ip_block_cap_s", 1, 30 * 24 * 3600,
      [](auto& c) -> auto& { return c.brute_force.ip_block_cap; }));
  specs.push_back(IntKey(
      "brute_force", "device_cookie_days", 1, 3650,
      [](auto& c) -> auto& { return c.brute_force.device_cookie_days; }));
  specs.push_back(IntKey(
      "brute_force", "captcha_difficulty_bits", 8, 32,
      [](auto& c) -> auto& { return c.brute_force.captcha_difficulty_bits; }));
  specs.push_back(IntKey(
      "brute_force", "captcha_lifetime_s", 1, 3600,
      [](auto& c) -> auto& { return c.brute_force.captcha_lifetime; }));

  specs.push_back(StringKey(
      "mfa", "issuer", CheckIssuer, [](auto& c) -> auto& { return c.mfa.issuer; }));
  specs.push_back(StringKey(
      "mfa", "totp_algorithm", CheckOtpAlgorithm,
      [](auto& c) -> auto& { return c.mfa.totp_algorithm; }));
  specs.push_back(IntKey(
      "mfa", "totp_digits", 6, 8, [](auto& c) -> auto& { return c.mfa.totp_digits; }));
  specs.push_back(IntKey(
      "mfa", "totp_period_s", 10, 300, [](auto& c) -> auto& { return c.mfa.totp_period; }));
  specs.push_back(IntKey(
      "mfa", "totp_window", 0, 10, [](auto& c) -> auto& { return c.mfa.totp_window; }));
  specs.push_back(IntKey(
      "mfa", "backup_codes", 1, 100, [](auto& c) -> auto& { return c.mfa.backup_codes; }));
  specs.push_back(IntKey(
      "mfa", "ticket_ttl_s", 30, 3600, [](auto& c) -> auto& { return c.mfa.ticket_ttl; }));
  specs.push_back(BoolKey(
      "mfa", "sms_enabled", [](auto& c) -> auto& { return c.mfa.sms_enabled; }));
  specs.push_back(StringKey(
      "mfa", "sms_preset", CheckSmsPreset, [](auto& c) -> auto& { return c.mfa.sms_preset; }));
  specs.push_back(StringKey(
      "mfa", "sms_url", CheckOptionalUrl, [](auto& c) -> auto& { return c.mfa.sms_url; }));
  specs.push_back(StringKey(
      "mfa", "sms_body_format", CheckBodyFormat,
      [](auto& c) -> auto& { return c.mfa.sms_body_format; }));
  specs.push_back(StringKey(
      "mfa", "sms_body_template", CheckTemplateText,
      [](auto& c) -> auto& { return c.mfa.sms_body_template; }));
  specs.push_back(StringKey(
      "mfa", "sms_from", CheckShortText, [](auto& c) -> auto& { return c.mfa.sms_from; }));
  specs.push_back(StringKey(
      "mfa", "sms_twilio_account_sid", CheckShortText,
      [](auto& c) -> auto& { return c.mfa.sms_twilio_account_sid; }));
  specs.push_back(StringKey(
      "mfa", "sms_auth_header_name", CheckHeaderName,
      [](auto& c) -> auto& { return c.mfa.sms_auth_header_name; }));
  specs.push_back(SecretFileKey(
      "mfa", "sms_auth_header_file", "sms_auth_header",
      [](auto& c) -> auto& { return c.mfa.sms_auth_header; }));
  specs.push_back(StringKey(
      "mfa", "sms_message", CheckTemplateText, [](auto& c) -> auto& { return c.mfa.sms_message; }));
  specs.push_back(IntKey(
      "mfa", "sms_code_ttl_s", 30, 3600, [](auto& c) -> auto& { return c.mfa.sms_code_ttl; }));
  specs.push_back(IntKey(
      "mfa", "sms_per_number_limit", 1, 100,
      [](auto& c) -> auto& { return c.mfa.sms_per_number_limit; }));
  specs.push_back(IntKey(
      "mfa", "sms_per_number_window_s", 1, 24 * 3600,
      [](auto& c) -> auto& { return c.mfa.sms_per_number_window; }));
  specs.push_back(IntKey(
      "mfa", "sms_timeout_ms", 100, 60'000, [](auto& c) -> auto& { return c.mfa.sms_timeout; }));
  specs.push_back(IntKey(
      "mfa", "sms_attempts", 1, 10, [](auto& c) -> auto& { return c.mfa.sms_attempts; }));
  specs.push_back(IntKey(
      "mfa", "sms_retry_backoff_ms", 1, 60'000,
      [](auto& c) -> auto& { return c.mfa.sms_retry_backoff; }));
  specs.push_back(IntKey(
      "mfa", "sms_answer_wait_ms", 0, 60'000,
      [](auto& c) -> auto& { return c.mfa.sms_answer_wait; }));
  specs.push_back(PathKey(
      "mfa", "sms_ca_file", [](auto& c) -> auto& { return c.mfa.sms_ca_file; }));
  specs.push_back(StringKey(
      "mfa", "sms_pinned_public_keys", CheckPins,
      [](auto& c) -> auto& { return c.mfa.sms_pinned_public_keys; }));
  specs.push_back(BoolKey(
      "mfa", "sms_verify_tls", [](auto& c) -> auto& { return c.mfa.sms_verify_tls; }));
  specs.push_back(BoolKey(
      "mfa", "sms_allow_plain_http", [](auto& c) -> auto& { return c.mfa.sms_allow_plain_http; }));

  specs.push_back(BoolKey(
      "admin", "enabled", [](auto& c) -> auto& { return c.admin.enabled; }));
  specs.push_back(StringKey(
      "admin", "listen", AnyHost, [](auto& c) -> auto& { return c.admin.listen; }));
  specs.push_back(IntKey(
      "admin", "port", 1, kMaxPort, [](auto& c) -> auto& { return c.admin.port; }));
  specs.push_back(SecretFileKey(
      "admin", "token_file", "token", [](auto& c) -> auto& { return c.admin.token; }));

  specs.push_back(BoolKey(
      "api_keys", "enabled", [](auto& c) -> auto& { return c.api_keys.enabled; }));
  specs.push_back(StringKey(
      "api_keys", "header", CheckKeyHeaderName,
      [](auto& c) -> auto& { return c.api_keys.header; }));
  specs.push_back(StringKey(
      "api_keys", "environment", CheckKeyEnvironment,
      [](auto& c) -> auto& { return c.api_keys.environment; }));
  specs.push_back(IntKey(
      "api_keys", "default_lifetime_days", 1, 365,
      [](auto& c) -> auto& { return c.api_keys.default_lifetime_days; }));
  specs.push_back(IntKey(
      "api_keys", "max_lifetime_days", 1, 365,
      [](auto& c) -> auto& { return c.api_keys.max_lifetime_days; }));
  specs.push_back(IntKey(
      "api_keys", "rotation_grace_s", 0, 30 * 24 * 3600,
      [](auto& c) -> auto& { return c.api_keys.rotation_grace; }));
  specs.push_back(IntKey(
      "api_keys", "expiry_warning_days", 0, 90,
      [](auto& c) -> auto& { return c.api_keys.expiry_warning_days; }));
  specs.push_back(IntKey(
      "api_keys", "expiry_check_interval_s", 1, 24 * 3600,
      [](auto& c) -> auto& { return c.api_keys.expiry_check_interval; }));
  specs.push_back(IntKey(
      "api_keys", "usage_flush_interval_s", 1, 3600,
      [](auto& c) -> auto& { return c.api_keys.usage_flush_interval; }));
  specs.push_back(IntKey(
      "api_keys", "usage_event_interval_s", 1, 24 * 3600,
      [](auto& c) -> auto& { return c.api_keys.usage_event_interval; }));
  specs.push_back(IntKey(
      "api_keys", "cache_entries", 0, 1'000'000,
      [](auto& c) -> auto& { return c.api_keys.cache_entries; }));
  specs.push_back(IntKey(
      "api_keys", "cache_ttl_s", 1, 3600, [](auto& c) -> auto& { return c.api_keys.cache_ttl; }));
  specs.push_back(StringKey(
      "api_keys", "scopes", CheckScopeList, [](auto& c) -> auto& { return c.api_keys.scopes; }));
  specs.push_back(StringKey(
      "api_keys", "admin_only_scopes", CheckScopeList,
      [](auto& c) -> auto& { return c.api_keys.admin_only_scopes; }));
  specs.push_back(IntKey(
      "api_keys", "max_keys_per_owner", 1, 1000,
      [](auto& c) -> auto& { return c.api_keys.max_keys_per_owner; }));
  specs.push_back(IntKey(
      "api_keys", "max_service_accounts_per_user", 0, 1000,
      [](auto& c) -> auto& { return c.api_keys.max_service_accounts_per_user; }));

  specs.push_back(IntKey(
      "oidc", "flow_ttl_s", 60, 3600, [](auto& c) -> auto& { return c.oidc.flow_ttl; }));
  specs.push_back(IntKey(
      "oidc", "discovery_ttl_s", 60, 7 * 24 * 3600,
      [](auto& c) -> auto& { return c.oidc.discovery_ttl; }));
  specs.push_back(IntKey(
      "oidc", "jwks_min_refresh_s", 1, 3600,
      [](auto& c) -> auto& { return c.oidc.jwks_min_refresh; }));
  specs.push_back(StringKey(
      "oidc", "return_to_origins", [](const std::string&) { return std::string(); },
      [](auto& c) -> auto& { return c.oidc.return_to_origins; }));
  specs.push_back(StringKey(
      "oidc", "default_return_to",
      [](const std::string& text) -> std::string {
        // A path on this service: an absolute URL here would be an open redirect.
        if (text.empty() || text[0] != '/' || (text.size() > 1 && text[1] == '/')) {
          return "must be a path starting with a single '/'";
        }
        return {};
      },
      [](auto& c) -> auto& { return c.oidc.default_return_to; }));

  return specs;
}

}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kString:
      return "a string";
    case Kind::kInteger:
      return "an integer";
    case Kind::kBoolean:
      return "a boolean";
  }
  return "a value";
}

const std::vector<KeySpec>& KeySpecs() {
  static const std::vector<KeySpec> specs = BuildKeySpecs();
  return specs;
}

const std::vector<SecretSpec>& SecretSpecs() {
  static const std::vector<SecretSpec> specs = {
      {"crypto", "master_key", [](Config& c) -> SecretSetting& { return c.crypto.master_key; },
       [](const Config& c) -> const SecretSetting& { return c.crypto.master_key; }},
      {"tokens", "hmac_secret", [](Config& c) -> SecretSetting& { return c.tokens.hmac_secret; },
       [](const Config& c) -> const SecretSetting& { return c.tokens.hmac_secret; }},
      {"tokens", "previous_hmac_secret",
       [](Config& c) -> SecretSetting& { return c.tokens.previous_hmac_secret; },
       [](const Config& c) -> const SecretSetting& { return c.tokens.previous_hmac_secret; }},
      {"tokens", "signing_key", [](Config& c) -> SecretSetting& { return c.tokens.signing_key; },
       [](const Config& c) -> const SecretSetting& { return c.tokens.signing_key; }},
      {"state", "redis_password",
       [](Config& c) -> SecretSetting& { return c.state.redis_password; },
       [](const Config& c) -> const SecretSetting& { return c.state.redis_password; }},
      {"store", "postgres_url", [](Config& c) -> SecretSetting& { return c.store.postgres_url; },
       [](const Config& c) -> const SecretSetting& { return c.store.postgres_url; }},
      {"admin", "token", [](Config& c) -> SecretSetting& { return c.admin.token; },
       [](const Config& c) -> const SecretSetting& { return c.admin.token; }},
      {"mfa", "sms_auth_header", [](Config& c) -> SecretSetting& { return c.mfa.sms_auth_header; },
       [](const Config& c) -> const SecretSetting& { return c.mfa.sms_auth_header; }},
  };
  return specs;
}

const std::vector<std::string_view>& Sections() {
  static const std::vector<std::string_view> sections = {
      "server",    "log",   "crypto",     "tokens",    "sessions", "state",
      "passwords", "store", "rate_limit", "client_ip", "ip_lists", "brute_force",
      "admin",     "mfa",   "api_keys",   "oidc"};
  return sections;
}

std::string KeyPath(std::string_view section, std::string_view key) {
  if (section.empty()) return std::string(key);
  return std::string(section) + "." + std::string(key);
}

std::string EnvName(std::string_view section, std::string_view key) {
  std::string name = "GATEHOUSE_";
  if (!section.empty()) name += std::string(section) + "_";
  name += key;
  for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

std::string TomlString(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned char ch : text) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          out += "\\u00";
          out += kHex[ch >> 4];
          out += kHex[ch & 0xf];
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace gatehouse::core::config_internal
