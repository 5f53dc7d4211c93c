#include "cli/protect_setup.h"

#include "cli/periodic_task.h"
#include "core/log.h"
#include "protect/client_ip.h"
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

  std::vector<protect::RateLimitClass> classes_;
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
                                                   state::StateStore& state,
                                                   audit::EventSink& events,
                                                   const Clock& clock) {
  GH_RETURN_IF_ERROR(ValidateProtectConfig(config));
  auto parts = std::make_unique<Parts>();

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

  parts->gate_ = std::make_unique<protect::RequestGate>(std::move(gate_options),
                                                        parts->limiter_.get(), nullptr, nullptr);
  return std::unique_ptr<ProtectParts>(std::move(parts));
}

}  // namespace gatehouse::cli
