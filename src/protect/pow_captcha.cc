#include "protect/pow_captcha.h"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <utility>

#include <openssl/evp.h>

#include "crypto/bytes.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace gatehouse::protect {
namespace {

constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kNonceSize = 16;
constexpr std::size_t kBindingSize = 16;
constexpr std::size_t kOffsetNonce = 1;
constexpr std::size_t kOffsetIssued = kOffsetNonce + kNonceSize;           // 17
constexpr std::size_t kOffsetExpires = kOffsetIssued + 8;                  // 25
constexpr std::size_t kOffsetDifficulty = kOffsetExpires + 8;              // 33
constexpr std::size_t kOffsetBinding = kOffsetDifficulty + 1;              // 34
constexpr std::size_t kSignedSize = kOffsetBinding + kBindingSize;         // 50
constexpr std::size_t kChallengeSize = kSignedSize + crypto::kSha256Size;  // 82
// base64url without padding: 4 characters per 3 bytes, 82 bytes -> 110 characters.
constexpr std::size_t kChallengeTextSize = (kChallengeSize * 4 + 2) / 3;
// 18446744073709551615 has 20 digits.
constexpr std::size_t kMaxSolutionDigits = 20;

constexpr std::chrono::seconds kMinLifetime{1};
constexpr std::chrono::seconds kMaxLifetime{3600};
constexpr std::size_t kMinKeySize = 32;

using Payload = std::array<std::uint8_t, kChallengeSize>;

void PutInt64(std::uint8_t* out, std::int64_t value) {
  const auto v = static_cast<std::uint64_t>(value);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}

std::int64_t GetInt64(const std::uint8_t* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | in[i];
  return static_cast<std::int64_t>(v);
}

std::int64_t ToMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Decodes a version-1 challenge text; nullopt for anything else. The length is checked
// before decoding, so an oversized input costs nothing.
std::optional<Payload> Decode(std::string_view text) {
  if (text.size() != kChallengeTextSize) return std::nullopt;
  auto bytes = crypto::Base64UrlDecode(text);
  if (!bytes.ok() || bytes->size() != kChallengeSize || (*bytes)[0] != kVersion) {
    return std::nullopt;
  }
  Payload payload;
  std::memcpy(payload.data(), bytes->data(), kChallengeSize);
  return payload;
}

// A counter in canonical decimal: one spelling per number.
bool IsCanonicalCounter(std::string_view s) {
  if (s.empty() || s.size() > kMaxSolutionDigits) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && end == s.data() + s.size();
}

crypto::Sha256Digest WorkHash(std::string_view challenge, std::string_view counter) {
  std::string input;
  input.reserve(challenge.size() + 1 + counter.size());
  input.append(challenge).append(1, ':').append(counter);
  return crypto::Sha256(input);
}

Result<crypto::HmacSha256Keyed> DeriveKey(const Secret& key, std::string_view purpose) {
  auto derived = crypto::HkdfSha256(key.bytes(), {}, crypto::AsBytes(purpose), 32);
  if (!derived.ok()) return std::move(derived).error();
  return crypto::HmacSha256Keyed(derived->bytes());
}

}  // namespace

std::string_view PowRejectionName(PowRejection rejection) {
  switch (rejection) {
    case PowRejection::kMalformed:
      return "malformed";
    case PowRejection::kBadTag:
      return "bad_tag";
    case PowRejection::kExpired:
      return "expired";
    case PowRejection::kNotYetValid:
      return "not_yet_valid";
    case PowRejection::kWrongBinding:
      return "wrong_binding";
    case PowRejection::kDifficultyTooLow:
      return "difficulty_too_low";
    case PowRejection::kInsufficientWork:
      return "insufficient_work";
    case PowRejection::kReplayed:
      return "replayed";
    case PowRejection::kStoreFailed:
      return "store_failed";
  }
  return "unknown";
}

Status PowVerdict::ToStatus() const {
  if (ok()) return Ok();
  const std::string detail = "proof-of-work refused: " + std::string(PowRejectionName(*rejection_));
  if (*rejection_ == PowRejection::kStoreFailed) {
    return Unavailable("service temporarily unavailable",
                       detail + (store_error_ ? ": " + store_error_->detail() : ""));
  }
  return InvalidArgument("the proof-of-work challenge was not accepted; request a new one", detail);
}

