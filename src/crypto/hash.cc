#include "crypto/hash.h"

#include <openssl/evp.h>

#include <memory>

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

struct DigestContextFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// One digest context per thread, reset for every hash: EVP_Digest creates and frees a
// context (and the provider's state in it) per call, which cost more than hashing a short
// input does; device fingerprints are hashed on every verified request. Between calls the
// context holds nothing but the last finished digest, which its caller has anyway (the
// final step wipes the buffered input).
EVP_MD_CTX* ThreadDigestContext() {
  thread_local const std::unique_ptr<EVP_MD_CTX, DigestContextFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) FatalCryptoFailure("SHA256 context");
  return ctx.get();
}

}  // namespace

Sha256Digest Sha256(std::span<const std::uint8_t> data) {
  Sha256Digest digest;
  unsigned int length = 0;
  EVP_MD_CTX* ctx = ThreadDigestContext();
  if (EVP_DigestInit_ex2(ctx, Sha256Algorithm(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, digest.data(), &length) != 1 || length != digest.size()) {
    FatalCryptoFailure("SHA256");
  }
  return digest;
}

Sha256Digest Sha256(std::string_view data) { return Sha256(AsBytes(data)); }

}  // namespace gatehouse::crypto
