#pragma once

// JSON text building blocks for log lines and other JSON-lines output (audit export).
// Pure functions; thread-safe.

#include <chrono>
#include <string>
#include <string_view>

namespace gatehouse::log {

// Appends `text` as a JSON string literal, quotes included (RFC 8259 section 7). Quotes,
// backslashes and every control character are escaped, as are U+2028/U+2029 (they break
// JavaScript consumers); each byte that is not part of well-formed UTF-8 becomes U+FFFD.
void AppendJsonString(std::string& out, std::string_view text);

// Appends a JSON number; NaN and infinities, which JSON cannot express, become null.
void AppendJsonNumber(std::string& out, double value);

// "2026-05-01T12:00:00.123Z" (RFC 3339, UTC, milliseconds).
std::string FormatTimestamp(std::chrono::system_clock::time_point time);

}  // namespace gatehouse::log
