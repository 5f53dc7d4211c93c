#include "http/request_id.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>

#include <openssl/rand.h>

namespace gatehouse::http {
namespace {

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

std::uint64_t RandomPrefix() {
  std::uint64_t prefix = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&prefix), sizeof(prefix)) == 1) {
    return prefix;
  }
  // Ids need uniqueness, not secrecy, so a failing CSPRNG must not stop request handling:
  // mix the OS entropy source, the time and the thread id instead.
  std::random_device device;
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  const auto thread = std::hash<std::thread::id>{}(std::this_thread::get_id());
  return (std::uint64_t{device()} << 32 | device()) ^ static_cast<std::uint64_t>(now) ^
         (static_cast<std::uint64_t>(thread) * 0x9E3779B97F4A7C15ull);
}

// Writes v as 16 lowercase hex digits, two at a time from a table.
void WriteHex(char* out, std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  static constexpr auto kPairs = [] {
    std::array<char, 512> pairs{};
    for (int i = 0; i < 256; ++i) {
      pairs[2 * i] = kDigits[i >> 4];
      pairs[2 * i + 1] = kDigits[i & 0xF];
    }
    return pairs;
  }();
  for (int i = 7; i >= 0; --i, v >>= 8) {
    out[2 * i] = kPairs[2 * (v & 0xFF)];
    out[2 * i + 1] = kPairs[2 * (v & 0xFF) + 1];
  }
}

}  // namespace

bool IsAcceptableRequestId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxRequestIdLength &&
         std::all_of(id.begin(), id.end(), IsIdChar);
}

std::string GenerateRequestId() {
  std::string id;
  GenerateRequestIdInto(id);
  return id;
}

void GenerateRequestIdInto(std::string& out) {
  thread_local const std::uint64_t prefix = RandomPrefix();
  thread_local std::uint64_t counter = 0;
  out.resize(32);
  WriteHex(out.data(), prefix);
  WriteHex(out.data() + 16, counter++);
}

std::string AcceptOrGenerateRequestId(std::optional<std::string_view> header) {
  if (header && IsAcceptableRequestId(*header)) return std::string(*header);
  return GenerateRequestId();
}

}  // namespace gatehouse::http
