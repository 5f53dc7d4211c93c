#pragma once

// A self-describing AES-256-GCM message that names its key version, so data
// written under an old key keeps opening after the key ring rotates.
//
// Binary layout (format version 1), all offsets in bytes:
//   [0]      format version, 0x01
//   [1..4]   key id, big endian
//   [5..16]  nonce, 12 random bytes
//   [17..]   ciphertext (same length as the plaintext)
//   [last 16] GCM tag
// The authenticated data given to GCM is [format version][key id] followed by
// the caller's associated data. Binding the header means a key id or version
// edited in storage fails authentication rather than being trusted.
//
// Nonces are random (NIST SP 800-38D section 8.2.2). That stays safe for up to
// 2^32 messages per key; keys here are per purpose and rotate, which keeps
// each key far below that.
//
// The text form is the base64url (unpadded) encoding of the binary form.
//
// Thread safety: all functions may be called concurrently.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.h"
#include "core/status.h"

namespace gatehouse::crypto {

inline constexpr std::uint8_t kEnvelopeFormatVersion = 1;
inline constexpr std::size_t kEnvelopeHeaderSize = 1 + 4 + 12;
inline constexpr std::size_t kEnvelopeOverhead = kEnvelopeHeaderSize + 16;

// Finds the 32-byte key for a key id read from an envelope. It returns an error
// (typically kNotFound) for ids it does not know; OpenEnvelope passes it on.
using EnvelopeKeyLookup = std::function<Result<Secret>(std::uint32_t key_id)>;

// Seals `plaintext` under `key`, recording `key_id` in the header.
// Errors: as Seal() in aead.h.
Result<std::vector<std::uint8_t>> SealEnvelope(std::span<const std::uint8_t> key,
                                               std::uint32_t key_id,
                                               std::span<const std::uint8_t> plaintext,
                                               std::span<const std::uint8_t> aad);

// Opens an envelope with the key that `lookup` returns for its key id.
// Errors: kDataLoss (generic message) when the envelope is truncated, has an
// unknown format version, or fails authentication; the lookup's error when it
// has no key for the id.
Result<Secret> OpenEnvelope(const EnvelopeKeyLookup& lookup, std::span<const std::uint8_t> envelope,
                            std::span<const std::uint8_t> aad);

// Reads the key id without decrypting (for re-encryption jobs deciding which
// rows still use an old key). The id is not authenticated until opened.
// Errors: kDataLoss when the envelope is truncated or of an unknown version.
Result<std::uint32_t> EnvelopeKeyId(std::span<const std::uint8_t> envelope);

// The same three operations on the text (base64url) form. A text that is not
// canonical base64url is kDataLoss, like any other damaged envelope.
Result<std::string> SealEnvelopeText(std::span<const std::uint8_t> key, std::uint32_t key_id,
                                     std::span<const std::uint8_t> plaintext,
                                     std::span<const std::uint8_t> aad);
Result<Secret> OpenEnvelopeText(const EnvelopeKeyLookup& lookup, std::string_view text,
                                std::span<const std::uint8_t> aad);
Result<std::uint32_t> EnvelopeTextKeyId(std::string_view text);

}  // namespace gatehouse::crypto
