#pragma once

// HKDF-SHA256 (RFC 5869): extract-then-expand key derivation.
//
// Thread safety: may be called concurrently.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/secret.h"
#include "core/status.h"

namespace gatehouse::crypto {

// The longest output RFC 5869 section 2.3 allows: 255 blocks of 32 bytes.
inline constexpr std::size_t kHkdfSha256MaxLength = 255 * 32;

// Derives `length` bytes from input keying material `ikm`. `salt` may be empty
// (RFC 5869 section 2.2 then uses a block of zeros); `info` binds the output to
// its purpose so that one master key yields independent keys.
// Errors: kInvalidArgument when `ikm` is empty or length is 0 or above
// kHkdfSha256MaxLength;
// kInternal if OpenSSL fails.
Result<Secret> HkdfSha256(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                          std::span<const std::uint8_t> info, std::size_t length);

}  // namespace gatehouse::crypto
