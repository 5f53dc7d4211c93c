#include "http/request_head.h"

#include <cstring>

#include "http/server_wire.h"

namespace gatehouse::http {
namespace {

// The request line's method, for the methods that carry no body; anything else goes to Beast,
// which also knows how to frame a body.
bool BodylessMethod(std::string_view verb, Method& method) {
  if (verb == "GET") {
    method = Method::kGet;
  } else if (verb == "HEAD") {
    method = Method::kHead;
  } else if (verb == "DELETE") {
    method = Method::kDelete;
  } else if (verb == "OPTIONS") {
    method = Method::kOptions;
  } else {
    return false;
  }
  return true;
}

// Fields Beast reads for framing or connection handling (RFC 9112 §6, §9.6, RFC 9110 §7.8).
// A head that has one is Beast's to read, so its rules and ours can never disagree on them.
bool IsFramingField(std::string_view name) {
  return EqualsIgnoreCase(name, "Content-Length") ||
         EqualsIgnoreCase(name, "Transfer-Encoding") || EqualsIgnoreCase(name, "Connection") ||
         EqualsIgnoreCase(name, "Proxy-Connection") || EqualsIgnoreCase(name, "Upgrade");
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The line starting at `from`, up to its CRLF; false when it does not end in CRLF before
// `end` or holds a CR elsewhere.
bool NextLine(std::string_view head, std::size_t from, std::string_view& line) {
  const void* cr = std::memchr(head.data() + from, '\r', head.size() - from);
  if (cr == nullptr) return false;
  const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(cr) - head.data());
  if (at + 1 >= head.size() || head[at + 1] != '\n') return false;
  line = head.substr(from, at - from);
  return true;
}

void SetHeader(Request& req, std::size_t index, std::string_view name, std::string_view value) {
  if (index == req.headers.size()) req.headers.emplace_back();
  req.headers[index].name.assign(name);
  req.headers[index].value.assign(value);
}

}  // namespace

std::size_t ReadCommonHead(std::string_view bytes, std::size_t max_head_bytes, Request& req) {
  // Well inside the limit, so Beast's accounting at the boundary never matters here.
  constexpr std::size_t kMargin = 8;
  if (max_head_bytes <= kMargin) return 0;
  const std::size_t end = bytes.substr(0, max_head_bytes - kMargin).find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  // The head without its blank line: every line in it ends in CRLF.
  const std::string_view head = bytes.substr(0, end + 2);

  std::string_view line;
  if (!NextLine(head, 0, line)) return 0;
  std::size_t next = line.size() + 2;
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return 0;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.substr(sp2 + 1) != "HTTP/1.1") return 0;
  const std::string_view verb = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  Method method;
  if (!BodylessMethod(verb, method) || target.size() > kMaxTargetBytes) return 0;
  std::optional<OriginTarget> split = ParseOriginTarget(target);
  if (!split) return 0;

  std::size_t count = 0;
  int hosts = 0;
  while (next < head.size()) {
    if (!NextLine(head, next, line)) return 0;
    next += line.size() + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return 0;
    // A token right up to the colon: a line starting with whitespace (obs-fold) or with
    // whitespace before the colon is not one.
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (!IsValidHeaderName(name) || !IsValidHeaderValue(value) || IsFramingField(name)) {
      return 0;
    }
    if (EqualsIgnoreCase(name, "Host")) ++hosts;
    SetHeader(req, count++, name, value);
  }
  if (hosts != 1) return 0;

  req.headers.resize(count);
  req.method = method;
  req.method_text.assign(verb);
  req.target.assign(target);
  req.path = std::move(split->path);
  req.query = std::move(split->query);
  return end + 4;
}

}  // namespace gatehouse::http
