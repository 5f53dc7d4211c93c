#pragma once

// Routes a request to a handler by method and path.
//
// Patterns are "/"-separated segments, each either literal text or a `{name}` parameter
// that matches exactly one non-empty segment, e.g. "/v1/users/{id}/sessions". Literal
// routes are found with one hash lookup; parametric routes are tried in order of
// specificity (at the first segment where two patterns differ, a literal beats a
// parameter), so "/v1/users/me" wins over "/v1/users/{id}".
//
// Paths are matched in raw form, as received (before '?'), and checked strictly first, see
// Match(). HEAD matches a GET route unless a HEAD route is registered for the same pattern;
// the server must then send no body (RFC 9110 section 9.3.2).
//
// Thread safety: build the router with Add() before serving, then only call const members;
// concurrent Match() calls are safe because nothing changes after start.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "http/message.h"

namespace gatehouse::http {

// Decoded values of a route's `{name}` segments.
class RouteParams {
 public:
  // A pattern with more parameters than this is refused by Router::Add.
  static constexpr std::size_t kMaxParams = 8;

  // The decoded value of parameter `name`, or nothing when the route has no such parameter.
  // The view lives as long as this object.
  std::optional<std::string_view> Get(std::string_view name) const;
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view name(std::size_t i) const { return names_[i]; }
  std::string_view value(std::size_t i) const { return values_[i]; }

  // Used by the router. REQUIRES: size() < kMaxParams; `name` outlives this object.
  void Append(std::string_view name, std::string value);

 private:
  // A fixed array instead of a vector: a match allocates only for values too long for the
  // small-string buffer.
  std::array<std::string_view, kMaxParams> names_{};
  std::array<std::string, kMaxParams> values_{};
  std::size_t size_ = 0;
};

using Handler = std::function<Result<Response>(Request&, const RouteParams&)>;

// A first attempt at an offloaded route's answer, made on the I/O thread: an answer ends the
// request there, nullopt sends it on to the route's handler on the worker pool.
using InlineAttempt = std::function<std::optional<Result<Response>>(Request&, const RouteParams&)>;

struct RouteOptions {
  bool offload = false;  // Run on the worker pool: the handler blocks or is CPU-heavy.
  std::string rate_class = "default";
  // Only with `offload`: for routes whose answer is usually in memory and only sometimes
  // needs a blocking call (forward auth: a cached API key, or one the store must be asked
  // about). REQUIRES: it never blocks; it declines (nullopt) instead.
  InlineAttempt try_inline = nullptr;
  // The class the gate counts this request under, chosen per request instead of
  // `rate_class` (forward auth counts requests that carry an API key under "api_key").
  // Must return a view that outlives the request (a literal). Runs on the I/O thread.
  std::function<std::string_view(const Request&)> rate_class_of = nullptr;
};

struct Route {
  Method method = Method::kGet;
  std::string pattern;  // As registered; a low-cardinality label for metrics and logs.
  Handler handler;
  RouteOptions options;
};

struct RouteMatch {
  enum Kind { kFound, kNotFound, kMethodNotAllowed, kBadRequest };

  Kind kind = kNotFound;
  const Route* route = nullptr;  // kFound only; owned by the Router.
  RouteParams params;            // kFound only.
  std::string allow;             // kMethodNotAllowed only: the Allow header value.
  std::optional<Error> error;    // kBadRequest only: an kInvalidArgument for a 400.
};

class Router {
 public:
  Router() = default;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Registers a route. A malformed pattern, a pattern already registered for the method
  // (also under other parameter names), or Method::kOther is a programming error: it is
  // recorded, the route is not added, and status() reports it. The server must refuse to
  // start unless status() is ok, so a typo never silently drops an endpoint.
  void Add(Method method, std::string pattern, Handler handler, RouteOptions options = {});

  // Ok, or the first error recorded by Add().
  Status status() const;

  // Finds the route for `method` and the raw `path` (the request target before '?',
  // still percent-encoded).
  //
  // The path is refused with kBadRequest (400) when it:
  //  - is not origin-form (RFC 9112 section 3.2.1): it must start with '/'; absolute-form,
  //    authority-form and "*" are not served here;
  //  - holds a byte outside RFC 3986 pchar / "/", or a malformed %-escape;
  //  - encodes '/' or '\' (%2F, %5C), since a proxy or a backend that decodes before
  //    splitting would see different segments than we did;
  //  - decodes to NUL or another control character, or to invalid UTF-8;
  //  - has a "." or ".." segment, literal or encoded: dot-segments are resolved by clients
  //    (RFC 3986 section 5.2.4), so one arriving here is a traversal attempt or a
  //    normalisation mismatch between us and a proxy.
  // Literal pattern segments match decoded path segments, so "/v1/%75sers" finds
  // "/v1/users" (RFC 3986 section 6.2.2.2). A path without '%' is matched without copying.
  //
  // When the path matches, the most specific pattern alone decides: if it has no route for
  // the method the answer is kMethodNotAllowed with that pattern's methods, never a less
  // specific pattern's handler (so "DELETE /v1/users/me" cannot reach "/v1/users/{id}"
  // when only "GET /v1/users/me" exists). kOther methods are never routed.
  RouteMatch Match(Method method, std::string_view path) const;

 private:
  static constexpr std::size_t kMethodCount = static_cast<std::size_t>(Method::kOther);

  struct Segment {
    std::string text;  // Literal text, or the parameter name without braces.
    bool is_param = false;
  };

  // All routes of one pattern shape, one slot per method.
  struct PathEntry {
    std::string shape;  // The pattern with each parameter written as "{}".
    std::vector<Segment> segments;
    std::array<std::unique_ptr<Route>, kMethodCount> by_method;
    std::string allow;  // Allow header value, kept in step with by_method.
  };

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void Fail(std::string detail);
  PathEntry& FindOrAddParametric(std::string shape, std::vector<Segment> segments);
  RouteMatch Resolve(const PathEntry& entry, Method method, RouteParams params) const;
  static std::optional<RouteParams> MatchSegments(const PathEntry& entry, std::string_view path);

  // Keyed by the literal path. Entries never move once added (node-based map).
  std::unordered_map<std::string, PathEntry, StringHash, std::equal_to<>> literal_;
  // Most specific first.
  std::vector<std::unique_ptr<PathEntry>> parametric_;
  std::optional<Error> config_error_;
};

}  // namespace gatehouse::http
