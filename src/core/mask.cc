#include "core/mask.h"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

namespace gatehouse::core {
namespace {

constexpr std::string_view kFullyMasked = "***";
// Longest top-level domain kept verbatim: a DNS label is at most 63 octets (RFC 1035 2.3.4).
constexpr std::size_t kMaxTldBytes = 63;

// The code point of the well-formed sequence at text[pos] of length `len`.
std::uint32_t DecodeAt(std::string_view text, std::size_t pos, std::size_t len) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  switch (len) {
    case 1:
      return byte(0);
    case 2:
      return ((byte(0) & 0x1fu) << 6) | (byte(1) & 0x3fu);
    case 3:
      return ((byte(0) & 0x0fu) << 12) | ((byte(1) & 0x3fu) << 6) | (byte(2) & 0x3fu);
    default:
      return ((byte(0) & 0x07u) << 18) | ((byte(1) & 0x3fu) << 12) | ((byte(2) & 0x3fu) << 6) |
             (byte(3) & 0x3fu);
  }
}

bool IsControl(std::uint32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }

// The first character of `text` if it is a well-formed, visible one; "*" otherwise.
std::string FirstCharacter(std::string_view text) {
  if (text.empty()) return "*";
  std::size_t len = Utf8SequenceLength(text, 0);
  if (len == 0) return "*";
  std::uint32_t cp = DecodeAt(text, 0, len);
  if (IsControl(cp) || cp == ' ') return "*";
  return std::string(text.substr(0, len));
}

// A top-level domain is shown only if it is short, well-formed and free of control
// characters, spaces and '@'.
bool IsShowableTld(std::string_view tld) {
  if (tld.empty() || tld.size() > kMaxTldBytes) return false;
  for (std::size_t i = 0; i < tld.size();) {
    std::size_t len = Utf8SequenceLength(tld, i);
    if (len == 0) return false;
    std::uint32_t cp = DecodeAt(tld, i, len);
    if (IsControl(cp) || cp == ' ' || cp == '@') return false;
    i += len;
  }
  return true;
}

}  // namespace

std::size_t Utf8SequenceLength(std::string_view text, std::size_t pos) {
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  auto continuation = [&](std::size_t i) {
    return pos + i < text.size() && (at(i) & 0xc0) == 0x80;
  };
  const unsigned char lead = at(0);

  // RFC 3629 section 4: the second byte's range excludes overlong forms (E0, F0),
  // UTF-16 surrogates (ED) and code points past U+10FFFF (F4).
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return continuation(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xe0 && at(1) < 0xa0) return 0;
    if (lead == 0xed && at(1) > 0x9f) return 0;
    return 3;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xf0 && at(1) < 0x90) return 0;
    if (lead == 0xf4 && at(1) > 0x8f) return 0;
    return 4;
  }
  return 0;
}

std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  // Step back over continuation bytes (at most three) so the cut falls before a lead byte.
  for (int i = 0; i < 3 && end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80; ++i) {
    --end;
  }
  return text.substr(0, end);
}

std::string MaskEmail(std::string_view email) {
  // The last '@' separates the domain: a quoted local part may itself hold '@'.
  const std::size_t at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= email.size()) {
    return std::string(kFullyMasked);
  }
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);

  const std::size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= domain.size() ||
      domain.front() == '.') {
    return std::string(kFullyMasked);
  }
  const std::string_view tld = domain.substr(dot + 1);
  if (!IsShowableTld(tld)) return std::string(kFullyMasked);

  return FirstCharacter(local) + "***@" + FirstCharacter(domain) + "***." + std::string(tld);
}

std::string MaskPhone(std::string_view phone) {
  bool plus = false;
  std::string digits;
  for (std::size_t i = 0; i < phone.size(); ++i) {
    const char ch = phone[i];
    if (ch >= '0' && ch <= '9') {
      digits += ch;
    } else if (ch == '+' && i == 0) {
      plus = true;
    } else if (ch != ' ' && ch != '-' && ch != '.' && ch != '(' && ch != ')') {
      return std::string(kFullyMasked);
    }
  }
  // Too few digits and the kept ones would be most of the number; too many and it is not a
  // phone number, so nothing of it is kept.
  if (digits.size() < 7 || digits.size() > 15) return std::string(kFullyMasked);

  std::string out;
  if (plus) {
    out += '+';
    out += digits.front();
  }
  out += "*******";
  out += digits.substr(digits.size() - 2);
  return out;
}

std::string MaskIp(std::string_view ip) {
  if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) return std::string(kFullyMasked);
  const std::string text(ip);
  unsigned char addr[16] = {};
  char out[INET6_ADDRSTRLEN] = {};

  if (inet_pton(AF_INET, text.c_str(), addr) == 1) {
    addr[3] = 0;  // Keep the /24.
    if (inet_ntop(AF_INET, addr, out, sizeof(out)) == nullptr) return std::string(kFullyMasked);
    return std::string(out) + "/24";
  }
  if (inet_pton(AF_INET6, text.c_str(), addr) == 1) {
    std::memset(addr + 6, 0, 10);  // Keep the /48, the usual size of one site's allocation.
    if (inet_ntop(AF_INET6, addr, out, sizeof(out)) == nullptr) return std::string(kFullyMasked);
    return std::string(out) + "/48";
  }
  return std::string(kFullyMasked);
}

std::string RedactToken(std::string_view /*token*/) { return "[redacted]"; }

}  // namespace gatehouse::core
