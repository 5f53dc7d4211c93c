#pragma once

// The one source of randomness for everything security-relevant: keys, nonces,
// salts, tokens, session ids, backup codes. It draws from OpenSSL's DRBG, which
// is seeded from the operating system and reseeded after fork.
//
// Failure policy: if the CSPRNG ever reports failure these functions abort the
// process instead of returning an error or falling back to a weaker source. A
// caller that got an error might retry, log and carry on with a zeroed buffer,
// or a fallback might quietly hand out predictable keys and tokens; both turn a
// loud outage into a silent compromise. A crashed process is restarted by its
// supervisor; a predictable session token is not noticed.
//
// Thread safety: all functions may be called from any thread.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gatehouse::crypto {

// Fills `out` with cryptographically secure random bytes.
void FillRandom(std::span<std::uint8_t> out);

// Returns `count` random bytes.
std::vector<std::uint8_t> RandomBytes(std::size_t count);

// Returns `bytes` random bytes encoded as base64url without padding, suitable
// for URLs, cookies and headers. 32 bytes (256 bits) give a 43-character token.
std::string RandomToken(std::size_t bytes);

// A uniformly distributed 64-bit value.
std::uint64_t RandomUint64();

// A uniformly distributed value in [0, bound), without modulo bias.
// REQUIRES: bound > 0.
std::uint64_t RandomBelow(std::uint64_t bound);

}  // namespace gatehouse::crypto
