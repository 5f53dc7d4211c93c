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

template <std::integral T>
std::int64_t Load(const T& field) {
  return static_cast<std::int64_t>(field);
}
std::int64_t Load(const std::chrono::milliseconds& field) { return field.count(); }

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

  specs.push_back(SecretFileKey(
      "tokens", "hmac_secret_file", "hmac_secret",
      [](auto& c) -> auto& { return c.tokens.hmac_secret; }));

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
      {"store", "postgres_url", [](Config& c) -> SecretSetting& { return c.store.postgres_url; },
       [](const Config& c) -> const SecretSetting& { return c.store.postgres_url; }},
  };
  return specs;
}

const std::vector<std::string_view>& Sections() {
  static const std::vector<std::string_view> sections = {"server", "log",   "crypto",
                                                         "tokens", "store", "rate_limit"};
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
