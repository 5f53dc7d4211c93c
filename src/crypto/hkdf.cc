#include "crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>
#include <string>
#include <vector>

namespace gatehouse::crypto {
namespace {

// EVP_KDF objects are reference counted and safe to share between threads.
EVP_KDF* HkdfAlgorithm() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};

// OSSL_PARAM wants non-const pointers even for inputs it only reads.
void* Unconst(const void* p) { return const_cast<void*>(p); }

}  // namespace

Result<Secret> HkdfSha256(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                          std::span<const std::uint8_t> info, std::size_t length) {
  if (length == 0 || length > kHkdfSha256MaxLength) {
    return InvalidArgument(
        "invalid key length",
        "HKDF-SHA256 output must be 1.." + std::to_string(kHkdfSha256MaxLength) + " bytes");
  }

  // OpenSSL refuses an empty key; say so plainly instead of an internal error.
  if (ikm.empty()) return InvalidArgument("invalid key", "HKDF input keying material is empty");

  EVP_KDF* kdf = HkdfAlgorithm();
  if (kdf == nullptr) return Internal("HKDF algorithm unavailable in OpenSSL");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf));
  if (!ctx) return Internal("HKDF context allocation failed");

  // Empty salt and info are simply left out: OpenSSL's defaults are the empty
  // strings, and RFC 5869 treats an absent salt as HashLen zero bytes, which
  // gives the same PRK as an empty HMAC key.
  char digest[] = "SHA256";
  std::vector<OSSL_PARAM> params;
  params.push_back(OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0));
  params.push_back(
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, Unconst(ikm.data()), ikm.size()));
  if (!salt.empty()) {
    params.push_back(
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, Unconst(salt.data()), salt.size()));
  }
  if (!info.empty()) {
    params.push_back(
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, Unconst(info.data()), info.size()));
  }
  params.push_back(OSSL_PARAM_construct_end());

  std::vector<std::uint8_t> out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
    SecureWipe(out.data(), out.size());
    return Internal("HKDF derive failed: OpenSSL error " + std::to_string(ERR_get_error()));
  }
  Secret key(out);
  SecureWipe(out.data(), out.size());
  return key;
}

}  // namespace gatehouse::crypto
