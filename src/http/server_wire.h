#pragma once

// The server's byte-level pieces that need no Beast: serializing a Response into one write
// buffer, splitting an origin-form request target, and validating the Host header used in
// plain-HTTP redirects. Kept apart from server.cc so they are cheap to compile and to test.
// Every function here is pure and thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/message.h"

namespace gatehouse::http {

// Request targets longer than this are answered 414 (RFC 9112 §3: servers that cannot
// handle long targets should say so rather than truncate).
inline constexpr std::size_t kMaxTargetBytes = 8192;

// How one response is framed on the connection.
struct ResponseFraming {
  bool head_request = false;       // HEAD: keep Content-Length, send no body (RFC 9110 §9.3.2).
  bool close = false;              // Send "Connection: close"; the server closes after writing.
  bool keep_alive_http10 = false;  // Send "Connection: keep-alive" to an HTTP/1.0 client.
};

// Builds the whole HTTP/1.1 response (status line, Date, the security header block,
// Content-Type, Content-Length, Connection, the response's own headers, blank line, body)
// as one buffer for one write. The server owns message framing, so Content-Length,
// Transfer-Encoding and Connection among `response.headers` are dropped. A header name that
// is not a token, or a value (or content type) holding CR, LF, NUL or another control
// character, fails the whole response with kInternal instead of being written: dropping it
// silently could lose a security header, writing it would allow response splitting.
// A status outside 200..599 fails the same way (the server sends no interim responses).
Result<std::string> SerializeResponse(const Response& response, const ResponseFraming& framing);

// The same, written over `out` (cleared first, capacity kept), so a connection can reuse one
// buffer for all its responses. On error `out` is left empty.
Status SerializeResponseTo(const Response& response, const ResponseFraming& framing,
                           std::string& out);

// RFC 9110 §5.1 token.
bool IsValidHeaderName(std::string_view name);
// RFC 9110 §5.5 field-value: visible ASCII, SP, HTAB and obs-text; no other control bytes.
bool IsValidHeaderValue(std::string_view value);

// The reason phrase for a status code, or "" for an unlisted one (RFC 9112 §4 allows it).
std::string_view ReasonPhrase(int status);

struct OriginTarget {
  std::string path;   // Percent-decoded. The router matches Request::RawPath() instead and
                      // applies its own stricter checks (encoded '/', dot-segments).
  std::string query;  // Raw, without the '?'; may be empty.
};

// Splits an origin-form target (RFC 9112 §3.2.1: "/path?query"). nullopt when the target is
// not origin-form (absolute-form, authority-form, "*"), holds a fragment or a byte that is
// not visible ASCII, has a malformed percent escape, or decodes to a control character in
// the path: a decoded NUL or CR/LF could otherwise cut or split the path in a log line or a
// downstream lookup.
std::optional<OriginTarget> ParseOriginTarget(std::string_view target);

// The host part of a Host header value ("example.com", "example.com:8080", "10.0.0.1",
// "[::1]:8443"), without the port, when it is a DNS name or an IP literal and nothing else.
// nullopt for anything else: the value ends up in a Location header, so only characters
// that cannot start a new header or a new URL component are accepted.
std::optional<std::string_view> HostFromHostHeader(std::string_view value);

// "https://<authority><target>" for the plain-HTTP redirect. With a non-empty `public_host`
// (operator configuration, used verbatim, may carry its own port) the authority is that;
// otherwise it is `host` plus ":<tls_port>" unless the port is 443.
std::string HttpsRedirectLocation(std::string_view public_host, std::string_view host,
                                  std::uint16_t tls_port, std::string_view target);

}  // namespace gatehouse::http
