#include "http/server_wire.h"

#include <strings.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "http/security_headers.h"

namespace gatehouse::http {
namespace {

// RFC 9110 section 5.6.2 tchar, as a table: response header names are checked on every
// response, and a lookup per byte is several times cheaper than the comparisons it replaces.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = table[c - 'a' + 'A'] = true;
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) table[c] = true;
  return table;
}();

// Whether the bytes are allowed in a field value (see IsValidHeaderValue), one at a time.
bool ValueBytesValid(const unsigned char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) return false;
  }
  return true;
}

// Eight bytes at once: a word holds a byte below 0x20 exactly when
// (w - 0x20..20) & ~w & 0x80..80 is non-zero, and a DEL exactly when the same test for
// "below 1" is non-zero on w ^ 0x7f..7f (the classic "has less than" and "has zero byte"
// tests; bytes >= 0x80, obs-text, never set a flag). A flagged word is checked byte-wise.
bool BlockValid8(const unsigned char* p) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
  std::uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  const std::uint64_t below_space = (word - kOnes * 0x20) & ~word;
  const std::uint64_t del_bytes = word ^ (kOnes * 0x7f);
  const std::uint64_t is_del = (del_bytes - kOnes) & ~del_bytes;
  return ((below_space | is_del) & kHighBits) == 0 || ValueBytesValid(p, 8);
}

#if defined(__SSE2__)
// Sixteen bytes at once: max(b, 0x20) == b exactly when b >= 0x20 (unsigned), and DEL is
// compared for equality; bytes >= 0x80 pass both tests. A flagged block is checked byte-wise.
bool BlockValid16(const unsigned char* p) {
  const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const int printable =
      _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(block, _mm_set1_epi8(0x20)), block));
  const int dels = _mm_movemask_epi8(_mm_cmpeq_epi8(block, _mm_set1_epi8(0x7f)));
  return (printable == 0xffff && dels == 0) || ValueBytesValid(p, 16);
}
#endif

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Framing headers belong to the server: a handler-supplied Content-Length or
// Transfer-Encoding next to ours would let a downstream parser disagree about where the
// response ends.
bool IsFramingHeader(std::string_view name) {
  return IEquals(name, "Content-Length") || IEquals(name, "Transfer-Encoding") ||
         IEquals(name, "Connection");
}

// "Date: <IMF-fixdate>\r\n" (RFC 9110 §5.6.7), rebuilt at most once a second per thread.
std::string_view DateLine() {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t cached_second = -1;
  thread_local std::array<char, 48> line{};
  thread_local std::size_t line_size = 0;

  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    const int n =
        std::snprintf(line.data(), line.size(), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                      kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900,
                      tm.tm_hour, tm.tm_min, tm.tm_sec);
    line_size = n > 0 ? static_cast<std::size_t>(n) : 0;
    cached_second = now;
  }
  return {line.data(), line_size};
}

