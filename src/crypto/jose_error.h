#pragma once

// The one error every JOSE rejection produces. A client learns only that the token is
// invalid; which check failed is the detail, for the log and for tests that prove each
// rejection happens for the right reason. A detail names a check, never token text, a
// header value or key bytes: token content is attacker-chosen and may be a credential.

#include <string>
#include <utility>

#include "core/status.h"

namespace gatehouse::crypto {

inline constexpr char kInvalidTokenMessage[] = "invalid token";

inline Error InvalidToken(std::string detail) {
  return Error(ErrorCode::kUnauthenticated, kInvalidTokenMessage, std::move(detail));
}

}  // namespace gatehouse::crypto
