#pragma once

// The fixed-size output of SHA-256 and HMAC-SHA256, shared by hash.h and hmac.h.

#include <array>
#include <cstddef>
#include <cstdint>

namespace gatehouse::crypto {

inline constexpr std::size_t kSha256Size = 32;
using Sha256Digest = std::array<std::uint8_t, kSha256Size>;

}  // namespace gatehouse::crypto
