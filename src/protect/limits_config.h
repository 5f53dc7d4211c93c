#pragma once

// Rate-limit classes from configuration: the product defaults scaled by the profile's
// strictness, then the operator's per-class overrides taken as written.
//
//   strict   (production)   the defaults of DefaultRateLimitClasses(): auth 5/min, ...
//   standard (staging)      twice the defaults
//   relaxed  (development)  ten times the defaults, so a developer clicking through a
//                           form is never told to wait
//
// An override ("5/60s") is never scaled: an operator who writes a number means it.

#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "protect/rate_limit.h"

namespace gatehouse::protect {

// kInvalidArgument naming the key for a bad policy name (the loader has already checked
// the spellings; this is the second line of defence for hand-built configs).
Result<std::vector<RateLimitClass>> ClassesFromConfig(const core::RateLimitConfig& config);

// The class called `name`, or nullptr.
const RateLimitClass* FindClass(const std::vector<RateLimitClass>& classes,
                                std::string_view name);

}  // namespace gatehouse::protect
