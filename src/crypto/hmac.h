#pragma once

// HMAC-SHA256 (RFC 2104, FIPS 198-1) on OpenSSL 3's EVP_MAC interface.
//
// Speed: OpenSSL 3's one-shot HMAC() looks the algorithm up and allocates a
// context on every call. Here the algorithm is fetched once per process and
// every thread keeps its own EVP_MAC_CTX, so a call only re-keys and hashes
// (about half the one-shot cost for a 200-byte message on the reference
// machine). HmacSha256Keyed goes further for a key used many times (a JWT
// signing key, a blind-index key): each thread keeps a context already keyed,
// so a call skips the key schedule too (about a quarter of the one-shot cost).
//
// Neither function can fail short of memory exhaustion, which aborts (see
// fatal.h); hence plain return values.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "crypto/digest_types.h"

namespace gatehouse::crypto {

// HMAC-SHA256 of `data` under `key` (any length; RFC 2104 hashes keys longer
// than the block size). Thread-safe.
Sha256Digest HmacSha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data);
Sha256Digest HmacSha256(std::span<const std::uint8_t> key, std::string_view data);

namespace internal {
struct PreparedHmac;
}  // namespace internal

// HMAC-SHA256 under one fixed key, prepared once.
//
// Thread safety: Compute() and Verify() may run concurrently on one object.
// Each thread that calls them keeps a private keyed copy of the context in a
// small per-thread cache (a few entries, least recently filled evicted). The
// copy is freed, and its key state wiped, when the thread next computes any
// keyed HMAC after this object died, when it is evicted, or when the thread
// exits. Moving is cheap; a moved-from object must not be used.
class HmacSha256Keyed {
 public:
  explicit HmacSha256Keyed(std::span<const std::uint8_t> key);
  ~HmacSha256Keyed();
  HmacSha256Keyed(HmacSha256Keyed&&) noexcept;
  HmacSha256Keyed& operator=(HmacSha256Keyed&&) noexcept;
  HmacSha256Keyed(const HmacSha256Keyed&) = delete;
  HmacSha256Keyed& operator=(const HmacSha256Keyed&) = delete;

  Sha256Digest Compute(std::span<const std::uint8_t> data) const;
  Sha256Digest Compute(std::string_view data) const;

  // Recomputes the MAC of `data` and compares it with `mac` in constant time.
  // A `mac` of the wrong length is false.
  bool Verify(std::span<const std::uint8_t> data, std::span<const std::uint8_t> mac) const;
  bool Verify(std::string_view data, std::span<const std::uint8_t> mac) const;

 private:
  std::shared_ptr<const internal::PreparedHmac> prepared_;
};

}  // namespace gatehouse::crypto
