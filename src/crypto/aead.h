#pragma once

// AES-256-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit tag.
//
// Nonces: a (key, nonce) pair must never encrypt twice; reuse reveals the XOR
// of plaintexts and lets an attacker forge tags. Callers that do not manage
// nonces themselves should use the envelope (envelope.h), which draws a random
// nonce per message.
//
// Thread safety: may be called concurrently.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/secret.h"
#include "core/status.h"

namespace gatehouse::crypto {

inline constexpr std::size_t kAesGcmKeySize = 32;
inline constexpr std::size_t kAesGcmNonceSize = 12;
inline constexpr std::size_t kAesGcmTagSize = 16;
// Hard cap on one message, far below GCM's own limit (2^39 - 256 bits); larger
// data belongs in a streaming format, not one buffer.
inline constexpr std::size_t kAesGcmMaxMessageSize = std::size_t{1} << 30;

// Encrypts and authenticates `plaintext`, and authenticates `aad`.
// Returns ciphertext || tag (plaintext size + 16 bytes).
// Errors: kInvalidArgument for a key that is not 32 bytes, a nonce that is not
// 12 bytes, or a message above kAesGcmMaxMessageSize; kInternal if OpenSSL fails.
Result<std::vector<std::uint8_t>> Seal(std::span<const std::uint8_t> key,
                                       std::span<const std::uint8_t> nonce,
                                       std::span<const std::uint8_t> plaintext,
                                       std::span<const std::uint8_t> aad);

// Verifies and decrypts ciphertext || tag. The plaintext comes back as a Secret
// (wiped when dropped); nothing is released unless the tag verifies.
// Errors: kDataLoss with a generic message when the input is shorter than a
// tag or fails authentication (wrong key, nonce, aad, or any modified byte:
// the cases are deliberately indistinguishable); kInvalidArgument for bad key
// or nonce sizes; kInternal if OpenSSL fails.
Result<Secret> Open(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                    std::span<const std::uint8_t> ciphertext_and_tag,
                    std::span<const std::uint8_t> aad);

}  // namespace gatehouse::crypto
