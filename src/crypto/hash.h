#pragma once

// SHA-256 (FIPS 180-4). This header also brings in the keyed primitives built
// on it (hmac.h, hkdf.h) and constant-time comparison, so one include serves a
// caller that needs "the hashing toolbox".
//
// Thread safety: all functions may be called concurrently.

#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/constant_time.h"
#include "crypto/digest_types.h"
#include "crypto/hkdf.h"
#include "crypto/hmac.h"

namespace gatehouse::crypto {

// Never fails: OpenSSL can only fail here when memory runs out, and then the
// process aborts (the same outcome as std::bad_alloc escaping).
Sha256Digest Sha256(std::span<const std::uint8_t> data);
Sha256Digest Sha256(std::string_view data);

}  // namespace gatehouse::crypto
