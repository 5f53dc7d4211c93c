#include "cli/auth_setup.h"

#include "auth/account_repository.h"
#include "auth/api_key_repository.h"
#include "auth/api_key_routes.h"
#include "auth/api_key_service.h"
#include "auth/auth_service.h"
#include "auth/live_sessions.h"
#include "auth/login_guard.h"
#include "auth/mfa_repository.h"
#include "auth/mfa_service.h"
#include "auth/password_policy.h"
#include "auth/routes.h"
#include "auth/session_repository.h"
#include "auth/sms_sender.h"
#include "auth/token_service.h"
#include "cli/oidc_setup.h"
#include "auth/totp.h"
#include "cli/periodic_task.h"
#include "core/log.h"
#include "crypto/password.h"
#include "protect/admin_routes.h"
#include "protect/limits_config.h"

namespace gatehouse::cli {
namespace {

// How often session activity is written to the database: what a crash (not a clean stop)
// can lose of it, so a session may be judged idle that much sooner after one.
constexpr std::chrono::milliseconds kActivityFlushPeriod = std::chrono::seconds(30);

class Components final : public AuthComponents {
 public:
  Components(store::Store& store, const crypto::KeyRing& keys, state::StateStore& state,
             audit::EventSink& events, const Clock& clock, std::chrono::seconds idle_timeout,
             auth::TokenService tokens, auth::PasswordBlocklist blocklist)
      : accounts(store, keys, clock),
        sessions(store, keys, clock),
        factors(store, keys, clock),
        live(state, clock, idle_timeout),
        tokens(std::move(tokens)),
        blocklist(std::move(blocklist)),
        api_key_repository(store, clock),
        events_(events),
        clock_(clock) {}

  ~Components() override {
    // The tasks first, then one last flush, so the usage counted (and the session activity
    // recorded) since the last one is not lost on a clean shutdown.
    usage_flusher.reset();
    expiry_notifier.reset();
    activity_flusher.reset();
    if (api_keys) FlushUsage(*api_keys);
    if (service) FlushActivity(*service);
  }

  void AddAdminRoutes(http::Router& router, const Secret& token) override {
    if (!api_keys) return;
    auth::ApiKeyAdminRouteDeps deps;
    deps.service = api_keys.get();
    deps.events = &events_;
    deps.clock = &clock_;
    deps.check_admin = [token, &events = events_, &clock = clock_](const http::Request& req) {
      return protect::CheckAdminToken(req, token, events, clock);
    };
    auth::AddApiKeyAdminRoutes(router, std::move(deps));
  }

  static void FlushActivity(auth::AuthService& service) {
    LogFlushFailure("session_activity_flush_failed", service.FlushSessionActivity());
  }

  static void FlushUsage(auth::ApiKeyService& service) {
    LogFlushFailure("api_key_usage_flush_failed", service.FlushUsage());
  }

  static void LogFlushFailure(std::string_view event, const Status& flushed) {
    if (flushed.ok()) return;
    log::RateLimited(event, log::Level::kWarn, event,
                     {log::Field("error", flushed.error().message()),
                      log::Field("detail", flushed.error().detail())});
  }

  auth::AccountRepository accounts;
  auth::SessionRepository sessions;
  auth::MfaRepository factors;
  auth::LiveSessions live;
  auth::TokenService tokens;
  auth::PasswordBlocklist blocklist;
  std::unique_ptr<auth::AuthService> service;
  std::unique_ptr<auth::LoginGuard> login_guard;
  std::unique_ptr<OidcComponents> oidc;
  std::unique_ptr<auth::HttpSmsSender> sms;
  std::unique_ptr<auth::MfaService> mfa;
  auth::ApiKeyRepository api_key_repository;
  std::unique_ptr<auth::ApiKeyService> api_keys;
  // Last: they call into the members above, so they stop before those go.
  std::unique_ptr<PeriodicTask> usage_flusher;
  std::unique_ptr<PeriodicTask> expiry_notifier;
  std::unique_ptr<PeriodicTask> activity_flusher;