void AppendNumber(std::string& out, std::uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDnsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

bool IsIpv6LiteralChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

bool IsPort(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool IsValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  // Branch-free over the table: names are short, and a loop that leaves at the first bad
  // byte measured slower than one that looks at every byte (the verdict is the same).
  bool token = true;
  for (unsigned char c : name) token &= kTokenChars[c];
  return token;
}

bool IsValidHeaderValue(std::string_view value) {
  // Every request field and every response field passes here, a bearer token included, so
  // the bytes are tested in blocks, the last block overlapping the one before it, and only
  // a block that holds a control byte (or an allowed HTAB) is looked at byte by byte: the
  // verdict is exactly the byte-wise one.
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  const std::size_t size = value.size();
#if defined(__SSE2__)
  if (size >= 16) {
    for (std::size_t offset = 0;; offset += 16) {
      const std::size_t at = std::min(offset, size - 16);
      if (!BlockValid16(p + at)) return false;
      if (at == size - 16) return true;
    }
  }
#endif
  if (size >= 8) {
    for (std::size_t offset = 0;; offset += 8) {
      const std::size_t at = std::min(offset, size - 8);
      if (!BlockValid8(p + at)) return false;
      if (at == size - 8) return true;
    }
  }
  return ValueBytesValid(p, size);
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

Result<std::string> SerializeResponse(const Response& response, const ResponseFraming& framing) {
  std::string out;
  GH_RETURN_IF_ERROR(SerializeResponseTo(response, framing, out));
  return out;
}

Status SerializeResponseTo(const Response& response, const ResponseFraming& framing,
                           std::string& out) {
  using namespace std::string_view_literals;
  out.clear();
  if (response.status < 200 || response.status > 599) {
    return Internal("response status out of range: " + std::to_string(response.status));
  }
  if (!IsValidHeaderValue(response.content_type)) {
    return Internal("response content type holds a control character");
  }
  for (const Header& h : response.headers) {
    if (!IsValidHeaderName(h.name) || !IsValidHeaderValue(h.value)) {
      // The name is safe to log only once it is known to be a token.
      return Internal(IsValidHeaderName(h.name) ? "response header '" + h.name + "' is invalid"
                                                : std::string("response header name invalid"));
    }
  }

  // RFC 9110 §6.4.1: 204 and 304 never carry content; §8.6: no Content-Length on a 204.
  const bool no_content = response.status == 204 || response.status == 304;
  const bool send_body = !no_content && !framing.head_request;
  const std::string_view security = SecurityHeaderBlock();
  const std::string_view reason = ReasonPhrase(response.status);
  const std::string_view date = DateLine();
  const RateLimitFields& limits = response.rate_limit;
  constexpr std::string_view kRateLimitPolicy = "RateLimit-Policy: ";
  constexpr std::string_view kRateLimit = "\r\nRateLimit: ";

  // Sized first, then written through a cursor: one allocation at most (the buffer keeps
  // its capacity between responses) and a memcpy per piece instead of an append.
  char number[2][24];
  const std::string_view status_text(
      number[0], std::to_chars(number[0], number[0] + 24, response.status).ptr - number[0]);
  const std::string_view length_text(
      number[1], std::to_chars(number[1], number[1] + 24, response.body.size()).ptr - number[1]);
  std::size_t size = 9 + status_text.size() + 1 + reason.size() + 2 + date.size() +
                     security.size() + 2;
  if (!response.content_type.empty()) size += 16 + response.content_type.size();
  if (!no_content) size += 18 + length_text.size();
  if (framing.close || framing.keep_alive_http10) size += 24;
  for (const Header& h : response.headers) {
    if (!IsFramingHeader(h.name)) size += h.name.size() + 2 + h.value.size() + 2;
  }
  if (!limits.policy.empty()) {
    size += kRateLimitPolicy.size() + limits.policy.size() + kRateLimit.size() +
            limits.state_size + 2;
  }
  if (send_body) size += response.body.size();
  out.resize(size);

  char* cursor = out.data();
  char* const end = cursor + size;
  bool miscounted = false;  // Checked per piece: a counting slip must never overrun.
  const auto put = [&](std::string_view piece) {
    if (piece.size() > static_cast<std::size_t>(end - cursor)) {
      miscounted = true;
      return;
    }
    std::memcpy(cursor, piece.data(), piece.size());
    cursor += piece.size();
  };
  put("HTTP/1.1 "sv);
  put(status_text);
  put(" "sv);
  put(reason);
  put("\r\n"sv);
  put(date);
  put(security);
  if (!response.content_type.empty()) {
    put("Content-Type: "sv);
    put(response.content_type);
    put("\r\n"sv);
  }
  if (!no_content) {
    put("Content-Length: "sv);
    put(length_text);
    put("\r\n"sv);
  }
  if (framing.close) {
    put("Connection: close\r\n"sv);
  } else if (framing.keep_alive_http10) {
    put("Connection: keep-alive\r\n"sv);
  }
  for (const Header& h : response.headers) {
    if (IsFramingHeader(h.name)) continue;
    put(h.name);
    put(": "sv);
    put(h.value);
    put("\r\n"sv);
  }
  if (!limits.policy.empty()) {
    put(kRateLimitPolicy);
    put(limits.policy);
    put(kRateLimit);
    put(limits.State());
    put("\r\n"sv);
  }
  put("\r\n"sv);
  if (send_body) put(response.body);
  if (miscounted) {
    out.clear();
    return Internal("response size was miscounted");
  }
  out.resize(static_cast<std::size_t>(cursor - out.data()));
  return Ok();
}

std::optional<OriginTarget> ParseOriginTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  // A fragment is never sent by a conforming client (RFC 9110 §4.2.5).
  if (target.find('#') != std::string_view::npos) return std::nullopt;
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }

  const std::size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  OriginTarget out;
  if (q != std::string_view::npos) out.query.assign(target.substr(q + 1));

  // Without escapes the path is the raw path: the check above already refused every
  // control byte.
  if (raw_path.find('%') == std::string_view::npos) {
    out.path.assign(raw_path);
    return out;
  }
  out.path.reserve(raw_path.size());
  for (std::size_t i = 0; i < raw_path.size(); ++i) {
    char c = raw_path[i];
    if (c == '%') {
      if (i + 2 >= raw_path.size()) return std::nullopt;
      const int hi = HexValue(raw_path[i + 1]);
      const int lo = HexValue(raw_path[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return std::nullopt;
    out.path.push_back(c);
  }
  return out;
}

std::optional<std::string_view> HostFromHostHeader(std::string_view value) {
  std::string_view host = value;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    // IP-literal (RFC 3986 §3.2.2): "[v6]" with an optional ":port".
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos || close < 3) return std::nullopt;
    for (char c : host.substr(1, close - 1)) {
      if (!IsIpv6LiteralChar(c)) return std::nullopt;
    }
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !IsPort(rest.substr(1))) return std::nullopt;
    }
    return host.substr(0, close + 1);
  }

  const std::size_t colon = host.find(':');
  if (colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
    if (!IsPort(port)) return std::nullopt;
  }
  // RFC 1035 limits a name to 253 characters; a leading dot or hyphen is never a host.
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-') {
    return std::nullopt;
  }
  for (char c : host) {
    if (!IsDnsNameChar(c)) return std::nullopt;
  }
  return host;
}

std::string HttpsRedirectLocation(std::string_view public_host, std::string_view host,
                                  std::uint16_t tls_port, std::string_view target) {
  std::string out = "https://";
  if (!public_host.empty()) {
    out.append(public_host);
  } else {
    out.append(host);
    if (tls_port != 443) {
      out.push_back(':');
      AppendNumber(out, tls_port);
    }
  }
  out.append(target);
  return out;
}

}  // namespace gatehouse::http
