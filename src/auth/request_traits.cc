#include "auth/request_traits.h"

#include <arpa/inet.h>

#include <charconv>
#include <chrono>

#include "core/recent_memo.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"

namespace gatehouse::auth {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string IpPrefix(std::string_view ip) {
  std::string text(ip);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    return std::to_string(buf[0]) + "." + std::to_string(buf[1]) + "." +
           std::to_string(buf[2]) + ".0/24";
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    return crypto::HexEncode(std::span<const std::uint8_t>(buf, 6)) + "::/48";
  }
  return text;
}

std::string Cookie(std::string_view name, std::string_view value, std::string_view path,
                   std::chrono::seconds max_age) {
  return std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
         "; Max-Age=" + std::to_string(max_age.count()) +
         "; Secure; HttpOnly; SameSite=Strict";
}

}  // namespace

std::optional<std::string> FindCookie(const http::Request& request, std::string_view name) {
  std::optional<std::string> found;
  int count = 0;
  for (const http::Header& header : request.headers) {
    if (!http::EqualsIgnoreCase(header.name, "Cookie")) continue;
    std::string_view rest = header.value;
    while (!rest.empty()) {
      const std::size_t semi = rest.find(';');
      std::string_view pair = Trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      ++count;
      found = std::string(pair.substr(eq + 1));
    }
  }
  if (count != 1) return std::nullopt;
  return found;
}

std::optional<std::string_view> BearerToken(const http::Request& request) {
  auto header = request.FindHeader("Authorization");
  if (!header) return std::nullopt;
  constexpr std::string_view kScheme = "Bearer ";
  // The scheme is case-insensitive (RFC 9110 section 11.1).
  if (header->size() <= kScheme.size() ||
      !http::EqualsIgnoreCase(header->substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  std::string_view token = Trim(header->substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  return token;
}

std::string SessionCookie(std::string_view value, std::chrono::seconds max_age) {
  return Cookie(kSessionCookie, value, "/", max_age);
}

std::string RefreshCookie(std::string_view value, std::chrono::seconds max_age) {
  return Cookie(kRefreshCookie, value, kRefreshPath, max_age);
}

std::string ClearSessionCookie() {
  return Cookie(kSessionCookie, "", "/", std::chrono::seconds(0));
}

std::string ClearRefreshCookie() {
  return Cookie(kRefreshCookie, "", kRefreshPath, std::chrono::seconds(0));
}

std::string DeviceFingerprint(const http::Request& request, std::string_view traits) {
  // Built with appends into one buffer: this runs on every verified request.
  std::string material;
  material.reserve(256);
  std::string prefix;  // Only for ip_prefix, which is computed.
  std::string_view rest = traits;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view trait = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    std::string_view value;
    if (trait == "user_agent") {
      value = request.FindHeader("User-Agent").value_or("");
    } else if (trait == "accept_language") {
      value = request.FindHeader("Accept-Language").value_or("");
    } else if (trait == "client_ip") {
      value = request.client_ip;
    } else if (trait == "ip_prefix") {
      prefix = IpPrefix(request.client_ip);
      value = prefix;
    }
    // Length-prefixed, so no two trait lists can produce the same material.
    char length[24];
    const char* length_end = std::to_chars(length, length + sizeof(length), value.size()).ptr;
    material.append(trait);
    material.push_back(':');
    material.append(length, static_cast<std::size_t>(length_end - length));
    material.push_back(':');
    material.append(value);
    material.push_back(';');
  }
  // A browser sends the same traits with every request, so most verified requests find
  // their digest here instead of hashing again.
  thread_local RecentMemo<std::string, 64, 1024> memo;
  if (const std::string* known = memo.Find(material)) return *known;
  std::string digest = crypto::HexEncode(crypto::Sha256(material));
  memo.Remember(material, digest);
  return digest;
}

bool OriginAllowed(const http::Request& request, std::string_view allowed,
                   std::string_view own_origin) {
  auto origin = request.FindHeader("Origin");
  if (!origin || origin->empty() || *origin == "null") return false;
  if (*origin == own_origin) return true;
  std::string_view rest = allowed;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    if (rest.substr(0, comma) == *origin) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

bool IsUnsafeMethod(http::Method method) {
  return method != http::Method::kGet && method != http::Method::kHead &&
         method != http::Method::kOptions;
}

}  // namespace gatehouse::auth