int LeadingZeroBits(const crypto::Sha256Digest& digest) {
  int bits = 0;
  for (const std::uint8_t byte : digest) {
    if (byte != 0) return bits + std::countl_zero(byte);
    bits += 8;
  }
  return bits;
}

Result<PowCaptcha> PowCaptcha::Create(const Secret& key, PowOptions options, const Clock& clock,
                                      PowMarkUsed mark_used) {
  // A short key would make the tag guessable offline from any issued challenge.
  if (key.size() < kMinKeySize) {
    return InvalidArgument("invalid proof-of-work settings",
                           "proof-of-work key must be at least 32 bytes");
  }
  if (options.difficulty_bits < kMinPowDifficulty || options.difficulty_bits > kMaxPowDifficulty) {
    return InvalidArgument("invalid proof-of-work settings",
                           "proof-of-work difficulty must be 8 to 32 bits, got " +
                               std::to_string(options.difficulty_bits));
  }
  if (options.lifetime < kMinLifetime || options.lifetime > kMaxLifetime) {
    return InvalidArgument("invalid proof-of-work settings",
                           "proof-of-work lifetime must be 1 s to 1 h");
  }
  // Without the callback nothing stops replay; refuse rather than run without it.
  if (!mark_used) {
    return InvalidArgument("invalid proof-of-work settings", "proof-of-work needs a replay store");
  }

  auto tag_key = DeriveKey(key, "gatehouse pow challenge tag v1");
  if (!tag_key.ok()) return std::move(tag_key).error();
  auto binding_key = DeriveKey(key, "gatehouse pow binding v1");
  if (!binding_key.ok()) return std::move(binding_key).error();
  return PowCaptcha(std::move(tag_key).value(), std::move(binding_key).value(), options, clock,
                    std::move(mark_used));
}

PowChallenge PowCaptcha::Issue(std::string_view binding) const {
  return IssueAt(binding, options_.difficulty_bits);
}

Result<PowChallenge> PowCaptcha::Issue(std::string_view binding, int difficulty_bits) const {
  // Never easier than configured: Verify would refuse it anyway.
  if (difficulty_bits < options_.difficulty_bits || difficulty_bits > kMaxPowDifficulty) {
    return InvalidArgument("invalid proof-of-work difficulty",
                           "difficulty must be " + std::to_string(options_.difficulty_bits) +
                               " to 32 bits, got " + std::to_string(difficulty_bits));
  }
  return IssueAt(binding, difficulty_bits);
}

PowChallenge PowCaptcha::IssueAt(std::string_view binding, int difficulty_bits) const {
  const auto now = clock_->Now();
  const auto expires = now + options_.lifetime;

  Payload payload{};
  payload[0] = kVersion;
  crypto::FillRandom(std::span(payload).subspan(kOffsetNonce, kNonceSize));
  PutInt64(&payload[kOffsetIssued], ToMillis(now));
  PutInt64(&payload[kOffsetExpires], ToMillis(expires));
  payload[kOffsetDifficulty] = static_cast<std::uint8_t>(difficulty_bits);
  const crypto::Sha256Digest bound = binding_key_.Compute(binding);
  std::memcpy(&payload[kOffsetBinding], bound.data(), kBindingSize);
  const crypto::Sha256Digest tag =
      tag_key_.Compute(std::span<const std::uint8_t>(payload.data(), kSignedSize));
  std::memcpy(&payload[kSignedSize], tag.data(), tag.size());

  return {crypto::Base64UrlEncode(payload), difficulty_bits,
          std::chrono::system_clock::time_point(std::chrono::milliseconds(ToMillis(expires)))};
}

