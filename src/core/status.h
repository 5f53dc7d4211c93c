#pragma once

// Errors are values across module boundaries. An Error has two faces: `message`
// is safe to show a client (a generic sentence), `detail` is for the log and for
// development-profile answers only (it may name files, SQL states, library text).
// Neither face may ever hold a secret or unmasked personal data.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace gatehouse {

// A small code set. The comment on each says whether a caller may retry.
enum class ErrorCode : std::uint8_t {
  kInvalidArgument,     // Input is wrong; retrying the same input fails again.
  kNotFound,            // The named thing does not exist; no retry.
  kAlreadyExists,       // A unique value is taken; no retry.
  kUnauthenticated,     // Credentials missing or wrong; retry with others.
  kPermissionDenied,    // Authenticated but not allowed; no retry.
  kFailedPrecondition,  // State forbids it now (locked, not ready); retry after change.
  kResourceExhausted,   // A limit or quota was hit; retry after the advertised delay.
  kPayloadTooLarge,     // A size cap was exceeded; retrying the same input fails again.
  kUnsupportedMedia,    // Wrong content type; no retry.
  kDeadlineExceeded,    // Took too long; retry may succeed.
  kUnavailable,         // A dependency is down or overloaded; retry with backoff.
  kDataLoss,            // Stored data is corrupt or was tampered with; never retry.
  kInternal,            // A bug or an unexpected library failure; no retry.
};

std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Error {
 public:
  Error(ErrorCode code, std::string message, std::string detail = {})
      : code_(code), message_(std::move(message)), detail_(std::move(detail)) {}

  ErrorCode code() const { return code_; }
  // Client-facing sentence.
  const std::string& message() const { return message_; }
  // Log-facing detail; empty when the message says it all.
  const std::string& detail() const { return detail_; }

  // Prefixes context to the detail, keeping code and client message.
  Error& WithContext(std::string_view context);

 private:
  ErrorCode code_;
  std::string message_;
  std::string detail_;
};

inline Error InvalidArgument(std::string message, std::string detail = {}) {
  return Error(ErrorCode::kInvalidArgument, std::move(message), std::move(detail));
}
inline Error Internal(std::string detail) {
  return Error(ErrorCode::kInternal, "internal error", std::move(detail));
}
inline Error Unavailable(std::string message, std::string detail = {}) {
  return Error(ErrorCode::kUnavailable, std::move(message), std::move(detail));
}
inline Error NotFound(std::string message, std::string detail = {}) {
  return Error(ErrorCode::kNotFound, std::move(message), std::move(detail));
}

// Result<T> holds either a value or an Error. Result<void> is a plain status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok().
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !ok().
  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{ErrorCode::kInternal, {}};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status Ok() { return {}; }

}  // namespace gatehouse

// Propagates an error from an expression yielding Result/Status.
#define GH_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    auto gh_status_ = (expr);                     \
    if (!gh_status_.ok()) return std::move(gh_status_).error(); \
  } while (0)
