#include "protect/device_cookie.h"

#include <array>
#include <cstring>
#include <optional>
#include <span>
#include <utility>

#include "crypto/bytes.h"
#include "crypto/constant_time.h"
#include "crypto/encoding.h"
#include "crypto/hkdf.h"
#include "crypto/random.h"

namespace gatehouse::protect {
namespace {

constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kDeviceIdSize = 16;
constexpr std::size_t kBindingSize = 16;
constexpr std::size_t kOffsetDevice = 1;
constexpr std::size_t kOffsetBinding = kOffsetDevice + kDeviceIdSize;      // 17
constexpr std::size_t kOffsetIssued = kOffsetBinding + kBindingSize;       // 33
constexpr std::size_t kSignedSize = kOffsetIssued + 8;                     // 41
constexpr std::size_t kCookieSize = kSignedSize + crypto::kSha256Size;     // 73
// base64url without padding: 73 bytes -> 98 characters.
constexpr std::size_t kCookieTextSize = (kCookieSize * 4 + 2) / 3;

constexpr std::size_t kMinKeySize = 32;
constexpr std::chrono::seconds kMinLifetime{1};
constexpr std::chrono::seconds kMaxLifetime = std::chrono::hours(24 * 400);

using Payload = std::array<std::uint8_t, kCookieSize>;

void PutInt64(std::uint8_t* out, std::int64_t value) {
  const auto v = static_cast<std::uint64_t>(value);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}

std::int64_t GetInt64(const std::uint8_t* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | in[i];
  return static_cast<std::int64_t>(v);
}

std::int64_t ToSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

Result<crypto::HmacSha256Keyed> DeriveKey(const Secret& key, std::string_view purpose) {
  auto derived = crypto::HkdfSha256(key.bytes(), {}, crypto::AsBytes(purpose), 32);
  if (!derived.ok()) return std::move(derived).error();
  return crypto::HmacSha256Keyed(derived->bytes());
}

// The binding input: the fixed-size device id first, so that no two (device, account) pairs
// produce the same bytes.
std::string BindingInput(std::span<const std::uint8_t> device_id, std::string_view account_key) {
  std::string input(crypto::AsChars(device_id));
  input.append(account_key);
  return input;
}

Error Refused(std::string_view reason) {
  return Error(ErrorCode::kUnauthenticated, "device not recognised",
               "device cookie refused: " + std::string(reason));
}

}  // namespace

Result<DeviceCookies> DeviceCookies::Create(const Secret& key, const Clock& clock,
                                            DeviceCookieOptions options) {
  // A short key would let the tag be guessed offline from any cookie seen.
  if (key.size() < kMinKeySize) {
    return InvalidArgument("invalid device cookie settings",
                           "device cookie key must be at least 32 bytes");
  }
  if (options.lifetime < kMinLifetime || options.lifetime > kMaxLifetime) {
    return InvalidArgument("invalid device cookie settings",
                           "device cookie lifetime must be 1 s to 400 days");
  }
  auto tag_key = DeriveKey(key, "gatehouse device cookie tag v1");
  if (!tag_key.ok()) return std::move(tag_key).error();
  auto binding_key = DeriveKey(key, "gatehouse device cookie binding v1");
  if (!binding_key.ok()) return std::move(binding_key).error();
  return DeviceCookies(std::move(tag_key).value(), std::move(binding_key).value(), clock,
                       options);
}

Result<std::string> DeviceCookies::Issue(std::string_view account_key) const {
  if (account_key.empty()) return InvalidArgument("invalid request", "account key is empty");

  Payload payload{};
  payload[0] = kVersion;
  const std::span<std::uint8_t> device_id = std::span(payload).subspan(kOffsetDevice, kDeviceIdSize);
  crypto::FillRandom(device_id);
  const crypto::Sha256Digest bound = binding_key_.Compute(BindingInput(device_id, account_key));
  std::memcpy(&payload[kOffsetBinding], bound.data(), kBindingSize);
  PutInt64(&payload[kOffsetIssued], ToSeconds(clock_->Now()));
  const crypto::Sha256Digest tag =
      tag_key_.Compute(std::span<const std::uint8_t>(payload.data(), kSignedSize));
  std::memcpy(&payload[kSignedSize], tag.data(), tag.size());
  return crypto::Base64UrlEncode(payload);
}

Result<std::string> DeviceCookies::Verify(std::string_view value,
                                          std::string_view account_key) const {
  // The size first: an oversized value costs nothing to refuse.
  if (value.size() != kCookieTextSize || account_key.empty()) return Refused("malformed");
  auto decoded = crypto::Base64UrlDecode(value);
  if (!decoded.ok() || decoded->size() != kCookieSize || (*decoded)[0] != kVersion) {
    return Refused("malformed");
  }
  const std::span<const std::uint8_t> bytes(*decoded);

  // Authenticate before reading any field.
  if (!tag_key_.Verify(bytes.first(kSignedSize), bytes.subspan(kSignedSize))) {
    return Refused("bad_tag");
  }

  // A genuine cookie of another account (the attacker's own, say) is no use for this one.
  const auto device_id = bytes.subspan(kOffsetDevice, kDeviceIdSize);
  const crypto::Sha256Digest bound = binding_key_.Compute(BindingInput(device_id, account_key));
  if (!crypto::ConstantTimeEquals(std::span<const std::uint8_t>(bound).first(kBindingSize),
                                  bytes.subspan(kOffsetBinding, kBindingSize))) {
    return Refused("wrong_account");
  }

  const std::int64_t now = ToSeconds(clock_->Now());
  const std::int64_t issued = GetInt64(&bytes[kOffsetIssued]);
  if (issued > now + kDeviceCookieClockSkew.count()) return Refused("not_yet_valid");
  // Expired at issued + lifetime exactly. Written so that no value of `issued` overflows.
  if (issued <= now - options_.lifetime.count()) return Refused("expired");

  return crypto::HexEncode(device_id);
}

}  // namespace gatehouse::protect
