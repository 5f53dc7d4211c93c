#include "auth/api_key_format.h"

#include <array>

#include "crypto/constant_time.h"
#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

constexpr std::string_view kLivePrefix = "gh_live_";
constexpr std::string_view kTestPrefix = "gh_test_";

// Digits, upper, lower: the order GitHub's tokens use. 62 bytes, aligned so the table sits
// in one cache line and reading an entry indexed by secret-derived data does not show in
// cache timing.
alignas(64) constexpr char kBase62[63] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// CRC-32 four bits at a time: 16 entries of 4 bytes are one cache line (see kBase62).
constexpr std::uint32_t kPolynomial = 0xEDB88320u;
constexpr std::array<std::uint32_t, 16> MakeNibbleTable() {
  std::array<std::uint32_t, 16> table{};
  for (std::uint32_t i = 0; i < 16; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 4; ++bit) c = (c & 1u) != 0 ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}
alignas(64) constexpr std::array<std::uint32_t, 16> kCrcNibbles = MakeNibbleTable();

// 1 when `c` is in [0-9A-Za-z], else 0, without a branch on `c`: unsigned wrap-around
// turns each range test into one comparison.
unsigned IsBase62(unsigned char c) {
  const unsigned digit = static_cast<unsigned>(static_cast<unsigned char>(c - '0') < 10u);
  const unsigned upper = static_cast<unsigned>(static_cast<unsigned char>(c - 'A') < 26u);
  const unsigned lower = static_cast<unsigned>(static_cast<unsigned char>(c - 'a') < 26u);
  return digit | upper | lower;
}

// Random bytes below 248 (= 4 * 62) map evenly onto the alphabet; the rest are redrawn.
constexpr unsigned kRejectAtOrAbove = 248;

}  // namespace

std::string_view KeyEnvironmentName(KeyEnvironment environment) {
  return environment == KeyEnvironment::kLive ? "live" : "test";
}

std::optional<KeyEnvironment> ParseKeyEnvironment(std::string_view name) {
  if (name == "live") return KeyEnvironment::kLive;
  if (name == "test") return KeyEnvironment::kTest;
  return std::nullopt;
}

std::string_view ApiKeyPrefix(KeyEnvironment environment) {
  return environment == KeyEnvironment::kLive ? kLivePrefix : kTestPrefix;
}

std::uint32_t Crc32(std::string_view data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    crc = (crc >> 4) ^ kCrcNibbles[crc & 0x0Fu];
    crc = (crc >> 4) ^ kCrcNibbles[crc & 0x0Fu];
  }
  return ~crc;
}

std::string Base62Fixed(std::uint32_t value, std::size_t width) {
  std::string out(width, '0');
  for (std::size_t i = width; i > 0; --i) {
    out[i - 1] = kBase62[value % 62];
    value /= 62;
  }
  return out;
}

Secret GenerateApiKey(KeyEnvironment environment) {
  // Reserved up front so that no reallocation leaves a copy of the key behind unwiped.
  std::string text;
  text.reserve(kApiKeyLength);
  text += ApiKeyPrefix(environment);

  std::array<std::uint8_t, 64> pool{};
  std::size_t used = pool.size();
  while (text.size() < kApiKeyPrefixChars + kApiKeyRandomChars) {
    if (used == pool.size()) {
      crypto::FillRandom(pool);
      used = 0;
    }
    const unsigned byte = pool[used++];
    if (byte < kRejectAtOrAbove) text.push_back(kBase62[byte % 62]);
  }
  SecureWipe(pool.data(), pool.size());

  std::string checksum = Base62Fixed(Crc32(text), kApiKeyChecksumChars);
  text += checksum;
  SecureWipe(checksum);
  Secret key(text);
  SecureWipe(text);
  return key;
}

KeyFormatError CheckApiKeyFormat(std::string_view text, KeyEnvironment environment) {
  // The prefix and the length are public: refusing on them early leaks nothing.
  const std::string_view own = ApiKeyPrefix(environment);
  const std::string_view other = ApiKeyPrefix(
      environment == KeyEnvironment::kLive ? KeyEnvironment::kTest : KeyEnvironment::kLive);
  if (!text.starts_with(own)) {
    return text.starts_with(other) ? KeyFormatError::kWrongEnvironment
                                   : KeyFormatError::kWrongPrefix;
  }
  if (text.size() != kApiKeyLength) return KeyFormatError::kWrongLength;

  // Every character is examined whatever the earlier ones were.
  unsigned bad = 0;
  for (std::size_t i = kApiKeyPrefixChars; i < text.size(); ++i) {
    bad |= IsBase62(static_cast<unsigned char>(text[i])) ^ 1u;
  }
  if (bad != 0) return KeyFormatError::kNotBase62;

  const std::string_view body = text.substr(0, kApiKeyPrefixChars + kApiKeyRandomChars);
  std::string expected = Base62Fixed(Crc32(body), kApiKeyChecksumChars);
  const bool match = crypto::ConstantTimeEquals(
      std::string_view(expected), text.substr(kApiKeyPrefixChars + kApiKeyRandomChars));
  SecureWipe(expected);
  return match ? KeyFormatError::kNone : KeyFormatError::kBadChecksum;
}

std::string_view KeyFormatErrorCode(KeyFormatError error) {
  switch (error) {
    case KeyFormatError::kNone:
      return "none";
    case KeyFormatError::kWrongPrefix:
      return "wrong_prefix";
    case KeyFormatError::kWrongEnvironment:
      return "wrong_environment";
    case KeyFormatError::kWrongLength:
      return "wrong_length";
    case KeyFormatError::kNotBase62:
      return "not_base62";
    case KeyFormatError::kBadChecksum:
      return "bad_checksum";
  }
  return "unknown";
}

std::string_view KeyFormatErrorMessage(KeyFormatError error) {
  switch (error) {
    case KeyFormatError::kNone:
      return "";
    case KeyFormatError::kWrongPrefix:
      return "The API key does not start with gh_live_ or gh_test_.";
    case KeyFormatError::kWrongEnvironment:
      return "The API key was issued for another environment (live or test).";
    case KeyFormatError::kWrongLength:
      return "The API key has the wrong length.";
    case KeyFormatError::kNotBase62:
      return "The API key has characters outside [0-9A-Za-z] after its prefix.";
    case KeyFormatError::kBadChecksum:
      return "The API key's checksum does not match; it was probably mistyped or cut.";
  }
  return "The API key is not valid.";
}

std::string DisplayPrefix(std::string_view key) {
  return std::string(key.substr(0, kApiKeyPrefixChars + kApiKeyDisplayChars));
}

}  // namespace gatehouse::auth
