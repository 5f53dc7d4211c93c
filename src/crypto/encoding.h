#pragma once

// Hex, base64 (RFC 4648 section 4, padded) and base64url (RFC 4648 section 5,
// unpadded) codecs.
//
// The decoders are strict and canonical: every byte string has exactly one
// accepted encoding. They reject characters outside the alphabet (including
// whitespace and line breaks), impossible lengths, padding where none belongs
// (any '=' in base64url; misplaced or missing '=' in base64), and non-zero
// unused bits in the last character (RFC 4648 section 3.5). Signature and MAC
// checks rely on this: with lenient decoding one token has several spellings,
// which defeats replay caches and deny lists keyed by the token text.
//
// Hex is lowercase only, for the same reason.
//
// Error messages never contain the input; details give only an offset.
// Thread safety: all functions are pure.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gatehouse::crypto {

std::string HexEncode(std::span<const std::uint8_t> bytes);
std::string HexEncode(std::string_view bytes);
Result<std::vector<std::uint8_t>> HexDecode(std::string_view text);

std::string Base64Encode(std::span<const std::uint8_t> bytes);
std::string Base64Encode(std::string_view bytes);
Result<std::vector<std::uint8_t>> Base64Decode(std::string_view text);

std::string Base64UrlEncode(std::span<const std::uint8_t> bytes);
std::string Base64UrlEncode(std::string_view bytes);
Result<std::vector<std::uint8_t>> Base64UrlDecode(std::string_view text);

}  // namespace gatehouse::crypto
