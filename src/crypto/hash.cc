#include "crypto/hash.h"

#include <openssl/evp.h>

#include "crypto/bytes.h"
#include "crypto/fatal.h"

namespace gatehouse::crypto {
namespace {

// Fetching an algorithm walks the provider tables; do it once per process.
// EVP_MD objects are reference counted and safe to share between threads.
const EVP_MD* Sha256Algorithm() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) FatalCryptoFailure("SHA256 fetch");
  return md;
}

}  // namespace

Sha256Digest Sha256(std::span<const std::uint8_t> data) {
  Sha256Digest digest;
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, Sha256Algorithm(), nullptr) !=
          1 ||
      length != digest.size()) {
    FatalCryptoFailure("SHA256");
  }
  return digest;
}

Sha256Digest Sha256(std::string_view data) { return Sha256(AsBytes(data)); }

}  // namespace gatehouse::crypto
