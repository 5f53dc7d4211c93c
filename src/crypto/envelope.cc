#include "crypto/envelope.h"

#include "crypto/aead.h"
#include "crypto/encoding.h"
#include "crypto/random.h"

namespace gatehouse::crypto {
namespace {

Error DamagedEnvelope(std::string detail) {
  // The same client message as an authentication failure: a caller learns
  // only that the stored value is unusable.
  return Error(ErrorCode::kDataLoss, "encrypted data failed its integrity check",
               std::move(detail));
}

// [format version][key id big endian] followed by the caller's aad.
std::vector<std::uint8_t> BoundAad(std::uint8_t version, std::uint32_t key_id,
                                   std::span<const std::uint8_t> aad) {
  std::vector<std::uint8_t> bound;
  bound.reserve(5 + aad.size());
  bound.push_back(version);
  for (int shift = 24; shift >= 0; shift -= 8) {
    bound.push_back(static_cast<std::uint8_t>(key_id >> shift));
  }
  bound.insert(bound.end(), aad.begin(), aad.end());
  return bound;
}

Result<std::vector<std::uint8_t>> DecodeText(std::string_view text) {
  auto decoded = Base64UrlDecode(text);
  if (!decoded.ok()) return DamagedEnvelope("envelope text is not canonical base64url");
  return std::move(decoded).value();
}

}  // namespace

Result<std::uint32_t> EnvelopeKeyId(std::span<const std::uint8_t> envelope) {
  if (envelope.size() < kEnvelopeOverhead) return DamagedEnvelope("envelope truncated");
  if (envelope[0] != kEnvelopeFormatVersion) {
    return DamagedEnvelope("unknown envelope format version " + std::to_string(envelope[0]));
  }
  return (std::uint32_t{envelope[1]} << 24) | (std::uint32_t{envelope[2]} << 16) |
         (std::uint32_t{envelope[3]} << 8) | std::uint32_t{envelope[4]};
}

Result<std::vector<std::uint8_t>> SealEnvelope(std::span<const std::uint8_t> key,
                                               std::uint32_t key_id,
                                               std::span<const std::uint8_t> plaintext,
                                               std::span<const std::uint8_t> aad) {
  std::vector<std::uint8_t> envelope = BoundAad(kEnvelopeFormatVersion, key_id, {});
  envelope.resize(kEnvelopeHeaderSize);
  const std::span<std::uint8_t> nonce(envelope.data() + 5, 12);
  FillRandom(nonce);

  auto sealed = Seal(key, nonce, plaintext, BoundAad(kEnvelopeFormatVersion, key_id, aad));
  if (!sealed.ok()) return std::move(sealed).error();
  envelope.insert(envelope.end(), sealed->begin(), sealed->end());
  return envelope;
}

Result<Secret> OpenEnvelope(const EnvelopeKeyLookup& lookup, std::span<const std::uint8_t> envelope,
                            std::span<const std::uint8_t> aad) {
  auto key_id = EnvelopeKeyId(envelope);
  if (!key_id.ok()) return std::move(key_id).error();

  auto key = lookup(*key_id);
  if (!key.ok()) return std::move(key).error();

  const auto nonce = envelope.subspan(5, 12);
  const auto body = envelope.subspan(kEnvelopeHeaderSize);
  return Open(key->bytes(), nonce, body, BoundAad(envelope[0], *key_id, aad));
}

Result<std::string> SealEnvelopeText(std::span<const std::uint8_t> key, std::uint32_t key_id,
                                     std::span<const std::uint8_t> plaintext,
                                     std::span<const std::uint8_t> aad) {
  auto envelope = SealEnvelope(key, key_id, plaintext, aad);
  if (!envelope.ok()) return std::move(envelope).error();
  return Base64UrlEncode(*envelope);
}

Result<Secret> OpenEnvelopeText(const EnvelopeKeyLookup& lookup, std::string_view text,
                                std::span<const std::uint8_t> aad) {
  auto envelope = DecodeText(text);
  if (!envelope.ok()) return std::move(envelope).error();
  return OpenEnvelope(lookup, *envelope, aad);
}

Result<std::uint32_t> EnvelopeTextKeyId(std::string_view text) {
  // Only the first 5 bytes matter, but decoding the whole text also rejects
  // damaged values up front.
  auto envelope = DecodeText(text);
  if (!envelope.ok()) return std::move(envelope).error();
  return EnvelopeKeyId(*envelope);
}

}  // namespace gatehouse::crypto
