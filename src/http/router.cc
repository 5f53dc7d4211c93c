#include "http/router.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include "http/utf8.h"

namespace gatehouse::http {
namespace {

constexpr std::size_t kMethodSlots = static_cast<std::size_t>(Method::kOther);

// RFC 3986 section 3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
// A table, since every byte of every request path is looked up.
constexpr std::array<bool, 256> kPcharTable = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = table[c - 'a' + 'A'] = true;
  for (unsigned char c : std::string_view("-._~!$&'()*+,;=:@")) table[c] = true;
  return table;
}();

bool IsUnreservedOrSubDelim(char c) { return kPcharTable[static_cast<unsigned char>(c)]; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDotSegment(std::string_view segment) { return segment == "." || segment == ".."; }

// Calls `fn(segment)` for each segment after the leading '/'; stops early when fn returns
// false. "/" has one empty segment, "/a/" has "a" and "".
template <typename Fn>
bool ForEachSegment(std::string_view path, Fn fn) {
  std::size_t start = 1;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    const std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!fn(segment)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// A request path after the strict checks of Router::Match. Holds a copy only when the raw
// path had %-escapes; otherwise it is a view of the caller's string.
class DecodedPath {
 public:
  explicit DecodedPath(std::string_view raw) : raw_(raw) {}
  DecodedPath(std::string_view raw, std::string decoded)
      : raw_(raw), decoded_(std::move(decoded)), copied_(true) {}
  std::string_view view() const { return copied_ ? std::string_view(decoded_) : raw_; }

 private:
  std::string_view raw_;
  std::string decoded_;
  bool copied_ = false;
};

Error BadPath(std::string_view why) {
  return InvalidArgument("The request path is not valid.", std::string(why));
}

Result<DecodedPath> DecodePath(std::string_view raw) {
  // Origin-form only (RFC 9112 section 3.2.1). Absolute-form would make the router trust a
  // client-chosen authority; "*" is for server-wide OPTIONS, which we do not serve.
  if (raw.empty() || raw.front() != '/') return BadPath("path is not origin-form");

  bool has_escapes = false;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '/' || IsUnreservedOrSubDelim(c)) continue;
    if (c != '%') return BadPath("path holds a byte outside RFC 3986 pchar");
    if (i + 2 >= raw.size()) return BadPath("path has a truncated %-escape");
    const int hi = HexValue(raw[i + 1]);
    const int lo = HexValue(raw[i + 2]);
    if (hi < 0 || lo < 0) return BadPath("path has a malformed %-escape");
    const int byte = hi * 16 + lo;
    // An encoded separator splits differently in a proxy or backend that decodes first;
    // control bytes (NUL above all) end strings early in C APIs and forge log lines.
    if (byte == '/' || byte == '\\') return BadPath("path encodes a separator");
    if (byte < 0x20 || byte == 0x7F) return BadPath("path encodes a control byte");
    has_escapes = true;
    i += 2;
  }

  DecodedPath decoded(raw);
  if (has_escapes) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%') {
        out.push_back(static_cast<char>(HexValue(raw[i + 1]) * 16 + HexValue(raw[i + 2])));
        i += 2;
      } else {
        out.push_back(raw[i]);
      }
    }
    if (!IsValidUtf8(out)) return BadPath("path decodes to invalid UTF-8");
    decoded = DecodedPath(raw, std::move(out));
  }

  // Checked after decoding so that "%2e%2E" is caught like "..".
  const bool no_dots =
      ForEachSegment(decoded.view(), [](std::string_view s) { return !IsDotSegment(s); });
  if (!no_dots) return BadPath("path has a dot-segment");
  return decoded;
}

std::string AllowHeader(const std::array<std::unique_ptr<Route>, kMethodSlots>& by_method) {
  std::string allow;
  const auto has = [&](Method m) { return by_method[static_cast<std::size_t>(m)] != nullptr; };
  for (std::size_t i = 0; i < kMethodSlots; ++i) {
    const auto m = static_cast<Method>(i);
    // HEAD is served by GET routes, so it is allowed wherever GET is.
    const bool allowed = has(m) || (m == Method::kHead && has(Method::kGet));
    if (!allowed) continue;
    if (!allow.empty()) allow += ", ";
    allow += MethodName(m);
  }
  return allow;
}

bool IsParamName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

std::optional<std::string_view> RouteParams::Get(std::string_view name) const {
  for (std::size_t i = 0; i < size_; ++i) {
    if (names_[i] == name) return std::string_view(values_[i]);
  }
  return std::nullopt;
}

void RouteParams::Append(std::string_view name, std::string value) {
  names_[size_] = name;
  values_[size_] = std::move(value);
  ++size_;
}

void Router::Fail(std::string detail) {
  if (!config_error_) config_error_.emplace(Internal("route table: " + std::move(detail)));
}

Status Router::status() const {
  if (config_error_) return *config_error_;
  return Ok();
}

