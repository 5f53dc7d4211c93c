#include "http/security_headers.h"

#include <array>
#include <string>

namespace gatehouse::http {
namespace {

constexpr std::array<SecurityHeader, 7> kHeaders = {{
    // No framing at all: defeats clickjacking of the login and MFA pages.
    {"X-Frame-Options", "DENY"},
    // Browsers must trust Content-Type, so a JSON answer is never sniffed into HTML.
    {"X-Content-Type-Options", "nosniff"},
    {"X-XSS-Protection", "1; mode=block"},
    {"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
    {"Content-Security-Policy", "default-src 'self'"},
    {"Referrer-Policy", "strict-origin-when-cross-origin"},
    {"Permissions-Policy", "geolocation=(), microphone=(), camera=()"},
}};

std::string BuildBlock() {
  std::string block;
  for (const SecurityHeader& h : kHeaders) {
    block.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  return block;
}

}  // namespace

std::span<const SecurityHeader> SecurityHeaders() { return kHeaders; }

std::string_view SecurityHeaderBlock() {
  // Built once from the list, so the two forms cannot drift apart.
  static const std::string block = BuildBlock();
  return block;
}

}  // namespace gatehouse::http
