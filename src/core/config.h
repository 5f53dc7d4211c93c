#pragma once

// The service configuration: one TOML file plus GATEHOUSE_* environment overrides.
//
// Sources, later ones winning:
//   1. profile defaults (see core/profile.h: DefaultsFor),
//   2. the TOML file,
//   3. environment variables: GATEHOUSE_<SECTION>_<KEY> for section keys
//      (GATEHOUSE_SERVER_PORT), GATEHOUSE_<KEY> for top-level keys (GATEHOUSE_PROFILE).
//      The profile is decided first (environment, then file, then "development") because
//      it chooses the defaults every other key starts from.
//
// Secrets (crypto.master_key, tokens.hmac_secret, store.postgres_url) never appear in the
// TOML file itself: the file may only name a file holding them (`master_key_file`), and the
// environment may name a file (GATEHOUSE_CRYPTO_MASTER_KEY_FILE) or carry the value
// (GATEHOUSE_CRYPTO_MASTER_KEY). Giving both environment forms is an error. Secret files are
// read at load time; one trailing newline is stripped; a file whose first line is
// kDevelopmentSecretMarker is accepted as a development secret (the marker line is not part of
// the value) and flagged so that production refuses it.
//
// Relative paths in the TOML file resolve against the directory holding the file; relative
// paths from the environment resolve against the working directory at load time. Every path
// in a loaded Config is absolute.
//
// Unknown keys and sections, wrong types and out-of-range values are errors. Loading reports
// every problem it finds, one per line in Error::detail(), each starting with the key path
// ("server.port: must be 1..65535"). No message ever contains a secret value.
//
// Environment variables starting with GATEHOUSE_ that name no key are reported in
// Config::warnings, except the names in kReservedEnvironment (used by the binary itself).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/log_level.h"
#include "core/secret.h"
#include "core/status.h"

namespace gatehouse::core {

enum class Profile : std::uint8_t { kDevelopment, kStaging, kProduction };
std::string_view ProfileName(Profile profile);
std::optional<Profile> ParseProfile(std::string_view name);

enum class StoreDriver : std::uint8_t { kSqlite, kPostgres };
std::string_view StoreDriverName(StoreDriver driver);

// Carried for the rate limiter; the profile chooses the default.
enum class RateLimitStrictness : std::uint8_t { kRelaxed, kStandard, kStrict };
std::string_view RateLimitStrictnessName(RateLimitStrictness strictness);

// First line the development setup writes into every secret file it generates.
inline constexpr std::string_view kDevelopmentSecretMarker =
    "# gatehouse development secret - never use in production";

// GATEHOUSE_* variables that are not configuration keys and draw no warning.
inline constexpr std::string_view kReservedEnvironment[] = {"GATEHOUSE_CONFIG"};

// A secret loaded from a file or the environment. Copyable (the Secret wipes itself).
struct SecretSetting {
  Secret value;                     // Empty when missing.
  std::filesystem::path file;       // The file it was read from; empty if it came from a variable.
  std::string env_var;              // The variable that gave the value or the file; may be empty.
  bool development_marker = false;  // The file or value began with kDevelopmentSecretMarker.

