#pragma once

// A reader for the request head nearly every forward-auth check and API call sends: a
// body-less method, an origin-form target, HTTP/1.1 and plain header fields, all of it in
// the bytes already read. Beast's parser walks every header byte one at a time with several
// branches each, which for a 400-byte bearer token was the largest user-space cost of a
// verify; this reader finds line ends with memchr and checks values a word at a time.
//
// It decides nothing on its own: a head it does not take (any other method or version, a
// field that frames a body or the connection, obs-fold, a missing or repeated Host, a byte
// it does not expect, a head near the size limit or not yet complete) is left to Beast,
// which reads the same bytes from the start and answers it as before. So it only ever
// accepts a subset of what Beast accepts, and reads that subset the way Beast does (field
// names as received, values without surrounding whitespace, in order); a test holds the two
// side by side.

#include <cstddef>
#include <string_view>

#include "http/message.h"

namespace gatehouse::http {

// Reads one complete head at the start of `bytes` into `req` (method, method_text, target,
// path, query, headers; strings reuse their capacity). Returns the head's length including
// the blank line, or 0 when the head is left to the general parser; `req` may then hold
// partial fields and must be refilled. `max_head_bytes` is the configured header limit.
std::size_t ReadCommonHead(std::string_view bytes, std::size_t max_head_bytes, Request& req);

}  // namespace gatehouse::http
