#pragma once

// One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238) codes, computed by liboath rather
// than written again, plus the pieces an authenticator app needs (base32 secrets and the
// `otpauth://` key URI that Google Authenticator and every RFC 6238 app read).
//
// What this file does NOT do: remember which time steps were used. Replay refusal needs
// shared state (auth/mfa_service.h keeps a marker per used step); MatchTotp only says which
// step a code belongs to.
//
// Thread safety: all functions may be called from any thread (liboath is initialised once,
// on first use, under std::call_once).

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/secret.h"
#include "core/status.h"

namespace gatehouse::auth {

// The HMAC under the code (RFC 6238 section 1.2 allows SHA-1, SHA-256 and SHA-512).
enum class OtpAlgorithm : std::uint8_t { kSha1, kSha256, kSha512 };

// "SHA1", "SHA256", "SHA512": the spelling of the key URI's `algorithm` parameter.
std::string_view OtpAlgorithmName(OtpAlgorithm algorithm);
std::optional<OtpAlgorithm> ParseOtpAlgorithm(std::string_view name);

struct TotpParams {
  OtpAlgorithm algorithm = OtpAlgorithm::kSha1;
  unsigned digits = 6;              // 6..8: what liboath and the common apps support.
  std::chrono::seconds period{30};  // The time step X of RFC 6238 section 4.1.
  // Steps accepted on either side of the current one (RFC 6238 section 5.2 recommends at
  // most one step of network delay). 0..10.
  unsigned window = 1;
};

// kInvalidArgument naming the broken bound: digits 6..8, period 10..300 s, window 0..10.
Status ValidateTotpParams(const TotpParams& params);

// RFC 4226 section 4 asks for at least 128 bits and recommends 160: a fresh secret is 160.
inline constexpr std::size_t kTotpSecretBytes = 20;

// A fresh random TOTP secret of kTotpSecretBytes.
Secret NewTotpSecret();

// RFC 4226 HOTP (HMAC-SHA-1, dynamic truncation) of `counter`, `digits` long (6..8).
// Errors: kInvalidArgument for bad digits or an empty key; kInternal if liboath fails.
Result<Secret> Hotp(const Secret& key, std::uint64_t counter, unsigned digits);

// The time step of `now` (RFC 6238 section 4.2: floor(unix seconds / period), T0 = 0).
std::uint64_t TotpStep(std::chrono::system_clock::time_point now, std::chrono::seconds period);

// The RFC 6238 code of time step `step`.
// Errors: kInvalidArgument for bad params or an empty key; kInternal if liboath fails.
Result<Secret> TotpAt(const Secret& key, std::uint64_t step, const TotpParams& params);

// The step in [step(now) - window, step(now) + window] whose code equals `code`, or
// nullopt. Every candidate is computed and compared in constant time, without an early exit,
// so the running time does not tell how close a guess was. A code of the wrong length or
// with non-digits is nullopt at once (the length is public: it is `digits`).
Result<std::optional<std::uint64_t>> MatchTotp(const Secret& key, std::string_view code,
                                               std::chrono::system_clock::time_point now,
                                               const TotpParams& params);

// RFC 4648 base32 (upper case, no padding) as authenticator apps expect secrets.
std::string Base32Encode(std::span<const std::uint8_t> bytes);
// Accepts what Base32Encode writes (and lower case); kInvalidArgument otherwise.
Result<Secret> Base32Decode(std::string_view text);

// The key URI of an authenticator app:
//   otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>&algorithm=SHA1
//       &digits=6&period=30
// Label and issuer are percent-encoded (everything but RFC 3986 unreserved characters), so
// the URI has one spelling and survives a QR code unchanged.
std::string OtpauthUri(std::string_view issuer, std::string_view account,
                       std::string_view secret_base32, const TotpParams& params);

}  // namespace gatehouse::auth
