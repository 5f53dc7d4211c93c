#include "store/backend_support.h"

#include <charconv>

namespace gatehouse::store::internal {
namespace {

thread_local const void* tls_transaction_store = nullptr;

// Strict UTF-8 (RFC 3629 section 4): no overlong forms, no surrogates, nothing
// above U+10FFFF. NUL is refused as well, since PostgreSQL text cannot hold it.
bool IsStoreableUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // Overlong.
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates.
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // Overlong.
      if (c == 0xF4) hi = 0x8F;  // Above U+10FFFF.
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      const unsigned char min = k == 1 ? lo : 0x80;
      const unsigned char max = k == 1 ? hi : 0xBF;
      if (cc < min || cc > max) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

Error AlreadyExistsError(std::string detail) {
  return Error(ErrorCode::kAlreadyExists, "already exists", std::move(detail));
}

Error UnavailableError(std::string detail) {
  return Error(ErrorCode::kUnavailable, "database unavailable", std::move(detail));
}

Error InternalError(std::string detail) { return Internal(std::move(detail)); }

Status ValidateParams(const Params& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto* text = std::get_if<std::string>(&params[i]);
    if (text != nullptr && !IsStoreableUtf8(*text)) {
      return InvalidArgument("text is not valid UTF-8",
                             "store parameter $" + std::to_string(i + 1) +
                                 " is not valid UTF-8 or holds NUL; bytes belong in a Blob");
    }
  }
  return Ok();
}

std::optional<std::size_t> ParsePlaceholder(std::string_view name) {
  if (name.size() < 2 || name.size() > 6 || name[0] != '$' || name[1] == '0') return std::nullopt;
  std::size_t n = 0;
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(name.data() + 1, end, n);
  if (ec != std::errc() || ptr != end || n == 0 || n > 65535) return std::nullopt;
  return n;
}

TransactionScope::TransactionScope(const void* store) : previous_(tls_transaction_store) {
  tls_transaction_store = store;
}

TransactionScope::~TransactionScope() { tls_transaction_store = previous_; }

bool TransactionScope::Active(const void* store) { return tls_transaction_store == store; }

Error NestedCallError() {
  return InternalError(
      "store called from inside its own transaction callback; use the Transaction instead");
}

}  // namespace gatehouse::store::internal
