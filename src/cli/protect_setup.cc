#include "cli/protect_setup.h"

#include "cli/periodic_task.h"
#include "core/log.h"
#include "protect/admin_routes.h"
#include "protect/client_ip.h"
#include "protect/ip_block_view.h"
#include "protect/ip_rules.h"
#include "protect/protect_repository.h"
#include "protect/limits_config.h"
#include "protect/rate_limit_memory.h"
#include "protect/rate_limit_redis.h"
#include "protect/request_gate.h"

namespace gatehouse::cli {
namespace {

using log::Field;
using log::Level;

Result<protect::CidrSet> ParseCidrList(std::string_view key, std::string_view text) {
  auto set = protect::CidrSet::Parse(SplitList(text));
  if (!set.ok()) return std::move(set).error().WithContext(key);
  return set;
}

class Parts final : public ProtectParts {
 public:
  const http::Gate& gate() const override { return *gate_; }
  protect::RateLimiter* limiter() override { return limiter_.get(); }
  const std::vector<protect::RateLimitClass>& classes() const override { return classes_; }
  protect::BruteForceGuard& guard() override { return *guard_; }
  const protect::PowCaptcha& captcha() const override { return *captcha_; }
  const protect::DeviceCookies& devices() const override { return *devices_; }
  const protect::IpRules& ip_rules() const override { return *ip_rules_; }
  protect::ProtectRepository& repository() override { return *repository_; }
  void NoteIpBlock(std::chrono::milliseconds duration) override {
    block_view_->NoteBlock(duration);
  }
  void AddAdminRoutes(http::Router& router, const Secret& token) override {
    protect::AddAdminRoutes(router, protect::AdminRoutesDeps{
                                        .repository = *repository_,
                                        .rules = *ip_rules_,
                                        .events = *events_,
                                        .clock = *clock_,
                                        .token = token,
                                        .lift = lift_,
                                    });
  }