  bool present() const { return !value.empty(); }
  std::size_t size() const { return value.size(); }
};

struct ServerConfig {
  std::string listen = "127.0.0.1";  // An IPv4 or IPv6 address literal.
  std::uint16_t port = 8443;
  bool tls = true;
  std::filesystem::path cert_file;  // Required when tls is on.
  std::filesystem::path key_file;   // Required when tls is on.
  std::uint16_t redirect_port = 0;  // 0: no plain-HTTP listener; else it answers only 308.
  std::string public_host;          // host[:port] for redirects; empty: Host name + TLS port.
  unsigned io_threads = 0;          // 0: one per core (ResolveThreadCount).
  std::size_t max_header_bytes = 8192;
  std::size_t max_body_bytes = 1048576;
  std::chrono::milliseconds read_timeout{10000};  // Whole request, headers included.
  std::chrono::milliseconds idle_timeout{60000};  // Between keep-alive requests.
  std::size_t max_connections = 10000;
  std::chrono::milliseconds drain_timeout{15000};
  unsigned worker_threads = 0;  // 0: one per core (ResolveThreadCount).
  std::size_t worker_queue = 1024;
  bool verbose_errors = true;  // Profile default.
  bool expose_admin = false;
  bool expose_test_endpoints = false;
  std::chrono::milliseconds tls_handshake_timeout{10000};
};

struct LogConfig {
  log::Level level = log::Level::kDebug;  // Profile default.
  std::string access_log = "stdout";      // "stdout", "stderr", "off" or an absolute path.
  std::string app_log = "stderr";         // "stdout", "stderr" or an absolute path.
};

struct CryptoConfig {
  SecretSetting master_key;
  std::uint32_t argon2_memory_kib = 19456;
  std::uint32_t argon2_iterations = 2;
  std::uint32_t argon2_parallelism = 1;
  bool require_encryption = false;  // Profile default: true in staging and production.
};

// Signing algorithm of access tokens (RFC 7518 / RFC 8037 names).
enum class TokenAlgorithm : std::uint8_t { kHs256, kEdDsa, kEs256 };
std::string_view TokenAlgorithmName(TokenAlgorithm algorithm);

struct TokensConfig {
  TokenAlgorithm algorithm = TokenAlgorithm::kHs256;
  SecretSetting hmac_secret;           // HS256 signing secret, >= 32 bytes.
  SecretSetting previous_hmac_secret;  // Optional: still verifies during a rotation.
  SecretSetting signing_key;           // EdDSA/ES256: PEM (PKCS#8) private key.
  // Optional PEM public key of the previous signing key: still verifies, and stays in the
  // JWKS, until the tokens it signed have expired.
  std::filesystem::path previous_public_key_file;
  std::string issuer = "gatehouse";
  std::string audience = "gatehouse";
  std::chrono::seconds access_ttl{24 * 3600};
  std::chrono::seconds refresh_ttl{7 * 24 * 3600};
  std::chrono::seconds leeway{30};
  // A refresh token replayed within this window (concurrent refreshes by one client)
  // gets the same successor instead of revoking the family.
  std::chrono::seconds refresh_grace{10};
  // Access tokens whose signature was checked, remembered per process (auth/token_cache.h).
  unsigned verified_cache_entries = 4096;
};

enum class SessionLimitPolicy : std::uint8_t { kEvictOldest, kRefuseNew };
std::string_view SessionLimitPolicyName(SessionLimitPolicy policy);

struct SessionsConfig {
  std::chrono::seconds idle_timeout{30 * 60};
  std::chrono::seconds absolute_timeout{8 * 3600};
  unsigned max_per_user = 5;
  SessionLimitPolicy limit_policy = SessionLimitPolicy::kEvictOldest;
  // Request traits hashed into the device fingerprint, comma-separated, from
  // "user_agent", "accept_language", "client_ip", "ip_prefix".
  std::string fingerprint = "user_agent,accept_language";
  // Origins allowed for unsafe methods authenticated by cookie, comma-separated
  // ("https://app.example.com"). Empty: only the service's own origin.
  std::string allowed_origins;
};

enum class StateDriver : std::uint8_t { kMemory, kRedis };
std::string_view StateDriverName(StateDriver driver);

struct StateConfig {
  StateDriver driver = StateDriver::kMemory;
  std::string redis_host = "127.0.0.1";
  std::uint16_t redis_port = 6379;
  SecretSetting redis_password;  // Required in production when driver is redis.
  std::string prefix = "gh:";
  std::size_t max_entries = 1'000'000;  // Memory driver: entries kept at most.
  std::chrono::milliseconds redis_timeout{250};
};

struct PasswordsConfig {
  unsigned min_bytes = 8;
  unsigned max_bytes = 256;
  bool require_complexity = true;
  // Common-password list, one per line. Empty: the list shipped in data/.
  std::filesystem::path blocklist_file;
};

struct StoreConfig {
  StoreDriver driver = StoreDriver::kSqlite;
  std::filesystem::path sqlite_path;  // Default "var/gatehouse.db" beside the config file.
  SecretSetting postgres_url;         // Required when driver is postgres.
  unsigned postgres_pool_size = 4;
};

struct RateLimitConfig {
  RateLimitStrictness strictness = RateLimitStrictness::kRelaxed;  // Profile default.
  bool enabled = true;
  // "LIMIT/WINDOW" (e.g. "5/60s", units ms, s, m, h) overriding a class's default; empty
  // keeps the product default scaled by the strictness (protect/limits_config.h).
  std::string default_class, auth, registration, protected_class, api_key;
  // What a class does while Redis is unreachable: "fallback_local", "fail_open",
  // "fail_closed". The per-class keys are empty to take `on_unavailable`.
  std::string on_unavailable = "fallback_local";
  std::string default_on_unavailable, auth_on_unavailable, registration_on_unavailable,
      protected_on_unavailable, api_key_on_unavailable;
};

// A rate written "LIMIT/WINDOW": "5/60s", "100/1m", "65535/100ms". Limit 1..65535, window
// 16 ms..24 h (the limiter's bounds), units ms, s, m, h. Nothing else is accepted.
struct RateSpec {
  std::uint32_t limit = 0;
  std::chrono::milliseconds window{0};
};
std::optional<RateSpec> ParseRateSpec(std::string_view text);

// Who the client is behind proxies (protect/client_ip.h). Lists are comma-separated.
struct ClientIpConfig {
  std::string trusted_proxies;                  // CIDRs; empty trusts nobody.
  std::string forwarded_header = "x-forwarded-for";  // Or "forwarded" (RFC 7239).
};

// Manual allow and deny lists (protect/ip_rules.h), comma-separated CIDRs.
struct IpListsConfig {
  std::string allow;
  std::string deny;
  std::chrono::seconds reload_interval{5};  // Runtime rules from the store.
};

struct BruteForceConfig {
  unsigned captcha_after = 3;
  unsigned lock_after = 5;
  std::chrono::seconds lock_duration{15 * 60};
  std::chrono::seconds failure_window{15 * 60};
  std::chrono::milliseconds delay_base{1000};
  std::chrono::seconds delay_cap{30};
  unsigned ip_block_threshold = 20;
  std::chrono::seconds ip_window{15 * 60};
  std::chrono::seconds ip_block_base{15 * 60};
  std::chrono::seconds ip_block_cap{24 * 3600};
  unsigned device_cookie_days = 180;
  unsigned captcha_difficulty_bits = 18;
  std::chrono::seconds captcha_lifetime{300};
};

// The admin listener: a second HTTPS port (loopback by default) for operators.
struct AdminConfig {
  bool enabled = false;
  std::string listen = "127.0.0.1";
  unsigned port = 9443;
  SecretSetting token;  // Bearer token the admin endpoints require (at least 32 bytes).
};

// One OpenID Connect provider, from a [[oidc.providers]] table (auth/oidc_provider.h).
// Providers come from the file only; the environment can give each one's client secret as
// GATEHOUSE_OIDC_<ID>_CLIENT_SECRET[_FILE] (the id upper-cased, '-' as '_').
struct OidcProviderConfig {
  std::string id;      // 1..32 of [a-z0-9_-]; names the routes /v1/auth/oidc/{id}/...
  std::string preset;  // "" or "google" (knows the issuer).
  std::string issuer;  // https URL; discovery is read from <issuer>/.well-known/...
  std::string client_id;
  SecretSetting client_secret;
  std::string scopes = "openid email profile";  // Space-separated; must include openid.
  std::string redirect_uri;  // https URL of this service's callback for the provider.
  std::string token_auth = "client_secret_basic";  // Or "client_secret_post".
  // Link a first sign-in to the existing account with the same email, when the provider
  // says the email is verified.
  bool link_by_email = false;
  // Make an account for a first sign-in with a verified email no account has.
  bool create_accounts = true;
  std::string pinned_public_keys;  // "sha256//<base64>", several joined by ';'.
  std::filesystem::path ca_file;   // Extra trust anchors for this provider; empty: system.
  bool verify_tls = true;          // Only the development profile may turn it off.
  std::size_t source_line = 0;     // Where the table starts, for messages.
};

struct OidcConfig {
  std::chrono::seconds flow_ttl{600};  // From start to callback.
  std::chrono::seconds discovery_ttl{3600};
  std::chrono::seconds jwks_min_refresh{60};  // Least time between key-set reads.
  // Origins that return_to may name besides this service's own (comma-separated).
  std::string return_to_origins;
  std::string default_return_to = "/";
  std::vector<OidcProviderConfig> providers;
};

// Second factors (docs/mfa.md). SMS is off unless sms_enabled; its sender is an HTTP API.
struct MfaConfig {
  std::string issuer = "Gatehouse";     // Shown in authenticator apps.
  std::string totp_algorithm = "SHA1";  // SHA1, SHA256 or SHA512.
  unsigned totp_digits = 6;
  std::chrono::seconds totp_period{30};
  unsigned totp_window = 1;  // Steps accepted either side of the current one.
  unsigned backup_codes = 10;
  std::chrono::seconds ticket_ttl{300};
  bool sms_enabled = false;
  std::string sms_preset = "custom";     // "custom" or "twilio".
  std::string sms_url;                   // custom: required; twilio: defaults to the API URL.
  std::string sms_body_format = "form";  // "form" or "json".
  std::string sms_body_template;         // ${to}, ${from}, ${message}; twilio: preset.
  std::string sms_from;
  std::string sms_twilio_account_sid;
  std::string sms_auth_header_name = "Authorization";
  SecretSetting sms_auth_header;  // The whole header value, e.g. "Basic ...".
  std::string sms_message = "Your ${issuer} code is ${code}";
  std::chrono::seconds sms_code_ttl{300};
  unsigned sms_per_number_limit = 3;
  std::chrono::seconds sms_per_number_window{900};
  std::chrono::milliseconds sms_timeout{5000};
  unsigned sms_attempts = 3;
  std::chrono::milliseconds sms_retry_backoff{500};
  std::chrono::milliseconds sms_answer_wait{10000};
  std::filesystem::path sms_ca_file;
  std::string sms_pinned_public_keys;
  bool sms_verify_tls = true;         // staging and production require true.
  bool sms_allow_plain_http = false;  // staging and production require false.
};

// Service API keys (auth/api_key_service.h, docs/api-keys.md).
struct ApiKeysConfig {
  bool enabled = true;
  // The request header that carries a key (compared case-insensitively).
  std::string header = "X-API-Key";
  // "live" or "test": the prefix of issued keys (gh_live_ / gh_test_), and the only one
  // accepted. Empty: the profile decides (production live, others test).
  std::string environment;
  unsigned default_lifetime_days = 90;
  unsigned max_lifetime_days = 365;
  // How long a rotated key keeps working beside its successor.
  std::chrono::seconds rotation_grace{7 * 24 * 3600};
  // Keys ending within this many days are reported once a day; 0 turns the notice off.
  unsigned expiry_warning_days = 14;
  // How often an instance looks for keys to report (each key still once a day).
  std::chrono::seconds expiry_check_interval{3600};
  // Usage counters are written to the store this often (never once per request).
  std::chrono::seconds usage_flush_interval{10};
  // At most one api_key_usage event per key per this interval, carrying the count.
  std::chrono::seconds usage_event_interval{300};
  // Keys looked up in the store, remembered per process; revocation is checked live.
  unsigned cache_entries = 10000;
  std::chrono::seconds cache_ttl{60};
  // Comma-separated scope vocabulary; empty accepts any well-formed scope.
  std::string scopes;
  // Comma-separated scopes only the admin listener may grant.
  std::string admin_only_scopes;
  unsigned max_keys_per_owner = 20;
  unsigned max_service_accounts_per_user = 10;
};

struct Config {
  Profile profile = Profile::kDevelopment;
  ServerConfig server;
  LogConfig log;
  CryptoConfig crypto;
  TokensConfig tokens;
  SessionsConfig sessions;
  StateConfig state;
  PasswordsConfig passwords;
  StoreConfig store;
  RateLimitConfig rate_limit;
  ClientIpConfig client_ip;
  IpListsConfig ip_lists;
  BruteForceConfig brute_force;
  AdminConfig admin;
  OidcConfig oidc;
  MfaConfig mfa;
  ApiKeysConfig api_keys;

