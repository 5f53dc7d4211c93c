#pragma once

// Signed device cookies: proof that a browser signed in to an account before. The
// brute-force guard counts the failures of a device that presents one on that device's own
// counter, so an attacker who keeps an account locked does not lock out its owner's known
// devices (docs/brute-force.md).
//
// Cookie value: base64url (RFC 4648 section 5, unpadded) of 73 bytes:
//   [0]      version, 1
//   [1..17)  device id, 128 random bits
//   [17..33) binding: the first 16 bytes of HMAC-SHA256(binding key, device id || account key)
//   [33..41) issued_at, seconds since the Unix epoch, signed 64-bit big-endian
//   [41..73) tag: HMAC-SHA256(tag key, bytes [0..41))
// The account key never appears in the cookie: the binding is a keyed hash, and the device
// id is mixed in so that two cookies of one account do not carry the same binding (which
// would let anyone who sees them link them to one account).
//
// Cookie attributes are the caller's: Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age of
// lifetime(). The value is not secret in the way a session is (it grants no access, only a
// separate failure counter), but it must not leak to scripts either.
//
// Thread safety: Issue and Verify may run concurrently; the Clock must be thread-safe.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "core/clock.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/hmac.h"

namespace gatehouse::protect {

inline constexpr std::string_view kDeviceCookieName = "gh_device";

// How far a cookie's issue time may lie in the future (another node's clock running ahead).
inline constexpr std::chrono::seconds kDeviceCookieClockSkew{60};

struct DeviceCookieOptions {
  // From issue to expiry; 1 s .. 400 days (the most a browser keeps a cookie, RFC 6265bis).
  std::chrono::seconds lifetime = std::chrono::hours(24 * 180);
};

class DeviceCookies {
 public:
  // `key`: at least 32 bytes, for this purpose only (the caller derives it from the key
  // ring); a tag key and a binding key are derived from it with HKDF. `clock` must outlive
  // the object. Errors: kInvalidArgument for a short key or a lifetime out of range.
  static Result<DeviceCookies> Create(const Secret& key, const Clock& clock,
                                      DeviceCookieOptions options = {});

  DeviceCookies(DeviceCookies&&) noexcept = default;
  DeviceCookies& operator=(DeviceCookies&&) noexcept = default;

  // A new cookie value with a fresh random device id, bound to `account_key` (the opaque key
  // the brute-force guard uses; any non-empty bytes). Errors: kInvalidArgument when empty.
  Result<std::string> Issue(std::string_view account_key) const;

  // The device id (32 lowercase hex characters) when `value` is a cookie this key issued
  // for `account_key`, unexpired and not issued more than kDeviceCookieClockSkew ahead.
  // Checks, in order: size and encoding, version, tag (constant time), binding (constant
  // time), times. Every refusal is kUnauthenticated with one generic message; the detail
  // names the reason (malformed, bad_tag, wrong_account, not_yet_valid, expired) for the log
  // and never contains the value or the account key.
  Result<std::string> Verify(std::string_view value, std::string_view account_key) const;

  std::chrono::seconds lifetime() const { return options_.lifetime; }

 private:
  DeviceCookies(crypto::HmacSha256Keyed tag_key, crypto::HmacSha256Keyed binding_key,
                const Clock& clock, DeviceCookieOptions options)
      : tag_key_(std::move(tag_key)),
        binding_key_(std::move(binding_key)),
        clock_(&clock),
        options_(options) {}

  crypto::HmacSha256Keyed tag_key_;
  crypto::HmacSha256Keyed binding_key_;
  const Clock* clock_;
  DeviceCookieOptions options_;
};

}  // namespace gatehouse::protect
