#include "auth/totp.h"

#include <liboath/oath.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "crypto/constant_time.h"
#include "crypto/random.h"
#include "http/url_encoding.h"

namespace gatehouse::auth {
namespace {

// liboath wants oath_init() once before any other call; it is never undone (oath_done) since
// other threads may be computing codes until the process ends.
bool OathReady() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = oath_init() == OATH_OK; });
  return ready;
}

int OathFlags(OtpAlgorithm algorithm) {
  switch (algorithm) {
    case OtpAlgorithm::kSha1:
      return 0;
    case OtpAlgorithm::kSha256:
      return OATH_TOTP_HMAC_SHA256;
    case OtpAlgorithm::kSha512:
      return OATH_TOTP_HMAC_SHA512;
  }
  return 0;
}

// The code buffer liboath writes into: digits plus the NUL it appends.
struct CodeBuffer {
  char text[16] = {};
  ~CodeBuffer() { SecureWipe(text, sizeof text); }
};

bool AllDigits(std::string_view text) {
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
  }
  return !text.empty();
}

}  // namespace

std::string_view OtpAlgorithmName(OtpAlgorithm algorithm) {
  switch (algorithm) {
    case OtpAlgorithm::kSha1:
      return "SHA1";
    case OtpAlgorithm::kSha256:
      return "SHA256";
    case OtpAlgorithm::kSha512:
      return "SHA512";
  }
  return "SHA1";
}

std::optional<OtpAlgorithm> ParseOtpAlgorithm(std::string_view name) {
  for (auto a : {OtpAlgorithm::kSha1, OtpAlgorithm::kSha256, OtpAlgorithm::kSha512}) {
    if (OtpAlgorithmName(a) == name) return a;
  }
  return std::nullopt;
}

Status ValidateTotpParams(const TotpParams& params) {
  if (params.digits < 6 || params.digits > 8) return InvalidArgument("totp digits must be 6..8");
  if (params.period.count() < 10 || params.period.count() > 300) {
    return InvalidArgument("totp period must be 10..300 seconds");
  }
  if (params.window > 10) return InvalidArgument("totp window must be 0..10 steps");
  return Ok();
}

Secret NewTotpSecret() {
  std::vector<std::uint8_t> bytes = crypto::RandomBytes(kTotpSecretBytes);
  Secret secret(bytes);
  SecureWipe(bytes.data(), bytes.size());
  return secret;
}

Result<Secret> Hotp(const Secret& key, std::uint64_t counter, unsigned digits) {
  if (digits < 6 || digits > 8) return InvalidArgument("hotp digits must be 6..8");
  if (key.empty()) return InvalidArgument("empty otp key");
  if (!OathReady()) return Internal("liboath failed to initialise");
  CodeBuffer code;
  const int rc =
      oath_hotp_generate(reinterpret_cast<const char*>(key.bytes().data()), key.size(), counter,
                         digits, false, OATH_HOTP_DYNAMIC_TRUNCATION, code.text);
  if (rc != OATH_OK) return Internal(std::string("oath_hotp_generate: ") + oath_strerror(rc));
  return Secret(std::string_view(code.text, digits));
}

std::uint64_t TotpStep(std::chrono::system_clock::time_point now, std::chrono::seconds period) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  // Before 1970 there is no step to speak of; step 0 keeps the arithmetic unsigned.
  if (seconds < 0) return 0;
  return static_cast<std::uint64_t>(seconds) / static_cast<std::uint64_t>(period.count());
}

Result<Secret> TotpAt(const Secret& key, std::uint64_t step, const TotpParams& params) {
  GH_RETURN_IF_ERROR(ValidateTotpParams(params));
  if (key.empty()) return InvalidArgument("empty otp key");
  if (!OathReady()) return Internal("liboath failed to initialise");
  const auto period = static_cast<unsigned>(params.period.count());
  // liboath computes the step from a time; any instant inside the step gives the same one.
  const auto at = static_cast<time_t>(step * period);
  CodeBuffer code;
  const int rc = oath_totp_generate2(reinterpret_cast<const char*>(key.bytes().data()), key.size(),
                                     at, period, OATH_TOTP_DEFAULT_START_TIME, params.digits,
                                     OathFlags(params.algorithm), code.text);
  if (rc != OATH_OK) return Internal(std::string("oath_totp_generate2: ") + oath_strerror(rc));
  return Secret(std::string_view(code.text, params.digits));
}

Result<std::optional<std::uint64_t>> MatchTotp(const Secret& key, std::string_view code,
                                               std::chrono::system_clock::time_point now,
                                               const TotpParams& params) {
  GH_RETURN_IF_ERROR(ValidateTotpParams(params));
  if (code.size() != params.digits || !AllDigits(code)) return std::optional<std::uint64_t>();

  const std::uint64_t current = TotpStep(now, params.period);
  const std::uint64_t first = current >= params.window ? current - params.window : 0;
  const std::uint64_t last = current + params.window;
  std::optional<std::uint64_t> matched;
  for (std::uint64_t step = first; step <= last; ++step) {
    auto expected = TotpAt(key, step, params);
    if (!expected.ok()) return std::move(expected).error();
    // No break on a match: every candidate costs the same, whichever one matched.
    const bool equal = crypto::ConstantTimeEquals(expected->reveal(), code);
    if (equal && !matched) matched = step;
  }
  return matched;
}

std::string Base32Encode(std::span<const std::uint8_t> bytes) {
  if (bytes.empty() || !OathReady()) return {};
  char* out = nullptr;
  std::size_t out_len = 0;
  if (oath_base32_encode(reinterpret_cast<const char*>(bytes.data()), bytes.size(), &out,
                         &out_len) != OATH_OK) {
    return {};
  }
  std::string text(out, out_len);
  SecureWipe(out, out_len);
  std::free(out);
  // Apps take the secret without padding (and a 20-byte secret has none anyway).
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

Result<Secret> Base32Decode(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty base32 text");
  if (!OathReady()) return Internal("liboath failed to initialise");
  std::string upper(text);
  for (char& ch : upper) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  char* out = nullptr;
  std::size_t out_len = 0;
  const int rc = oath_base32_decode(upper.data(), upper.size(), &out, &out_len);
  SecureWipe(upper);
  if (rc != OATH_OK) return InvalidArgument("not base32", oath_strerror(rc));
  Secret secret(std::string_view(out, out_len));
  SecureWipe(out, out_len);
  std::free(out);
  return secret;
}

std::string OtpauthUri(std::string_view issuer, std::string_view account,
                       std::string_view secret_base32, const TotpParams& params) {
  // The issuer appears both as the label prefix and as a parameter: older apps read only the
  // prefix, newer ones prefer the parameter (Google's key URI format).
  const std::string encoded_issuer = http::PercentEncode(issuer);
  std::string uri = "otpauth://totp/" + encoded_issuer + ":" + http::PercentEncode(account);
  uri += "?secret=" + std::string(secret_base32);
  uri += "&issuer=" + encoded_issuer;
  uri += "&algorithm=" + std::string(OtpAlgorithmName(params.algorithm));
  uri += "&digits=" + std::to_string(params.digits);
  uri += "&period=" + std::to_string(params.period.count());
  return uri;
}

}  // namespace gatehouse::auth
