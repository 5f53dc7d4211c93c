#include "protect/rate_limit.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace gatehouse::protect {
namespace {

// [a-z0-9_-], by table.
constexpr std::array<bool, 256> kNameChars = [] {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  table['_'] = true;
  table['-'] = true;
  return table;
}();

// Whole seconds, rounded up: a client told to wait this long never comes back early.
std::uint64_t CeilSeconds(std::chrono::milliseconds d) {
  if (d.count() <= 0) return 0;
  return static_cast<std::uint64_t>((d.count() + 999) / 1000);
}

}  // namespace

std::string_view FailurePolicyName(FailurePolicy policy) {
  switch (policy) {
    case FailurePolicy::kFallbackLocal:
      return "fallback_local";
    case FailurePolicy::kFailOpen:
      return "fail_open";
    case FailurePolicy::kFailClosed:
      return "fail_closed";
  }
  return "unknown";
}

bool IsValidClassName(std::string_view name) {
  if (name.empty() || name.size() > kMaxClassNameSize) return false;
  bool valid = true;  // Every byte is looked at: names are short, and this has no branches.
  for (unsigned char c : name) valid &= kNameChars[c];
  return valid;
}

Status ValidateClass(const RateLimitClass& cls) {
  // The name becomes part of storage keys and a header token: a restricted alphabet keeps
  // "name:subject" unambiguous and the header free of quoting.
  if (!IsValidClassName(cls.name)) {
    return InvalidArgument("invalid rate limit class",
                           "class name must be 1..32 bytes of [a-z0-9_-]");
  }
  if (cls.limit < 1 || cls.limit > kMaxLimit) {
    return InvalidArgument("invalid rate limit class",
                           "class " + cls.name + ": limit must be 1..65535");
  }
  if (cls.window < kMinWindow || cls.window > kMaxWindow) {
    return InvalidArgument("invalid rate limit class",
                           "class " + cls.name + ": window must be 16 ms..24 h");
  }
  return Ok();
}

Status ValidateSubject(std::string_view subject) {
  // Refused rather than truncated: two long subjects cut to the same prefix would share
  // one window.
  if (subject.empty() || subject.size() > kMaxSubjectSize) {
    return InvalidArgument("invalid rate limit subject", "subject must be 1..256 bytes");
  }
  return Ok();
}

std::vector<RateLimitClass> DefaultRateLimitClasses() {
  using std::chrono::minutes;
  return {
      {"default", 100, minutes(1), FailurePolicy::kFallbackLocal},
      {"auth", 5, minutes(1), FailurePolicy::kFallbackLocal},
      {"registration", 5, minutes(1), FailurePolicy::kFallbackLocal},
      {"protected", 50, minutes(1), FailurePolicy::kFallbackLocal},
      {"api_key", 1000, minutes(1), FailurePolicy::kFallbackLocal},
  };
}

std::string RateLimitPolicyItem(const RateLimitClass& cls) {
  // The name is a Structured Field string; ValidateClass keeps it free of '"' and '\'.
  return "\"" + cls.name + "\";q=" + std::to_string(cls.limit) +
         ";w=" + std::to_string(CeilSeconds(cls.window));
}

std::size_t WriteRateLimitItem(const RateLimitClass& cls, const Decision& decision, char* out) {
  // At most 1 + 32 (the name) + 4 + 5 (r: at most the limit, 65535) + 3 + 20 bytes.
  const auto t =
      decision.allowed ? CeilSeconds(decision.reset) : RetryAfterSeconds(decision.retry_after);
  char* p = out;
  *p++ = '"';
  p = std::copy(cls.name.begin(), cls.name.end(), p);
  p = std::copy_n("\";r=", 4, p);
  p = std::to_chars(p, out + kMaxRateLimitItem, decision.remaining).ptr;
  p = std::copy_n(";t=", 3, p);
  p = std::to_chars(p, out + kMaxRateLimitItem, t).ptr;
  return static_cast<std::size_t>(p - out);
}

std::string RateLimitItem(const RateLimitClass& cls, const Decision& decision) {
  char item[kMaxRateLimitItem];
  return std::string(item, WriteRateLimitItem(cls, decision, item));
}

std::uint64_t RetryAfterSeconds(std::chrono::milliseconds retry_after) {
  // At least 1: "Retry-After: 0" invites an immediate retry that is refused again.
  return std::max<std::uint64_t>(1, CeilSeconds(retry_after));
}

bool AnyRefused(std::span<const AppliedLimit> applied) {
  return std::any_of(applied.begin(), applied.end(),
                     [](const AppliedLimit& a) { return !a.decision.allowed; });
}

std::vector<std::pair<std::string, std::string>> RateLimitHeaders(
    std::span<const AppliedLimit> applied) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (applied.empty()) return headers;

  std::string policy;
  std::string limit;
  std::chrono::milliseconds longest_wait{0};
  bool refused = false;
  for (const AppliedLimit& a : applied) {
    if (!policy.empty()) {
      policy += ", ";
      limit += ", ";
    }
    policy += RateLimitPolicyItem(*a.cls);
    limit += RateLimitItem(*a.cls, a.decision);
    if (!a.decision.allowed) {
      refused = true;
      longest_wait = std::max(longest_wait, a.decision.retry_after);
    }
  }
  headers.emplace_back("RateLimit-Policy", std::move(policy));
  headers.emplace_back("RateLimit", std::move(limit));
  // The request may proceed only once every refusing class has room again.
  if (refused) headers.emplace_back("Retry-After", std::to_string(RetryAfterSeconds(longest_wait)));
  return headers;
}

}  // namespace gatehouse::protect
