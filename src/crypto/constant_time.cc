#include "crypto/constant_time.h"

#include <cstring>

#include "crypto/bytes.h"

namespace gatehouse::crypto {
namespace {

// Keeps the compiler from reasoning about `value`: without it, an optimiser could in
// principle notice that a non-zero accumulator decides the result and leave the loop early.
inline std::uint64_t ValueBarrier(std::uint64_t value) {
  __asm__("" : "+r"(value));
  return value;
}

}  // namespace

bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;  // Length leaks by design; see header.

  // Whole words, every byte always read, differences OR-ed into one accumulator: the same
  // work for any content, several times faster than a byte loop through volatile pointers
  // (CRYPTO_memcmp), which mattered once the token cache compared every presented token
  // this way. Four words per step, then single words, then single bytes.
  const std::size_t n = a.size();
  std::uint64_t diff = 0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::uint64_t x[4];
    std::uint64_t y[4];
    std::memcpy(x, a.data() + i, sizeof(x));
    std::memcpy(y, b.data() + i, sizeof(y));
    diff = ValueBarrier(diff | (x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]));
  }
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x;
    std::uint64_t y;
    std::memcpy(&x, a.data() + i, sizeof(x));
    std::memcpy(&y, b.data() + i, sizeof(y));
    diff = ValueBarrier(diff | (x ^ y));
  }
  for (; i < n; ++i) diff = ValueBarrier(diff | static_cast<std::uint64_t>(a[i] ^ b[i]));

  // Branch-free to the end: fold the accumulator to one bit.
  return ValueBarrier((diff | (0 - diff)) >> 63) == 0;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return ConstantTimeEquals(AsBytes(a), AsBytes(b));
}

}  // namespace gatehouse::crypto
