#pragma once

// Strict JSON request bodies for handlers.
//
// ParseJsonObject checks, in this order, and stops at the first failure:
//  1. Content-Type is application/json (RFC 8259 section 11); parameters are allowed, but a
//     charset must be utf-8 (section 8.1). Missing or other -> kUnsupportedMedia (415).
//  2. The body is at most `max_body_bytes` -> else kPayloadTooLarge (413); empty -> 400.
//  3. The body is well-formed UTF-8 -> else 400. Checked here rather than left to the
//     parser, so the guarantee does not hang on a parser option.
//  4. It parses as strict JSON (no comments, no trailing commas) nested at most `max_depth`
//     levels -> else 400. The parser keeps its own stack, so 10,000 '[' cost no recursion.
//  5. The top level is an object -> else 400.
//  6. No object at any depth repeats a key -> else 400. Parsers disagree on which duplicate
//     wins (RFC 8259 section 4), so a proxy and this service could read different values;
//     refusing is the only unambiguous answer.
// All errors carry a client-safe message; field names echoed in it are escaped and cut.
//
// Thread safety: free functions and const members only; JsonFields is immutable once built.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/status.h"
#include "http/message.h"

namespace gatehouse::http {

struct JsonLimits {
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_depth = 32;
};

Result<boost::json::object> ParseJsonObject(const Request& request,
                                            const JsonLimits& limits = JsonLimits());

enum class JsonType {
  kString,
  kInteger,  // A number without fraction or exponent that fits in int64.
  kNumber,   // Any number.
  kBool,
  kObject,
  kArray,
};

// Declares the fields a handler accepts, e.g.
//   static const JsonFields kLogin =
//       JsonFields().Required("email", JsonType::kString).Optional("remember", JsonType::kBool);
//   GH_RETURN_IF_ERROR(kLogin.Check(body));
// Check() refuses (kInvalidArgument, 400), in this order: fields not declared (naming up
// to five of them), missing required fields, present fields of the wrong type. `null` is
// never of a declared type: an optional field is either absent or of its type.
class JsonFields {
 public:
  JsonFields& Required(std::string name, JsonType type);
  JsonFields& Optional(std::string name, JsonType type);

  Status Check(const boost::json::object& object) const;

 private:
  struct Field {
    std::string name;
    JsonType type;
    bool required;
  };
  const Field* Find(std::string_view name) const;

  std::vector<Field> fields_;
};

// A client-supplied name made safe to echo: printable ASCII kept (with '"' and '\'
// escaped), other bytes written as \xNN, cut to 32 input bytes with "..." appended.
std::string EscapeForMessage(std::string_view name);

}  // namespace gatehouse::http
