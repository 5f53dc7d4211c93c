#include "audit/events.h"

#include <algorithm>

#include "core/log.h"

namespace gatehouse::audit {

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kLoginSuccess: return "login_success";
    case EventType::kLoginFailure: return "login_failure";
    case EventType::kPasswordChange: return "password_change";
    case EventType::kAccountLockout: return "account_lockout";
    case EventType::kApiKeyUsage: return "api_key_usage";
    case EventType::kSuspiciousActivity: return "suspicious_activity";
    case EventType::kUnauthorizedAccess: return "unauthorized_access";
    case EventType::kDataAccess: return "data_access";
    case EventType::kPrivilegeEscalation: return "privilege_escalation";
    case EventType::kConfigChange: return "config_change";
    case EventType::kAdminAction: return "admin_action";
    case EventType::kIpBlock: return "ip_block";
    case EventType::kRateLimitBackend: return "rate_limit_backend";
    case EventType::kMfaChange: return "mfa_change";
    case EventType::kBackupCodeUse: return "backup_code_use";
    case EventType::kApiKeyLifecycle: return "api_key_lifecycle";
    case EventType::kCount: break;
  }
  return "unknown";
}

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kInfo: return "info";
    case Severity::kLow: return "low";
    case Severity::kMedium: return "medium";
    case Severity::kHigh: return "high";
    case Severity::kCritical: return "critical";
  }
  return "unknown";
}

void LogEventSink::Emit(const SecurityEvent& event) {
  counters_.Count(event.type);

  std::vector<log::Field> fields;
  fields.reserve(7 + event.attributes.size());
  fields.emplace_back("type", EventTypeName(event.type));
  fields.emplace_back("severity", SeverityName(event.severity));
  if (!event.request_id.empty()) fields.emplace_back("request_id", event.request_id);
  if (!event.user_id.empty()) fields.emplace_back("user_id", event.user_id);
  if (!event.client_ip.empty()) fields.push_back(log::Field::Ip("client_ip", event.client_ip));
  if (!event.reason.empty()) fields.emplace_back("reason", event.reason);
  for (const auto& [key, value] : event.attributes) fields.emplace_back(key, value);

  // Security events are kept at warn and above when they signal an attack, so that a
  // production log level of "warn" still records them.
  const log::Level level =
      event.severity >= Severity::kMedium ? log::Level::kWarn : log::Level::kInfo;
  // Failed logins and rejected tokens are what an attacker can produce at will: their
  // lines are rate limited (the counters above stay exact).
  if (event.type == EventType::kLoginFailure || event.type == EventType::kUnauthorizedAccess) {
    const std::string key = "security_event_" + std::string(EventTypeName(event.type));
    log::RateLimited(key, level, "security_event", fields);
    return;
  }
  log::Event(level, "security_event", fields);
}

void MemoryEventSink::Emit(const SecurityEvent& event) {
  std::lock_guard<std::mutex> lock(mutex_);
  events_.push_back(event);
}

std::vector<SecurityEvent> MemoryEventSink::Events() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

std::size_t MemoryEventSink::CountOf(EventType type) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<std::size_t>(std::count_if(
      events_.begin(), events_.end(), [type](const SecurityEvent& e) { return e.type == type; }));
}

void MemoryEventSink::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  events_.clear();
}

}  // namespace gatehouse::audit
