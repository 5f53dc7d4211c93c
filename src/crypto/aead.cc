#include "crypto/aead.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <string>

namespace gatehouse::crypto {
namespace {

// EVP_CIPHER objects are reference counted and safe to share between threads.
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

Error OpenSslFailure(std::string_view step) {
  return Internal("AES-256-GCM " + std::string(step) + " failed: OpenSSL error " +
                  std::to_string(ERR_get_error()));
}

Error AuthenticationFailure() {
  // One message for every cause, so callers cannot become an oracle that tells
  // an attacker which part of a forgery was wrong.
  return Error(ErrorCode::kDataLoss, "encrypted data failed its integrity check");
}

Status CheckSizes(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                  std::size_t message_size) {
  if (key.size() != kAesGcmKeySize) {
    return InvalidArgument("invalid key",
                           "AES-256-GCM key must be 32 bytes, got " + std::to_string(key.size()));
  }
  if (nonce.size() != kAesGcmNonceSize) {
    return InvalidArgument(
        "invalid nonce", "AES-256-GCM nonce must be 12 bytes, got " + std::to_string(nonce.size()));
  }
  if (message_size > kAesGcmMaxMessageSize) {
    return InvalidArgument("message too large", "AES-256-GCM message above 1 GiB");
  }
  return Ok();
}

}  // namespace

Result<std::vector<std::uint8_t>> Seal(std::span<const std::uint8_t> key,
                                       std::span<const std::uint8_t> nonce,
                                       std::span<const std::uint8_t> plaintext,
                                       std::span<const std::uint8_t> aad) {
  GH_RETURN_IF_ERROR(CheckSizes(key, nonce, plaintext.size()));
  if (aad.size() > kAesGcmMaxMessageSize) {
    return InvalidArgument("associated data too large", "AES-256-GCM aad above 1 GiB");
  }
  if (Aes256Gcm() == nullptr) return Internal("AES-256-GCM unavailable in OpenSSL");

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslFailure("context allocation");
  // The default GCM IV length is 12 bytes, so key and nonce go in one call.
  if (EVP_EncryptInit_ex2(ctx.get(), Aes256Gcm(), key.data(), nonce.data(), nullptr) != 1) {
    return OpenSslFailure("init");
  }

  int length = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &length, aad.data(),
                                        static_cast<int>(aad.size())) != 1) {
    return OpenSslFailure("aad");
  }

  std::vector<std::uint8_t> out(plaintext.size() + kAesGcmTagSize);
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &length, plaintext.data(),
                          static_cast<int>(plaintext.size())) != 1) {
      return OpenSslFailure("encrypt");
    }
    written = length;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + written, &length) != 1) {
    return OpenSslFailure("final");
  }
  written += length;
  if (static_cast<std::size_t>(written) != plaintext.size()) return OpenSslFailure("length");

  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAesGcmTagSize,
                          out.data() + plaintext.size()) != 1) {
    return OpenSslFailure("tag");
  }
  return out;
}

Result<Secret> Open(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                    std::span<const std::uint8_t> ciphertext_and_tag,
                    std::span<const std::uint8_t> aad) {
  if (ciphertext_and_tag.size() < kAesGcmTagSize) return AuthenticationFailure();
  const std::size_t ciphertext_size = ciphertext_and_tag.size() - kAesGcmTagSize;
  GH_RETURN_IF_ERROR(CheckSizes(key, nonce, ciphertext_size));
  if (aad.size() > kAesGcmMaxMessageSize) {
    return InvalidArgument("associated data too large", "AES-256-GCM aad above 1 GiB");
  }
  if (Aes256Gcm() == nullptr) return Internal("AES-256-GCM unavailable in OpenSSL");

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslFailure("context allocation");
  if (EVP_DecryptInit_ex2(ctx.get(), Aes256Gcm(), key.data(), nonce.data(), nullptr) != 1) {
    return OpenSslFailure("init");
  }

  int length = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &length, aad.data(),
                                        static_cast<int>(aad.size())) != 1) {
    return OpenSslFailure("aad");
  }

  // Decrypt into a scratch buffer that is wiped on every path: until the tag
  // is checked the plaintext is unauthenticated and must not escape.
  std::vector<std::uint8_t> plain(ciphertext_size);
  struct Wiper {
    std::vector<std::uint8_t>& buffer;
    ~Wiper() { SecureWipe(buffer.data(), buffer.size()); }
  } wiper{plain};

  int written = 0;
  if (ciphertext_size > 0) {
    if (EVP_DecryptUpdate(ctx.get(), plain.data(), &length, ciphertext_and_tag.data(),
                          static_cast<int>(ciphertext_size)) != 1) {
      return OpenSslFailure("decrypt");
    }
    written = length;
  }

  // OpenSSL copies the expected tag in; the comparison in DecryptFinal is
  // constant time.
  std::uint8_t tag[kAesGcmTagSize];
  std::copy(ciphertext_and_tag.begin() + ciphertext_size, ciphertext_and_tag.end(), tag);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAesGcmTagSize, tag) != 1) {
    return OpenSslFailure("set tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), plain.data() + written, &length) != 1) {
    ERR_clear_error();
    return AuthenticationFailure();
  }
  return Secret(std::span<const std::uint8_t>(plain));
}

}  // namespace gatehouse::crypto
