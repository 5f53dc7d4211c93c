#pragma once

// Password hashing with argon2id (RFC 9106) through libsodium, stored in the
// PHC string form `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`
// (salt and hash in unpadded standard base64), which other argon2
// implementations read and write too.
//
// Hashing runs for tens of milliseconds by design; call it on the worker pool,
// never on an I/O thread.
//
// Thread safety: all functions may be called concurrently.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gatehouse::crypto {

// Cost parameters for new hashes. The defaults are the OWASP Password Storage
// Cheat Sheet's argon2id configuration (19 MiB, 2 passes, 1 lane), which takes
// about 15 ms here.
struct Argon2Params {
  std::uint32_t memory_kib = 19456;
  std::uint32_t iterations = 2;
  std::uint32_t parallelism = 1;
};

// Accepted bounds for hashing. The floors are sanity limits that stop a
// misconfiguration from producing hashes that are cheap to crack; they are not
// recommendations (stay at or above the defaults in production). The ceilings
// bound the memory and time one login may cost the server.
inline constexpr std::uint32_t kArgon2MinMemoryKib = 8 * 1024;     // 8 MiB
inline constexpr std::uint32_t kArgon2MaxMemoryKib = 1024 * 1024;  // 1 GiB
inline constexpr std::uint32_t kArgon2MinIterations = 1;
inline constexpr std::uint32_t kArgon2MaxIterations = 32;
// Longer passwords are refused rather than truncated; hashing cost barely
// depends on length, so this only keeps absurd request bodies out.
inline constexpr std::size_t kMaxPasswordBytes = 4096;

// Checks `params` against the bounds above. libsodium computes argon2id with
// one lane only, so parallelism must be 1; anything else is refused here
// (hashes from other implementations with more lanes still verify).
// Errors: kInvalidArgument naming the parameter.
Status ValidateArgon2Params(const Argon2Params& params);

// Hashes `password` with a fresh 16-byte random salt and a 32-byte output.
// Errors: kInvalidArgument for bad params or a password above
// kMaxPasswordBytes; kResourceExhausted if the memory cannot be allocated.
Result<std::string> HashPassword(std::string_view password, const Argon2Params& params = {});

// Checks `password` against an encoded hash. Returns false for a wrong
// password. A string that is not a well-formed argon2id v19 hash is an error,
// not false, so corrupt records are noticed. Hashes made with other parameters
// (including more lanes or a shorter salt) verify; their memory is capped at
// kArgon2MaxMemoryKib so a tampered record cannot exhaust the server.
// libsodium reports an allocation failure like a mismatch, so under memory
// exhaustion this returns false (fails closed).
// Errors: kInvalidArgument for a malformed or out-of-bounds hash or an
// over-long password.
Result<bool> VerifyPassword(std::string_view password, std::string_view encoded);

// True when `encoded` should be replaced by a hash made with `params`: its
// parameters differ from `params` (weaker or merely different), its salt or
// output is shorter than HashPassword's, or it is not a well-formed argon2id
// hash at all. Call after a successful VerifyPassword, with the password at
// hand.
bool NeedsRehash(std::string_view encoded, const Argon2Params& params);

}  // namespace gatehouse::crypto