  audit::EventSink* events_ = nullptr;
  const Clock* clock_ = nullptr;
  std::vector<protect::RateLimitClass> classes_;
  std::unique_ptr<protect::ProtectRepository> repository_;
  std::unique_ptr<protect::IpRules> ip_rules_;
  std::unique_ptr<PeriodicTask> rules_reloader_;
  std::function<Status(protect::BlockKind, std::string_view)> lift_;
  std::unique_ptr<protect::BruteForceGuard> guard_;
  std::optional<protect::PowCaptcha> captcha_;
  std::optional<protect::DeviceCookies> devices_;
  std::unique_ptr<protect::StateIpBlockView> block_view_;
  std::unique_ptr<protect::RateLimiter> limiter_;
  std::unique_ptr<protect::RequestGate> gate_;
  std::unique_ptr<PeriodicTask> sweeper_;
};

}  // namespace

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

Status ValidateProtectConfig(const core::Config& config) {
  auto classes = protect::ClassesFromConfig(config.rate_limit);
  if (!classes.ok()) return std::move(classes).error();
  const std::pair<std::string_view, const std::string*> lists[] = {
      {"client_ip.trusted_proxies", &config.client_ip.trusted_proxies},
      {"ip_lists.allow", &config.ip_lists.allow},
      {"ip_lists.deny", &config.ip_lists.deny}};
  for (const auto& [key, text] : lists) {
    auto parsed = ParseCidrList(key, *text);
    if (!parsed.ok()) return std::move(parsed).error();
  }
  return Ok();
}

Result<std::unique_ptr<ProtectParts>> SetUpProtect(const core::Config& config,
                                                   const crypto::KeyRing& keys,
                                                   store::Store& store,
                                                   state::StateStore& state,
                                                   audit::EventSink& events,
                                                   const Clock& clock) {
  GH_RETURN_IF_ERROR(ValidateProtectConfig(config));
  auto parts = std::make_unique<Parts>();
  parts->events_ = &events;
  parts->clock_ = &clock;

  // Manual lists: the configured ones, plus runtime rules from the store that admins add on
  // any instance, reloaded here every few seconds.
  auto configured = protect::IpRuleSet::Parse(SplitList(config.ip_lists.allow),
                                              SplitList(config.ip_lists.deny));
  if (!configured.ok()) return std::move(configured).error().WithContext("ip_lists");
  for (const protect::Cidr& shadowed : protect::ShadowedAllows(*configured)) {
    log::Event(Level::kWarn, "ip_allow_shadowed", {Field("cidr", protect::ToString(shadowed))});
  }
  parts->ip_rules_ = std::make_unique<protect::IpRules>(std::move(*configured));
  parts->repository_ = std::make_unique<protect::ProtectRepository>(store, clock);
  if (auto loaded = protect::ReloadIpRules(*parts->repository_, *parts->ip_rules_);
      !loaded.ok()) {
    return std::move(loaded).error().WithContext("ip_rules");
  }
  protect::ProtectRepository* repository = parts->repository_.get();
  protect::IpRules* rules = parts->ip_rules_.get();
  parts->rules_reloader_ = std::make_unique<PeriodicTask>(
      std::chrono::duration_cast<std::chrono::milliseconds>(config.ip_lists.reload_interval),
      [repository, rules] {
        auto reloaded = protect::ReloadIpRules(*repository, *rules);
        if (!reloaded.ok()) {
          log::RateLimited("ip_rules_reload_failed", Level::kWarn, "ip_rules_reload_failed",
                           {Field("error", reloaded.error().message())});
        }
      });

  protect::RequestGateOptions gate_options;
  gate_options.trusted_proxies =
      *ParseCidrList("client_ip.trusted_proxies", config.client_ip.trusted_proxies);
  gate_options.forwarded_header = config.client_ip.forwarded_header == "forwarded"
                                      ? protect::ForwardedHeader::kForwarded
                                      : protect::ForwardedHeader::kXForwardedFor;

  if (config.rate_limit.enabled) {
    parts->classes_ = *protect::ClassesFromConfig(config.rate_limit);
    protect::RedisRateLimiterOptions redis;
    // Once per switch, never per request: the limiter reports transitions only.
    redis.on_availability_change = [&events, &clock](bool available) {
      audit::SecurityEvent event;
      event.type = audit::EventType::kRateLimitBackend;
      event.severity = available ? audit::Severity::kLow : audit::Severity::kHigh;
      event.time = clock.Now();
      event.reason = available ? "redis_restored" : "redis_unavailable";
      events.Emit(event);
    };
    parts->limiter_ = protect::MakeRateLimiter(state, clock, {}, std::move(redis));
    gate_options.classes = parts->classes_;
    gate_options.limiter_waits = state.script_runner() != nullptr;

    // Expired windows of idle keys are reclaimed in the background too, so memory follows
    // the live keys without traffic.
    protect::MemoryRateLimiter* memory =
        dynamic_cast<protect::MemoryRateLimiter*>(parts->limiter_.get());
    if (auto* redis_limiter = dynamic_cast<protect::RedisRateLimiter*>(parts->limiter_.get())) {
      memory = &redis_limiter->fallback();
    }
    if (memory != nullptr) {
      parts->sweeper_ = std::make_unique<PeriodicTask>(std::chrono::milliseconds(100),
                                                       [memory] { memory->Sweep(256); });
    }
  } else {
    log::Event(Level::kWarn, "rate_limit_disabled", {});
  }

  // Brute-force defence: the guard over the shared state, the CAPTCHA and device cookies
  // with keys of their own from the key ring.
  const core::BruteForceConfig& bf = config.brute_force;
  protect::BruteForceOptions guard_options;
  guard_options.captcha_after = bf.captcha_after;
  guard_options.lock_after = bf.lock_after;
  guard_options.lock_duration = bf.lock_duration;
  guard_options.failure_window = bf.failure_window;
  guard_options.delay_base = bf.delay_base;
  guard_options.delay_cap = bf.delay_cap;
  guard_options.ip_window = bf.ip_window;
  guard_options.ip_block_threshold = bf.ip_block_threshold;
  guard_options.ip_block_base = bf.ip_block_base;
  guard_options.ip_block_cap = bf.ip_block_cap;
  auto guard = protect::BruteForceGuard::Create(state, guard_options);
  if (!guard.ok()) return std::move(guard).error().WithContext("brute_force");
  parts->guard_ = std::move(guard).value();

  auto captcha_key = keys.DeriveKey("pow-captcha", keys.current_version());
  if (!captcha_key.ok()) return std::move(captcha_key).error();
  protect::PowOptions pow;
  pow.difficulty_bits = static_cast<int>(bf.captcha_difficulty_bits);
  pow.lifetime = bf.captcha_lifetime;
  auto captcha = protect::PowCaptcha::Create(
      *captcha_key, pow, clock,
      [&state](std::string_view key, std::chrono::milliseconds ttl) -> Result<bool> {
        return state.SetIfAbsent(key, "1", ttl);
      });
  if (!captcha.ok()) return std::move(captcha).error().WithContext("brute_force.captcha");
  parts->captcha_.emplace(std::move(*captcha));

  auto device_key = keys.DeriveKey("device-cookie", keys.current_version());
  if (!device_key.ok()) return std::move(device_key).error();
  auto devices = protect::DeviceCookies::Create(
      *device_key, clock,
      {.lifetime = std::chrono::hours(24) * static_cast<int>(bf.device_cookie_days)});
  if (!devices.ok()) return std::move(devices).error().WithContext("brute_force.device");
  parts->devices_.emplace(std::move(*devices));

  parts->block_view_ = std::make_unique<protect::StateIpBlockView>(
      *parts->guard_, state, clock, state.script_runner() != nullptr);
  protect::BruteForceGuard* guard_ptr = parts->guard_.get();
  parts->lift_ = [guard_ptr](protect::BlockKind kind, std::string_view subject) -> Status {
    auto lifted = kind == protect::BlockKind::kIp ? guard_ptr->LiftIpBlock(subject)
                                                  : guard_ptr->LiftAccountLock(subject);
    if (!lifted.ok()) return std::move(lifted).error();
    return Ok();
  };

  parts->gate_ = std::make_unique<protect::RequestGate>(
      std::move(gate_options), parts->limiter_.get(), parts->ip_rules_.get(),
      parts->block_view_.get());
  return std::unique_ptr<ProtectParts>(std::move(parts));
}

}  // namespace gatehouse::cli