PowVerdict PowCaptcha::Verify(std::string_view challenge, std::string_view solution,
                              std::string_view binding) const {
  const auto payload = Decode(challenge);
  if (!payload) return PowVerdict::Rejected(PowRejection::kMalformed);

  // Authenticate before reading any field: nothing below may act on client-made values.
  const std::span<const std::uint8_t> bytes(*payload);
  if (!tag_key_.Verify(bytes.first(kSignedSize), bytes.subspan(kSignedSize))) {
    return PowVerdict::Rejected(PowRejection::kBadTag);
  }

  const std::int64_t now = ToMillis(clock_->Now());
  const std::int64_t issued = GetInt64(&(*payload)[kOffsetIssued]);
  const std::int64_t expires = GetInt64(&(*payload)[kOffsetExpires]);
  if (now >= expires) return PowVerdict::Rejected(PowRejection::kExpired);
  const std::int64_t skew = std::chrono::milliseconds(kPowClockSkew).count();
  if (issued > now + skew) return PowVerdict::Rejected(PowRejection::kNotYetValid);

  const int difficulty = (*payload)[kOffsetDifficulty];
  if (difficulty < options_.difficulty_bits) {
    return PowVerdict::Rejected(PowRejection::kDifficultyTooLow);
  }

  // A challenge solved for one account or address is no use for another.
  const crypto::Sha256Digest bound = binding_key_.Compute(binding);
  if (!crypto::ConstantTimeEquals(std::span<const std::uint8_t>(bound).first(kBindingSize),
                                  bytes.subspan(kOffsetBinding, kBindingSize))) {
    return PowVerdict::Rejected(PowRejection::kWrongBinding);
  }

  if (!IsCanonicalCounter(solution)) return PowVerdict::Rejected(PowRejection::kMalformed);
  if (LeadingZeroBits(WorkHash(challenge, solution)) < difficulty) {
    return PowVerdict::Rejected(PowRejection::kInsufficientWork);
  }

  // Last, so only a fully valid solution uses the challenge up. The marker lives until the
  // challenge has expired on every node, lagging clocks included.
  const std::string key = "pow:" + crypto::HexEncode(bytes.subspan(kOffsetNonce, kNonceSize));
  const std::chrono::milliseconds ttl(expires - now + skew);
  auto fresh = mark_used_(key, ttl);
  if (!fresh.ok()) return PowVerdict::StoreFailed(std::move(fresh).error());
  if (!*fresh) return PowVerdict::Rejected(PowRejection::kReplayed);
  return PowVerdict::Accepted();
}

Result<std::string> SolvePow(std::string_view challenge) {
  const auto payload = Decode(challenge);
  if (!payload) return InvalidArgument("not a proof-of-work challenge");
  const int difficulty = (*payload)[kOffsetDifficulty];
  if (difficulty < kMinPowDifficulty || difficulty > kMaxPowDifficulty) {
    return InvalidArgument("unsupported proof-of-work difficulty");
  }

  // Hash the fixed "challenge:" prefix once and copy that state for every counter, as a
  // determined client would; the solve times reported in docs/captcha.md use this loop.
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  const std::unique_ptr<EVP_MD_CTX, CtxFree> prefix(EVP_MD_CTX_new());
  const std::unique_ptr<EVP_MD_CTX, CtxFree> work(EVP_MD_CTX_new());
  if (!prefix || !work || EVP_DigestInit_ex(prefix.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(prefix.get(), challenge.data(), challenge.size()) != 1 ||
      EVP_DigestUpdate(prefix.get(), ":", 1) != 1) {
    return Internal("SHA-256 context setup failed");
  }

  crypto::Sha256Digest digest;
  char counter[kMaxSolutionDigits];
  for (std::uint64_t c = 0; c < std::numeric_limits<std::uint64_t>::max(); ++c) {
    const auto [end, ec] = std::to_chars(counter, counter + sizeof(counter), c);
    unsigned int length = 0;
    if (EVP_MD_CTX_copy_ex(work.get(), prefix.get()) != 1 ||
        EVP_DigestUpdate(work.get(), counter, static_cast<std::size_t>(end - counter)) != 1 ||
        EVP_DigestFinal_ex(work.get(), digest.data(), &length) != 1) {
      return Internal("SHA-256 failed");
    }
    if (LeadingZeroBits(digest) >= difficulty) return std::string(counter, end);
  }
  // 2^64 counters without a hit at <= 32 bits does not happen; answer rather than loop.
  return Internal("no proof-of-work solution found");
}

}  // namespace gatehouse::protect
