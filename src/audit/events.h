#pragma once

// Security events: one sink every room reports to. For now the sink writes JSON lines to
// the application log; a later step chains the same events into the tamper-evident audit
// log and feeds the detectors.
//
// What may go into an event: an opaque account id, a stable reason code, the request id,
// and attributes that are already masked. Never a password, a token, a key, or unmasked
// personal data (an email goes in through core/mask.h first). The client IP is carried
// in full inside the process (detectors and IP blocking need it) but written masked.
//
// Thread safety: Emit may be called from any thread at once.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::audit {

enum class EventType : std::uint8_t {
  kLoginSuccess,
  kLoginFailure,
  kPasswordChange,
  kAccountLockout,
  kApiKeyUsage,
  kSuspiciousActivity,
  kUnauthorizedAccess,
  kDataAccess,
  kPrivilegeEscalation,
  kConfigChange,
  kAdminAction,
  kIpBlock,           // An address was blocked automatically after failures across accounts.
  kRateLimitBackend,  // The shared rate-limit store went away or came back.
  kMfaChange,         // A second factor was enabled or disabled, backup codes replaced.
  kBackupCodeUse,     // A backup code was spent (one event per code).
  kApiKeyLifecycle,   // An API key or service account was created, rotated, revoked, or
                      // is about to expire (the reason says which).
  kCount,             // Not a type: the number of types.
};

// "login_success", "login_failure", ... as named in the design.
std::string_view EventTypeName(EventType type);

// Drives alert routing later (low -> email ... critical -> SMS).
enum class Severity : std::uint8_t { kInfo, kLow, kMedium, kHigh, kCritical };
std::string_view SeverityName(Severity severity);

struct SecurityEvent {
  EventType type = EventType::kLoginFailure;
  Severity severity = Severity::kInfo;
  std::chrono::system_clock::time_point time{};
  std::string request_id;
  std::string user_id;    // Opaque account id; empty when no account is known.
  std::string client_ip;  // Full address; written masked.
  std::string reason;     // Stable machine code, e.g. "wrong_password", "refresh_reuse".
  // Extra context, already free of secrets and unmasked personal data.
  std::vector<std::pair<std::string, std::string>> attributes;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Emit(const SecurityEvent& event) = 0;
};

// Counts events by type; the base for metrics. Lock-free.
class EventCounters {
 public:
  void Count(EventType type) {
    counts_[static_cast<std::size_t>(type)].fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t Get(EventType type) const {
    return counts_[static_cast<std::size_t>(type)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(EventType::kCount)> counts_{};
};

// Writes each event as one "security_event" line on the application log, and counts it.
class LogEventSink final : public EventSink {
 public:
  void Emit(const SecurityEvent& event) override;
  const EventCounters& counters() const { return counters_; }

 private:
  EventCounters counters_;
};

// Keeps events in memory, for tests and for the detectors' unit tests.
class MemoryEventSink final : public EventSink {
 public:
  void Emit(const SecurityEvent& event) override;
  std::vector<SecurityEvent> Events() const;
  std::size_t CountOf(EventType type) const;
  void Clear();

 private:
  mutable std::mutex mutex_;
  std::vector<SecurityEvent> events_;
};

// Sends each event to several sinks in order. Does not own them.
class FanoutEventSink final : public EventSink {
 public:
  explicit FanoutEventSink(std::vector<EventSink*> sinks) : sinks_(std::move(sinks)) {}
  void Emit(const SecurityEvent& event) override {
    for (EventSink* sink : sinks_) sink->Emit(event);
  }

 private:
  std::vector<EventSink*> sinks_;
};

}  // namespace gatehouse::audit
