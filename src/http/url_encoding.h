#pragma once

// Percent-encoding for the places Gatehouse builds URLs and form bodies for other services
// (OpenID providers, SMS senders, otpauth URIs). Decoding lives with the parsers
// (http/server_wire.h, Boost.URL).
//
// Thread safety: pure functions.

#include <string>
#include <string_view>

namespace gatehouse::http {

// RFC 3986 section 2.3: the unreserved characters (ALPHA DIGIT - . _ ~) stay, every other
// byte becomes %XX (upper-case hex). For path segments and query values, where '+' would
// be read as a plus sign by some parsers and a space by others.
std::string PercentEncode(std::string_view text);

// The application/x-www-form-urlencoded byte serializer (WHATWG URL standard, section 5.2;
// RFC 6749 appendix B asks for it in OAuth token requests): ALPHA DIGIT * - . _ stay, a
// space becomes '+', every other byte %XX.
std::string FormEncode(std::string_view text);

}  // namespace gatehouse::http
