#pragma once

// Masking of personal data and redaction of credentials before they reach a log line or an
// admin view, plus the UTF-8 helpers that keep masking and truncation from cutting a
// multi-byte character in half.
//
// Every function is pure and thread-safe, accepts any bytes (invalid UTF-8 included) and
// returns valid UTF-8 whose length does not reveal the length of what it hides. Inputs that
// do not have the expected shape are masked completely ("***"), never passed through.

#include <cstddef>
#include <string>
#include <string_view>

namespace gatehouse::core {

// "john.doe@example.com" -> "j***@e***.com": the first character of the local part and of
// the first domain label, and the top-level domain. Anything that is not
// local@label[.label...].tld -> "***". Non-ASCII first characters are kept whole (one code
// point); control characters and invalid bytes become "*".
std::string MaskEmail(std::string_view email);

// "+14155552671" -> "+1*******71": with a leading '+', the '+' and the first digit (the start
// of the country code), always seven '*', then the last two digits. Without '+', only the
// last two digits. Spaces, '-', '.', '(' and ')' are ignored; anything else, or fewer than 7
// or more than 15 digits (E.164 allows at most 15), -> "***".
std::string MaskPhone(std::string_view phone);

// "203.0.113.42" -> "203.0.113.0/24", "2001:db8:85a3::7" -> "2001:db8:85a3::/48": the
// network a client sits in, not the host. Anything that is not an address literal -> "***".
std::string MaskIp(std::string_view ip);

// Tokens, keys and passwords are never shown in part (a prefix can be enough to look one up).
// Takes the value only so that call sites read as what they redact.
std::string RedactToken(std::string_view token);

// Length in bytes of the well-formed UTF-8 sequence starting at text[pos] (1..4), or 0 when
// the bytes there are not well-formed UTF-8 (overlong forms, surrogates, values past
// U+10FFFF, truncated sequences). REQUIRES: pos < text.size().
std::size_t Utf8SequenceLength(std::string_view text, std::size_t pos);

// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a
// UTF-8 sequence.
std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes);

}  // namespace gatehouse::core
