#pragma once

// Sliding-window rate limiting keyed by (class, subject); see docs/rate-limiting.md.
//
// A class is a named limit ("auth": 5 requests per 60 s); a subject is who is counted
// ("ip:203.0.113.9", "user:acc_x", "key:gh_live_ab12"). A route may check several
// (class, subject) pairs for one request and refuse when any refuses.
//
// The promise every RateLimiter keeps: a request is refused exactly when at least `limit`
// requests of the same (class, subject) were ALLOWED within the window ending now
// (`(now - window, now]`): both implementations are the exact sliding log. What is NOT
// guaranteed: exactness across instances whose clocks disagree (Redis with
// RedisTimeSource::kClient), and anything at all while Redis is unavailable beyond the
// class's FailurePolicy.
//
// Subjects are stored in keys (and on a shared Redis, visible to its operators): pass an
// identifier (an address, an account id, an API key's public id), never a secret.
//
// Thread safety: every RateLimiter method may be called from any thread, concurrently.

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace gatehouse::protect {

// What a limiter backed by a shared server does while that server cannot be reached.
enum class FailurePolicy : std::uint8_t {
  kFallbackLocal,  // Count in this process instead (each instance enforces the limit alone).
  kFailOpen,       // Allow every request (availability over protection).
  kFailClosed,     // Refuse every request with Retry-After 1 (protection over availability).
};

std::string_view FailurePolicyName(FailurePolicy policy);

struct RateLimitClass {
  // 1..32 bytes of [a-z0-9_-]: it names keys and is sent as a header token.
  std::string name;
  // Requests allowed per window, 1..kMaxLimit.
  std::uint32_t limit = 0;
  // kMinWindow..kMaxWindow.
  std::chrono::milliseconds window{60000};
  FailurePolicy on_unavailable = FailurePolicy::kFallbackLocal;
};

inline constexpr std::uint32_t kMaxLimit = 65535;
inline constexpr std::chrono::milliseconds kMinWindow{16};
inline constexpr std::chrono::milliseconds kMaxWindow = std::chrono::hours(24);
inline constexpr std::size_t kMaxClassNameSize = 32;
inline constexpr std::size_t kMaxSubjectSize = 256;

// kInvalidArgument naming the broken rule (the class name is not secret).
Status ValidateClass(const RateLimitClass& cls);
// kInvalidArgument unless 1..kMaxSubjectSize bytes. The error never echoes the subject.
Status ValidateSubject(std::string_view subject);
// The same verdicts as plain booleans, for the per-decision checks: a Status costs more to
// make than these checks do. A class is valid when its name and its bounds are.
bool IsValidClassName(std::string_view name);
inline bool IsValidClassBounds(const RateLimitClass& cls) {
  return cls.limit >= 1 && cls.limit <= kMaxLimit && cls.window >= kMinWindow &&
         cls.window <= kMaxWindow;
}
inline bool IsValidSubject(std::string_view subject) {
  return !subject.empty() && subject.size() <= kMaxSubjectSize;
}

// The product defaults: default 100/min, auth 5/min, registration 5/min, protected 50/min,
// api_key 1000/min, all falling back to local limits.
std::vector<RateLimitClass> DefaultRateLimitClasses();

struct Decision {
  bool allowed = false;
  std::uint32_t limit = 0;
  // Requests still allowed in the current window after this one.
  std::uint32_t remaining = 0;
  // Until the oldest counted request leaves the window, i.e. until `remaining` next grows.
  std::chrono::milliseconds reset{0};
  // 0 when allowed. Otherwise the wait after which this limiter allows a request of the
  // same (class, subject), provided nothing else is allowed for it meanwhile.
  std::chrono::milliseconds retry_after{0};
  // True when a shared server was unavailable and the class's FailurePolicy decided.
  bool degraded = false;
};

class RateLimiter {
 public:
  using CheckCallback = std::function<void(Result<Decision>)>;

  virtual ~RateLimiter() = default;

  // Counts one request of `subject` under `cls` and says whether it may proceed. An
  // allowed request is counted; a refused one is not (a client hammering a full window
  // does not push its own reset further away).
  // Errors: kInvalidArgument (ValidateClass / ValidateSubject), kResourceExhausted (the
  // memory limiter's key cap), kInternal. Callers refuse the request on any error.
  virtual Result<Decision> Check(const RateLimitClass& cls, std::string_view subject) = 0;

  // Non-blocking form for I/O threads. `done` runs exactly once, on the calling thread
  // before the call returns or on a client thread of the shared server.
  // REQUIRES: `done` is quick, never blocks and never calls a synchronous method.
  virtual void CheckAsync(const RateLimitClass& cls, std::string_view subject, CheckCallback done) {
    done(Check(cls, subject));
  }
};

// ---------------------------------------------------------------------------------------
// Response headers, draft-ietf-httpapi-ratelimit-headers-11 (May 2026), sections 3 and 4:
//   RateLimit-Policy: "auth";q=5;w=60          the policy: quota q per window w seconds
//   RateLimit: "auth";r=0;t=17                  what is left (r) and for how long (t, s)
// Both are Structured Field lists (RFC 9651), one item per class applied to the request.

// One class as applied to one request.
struct AppliedLimit {
  const RateLimitClass* cls;  // Not owned.
  Decision decision;
};

// `"name";q=LIMIT;w=WINDOW_SECONDS` (the window rounded up to whole seconds, as w has no
// sub-second precision).
std::string RateLimitPolicyItem(const RateLimitClass& cls);
// `"name";r=REMAINING;t=RESET_SECONDS`; t is rounded up, so a client waiting t seconds
// never comes back early. For a refusal t equals Retry-After, as section 6 asks that
// Retry-After not point before the end of the effective window.
std::string RateLimitItem(const RateLimitClass& cls, const Decision& decision);
// The same written into `out`, which must hold kMaxRateLimitItem bytes; returns its length.
inline constexpr std::size_t kMaxRateLimitItem = 72;
std::size_t WriteRateLimitItem(const RateLimitClass& cls, const Decision& decision, char* out);

// Retry-After delay-seconds (RFC 9110 section 10.2.3): rounded up, at least 1.
std::uint64_t RetryAfterSeconds(std::chrono::milliseconds retry_after);

// Whether any of `applied` refused the request.
bool AnyRefused(std::span<const AppliedLimit> applied);

// The header fields for a response: RateLimit-Policy and RateLimit (items joined with
// ", "), and Retry-After (the longest wait among the refusing classes) when any refused.
// Empty when `applied` is empty.
std::vector<std::pair<std::string, std::string>> RateLimitHeaders(
    std::span<const AppliedLimit> applied);

}  // namespace gatehouse::protect
