#pragma once

// Plain request and response values shared by the router, the handlers and the
// server. They carry no Boost.Beast types, so rooms that add routes never pay
// Beast's compile cost.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::http {

enum class Method : std::uint8_t { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };

std::string_view MethodName(Method method);

// ASCII case-insensitive equality, for header names and media types (RFC 9110 sections 5.1
// and 8.3.1).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

struct Header {
  std::string name;  // As received; compare case-insensitively.
  std::string value;
};

struct Request {
  Method method = Method::kGet;
  std::string method_text;  // The verb as received, for logs and 405s.
  std::string target;       // Origin-form target as received, e.g. "/v1/x?a=b".
  std::string path;         // Decoded path without the query.
  std::string query;        // Raw query without '?', may be empty.
  std::vector<Header> headers;
  std::string body;

  std::string request_id;   // Set by the pipeline before routing.
  std::string client_ip;    // Set by the pipeline before routing.
  bool secure = false;      // Arrived over TLS.
  std::chrono::steady_clock::time_point received_at{};

  // First header with this name (case-insensitive), if any.
  std::optional<std::string_view> FindHeader(std::string_view name) const;

  // The still-encoded path the router matches: `target` up to the first '?'.
  std::string_view RawPath() const;
};

// The RateLimit-Policy and RateLimit fields of an admitted request
// (draft-ietf-httpapi-ratelimit-headers), kept out of `headers` because nearly every
// response carries them: the policy is the gate's own text, which outlives every response,
// and the state is written in place, so neither costs an allocation. Both are made from
// validated class names and numbers (protect/rate_limit.h) and sent as they are.
struct RateLimitFields {
  static constexpr std::size_t kMaxState = 80;

  std::string_view policy;  // Empty: neither field is sent.
  std::array<char, kMaxState> state{};
  std::uint8_t state_size = 0;

  std::string_view State() const { return {state.data(), state_size}; }
};

struct Response {
  int status = 200;
  std::string content_type;  // Empty: no body type (e.g. 204, redirects).
  std::vector<Header> headers;  // Extra headers; the pipeline adds the security set.
  RateLimitFields rate_limit;   // Sent after `headers`.
  std::string body;
  bool close_connection = false;  // Ask the server to close after writing.

  // First extra header with this name (case-insensitive), if any.
  std::optional<std::string_view> FindHeader(std::string_view name) const;

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);
  void AddHeader(std::string name, std::string value) {
    // Room for a typical answer's extra headers at once (request id, rate-limit pair,
    // cache directives, a few of the handler's own), instead of growing 1, 2, 4, 8.
    if (headers.capacity() == 0) headers.reserve(kTypicalHeaderCount);
    headers.emplace_back(std::move(name), std::move(value));
  }

  static constexpr std::size_t kTypicalHeaderCount = 8;
};

}  // namespace gatehouse::http
