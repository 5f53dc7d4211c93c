#pragma once

// A Secret holds key material, passwords or tokens. It cannot be printed,
// formatted, streamed or implicitly copied into a string, and it wipes its
// buffer with OPENSSL_cleanse when it dies or is reassigned. Reading the bytes
// needs an explicit call to `reveal()`, so every use is visible in review.
//
// Thread safety: like std::string; concurrent const access is safe.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view bytes);
  explicit Secret(std::span<const std::uint8_t> bytes);
  ~Secret();

  Secret(const Secret& other);
  Secret& operator=(const Secret& other);
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;

  bool empty() const { return bytes_.empty(); }
  std::size_t size() const { return bytes_.size(); }

  // The raw bytes. Never log, format or store the result in a long-lived
  // non-Secret object.
  std::string_view reveal() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  std::span<const std::uint8_t> bytes() const { return bytes_; }

  // Constant-time equality. The length of both values may leak through timing;
  // their content does not.
  bool Equals(const Secret& other) const;

 private:
  void Wipe();

  std::vector<std::uint8_t> bytes_;
};

// Wipes a buffer that held secret material.
void SecureWipe(void* data, std::size_t size);
inline void SecureWipe(std::string& s) { SecureWipe(s.data(), s.size()); }

}  // namespace gatehouse
