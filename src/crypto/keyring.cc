#include "crypto/keyring.h"

#include <charconv>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <tuple>
#include <utility>

#include "crypto/bytes.h"
#include "crypto/encoding.h"
#include "crypto/envelope.h"
#include "crypto/hkdf.h"
#include "crypto/hmac.h"
#include "crypto/random.h"

namespace gatehouse::crypto {
namespace {

constexpr std::size_t kMasterKeyBytes = 32;
constexpr std::size_t kDerivedKeyBytes = 32;
constexpr std::string_view kDerivationSalt = "gatehouse keyring v1";
constexpr std::string_view kAeadPrefix = "aes-256-gcm/";
constexpr std::string_view kBlindIndexPrefix = "blind-index/";
constexpr std::size_t kMaxPurposeLength = 64;
constexpr std::size_t kMaxCachedKeys = 1024;

Error BadFile(std::size_t line, std::string_view problem) {
  return InvalidArgument("invalid master key file",
                         "line " + std::to_string(line) + ": " + std::string(problem));
}

Status CheckPurpose(std::string_view purpose) {
  if (purpose.empty() || purpose.size() > kMaxPurposeLength) {
    return InvalidArgument("invalid key purpose", "purpose must be 1..64 characters");
  }
  for (char c : purpose) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == ':' || c == '.' || c == '_' || c == '-';
    if (!ok)
      return InvalidArgument("invalid key purpose",
                             "purpose has a character outside [A-Za-z0-9:._-]");
  }
  return Ok();
}

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r";
  const std::size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  const std::size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

// Parses "v<N>" into N: decimal, no leading zero, 1..UINT32_MAX.
bool ParseVersion(std::string_view label, std::uint32_t& version) {
  if (label.size() < 2 || label[0] != 'v') return false;
  const std::string_view digits = label.substr(1);
  if (digits[0] == '0') return false;  // Also rules out v0.
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
  return ec == std::errc() && end == digits.data() + digits.size();
}

std::string MasterKeyLine(std::uint32_t version) {
  std::vector<std::uint8_t> key = RandomBytes(kMasterKeyBytes);
  std::string line = "v" + std::to_string(version) + ":" + Base64Encode(key) + "\n";
  SecureWipe(key.data(), key.size());
  return line;
}

}  // namespace

namespace {
// Orders (info, version) keys and lets lookups use a string_view for info.
struct CacheKeyLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::tuple<std::string_view, std::uint32_t>(a.first, a.second) <
           std::tuple<std::string_view, std::uint32_t>(b.first, b.second);
  }
};
}  // namespace

struct KeyRing::DerivedKeyCache {
  std::shared_mutex mutex;
  std::map<std::pair<std::string, std::uint32_t>, Secret, CacheKeyLess> keys;
};

KeyRing::KeyRing(std::map<std::uint32_t, Secret> master_keys)
    : master_keys_(std::move(master_keys)),
      current_version_(master_keys_.rbegin()->first),
      cache_(std::make_unique<DerivedKeyCache>()) {}

KeyRing::KeyRing(KeyRing&&) noexcept = default;
KeyRing& KeyRing::operator=(KeyRing&&) noexcept = default;
KeyRing::~KeyRing() = default;

Result<KeyRing> KeyRing::Parse(const Secret& text) {
  std::map<std::uint32_t, Secret> keys;
  std::map<std::uint32_t, std::size_t> first_line;
  std::string_view rest = text.reveal();
  std::size_t line_number = 0;

  while (!rest.empty()) {
    const std::size_t newline = rest.find('\n');
    const std::string_view raw = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    ++line_number;

    const std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;

    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return BadFile(line_number, "expected v<N>:<base64 key>");
    std::uint32_t version = 0;
    if (!ParseVersion(line.substr(0, colon), version)) {
      return BadFile(line_number, "version must be v followed by a positive number");
    }
    if (auto it = first_line.find(version); it != first_line.end()) {
      return BadFile(line_number, "version v" + std::to_string(version) +
                                      " already defined on line " + std::to_string(it->second));
    }

    auto decoded = Base64Decode(line.substr(colon + 1));
    if (!decoded.ok()) return BadFile(line_number, "key is not valid padded base64");
    std::vector<std::uint8_t> key = std::move(decoded).value();
    const std::size_t size = key.size();
    bool all_zero = true;
    for (std::uint8_t b : key) all_zero = all_zero && b == 0;
    Secret secret(key);
    SecureWipe(key.data(), key.size());
    if (size != kMasterKeyBytes) {
      return BadFile(line_number, "key must be exactly 32 bytes, got " + std::to_string(size));
    }
    // An all-zero key is a placeholder someone forgot to replace.
    if (all_zero) return BadFile(line_number, "key is all zero bytes");

    keys.emplace(version, std::move(secret));
    first_line.emplace(version, line_number);
  }

  if (keys.empty()) {
    return InvalidArgument("invalid master key file", "no key lines (expected v<N>:<base64 key>)");
  }
  return KeyRing(std::move(keys));
}

