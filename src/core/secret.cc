#include "core/secret.h"

#include <openssl/crypto.h>

namespace gatehouse {

void SecureWipe(void* data, std::size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

Secret::Secret(std::string_view bytes) : bytes_(bytes.begin(), bytes.end()) {}

Secret::Secret(std::span<const std::uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}

Secret::~Secret() { Wipe(); }

Secret::Secret(const Secret& other) : bytes_(other.bytes_) {}

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    Wipe();
    bytes_ = other.bytes_;
  }
  return *this;
}

Secret::Secret(Secret&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

bool Secret::Equals(const Secret& other) const {
  if (bytes_.size() != other.bytes_.size()) return false;
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

void Secret::Wipe() {
  // Wipe the whole capacity: earlier, longer contents may still sit past size().
  if (bytes_.capacity() > 0) {
    bytes_.resize(bytes_.capacity());
    SecureWipe(bytes_.data(), bytes_.size());
  }
  bytes_.clear();
}

}  // namespace gatehouse
