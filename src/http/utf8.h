#pragma once

// UTF-8 well-formedness, shared by the JSON body reader and the router.

#include <string_view>

namespace gatehouse::http {

// True when `text` is well-formed UTF-8 as RFC 3629 section 4 defines it: no overlong forms,
// no UTF-16 surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequences.
// Overlong forms matter for security: "\xC0\xAF" would otherwise smuggle a '/' past a
// byte-level check. Empty text is valid.
bool IsValidUtf8(std::string_view text);

}  // namespace gatehouse::http
