#pragma once

// A self-hosted proof-of-work CAPTCHA: the server issues a signed, expiring challenge; the
// client finds a counter whose hash has enough leading zero bits; the server checks the
// answer with one HMAC and one SHA-256, and accepts each challenge once. No third party.
// docs/captcha.md describes the wire format, the browser solver (web/assets/pow.js) and how
// to pick a difficulty.
//
// Challenge text: base64url (RFC 4648 section 5, unpadded) of 82 bytes:
//   [0]      version, 1
//   [1..17)  nonce, 128 random bits (also the single-use key)
//   [17..25) issued_at, milliseconds since the Unix epoch, signed 64-bit big-endian
//   [25..33) expires_at, likewise
//   [33]     difficulty in bits
//   [34..50) binding: the first 16 bytes of HMAC-SHA256(binding key, binding string)
//   [50..82) tag: HMAC-SHA256(tag key, bytes [0..50))
// The binding is keyed rather than a plain hash because the binding string is usually an IP
// address or an account id: a plain SHA-256 of an IPv4 address is reversed by trying all
// 2^32 of them, and the challenge is visible to the client and to anyone it is shown to.
//
// Solution: decimal counter c (no sign, no leading zeros, at most 2^64 - 1) such that
// SHA-256(challenge_text ":" c) starts with `difficulty` zero bits.
//
// Thread safety: a PowCaptcha may be used from many threads at once, provided the Clock and
// the mark-used callback are thread-safe (ManualClock, SystemClock and the StateStore
// implementations are).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/hmac.h"

namespace gatehouse::protect {

// Difficulty bounds, enforced at construction and on every issue. Below 8 bits the work is a
// few hundred hashes and stops nothing; above 32 a browser needs hours.
inline constexpr int kMinPowDifficulty = 8;
inline constexpr int kMaxPowDifficulty = 32;

// How far another node's clock may be ahead of ours: a challenge issued up to this far in the
// future is accepted, and used markers outlive the expiry by this much so that a node whose
// clock lags cannot accept a replay.
inline constexpr std::chrono::seconds kPowClockSkew{60};

// Records that a challenge was used: stores `key` for `ttl` if absent and answers true, or
// answers false when it was already there. The integrator passes
// state::StateStore::SetIfAbsent (with any value) so that every node shares the markers.
// Keys are "pow:" followed by 32 lowercase hex characters; wrap the callback to add a
// namespace prefix.
using PowMarkUsed =
    std::function<Result<bool>(std::string_view key, std::chrono::milliseconds ttl)>;

struct PowOptions {
  // Difficulty of issued challenges, and the least a presented challenge may carry: raising
  // it invalidates easier challenges still in flight.
  int difficulty_bits = 18;
  // From issue to expiry; 1 s to 1 h.
  std::chrono::seconds lifetime{300};
};

struct PowChallenge {
  std::string text;  // Hand to the client verbatim.
  int difficulty_bits;
  std::chrono::system_clock::time_point expires_at;
};

// Why a solution was refused. The names are stable: use them as metric labels.
enum class PowRejection : std::uint8_t {
  kMalformed,         // Not a challenge we could have issued, or the counter is not a number.
  kBadTag,            // The HMAC tag does not match: forged or altered.
  kExpired,           // At or after expires_at.
  kNotYetValid,       // Issued more than kPowClockSkew in the future.
  kWrongBinding,      // Issued for another account or address.
  kDifficultyTooLow,  // Issued with fewer bits than now configured.
  kInsufficientWork,  // The hash has too few leading zero bits.
  kReplayed,          // Already used once.
  kStoreFailed,       // The mark-used callback failed: refused, since replay cannot be ruled out.
};

std::string_view PowRejectionName(PowRejection rejection);

// The outcome of Verify: accepted, or the reason for refusal.
class [[nodiscard]] PowVerdict {
 public:
  static PowVerdict Accepted() { return PowVerdict(std::nullopt, std::nullopt); }
  static PowVerdict Rejected(PowRejection why) { return PowVerdict(why, std::nullopt); }
  static PowVerdict StoreFailed(Error error) {
    return PowVerdict(PowRejection::kStoreFailed, std::move(error));
  }