  std::filesystem::path source_file;  // Absolute path of the TOML file loaded.
  // Problems that do not stop this profile (loose secret file modes outside production,
  // unknown GATEHOUSE_* variables, staging findings from LoadAndValidate). The caller logs
  // them once logging is up.
  std::vector<std::string> warnings;
};

// The configuration a profile starts from before the file and the environment apply.
// Paths are left empty (sqlite_path is filled in by LoadConfig, relative to the file).
Config DefaultConfig(Profile profile);

// Loads `file` and applies `env` (name -> value; the binary passes its environ, tests
// inject a map). Reads the secret files. On failure the Error (kInvalidArgument, message
// "invalid configuration") lists every problem in detail(), one per line.
// Does not apply the profile rules; see LoadAndValidate in core/profile.h.
Result<Config> LoadConfig(const std::filesystem::path& file,
                          const std::map<std::string, std::string>& env);

// Splits an Error from LoadConfig/LoadAndValidate into its problem lines.
std::vector<std::string> ConfigProblems(const Error& error);

// The process environment as a map, for LoadConfig.
std::map<std::string, std::string> ProcessEnvironment();

// `configured`, or the number of cores when it is 0 (at least 1).
unsigned ResolveThreadCount(unsigned configured);

// The effective configuration as TOML text for `gatehouse config check`. Every secret is shown
// as "[secret: set, N bytes, from ...]" or "[secret: missing]"; no byte of a secret appears.
std::string RenderMasked(const Config& config);

}  // namespace gatehouse::core