void Router::Add(Method method, std::string pattern, Handler handler, RouteOptions options) {
  if (method == Method::kOther) return Fail("cannot route Method::kOther: " + pattern);
  if (!handler) return Fail("empty handler for " + pattern);
  if (pattern.empty() || pattern.front() != '/') {
    return Fail("pattern must start with '/': " + pattern);
  }

  // Split the pattern; literal segments use only unencoded pchar so that they compare
  // directly with decoded request segments.
  std::vector<Segment> segments;
  std::string shape;
  bool pattern_ok = true;
  ForEachSegment(pattern, [&](std::string_view s) {
    if (s.size() >= 2 && s.front() == '{' && s.back() == '}') {
      const std::string_view name = s.substr(1, s.size() - 2);
      const bool repeated = std::any_of(segments.begin(), segments.end(), [&](const Segment& g) {
        return g.is_param && g.text == name;
      });
      pattern_ok = IsParamName(name) && !repeated;
      segments.push_back({std::string(name), true});
      shape += "/{}";
    } else {
      pattern_ok = !IsDotSegment(s) && std::all_of(s.begin(), s.end(), IsUnreservedOrSubDelim);
      segments.push_back({std::string(s), false});
      shape += '/';
      shape += s;
    }
    return pattern_ok;
  });
  if (!pattern_ok) return Fail("malformed pattern: " + pattern);
  const auto params =
      std::count_if(segments.begin(), segments.end(), [](const Segment& g) { return g.is_param; });
  if (static_cast<std::size_t>(params) > RouteParams::kMaxParams) {
    return Fail("too many parameters: " + pattern);
  }

  PathEntry* entry = nullptr;
  if (params == 0) {
    entry = &literal_[shape];
    if (entry->shape.empty()) {
      entry->shape = shape;
      entry->segments = std::move(segments);
    }
  } else {
    entry = &FindOrAddParametric(std::move(shape), std::move(segments));
  }

  std::unique_ptr<Route>& slot = entry->by_method[static_cast<std::size_t>(method)];
  if (slot) return Fail("duplicate route " + std::string(MethodName(method)) + " " + pattern);
  slot = std::make_unique<Route>(
      Route{method, std::move(pattern), std::move(handler), std::move(options)});
  entry->allow = AllowHeader(entry->by_method);
}

Router::PathEntry& Router::FindOrAddParametric(std::string shape, std::vector<Segment> segments) {
  for (const auto& entry : parametric_) {
    if (entry->shape == shape) return *entry;
  }

  // At the first segment where two patterns differ in kind, the literal one is more
  // specific. Patterns with different segment counts never match the same path.
  const auto more_specific = [](const std::unique_ptr<PathEntry>& a,
                                const std::unique_ptr<PathEntry>& b) {
    const std::size_t n = std::min(a->segments.size(), b->segments.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (a->segments[i].is_param != b->segments[i].is_param) return !a->segments[i].is_param;
    }
    return false;
  };
  auto entry = std::make_unique<PathEntry>();
  entry->shape = std::move(shape);
  entry->segments = std::move(segments);
  const auto at = std::upper_bound(parametric_.begin(), parametric_.end(), entry, more_specific);
  return **parametric_.insert(at, std::move(entry));
}

std::optional<RouteParams> Router::MatchSegments(const PathEntry& entry, std::string_view path) {
  RouteParams params;
  std::size_t index = 0;
  const bool matched = ForEachSegment(path, [&](std::string_view s) {
    if (index == entry.segments.size()) return false;
    const Segment& want = entry.segments[index++];
    if (!want.is_param) return s == want.text;
    if (s.empty()) return false;  // A parameter is one non-empty segment.
    params.Append(want.text, std::string(s));
    return true;
  });
  if (!matched || index != entry.segments.size()) return std::nullopt;
  return params;
}

RouteMatch Router::Resolve(const PathEntry& entry, Method method, RouteParams params) const {
  RouteMatch match;
  const Route* route = nullptr;
  if (method != Method::kOther) {
    route = entry.by_method[static_cast<std::size_t>(method)].get();
    // RFC 9110 section 9.3.2: HEAD is GET without the body.
    if (route == nullptr && method == Method::kHead) {
      route = entry.by_method[static_cast<std::size_t>(Method::kGet)].get();
    }
  }
  if (route == nullptr) {
    match.kind = RouteMatch::kMethodNotAllowed;
    match.allow = entry.allow;
    return match;
  }
  match.kind = RouteMatch::kFound;
  match.route = route;
  match.params = std::move(params);
  return match;
}

RouteMatch Router::Match(Method method, std::string_view path) const {
  Result<DecodedPath> decoded = DecodePath(path);
  if (!decoded.ok()) {
    RouteMatch match;
    match.kind = RouteMatch::kBadRequest;
    match.error.emplace(std::move(decoded).error());
    return match;
  }
  const std::string_view clean = decoded->view();

  if (const auto it = literal_.find(clean); it != literal_.end()) {
    return Resolve(it->second, method, RouteParams());
  }
  for (const auto& entry : parametric_) {
    if (std::optional<RouteParams> params = MatchSegments(*entry, clean)) {
      return Resolve(*entry, method, std::move(*params));
    }
  }
  return RouteMatch();
}

}  // namespace gatehouse::http
