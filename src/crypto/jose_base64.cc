#include "crypto/jose_base64.h"

#include <array>

namespace gatehouse::crypto {
namespace {

constexpr std::uint8_t kInvalid = 0xFF;

constexpr std::array<std::uint8_t, 256> MakeReverse() {
  std::array<std::uint8_t, 256> reverse{};
  for (auto& entry : reverse) entry = kInvalid;
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    reverse[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return reverse;
}

constexpr std::array<std::uint8_t, 256> kReverse = MakeReverse();

}  // namespace

std::optional<std::size_t> Base64UrlDecodedSize(std::size_t text_size) {
  // A lone trailing character carries 6 bits: less than one byte.
  if (text_size % 4 == 1) return std::nullopt;
  return text_size / 4 * 3 + (text_size % 4 == 0 ? 0 : text_size % 4 - 1);
}

std::optional<std::size_t> Base64UrlDecodeInto(std::string_view text, std::span<std::uint8_t> out) {
  const std::optional<std::size_t> size = Base64UrlDecodedSize(text.size());
  if (!size || *size > out.size()) return std::nullopt;

  // Invalid characters map to 0xFF; OR-ing every value and testing the high bit once per
  // group keeps the loop free of early exits.
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  std::uint8_t* dst = out.data();
  std::uint8_t seen = 0;
  std::size_t i = 0;
  for (; i + 4 <= text.size(); i += 4) {
    const std::uint8_t a = kReverse[in[i]], b = kReverse[in[i + 1]];
    const std::uint8_t c = kReverse[in[i + 2]], d = kReverse[in[i + 3]];
    seen |= a | b | c | d;
    const std::uint32_t group = (std::uint32_t{a} << 18) | (std::uint32_t{b} << 12) |
                                (std::uint32_t{c} << 6) | std::uint32_t{d};
    *dst++ = static_cast<std::uint8_t>(group >> 16);
    *dst++ = static_cast<std::uint8_t>(group >> 8);
    *dst++ = static_cast<std::uint8_t>(group);
  }

  const std::size_t rest = text.size() - i;
  if (rest >= 2) {
    const std::uint8_t a = kReverse[in[i]], b = kReverse[in[i + 1]];
    const std::uint8_t c = rest == 3 ? kReverse[in[i + 2]] : 0;
    seen |= a | b | c;
    if (seen & 0x80) return std::nullopt;
    const std::uint32_t group =
        (std::uint32_t{a} << 18) | (std::uint32_t{b} << 12) | (std::uint32_t{c} << 6);
    *dst++ = static_cast<std::uint8_t>(group >> 16);
    if (rest == 3) *dst++ = static_cast<std::uint8_t>(group >> 8);
    // RFC 4648 section 3.5: the unused low bits of the last character must be zero, or
    // several texts would decode to the same bytes (4 unused bits for 2 characters,
    // 2 for 3).
    const std::uint32_t unused = rest == 2 ? (group & 0xFFFF) : (group & 0xFF);
    if (unused != 0) return std::nullopt;
  }
  if (seen & 0x80) return std::nullopt;
  return *size;
}

}  // namespace gatehouse::crypto