std::vector<std::uint32_t> KeyRing::versions() const {
  std::vector<std::uint32_t> out;
  out.reserve(master_keys_.size());
  for (const auto& [version, key] : master_keys_) out.push_back(version);
  return out;
}

Result<Secret> KeyRing::Derive(std::string_view info, std::uint32_t version) const {
  const auto master = master_keys_.find(version);
  if (master == master_keys_.end()) {
    return NotFound("encryption key not available",
                    "key version v" + std::to_string(version) + " is not in the key ring");
  }

  const std::pair<std::string_view, std::uint32_t> lookup(info, version);
  {
    std::shared_lock lock(cache_->mutex);
    if (auto it = cache_->keys.find(lookup); it != cache_->keys.end()) return it->second;
  }

  // Derive outside the lock; two threads racing here compute the same key and
  // the second insert is a no-op.
  auto key =
      HkdfSha256(master->second.bytes(), AsBytes(kDerivationSalt), AsBytes(info), kDerivedKeyBytes);
  if (!key.ok()) return std::move(key).error();

  {
    std::unique_lock lock(cache_->mutex);
    if (cache_->keys.size() < kMaxCachedKeys) {
      cache_->keys.try_emplace(std::pair<std::string, std::uint32_t>(info, version), *key);
    }
  }
  return key;
}

Result<Secret> KeyRing::DeriveKey(std::string_view purpose, std::uint32_t version) const {
  GH_RETURN_IF_ERROR(CheckPurpose(purpose));
  return Derive(purpose, version);
}

Result<std::string> KeyRing::Encrypt(std::string_view purpose, std::string_view plaintext,
                                     std::string_view aad) const {
  GH_RETURN_IF_ERROR(CheckPurpose(purpose));
  auto key = Derive(std::string(kAeadPrefix) + std::string(purpose), current_version_);
  if (!key.ok()) return std::move(key).error();
  return SealEnvelopeText(key->bytes(), current_version_, AsBytes(plaintext), AsBytes(aad));
}

Result<Secret> KeyRing::Decrypt(std::string_view purpose, std::string_view text,
                                std::string_view aad) const {
  GH_RETURN_IF_ERROR(CheckPurpose(purpose));
  const std::string info = std::string(kAeadPrefix) + std::string(purpose);
  const EnvelopeKeyLookup lookup = [this, &info](std::uint32_t version) {
    return Derive(info, version);
  };
  return OpenEnvelopeText(lookup, text, AsBytes(aad));
}

Result<std::uint32_t> KeyRing::VersionOf(std::string_view text) { return EnvelopeTextKeyId(text); }

Result<std::string> KeyRing::BlindIndex(std::string_view purpose, std::string_view value) const {
  return BlindIndex(purpose, value, current_version_);
}

Result<std::string> KeyRing::BlindIndex(std::string_view purpose, std::string_view value,
                                        std::uint32_t version) const {
  GH_RETURN_IF_ERROR(CheckPurpose(purpose));
  auto key = Derive(std::string(kBlindIndexPrefix) + std::string(purpose), version);
  if (!key.ok()) return std::move(key).error();
  return Base64UrlEncode(HmacSha256(key->bytes(), value));
}

Secret GenerateMasterKeyFile() {
  std::string text;
  // Reserve first so no reallocation leaves an unwiped copy of the key behind.
  text.reserve(512);
  text +=
      "# Gatehouse master key file. Keep it secret: mode 0600, never in version control.\n"
      "# To rotate, add a line with the next version; the highest version encrypts new\n"
      "# data, older versions keep decrypting what they wrote.\n";
  std::string line = MasterKeyLine(1);
  text += line;
  SecureWipe(line);
  Secret secret(text);
  SecureWipe(text);
  return secret;
}

Result<Secret> AddMasterKeyVersion(const Secret& text) {
  auto ring = KeyRing::Parse(text);
  if (!ring.ok()) return std::move(ring).error();
  const std::uint32_t current = ring->current_version();
  if (current == std::numeric_limits<std::uint32_t>::max()) {
    return Error(ErrorCode::kFailedPrecondition, "no key version left",
                 "the highest key version is already the largest possible");
  }

  std::string out;
  // Reserve first so no reallocation leaves an unwiped copy of the keys behind.
  out.reserve(text.size() + 128);
  out += text.reveal();
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  std::string line = MasterKeyLine(current + 1);
  out += line;
  SecureWipe(line);
  Secret secret(out);
  SecureWipe(out);
  return secret;
}

}  // namespace gatehouse::crypto