 private:
  audit::EventSink& events_;
  const Clock& clock_;
};

Result<auth::MfaSettings> MfaSettingsFrom(const core::MfaConfig& mfa) {
  auth::MfaSettings settings;
  settings.issuer = mfa.issuer;
  auto algorithm = auth::ParseOtpAlgorithm(mfa.totp_algorithm);
  if (!algorithm) return InvalidArgument("mfa.totp_algorithm: unknown algorithm");
  settings.totp.algorithm = *algorithm;
  settings.totp.digits = mfa.totp_digits;
  settings.totp.period = mfa.totp_period;
  settings.totp.window = mfa.totp_window;
  settings.backup_code_count = mfa.backup_codes;
  settings.ticket_ttl = mfa.ticket_ttl;
  settings.sms_code_ttl = mfa.sms_code_ttl;
  settings.sms_per_number_limit = mfa.sms_per_number_limit;
  settings.sms_per_number_window = mfa.sms_per_number_window;
  settings.sms_message = mfa.sms_message;
  settings.sms_answer_wait = mfa.sms_answer_wait;
  GH_RETURN_IF_ERROR(auth::ValidateMfaSettings(settings));
  return settings;
}

// The SMS sender the [mfa] section describes; nullptr when SMS is off.
Result<std::unique_ptr<auth::HttpSmsSender>> SmsSenderFrom(const core::MfaConfig& mfa) {
  if (!mfa.sms_enabled) return std::unique_ptr<auth::HttpSmsSender>();
  auth::SmsSenderOptions options;
  if (mfa.sms_preset == "twilio") {
    options = auth::TwilioSmsOptions(mfa.sms_twilio_account_sid, mfa.sms_from);
    if (!mfa.sms_url.empty()) options.url = mfa.sms_url;
  } else {
    options.url = mfa.sms_url;
    options.format =
        mfa.sms_body_format == "json" ? auth::SmsBodyFormat::kJson : auth::SmsBodyFormat::kForm;
    options.body_template = mfa.sms_body_template;
    options.from = mfa.sms_from;
  }
  options.auth_header_name = mfa.sms_auth_header_name;
  options.auth_header_value = mfa.sms_auth_header.value;
  options.attempts = mfa.sms_attempts;
  options.backoff = mfa.sms_retry_backoff;
  options.http.connect_timeout = std::min(mfa.sms_timeout, std::chrono::milliseconds(3000));
  options.http.total_timeout = mfa.sms_timeout;
  options.http.ca_file = mfa.sms_ca_file;
  options.http.pinned_public_keys = mfa.sms_pinned_public_keys;
  options.http.verify_tls = mfa.sms_verify_tls;
  options.http.allow_plain_http = mfa.sms_allow_plain_http;
  auto sender = auth::HttpSmsSender::Create(std::move(options));
  if (!sender.ok()) return std::move(sender).error().WithContext("mfa.sms");
  return std::move(sender).value();
}

// The API key service from configuration, or null when keys are off.
Result<std::unique_ptr<auth::ApiKeyService>> MakeApiKeys(
    const core::Config& config, auth::ApiKeyRepository& repository, const crypto::KeyRing& keys,
    state::StateStore& state, audit::EventSink& events, const Clock& clock, ProtectParts& protect) {
  if (!config.api_keys.enabled) return std::unique_ptr<auth::ApiKeyService>();
  auth::ApiKeySettings settings = auth::ApiKeySettingsFromConfig(config);
  protect::RateLimiter* limiter = protect.limiter();
  if (const protect::RateLimitClass* cls = protect::FindClass(protect.classes(), "api_key")) {
    settings.rate_class = *cls;
  } else {
    limiter = nullptr;  // Rate limiting is off altogether.
  }
  auto hasher = auth::ApiKeyHasher::Create(keys);
  if (!hasher.ok()) return std::move(hasher).error();
  return std::make_unique<auth::ApiKeyService>(repository, state, limiter, std::move(*hasher),
                                               events, clock, std::move(settings));
}

// "https://host[:port]" as browsers send it in Origin.
std::string OwnOrigin(const core::ServerConfig& server) {
  if (!server.public_host.empty()) return "https://" + server.public_host;
  std::string origin = "https://localhost";
  if (server.port != 443) origin += ":" + std::to_string(server.port);
  return origin;
}

}  // namespace

Result<std::unique_ptr<state::StateStore>> OpenConfiguredState(const core::Config& config,
                                                               const Clock& clock) {
  state::StateOptions options;
  options.driver = std::string(core::StateDriverName(config.state.driver));
  options.memory_max_entries = config.state.max_entries;
  options.redis_host = config.state.redis_host;
  options.redis_port = config.state.redis_port;
  options.redis_password = config.state.redis_password.value;
  options.redis_prefix = config.state.prefix;
  options.redis_call_timeout = config.state.redis_timeout;
  return state::OpenState(options, clock);
}

Result<std::unique_ptr<AuthComponents>> SetUpAuth(const core::Config& config,
                                                  store::Store& store,
                                                  const crypto::KeyRing& keys,
                                                  state::StateStore& state,
                                                  audit::EventSink& events, const Clock& clock,
                                                  ProtectParts& protect, http::Router& router) {
  auth::PasswordPolicy policy;
  policy.min_bytes = config.passwords.min_bytes;
  policy.max_bytes = config.passwords.max_bytes;
  policy.require_complexity = config.passwords.require_complexity;
  GH_RETURN_IF_ERROR(auth::ValidatePasswordPolicy(policy));

  crypto::Argon2Params argon2;
  argon2.memory_kib = config.crypto.argon2_memory_kib;
  argon2.iterations = config.crypto.argon2_iterations;
  argon2.parallelism = config.crypto.argon2_parallelism;
  GH_RETURN_IF_ERROR(crypto::ValidateArgon2Params(argon2));

  const std::filesystem::path blocklist_path =
      config.passwords.blocklist_file.empty()
          ? std::filesystem::path(GATEHOUSE_DATA_DIR) / "common-passwords.txt"
          : config.passwords.blocklist_file;
  auto blocklist = auth::PasswordBlocklist::Load(blocklist_path);
  if (!blocklist.ok()) return std::move(blocklist).error().WithContext("passwords.blocklist_file");

  auto keyset = auth::BuildSigningKeys(config.tokens);
  if (!keyset.ok()) return std::move(keyset).error();
  auth::TokenSettings token_settings;
  token_settings.issuer = config.tokens.issuer;
  token_settings.audience = config.tokens.audience;
  token_settings.access_ttl = config.tokens.access_ttl;
  token_settings.leeway = config.tokens.leeway;
  token_settings.cache_entries = config.tokens.verified_cache_entries;

  auto components = std::make_unique<Components>(
      store, keys, state, events, clock, config.sessions.idle_timeout,
      auth::TokenService(std::move(*keyset), token_settings, clock), std::move(*blocklist));

  auth::AuthSettings settings;
  settings.password_policy = policy;
  settings.argon2 = argon2;
  settings.refresh_ttl = config.tokens.refresh_ttl;
  settings.refresh_grace = config.tokens.refresh_grace;
  settings.absolute_timeout = config.sessions.absolute_timeout;
  settings.max_sessions = config.sessions.max_per_user;
  settings.limit_policy = config.sessions.limit_policy;
  components->service = std::make_unique<auth::AuthService>(
      components->accounts, components->sessions, components->live, components->tokens,
      components->blocklist, events, clock, settings);
  GH_RETURN_IF_ERROR(components->service->Init());
  // State in this process's memory starts empty: the sessions come back from the database,
  // so a restart signs nobody out (Redis keeps them by itself).
  if (config.state.driver == core::StateDriver::kMemory) {
    auto restored = components->service->RestoreLiveSessions();
    if (!restored.ok()) return std::move(restored).error().WithContext("restoring sessions");
    log::Event(log::Level::kInfo, "sessions_restored",
               {log::Field("count", static_cast<std::int64_t>(*restored))});
  }
  components->activity_flusher = std::make_unique<PeriodicTask>(
      kActivityFlushPeriod,
      [service = components->service.get()] { Components::FlushActivity(*service); });

  auth::AuthRoutesOptions options;
  options.verify_inline = config.state.driver == core::StateDriver::kMemory;
  options.own_origin = OwnOrigin(config.server);
  options.allowed_origins = config.sessions.allowed_origins;
  options.fingerprint_traits = config.sessions.fingerprint;
  options.session_cookie_max_age = config.sessions.absolute_timeout;
  options.refresh_cookie_max_age = config.tokens.refresh_ttl;
  options.max_body_bytes = std::min<std::size_t>(config.server.max_body_bytes, 64 * 1024);
  auto account_key = keys.DeriveKey("brute-force-account", keys.current_version());
  if (!account_key.ok()) return std::move(account_key).error();
  auth::LoginGuardParts guard_parts;
  guard_parts.guard = &protect.guard();
  guard_parts.captcha = &protect.captcha();
  guard_parts.devices = &protect.devices();
  guard_parts.registry = &protect.repository();
  guard_parts.lists = &protect.ip_rules();
  guard_parts.events = &events;
  guard_parts.clock = &clock;
  guard_parts.on_ip_block = [&protect](std::chrono::milliseconds d) { protect.NoteIpBlock(d); };
  guard_parts.device_cookie_max_age =
      std::chrono::hours(24) * static_cast<int>(config.brute_force.device_cookie_days);
  components->login_guard =
      std::make_unique<auth::LoginGuard>(std::move(guard_parts), *account_key);
  options.login_guard = components->login_guard.get();

  // Second factors: the service decides at login whether a ticket replaces the session.
  auto mfa_settings = MfaSettingsFrom(config.mfa);
  if (!mfa_settings.ok()) return std::move(mfa_settings).error();
  auto sms = SmsSenderFrom(config.mfa);
  if (!sms.ok()) return std::move(sms).error();
  components->sms = std::move(*sms);
  auto code_key = keys.DeriveKey("mfa-codes", keys.current_version());
  if (!code_key.ok()) return std::move(code_key).error();
  components->mfa = std::make_unique<auth::MfaService>(
      components->factors, components->accounts, state, events, clock, std::move(*mfa_settings),
      *code_key, components->sms.get());
  components->service->set_second_factors(components->mfa.get());
  options.mfa = components->mfa.get();

  options.limiter = protect.limiter();
  if (const protect::RateLimitClass* cls = protect::FindClass(protect.classes(), "protected")) {
    options.user_class = *cls;
  } else {
    options.limiter = nullptr;
  }

  auto api_keys =
      MakeApiKeys(config, components->api_key_repository, keys, state, events, clock, protect);
  if (!api_keys.ok()) return std::move(api_keys).error().WithContext("api_keys");
  components->api_keys = std::move(*api_keys);
  if (auth::ApiKeyService* service = components->api_keys.get()) {
    options.api_keys = service;
    options.api_key_header = config.api_keys.header;
    // Usage reaches the store in batches, never once per request.
    components->usage_flusher = std::make_unique<PeriodicTask>(
        std::chrono::duration_cast<std::chrono::milliseconds>(config.api_keys.usage_flush_interval),
        [service] { Components::FlushUsage(*service); });
    components->expiry_notifier = std::make_unique<PeriodicTask>(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            config.api_keys.expiry_check_interval),
        [service] {
          if (auto reported = service->NotifyExpiring(); !reported.ok()) {
            log::RateLimited("api_key_expiry_check_failed", log::Level::kWarn,
                             "api_key_expiry_check_failed",
                             {log::Field("error", reported.error().message())});
          }
        });
  }

  auto oidc = SetUpOidc(config, store, keys, state, events, clock, components->accounts,
                        *components->service, options.own_origin);
  if (!oidc.ok()) return std::move(oidc).error();
  components->oidc = std::move(*oidc);
  if (components->oidc) options.oidc = &components->oidc->service();
  options.pre_auth_cookie_max_age = config.oidc.flow_ttl;
  auth::AddAuthRoutes(router, *components->service, components->tokens, events, options);
  return std::unique_ptr<AuthComponents>(std::move(components));
}

}  // namespace gatehouse::cli
