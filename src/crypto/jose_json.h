#pragma once

// Strict JSON for JOSE headers and JWT claim sets.
//
// ParseJoseObject accepts exactly one JSON object (RFC 8259, no comments, no trailing
// commas, valid UTF-8, nesting at most kMaxJoseJsonDepth) in which no object at any depth
// repeats a member name. RFC 7515 section 4 and RFC 7519 section 4 let a JOSE parser
// either reject duplicate names or keep the last one; Boost.JSON keeps the last one, other
// libraries keep the first. A token whose header says {"alg":"HS256","alg":"none"} would
// then mean different things to this service and to a proxy or library in front of it,
// so any duplicate is refused.
//
// Errors: kUnauthenticated "invalid token" (jose_error.h) with a detail that starts with
// `what` ("header", "payload") and names the failed check; it never echoes the input.
// Thread safety: a pure function.

#include <cstddef>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>

#include "core/status.h"

namespace gatehouse::crypto {

inline constexpr std::size_t kMaxJoseJsonDepth = 16;

// The object's memory comes from `storage` (the default heap when null).
Result<boost::json::object> ParseJoseObject(std::string_view text, std::string_view what,
                                            boost::json::storage_ptr storage = {});

}  // namespace gatehouse::crypto
