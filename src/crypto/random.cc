#include "crypto/random.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/secret.h"
#include "crypto/encoding.h"

namespace gatehouse::crypto {

void FillRandom(std::span<std::uint8_t> out) {
  // RAND_bytes takes an int length; large requests go in chunks.
  constexpr std::size_t kMaxChunk = 1u << 30;
  while (!out.empty()) {
    const std::size_t chunk = std::min(out.size(), kMaxChunk);
    if (RAND_bytes(out.data(), static_cast<int>(chunk)) != 1) {
      // See the header: never continue without good randomness.
      std::fputs("gatehouse: fatal: the CSPRNG failed; refusing to continue\n", stderr);
      std::abort();
    }
    out = out.subspan(chunk);
  }
}

std::vector<std::uint8_t> RandomBytes(std::size_t count) {
  std::vector<std::uint8_t> bytes(count);
  FillRandom(bytes);
  return bytes;
}

std::string RandomToken(std::size_t bytes) {
  std::vector<std::uint8_t> raw = RandomBytes(bytes);
  std::string token = Base64UrlEncode(raw);
  SecureWipe(raw.data(), raw.size());
  return token;
}

std::uint64_t RandomUint64() {
  std::uint8_t raw[8];
  FillRandom(raw);
  std::uint64_t value = 0;
  for (std::uint8_t b : raw) value = (value << 8) | b;
  return value;
}

std::uint64_t RandomBelow(std::uint64_t bound) {
  if (bound <= 1) return 0;

  // Rejection sampling: values at or above the largest multiple of `bound`
  // would make the low results more likely than the high ones.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  while (true) {
    const std::uint64_t value = RandomUint64();
    if (value < limit) return value % bound;
  }
}

}  // namespace gatehouse::crypto
