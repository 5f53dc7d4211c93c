#include "http/json_body.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include <boost/json/serialize.hpp>

#include "core/strict_json.h"
#include "http/utf8.h"

namespace gatehouse::http {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxEchoedNames = 5;
constexpr std::size_t kMaxEchoedNameBytes = 32;

std::string_view TrimOws(std::string_view s) {
  const auto is_ows = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

Error UnsupportedMedia(std::string detail) {
  return Error(ErrorCode::kUnsupportedMedia, "The request content must be application/json.",
               std::move(detail));
}

// RFC 9110 section 8.3.1: type and subtype are case-insensitive, parameters follow ';'.
Status CheckContentType(const Request& request) {
  std::optional<std::string_view> header;
  for (const Header& h : request.headers) {
    if (!EqualsIgnoreCase(h.name, "Content-Type")) continue;
    // Two Content-Type fields leave the media type to whichever one a parser picks.
    if (header) return InvalidArgument("The request has more than one Content-Type header.");
    header = h.value;
  }
  if (!header) return UnsupportedMedia("no Content-Type");

  const std::string_view value = *header;
  const std::size_t semi = value.find(';');
  if (!EqualsIgnoreCase(TrimOws(value.substr(0, semi)), "application/json")) {
    return UnsupportedMedia("media type is not application/json");
  }
  std::string_view params = semi == std::string_view::npos ? "" : value.substr(semi + 1);
  while (!params.empty()) {
    const std::size_t next = params.find(';');
    const std::string_view param = TrimOws(params.substr(0, next));
    params = next == std::string_view::npos ? "" : params.substr(next + 1);
    if (param.empty()) continue;
    const std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) return UnsupportedMedia("malformed media type parameter");
    if (!EqualsIgnoreCase(param.substr(0, eq), "charset")) continue;
    std::string_view charset = param.substr(eq + 1);
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') {
      charset = charset.substr(1, charset.size() - 2);
    }
    // JSON exchanged between systems must be UTF-8 (RFC 8259 section 8.1).
    if (!EqualsIgnoreCase(charset, "utf-8")) return UnsupportedMedia("charset is not utf-8");
  }
  return Ok();
}

Result<json::value> ParseStrict(std::string_view body, std::size_t max_depth) {
  core::StrictJsonOutcome parsed = core::ParseStrictJson(body, max_depth);
  switch (parsed.failure) {
    case core::JsonFailure::kNone:
      return std::move(parsed.value);
    case core::JsonFailure::kDuplicateName:
      return InvalidArgument("The request body repeats the key \"" +
                             EscapeForMessage(parsed.duplicate_name) + "\".");
    case core::JsonFailure::kTooDeep:
      return InvalidArgument("The request body is nested deeper than " +
                             std::to_string(max_depth) + " levels.");
    case core::JsonFailure::kSyntax:
      return InvalidArgument("The request body is not valid JSON.", parsed.syntax_detail);
    case core::JsonFailure::kResources:
      return Internal("json: the parser ran out of resources");
  }
  return Internal("json: unknown parser outcome");
}

std::string_view TypeName(JsonType type) {
  switch (type) {
    case JsonType::kString:
      return "a string";
    case JsonType::kInteger:
      return "an integer";
    case JsonType::kNumber:
      return "a number";
    case JsonType::kBool:
      return "a boolean";
    case JsonType::kObject:
      return "an object";
    case JsonType::kArray:
      return "an array";
  }
  return "a value";
}

bool HasType(const json::value& v, JsonType type) {
  switch (type) {
    case JsonType::kString:
      return v.is_string();
    case JsonType::kInteger:
      return v.is_int64() || (v.is_uint64() && v.as_uint64() <= INT64_MAX);
    case JsonType::kNumber:
      return v.is_number();
    case JsonType::kBool:
      return v.is_bool();
    case JsonType::kObject:
      return v.is_object();
    case JsonType::kArray:
      return v.is_array();
  }
  return false;
}

}  // namespace

std::string EscapeForMessage(std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  const std::string_view kept = name.substr(0, kMaxEchoedNameBytes);
  for (const char c : kept) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (b >= 0x20 && b < 0x7F) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    }
  }
  if (kept.size() < name.size()) out += "...";
  return out;
}

Result<json::object> ParseJsonObject(const Request& request, const JsonLimits& limits) {
  GH_RETURN_IF_ERROR(CheckContentType(request));

  if (request.body.size() > limits.max_body_bytes) {
    return Error(ErrorCode::kPayloadTooLarge,
                 "The request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes.");
  }
  if (request.body.empty()) return InvalidArgument("The request body is empty.");

  if (!IsValidUtf8(request.body)) return InvalidArgument("The request body is not valid UTF-8.");

  Result<json::value> parsed = ParseStrict(request.body, limits.max_depth);
  if (!parsed.ok()) return std::move(parsed).error();

  if (!parsed->is_object()) return InvalidArgument("The request body must be a JSON object.");
  return std::move(parsed->as_object());
}

JsonFields& JsonFields::Required(std::string name, JsonType type) {
  fields_.push_back({std::move(name), type, true});
  return *this;
}

JsonFields& JsonFields::Optional(std::string name, JsonType type) {
  fields_.push_back({std::move(name), type, false});
  return *this;
}

const JsonFields::Field* JsonFields::Find(std::string_view name) const {
  for (const Field& f : fields_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Status JsonFields::Check(const json::object& object) const {
  // Unknown fields are refused, not ignored: a client that misspells "mfa_required" must
  // learn it, and an attacker must not slip "role" past a handler that forgets to look.
  std::string unknown;
  std::size_t unknown_count = 0;
  for (const auto& member : object) {
    const std::string_view key(member.key().data(), member.key().size());
    if (Find(key) != nullptr) continue;
    if (++unknown_count > kMaxEchoedNames) continue;
    if (!unknown.empty()) unknown += ", ";
    unknown += '"' + EscapeForMessage(key) + '"';
  }
  if (unknown_count > kMaxEchoedNames) {
    unknown += " and " + std::to_string(unknown_count - kMaxEchoedNames) + " more";
  }
  if (unknown_count > 0) {
    return InvalidArgument("Unknown field(s) in the request: " + unknown + ".");
  }

  for (const Field& f : fields_) {
    const json::value* v = object.if_contains(f.name);
    if (v == nullptr) {
      if (f.required) return InvalidArgument("The field \"" + f.name + "\" is required.");
      continue;
    }
    if (!HasType(*v, f.type)) {
      return InvalidArgument("The field \"" + f.name + "\" must be " +
                             std::string(TypeName(f.type)) + ".");
    }
  }
  return Ok();
}

}  // namespace gatehouse::http
