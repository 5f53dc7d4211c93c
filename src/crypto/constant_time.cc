#include "crypto/constant_time.h"

#include <openssl/crypto.h>

#include "crypto/bytes.h"

namespace gatehouse::crypto {

bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;  // Length leaks by design; see header.
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return ConstantTimeEquals(AsBytes(a), AsBytes(b));
}

}  // namespace gatehouse::crypto
