#include "state/script.h"

#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <utility>

namespace gatehouse::state {
namespace {

// SHA-1 here is only the name Redis gives a script (EVALSHA), not a security
// property: the script text is ours, and the server recomputes the same digest.
std::string Sha1Hex(const std::string& text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha1(), nullptr) != 1) {
    // Only possible when memory runs out; the same outcome as std::bad_alloc.
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0f]);
  }
  return hex;
}

}  // namespace

RedisScript::RedisScript(std::string source) {
  std::string sha1 = Sha1Hex(source);
  data_ = std::make_shared<const Data>(Data{std::move(source), std::move(sha1)});
}

}  // namespace gatehouse::state