  bool ok() const { return !rejection_.has_value(); }
  // REQUIRES: !ok().
  PowRejection rejection() const { return *rejection_; }

  // Ok, or an Error for the HTTP layer. Every refusal shows the client the same sentence
  // (which check failed is no help to an honest client and some help to a forger); the
  // detail names the reason for the log. kInvalidArgument, except kStoreFailed, which is
  // kUnavailable: the client did nothing wrong and may retry later.
  Status ToStatus() const;

 private:
  PowVerdict(std::optional<PowRejection> rejection, std::optional<Error> store_error)
      : rejection_(rejection), store_error_(std::move(store_error)) {}

  std::optional<PowRejection> rejection_;
  std::optional<Error> store_error_;
};

class PowCaptcha {
 public:
  // `key`: at least 32 bytes, e.g. derived from the key ring for this purpose only. Two keys
  // (tag and binding) are derived from it with HKDF, so neither HMAC can be used to forge
  // the other. `clock` must outlive the object. Errors: kInvalidArgument for a short key, a
  // difficulty outside [kMinPowDifficulty, kMaxPowDifficulty], a lifetime outside 1 s..1 h
  // or an empty callback.
  static Result<PowCaptcha> Create(const Secret& key, PowOptions options, const Clock& clock,
                                   PowMarkUsed mark_used);

  PowCaptcha(PowCaptcha&&) noexcept = default;
  PowCaptcha& operator=(PowCaptcha&&) noexcept = default;

  // A fresh challenge for `binding` (an account id, "ip:" + client address, ...; any bytes)
  // at the configured difficulty.
  PowChallenge Issue(std::string_view binding) const;
  // The same at a chosen difficulty, e.g. rising with repeated failures. Errors:
  // kInvalidArgument unless options.difficulty_bits <= difficulty_bits <= kMaxPowDifficulty.
  Result<PowChallenge> Issue(std::string_view binding, int difficulty_bits) const;

  // Checks, in order: well-formed, tag (constant time), expiry, not issued in the future,
  // difficulty, binding (constant time), work, and finally marks the challenge used. A
  // wrong counter therefore does not use up the challenge; a right one consumes it, and the
  // same challenge with any other valid counter is refused as kReplayed.
  PowVerdict Verify(std::string_view challenge, std::string_view solution,
                    std::string_view binding) const;

  int difficulty_bits() const { return options_.difficulty_bits; }

 private:
  PowCaptcha(crypto::HmacSha256Keyed tag_key, crypto::HmacSha256Keyed binding_key,
             PowOptions options, const Clock& clock, PowMarkUsed mark_used)
      : tag_key_(std::move(tag_key)),
        binding_key_(std::move(binding_key)),
        options_(options),
        clock_(&clock),
        mark_used_(std::move(mark_used)) {}

  PowChallenge IssueAt(std::string_view binding, int difficulty_bits) const;

  crypto::HmacSha256Keyed tag_key_;
  crypto::HmacSha256Keyed binding_key_;
  PowOptions options_;
  const Clock* clock_;
  PowMarkUsed mark_used_;
};

// Finds the smallest solution of `challenge` (for tests and the test client; a browser uses
// web/assets/pow.js). Needs no key: the difficulty is read from the unverified payload.
// Single-threaded; about 2^difficulty hashes on average. Errors: kInvalidArgument when the
// text is not a version-1 challenge or its difficulty is outside the bounds.
Result<std::string> SolvePow(std::string_view challenge);

// The number of leading zero bits of a SHA-256 digest.
int LeadingZeroBits(const crypto::Sha256Digest& digest);

}  // namespace gatehouse::protect
