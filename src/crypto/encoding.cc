#include "crypto/encoding.h"

#include <array>
#include <cstring>
#include <string>

#include "crypto/bytes.h"

namespace gatehouse::crypto {
namespace {

constexpr std::string_view kHexDigits = "0123456789abcdef";
constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::uint8_t kInvalid = 0xff;

// Maps a character to its 6-bit value, or kInvalid.
constexpr std::array<std::uint8_t, 256> ReverseTable(std::string_view alphabet) {
  std::array<std::uint8_t, 256> table{};
  table.fill(kInvalid);
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}

constexpr auto kBase64Reverse = ReverseTable(kBase64Alphabet);
constexpr auto kBase64UrlReverse = ReverseTable(kBase64UrlAlphabet);

std::string EncodeBase64(std::span<const std::uint8_t> in, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t n = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(alphabet[(n >> 6) & 63]);
    out.push_back(alphabet[n & 63]);
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const std::uint32_t n = in[i] << 16;
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    if (pad) out.append("==");
  } else if (rest == 2) {
    const std::uint32_t n = (in[i] << 16) | (in[i + 1] << 8);
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(alphabet[(n >> 6) & 63]);
    if (pad) out.push_back('=');
  }
  return out;
}

Error Malformed(std::string_view what, std::string detail) {
  return InvalidArgument("malformed " + std::string(what), std::move(detail));
}

// Decodes unpadded base64 text (padding already stripped and checked).
Result<std::vector<std::uint8_t>> DecodeUnpadded(std::string_view text,
                                                 const std::array<std::uint8_t, 256>& reverse,
                                                 std::string_view what) {
  // A lone trailing character carries 6 bits: less than one byte.
  if (text.size() % 4 == 1) return Malformed(what, "impossible length");

  std::vector<std::uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t accumulator = 0;
  int bits = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::uint8_t value = reverse[static_cast<unsigned char>(text[i])];
    if (value == kInvalid) return Malformed(what, "bad character at offset " + std::to_string(i));
    accumulator = (accumulator << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(accumulator >> bits));
      accumulator &= (1u << bits) - 1;
    }
  }

  // RFC 4648 section 3.5: the unused low bits of the last character must be
  // zero, otherwise several texts decode to the same bytes.
  if (accumulator != 0) return Malformed(what, "non-zero trailing bits");
  return out;
}

}  // namespace

std::string HexEncode(std::span<const std::uint8_t> bytes) {
  // Sized once and written two characters per byte from a table: push_back's capacity
  // check per character cost more than the encoding itself (device fingerprints are
  // encoded on every verified request).
  static constexpr auto kPairs = [] {
    std::array<char, 512> pairs{};
    for (int i = 0; i < 256; ++i) {
      pairs[2 * i] = kHexDigits[i >> 4];
      pairs[2 * i + 1] = kHexDigits[i & 15];
    }
    return pairs;
  }();
  std::string out(bytes.size() * 2, '\0');
  char* cursor = out.data();
  for (std::uint8_t b : bytes) {
    std::memcpy(cursor, &kPairs[2 * b], 2);
    cursor += 2;
  }
  return out;
}

std::string HexEncode(std::string_view bytes) { return HexEncode(AsBytes(bytes)); }

Result<std::vector<std::uint8_t>> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) return Malformed("hex", "odd length");

  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // Upper case is refused too: one value, one spelling.
  };
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = nibble(text[i]);
    const int low = nibble(text[i + 1]);
    if (high < 0 || low < 0) {
      return Malformed("hex", "bad character at offset " + std::to_string(high < 0 ? i : i + 1));
    }
    out.push_back(static_cast<std::uint8_t>((high << 4) | low));
  }
  return out;
}

std::string Base64Encode(std::span<const std::uint8_t> bytes) {
  return EncodeBase64(bytes, kBase64Alphabet, /*pad=*/true);
}

std::string Base64Encode(std::string_view bytes) { return Base64Encode(AsBytes(bytes)); }

Result<std::vector<std::uint8_t>> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Malformed("base64", "length is not a multiple of 4");

  // Up to two '=' may end the text, and only where the last group is short.
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  const std::string_view body = text.substr(0, text.size() - padding);
  // A third '=' or one in the middle is not in the alphabet and fails below.
  return DecodeUnpadded(body, kBase64Reverse, "base64");
}

std::string Base64UrlEncode(std::span<const std::uint8_t> bytes) {
  return EncodeBase64(bytes, kBase64UrlAlphabet, /*pad=*/false);
}

std::string Base64UrlEncode(std::string_view bytes) { return Base64UrlEncode(AsBytes(bytes)); }

Result<std::vector<std::uint8_t>> Base64UrlDecode(std::string_view text) {
  // '=' is outside the base64url alphabet, so padded input is refused here.
  return DecodeUnpadded(text, kBase64UrlReverse, "base64url");
}

}  // namespace gatehouse::crypto
