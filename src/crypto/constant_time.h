#pragma once

// Comparison of secret values (MACs, tokens, hashes) without an early exit.

#include <cstdint>
#include <span>
#include <string_view>

namespace gatehouse::crypto {

// True when both inputs hold the same bytes. The running time depends only on
// the lengths: content does not leak, but whether the lengths differ does (a
// length mismatch returns at once). Compare values of public, fixed length
// (digests, MACs), or hash both sides first when the length itself is secret.
bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gatehouse::crypto
