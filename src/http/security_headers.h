#pragma once

// The fixed security headers that DESIGN.md puts on every response, errors and 429s
// included. The server appends SecurityHeaderBlock() verbatim when it writes a response:
// walking seven header fields per response through a generic serializer measurably cost
// throughput, one memcpy does not.
//
// Strict-Transport-Security is sent on plain HTTP too, because DESIGN.md asks for every
// response; browsers ignore it there (RFC 6797 section 8.1), so it does no harm.
//
// Thread safety: both functions return views of immutable static data.

#include <span>
#include <string_view>

namespace gatehouse::http {

struct SecurityHeader {
  std::string_view name;
  std::string_view value;
};

// The headers, in the order the block writes them.
std::span<const SecurityHeader> SecurityHeaders();

// "Name: value\r\n" for each of SecurityHeaders(), concatenated.
std::string_view SecurityHeaderBlock();

}  // namespace gatehouse::http
