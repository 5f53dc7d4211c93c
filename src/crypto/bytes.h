#pragma once

// Views between text and bytes. Cryptographic functions take byte spans; most
// callers hold strings. These helpers reinterpret without copying.
//
// The returned view borrows the argument's storage: it must not outlive it.

#include <cstdint>
#include <span>
#include <string_view>

namespace gatehouse::crypto {

inline std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

inline std::string_view AsChars(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace gatehouse::crypto
