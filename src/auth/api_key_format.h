#pragma once

// The text of an API key: how one is made and the checks that turn away a mistyped or
// foreign key before anything is looked up.
//
//   gh_live_ 4Tq0r9...(52 random characters)... Zk0c1Q
//   prefix   random part                        checksum
//
// - Prefix: the product ("gh") and the environment, "live" on production deployments and
//   "test" on development and staging ones, so a key works only where it was issued and a
//   secret scanner can tell which kind leaked (docs/api-keys.md has a scanner pattern).
// - Random part: 52 characters drawn uniformly from the 62 of [0-9A-Za-z], 309.6 bits.
//   Listings show the first kApiKeyDisplayChars of them (the display prefix); the other
//   44 characters (262 bits) are never shown, stored or logged.
// - Checksum: CRC-32 (IEEE 802.3, the zlib one) of prefix and random part, as 6 base62
//   digits, most significant first. It is public and protects nothing: it lets a scanner
//   confirm a match without false positives, and it makes a typo a local refusal instead
//   of a database lookup.
//
// Timing. The checks are written so that their running time does not depend on the
// random part: character classes are tested without branches, the CRC uses a 16-entry
// table that fills one cache line, and the checksum is compared in constant time. Which
// check failed, and the length, do show (they are public facts about the input).
//
// Thread safety: all functions are pure apart from GenerateApiKey's CSPRNG draw.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/secret.h"

namespace gatehouse::auth {

enum class KeyEnvironment : std::uint8_t { kLive, kTest };

// "live" or "test".
std::string_view KeyEnvironmentName(KeyEnvironment environment);
std::optional<KeyEnvironment> ParseKeyEnvironment(std::string_view name);

inline constexpr std::size_t kApiKeyPrefixChars = 8;  // "gh_live_", "gh_test_".
inline constexpr std::size_t kApiKeyRandomChars = 52;
inline constexpr std::size_t kApiKeyChecksumChars = 6;
inline constexpr std::size_t kApiKeyDisplayChars = 8;
inline constexpr std::size_t kApiKeyLength =
    kApiKeyPrefixChars + kApiKeyRandomChars + kApiKeyChecksumChars;

// "gh_live_" or "gh_test_".
std::string_view ApiKeyPrefix(KeyEnvironment environment);

// A fresh key for `environment`.
Secret GenerateApiKey(KeyEnvironment environment);

// Why a presented text is not a key of this deployment.
enum class KeyFormatError : std::uint8_t {
  kNone,
  kWrongPrefix,       // Does not start with "gh_live_" or "gh_test_".
  kWrongEnvironment,  // A key of the other environment (a test key on a live deployment).
  kWrongLength,
  kNotBase62,  // A character after the prefix outside [0-9A-Za-z].
  kBadChecksum,
};

// Checks `text` against the format for `environment`, in the order of the enum.
KeyFormatError CheckApiKeyFormat(std::string_view text, KeyEnvironment environment);

// A stable machine code ("wrong_prefix") and a client-safe sentence for each error.
std::string_view KeyFormatErrorCode(KeyFormatError error);
std::string_view KeyFormatErrorMessage(KeyFormatError error);

// The part of a well-formed key that listings show: prefix and the first
// kApiKeyDisplayChars random characters ("gh_live_4Tq0r9Xa").
// REQUIRES: CheckApiKeyFormat(key, ...) == kNone.
std::string DisplayPrefix(std::string_view key);

// CRC-32 (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF).
std::uint32_t Crc32(std::string_view data);
// `value` as exactly `width` base62 digits [0-9A-Za-z], most significant first, zero
// ('0') padded. REQUIRES: 62^width > value.
std::string Base62Fixed(std::uint32_t value, std::size_t width);

}  // namespace gatehouse::auth
