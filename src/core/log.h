#pragma once

// Structured logging: one JSON object per line, written through spdlog (kept out of this
// header; it is heavy to compile).
//
// Two loggers:
//   app     events from the service: {"ts":"2026-05-01T12:00:00.123Z","level":"info",
//           "logger":"app","event":"login_failure", ...fields}
//   access  one line per HTTP request (see AccessRecord).
//
// Personal data and secrets: a Field cannot be built from a Secret (the constructor is
// deleted), and emails, phone numbers and IPs go through Field::Email/Phone/Ip, which mask
// them with core/mask.h. Everything else in a Field is logged as given, so never pass a
// token, password, key or unmasked personal data as a plain string.
//
// Every string (keys, values, event names) is JSON-escaped: quotes, backslashes and control
// characters are escaped, invalid UTF-8 becomes U+FFFD, so untrusted text cannot forge a
// line or a field.
//
// Thread safety: Event, RateLimited, Access, Enabled and Flush may be called from any thread
// at any time. Init may run while other threads log (they see the old or the new setup),
// but is meant for startup and tests.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/log_level.h"
#include "core/status.h"

namespace gatehouse {
class Clock;
class Secret;
namespace core {
struct Config;
}  // namespace core
}  // namespace gatehouse

namespace gatehouse::log {

// Test hook: collects the lines of both loggers in memory. Thread-safe.
class Capture {
 public:
  void Append(std::string_view line);
  std::vector<std::string> Lines() const;
  void Clear();

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

struct LogOptions {
  Level level = Level::kInfo;      // App lines below this level are dropped. Access lines are not.
  std::string app_log = "stderr";  // "stdout", "stderr" or a file path.
  std::string access_log = "stdout";  // "stdout", "stderr", "off" or a file path.
  // Lines per key per second let through by RateLimited.
  int rate_limit_per_second = 5;
  // Source of "ts" and of the RateLimited windows. Not owned; must outlive every logging
  // call until the next Init. Null: SystemClock::Instance().
  const Clock* clock = nullptr;
  // When set, both loggers write into it instead of app_log/access_log (an access log that
  // is "off" stays off).
  std::shared_ptr<Capture> capture;
};

// The options a loaded configuration asks for (level, app_log, access_log).
LogOptions OptionsFromConfig(const core::Config& config);

// Replaces the loggers. Files are opened for appending and created with mode 0640. Until the
// first Init, app lines go to stderr at level info and access lines to stdout.
Status Init(const LogOptions& options);

// Whether an app line at `level` would be written; check it before building costly fields.
bool Enabled(Level level);

// Writes buffered lines out (file sinks flush by themselves only for warn and above).
void Flush();

// One key/value pair of a line.
class Field {
 public:
  using Value = std::variant<std::string, std::int64_t, std::uint64_t, bool, double>;

  Field(std::string_view key, std::string_view value) : key_(key), value_(std::string(value)) {}
  Field(std::string_view key, const std::string& value) : key_(key), value_(value) {}
  Field(std::string_view key, const char* value)
      : key_(key), value_(std::string(value == nullptr ? "" : value)) {}
  template <std::signed_integral T>
  Field(std::string_view key, T value) : key_(key), value_(static_cast<std::int64_t>(value)) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) Field(std::string_view key, T value)
      : key_(key), value_(static_cast<std::uint64_t>(value)) {}
  Field(std::string_view key, bool value) : key_(key), value_(value) {}
  template <std::floating_point T>
  Field(std::string_view key, T value) : key_(key), value_(static_cast<double>(value)) {}

  // Secrets have no way into a log line.
  Field(std::string_view key, const Secret& value) = delete;

  // Personal data, masked by core/mask.h: the only way emails, phone numbers and client
  // addresses should reach app lines.
  static Field Email(std::string_view key, std::string_view email);
  static Field Phone(std::string_view key, std::string_view phone);
  static Field Ip(std::string_view key, std::string_view ip);
  // Marks that a credential was present without showing any of it: "[redacted]".
  static Field Redacted(std::string_view key);

  const std::string& key() const { return key_; }
  const Value& value() const { return value_; }

 private:
  std::string key_;
  Value value_;
};

// Writes an app line. Field keys that collide with the fixed keys ("ts", "level", "logger",
// "event", "suppressed") are written with a "field_" prefix.
void Event(Level level, std::string_view event, std::initializer_list<Field> fields = {});
void Event(Level level, std::string_view event, std::span<const Field> fields);

// Like Event, for lines an attacker can trigger at will (bad requests, failed logins): at most
// LogOptions::rate_limit_per_second lines per `key` per second. Suppressed lines are counted
// and the count is reported as "suppressed":N on the next line written for that key.
// `key` names a kind of line chosen by the code ("http_bad_request"), never attacker input:
// past 1024 distinct keys, new keys share one budget.
void RateLimited(std::string_view key, Level level, std::string_view event,
                 std::initializer_list<Field> fields = {});
void RateLimited(std::string_view key, Level level, std::string_view event,
                 std::span<const Field> fields);

// One HTTP request, for the access logger. Strings are borrowed for the call only.
struct AccessRecord {
  std::chrono::system_clock::time_point time;  // When the request started.
  std::string_view request_id;
  std::string_view method;
  // The path WITHOUT the query string: queries may carry tokens, codes and emails
  // (OAuth `code`, reset links). Anything from the first '?' or '#' on is cut off anyway.
  std::string_view path;
  int status = 0;
  std::uint64_t bytes = 0;  // Response body bytes sent.
  double duration_ms = 0;
  std::string_view client_ip;   // Logged in full: needed to act on abuse.
  std::string_view user_agent;  // Cut to 256 bytes.
};

// Writes an access line: "event":"http_request" with the fields above ("time" in RFC 3339).
// Its level follows the outcome: 5xx error, 4xx warn, otherwise info.
void Access(const AccessRecord& record);

}  // namespace gatehouse::log
