#include "protect/limits_config.h"

#include <algorithm>
#include <string>

namespace gatehouse::protect {
namespace {

std::uint32_t Scale(core::RateLimitStrictness strictness) {
  switch (strictness) {
    case core::RateLimitStrictness::kStrict: return 1;
    case core::RateLimitStrictness::kStandard: return 2;
    case core::RateLimitStrictness::kRelaxed: return 10;
  }
  return 1;
}

std::optional<FailurePolicy> ParsePolicy(std::string_view name) {
  if (name == "fallback_local") return FailurePolicy::kFallbackLocal;
  if (name == "fail_open") return FailurePolicy::kFailOpen;
  if (name == "fail_closed") return FailurePolicy::kFailClosed;
  return std::nullopt;
}

struct Override {
  std::string_view name;
  const std::string* spec;
  const std::string* policy;
};

}  // namespace

Result<std::vector<RateLimitClass>> ClassesFromConfig(const core::RateLimitConfig& config) {
  const Override overrides[] = {
      {"default", &config.default_class, &config.default_on_unavailable},
      {"auth", &config.auth, &config.auth_on_unavailable},
      {"registration", &config.registration, &config.registration_on_unavailable},
      {"protected", &config.protected_class, &config.protected_on_unavailable},
      {"api_key", &config.api_key, &config.api_key_on_unavailable},
  };
  const std::optional<FailurePolicy> fallback = ParsePolicy(config.on_unavailable);
  if (!fallback) {
    return InvalidArgument("invalid rate limit configuration",
                           "rate_limit.on_unavailable: unknown policy");
  }

  std::vector<RateLimitClass> classes = DefaultRateLimitClasses();
  for (RateLimitClass& cls : classes) {
    cls.limit = std::min<std::uint32_t>(cls.limit * Scale(config.strictness), kMaxLimit);
    cls.on_unavailable = *fallback;
    for (const Override& o : overrides) {
      if (o.name != cls.name) continue;
      if (!o.spec->empty()) {
        std::optional<core::RateSpec> spec = core::ParseRateSpec(*o.spec);
        if (!spec) {
          return InvalidArgument("invalid rate limit configuration",
                                 "rate_limit." + std::string(o.name) + ": not LIMIT/WINDOW");
        }
        cls.limit = spec->limit;
        cls.window = spec->window;
      }
      if (!o.policy->empty()) {
        std::optional<FailurePolicy> policy = ParsePolicy(*o.policy);
        if (!policy) {
          return InvalidArgument("invalid rate limit configuration",
                                 "rate_limit." + std::string(o.name) +
                                     "_on_unavailable: unknown policy");
        }
        cls.on_unavailable = *policy;
      }
    }
    GH_RETURN_IF_ERROR(ValidateClass(cls));
  }
  return classes;
}

const RateLimitClass* FindClass(const std::vector<RateLimitClass>& classes,
                                std::string_view name) {
  for (const RateLimitClass& cls : classes) {
    if (cls.name == name) return &cls;
  }
  return nullptr;
}

}  // namespace gatehouse::protect
