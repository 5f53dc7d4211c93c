#include "http/request_id.h"

#include <algorithm>
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

void AppendHex(std::string& out, std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(v >> shift) & 0xF]);
}

}  // namespace

bool IsAcceptableRequestId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxRequestIdLength &&
         std::all_of(id.begin(), id.end(), IsIdChar);
}

std::string GenerateRequestId() {
  thread_local const std::uint64_t prefix = RandomPrefix();
  thread_local std::uint64_t counter = 0;
  std::string id;
  id.reserve(32);
  AppendHex(id, prefix);
  AppendHex(id, counter++);
  return id;
}

std::string AcceptOrGenerateRequestId(std::optional<std::string_view> header) {
  if (header && IsAcceptableRequestId(*header)) return std::string(*header);
  return GenerateRequestId();
}

}  // namespace gatehouse::http
