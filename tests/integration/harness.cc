#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace gatehouse::itest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 16 * 1024;

int MillisUntil(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  if (left < 0) return 0;
  return static_cast<int>(std::min<long long>(left, 1000 * 1000));
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool ParseSize(std::string_view text, int base, std::size_t* out) {
  if (text.empty() || text.size() > 15) return false;
  std::size_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return false;
    }
    value = value * base + digit;
  }
  *out = value;
  return true;
}

// Decodes a chunked body starting at `data`; kComplete sets `*body` and `*used`.
ParseState DecodeChunked(std::string_view data, std::string* body, std::size_t* used) {
  std::size_t pos = 0;
  body->clear();
  while (true) {
    std::size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) return ParseState::kIncomplete;
    std::string_view size_text = data.substr(pos, eol - pos);
    size_text = Trim(size_text.substr(0, size_text.find(';')));
    std::size_t size = 0;
    if (!ParseSize(size_text, 16, &size)) return ParseState::kMalformed;
    pos = eol + 2;
    if (size == 0) {
      // Trailer section, ended by an empty line.
      while (true) {
        std::size_t end = data.find("\r\n", pos);
        if (end == std::string_view::npos) return ParseState::kIncomplete;
        bool empty = end == pos;
        pos = end + 2;
        if (empty) break;
      }
      *used = pos;
      return ParseState::kComplete;
    }
    if (data.size() < pos + size + 2) return ParseState::kIncomplete;
    body->append(data.substr(pos, size));
    pos += size;
    if (data.substr(pos, 2) != "\r\n") return ParseState::kMalformed;
    pos += 2;
  }
}

std::vector<std::string> CleanEnvironment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    // The server reads GATEHOUSE_* as configuration: a developer's shell must not change
    // what a test configures.
    if (text.starts_with("GATEHOUSE_")) continue;
    std::string name(text.substr(0, text.find('=')));
    if (extra.contains(name)) continue;
    env.emplace_back(text);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

ExitStatus DecodeWaitStatus(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

std::string DescribeExit(const ExitStatus& status) {
  if (status.exited) return "exited with code " + std::to_string(status.code);
  return "killed by signal " + std::to_string(status.signal);
}

std::string ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

SSL_CTX* ClientContext() {
  static SSL_CTX* ctx = [] {
    // OpenSSL writes with write(2): a server that hangs up mid-request (431, 413) would
    // otherwise kill the test binary with SIGPIPE instead of failing a write.
    ::signal(SIGPIPE, SIG_IGN);
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    // The test certificates are self-signed; what is under test is the server's protocol
    // behaviour, not the PKI.
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return c;
  }();
  return ctx;
}

std::string OpenSslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HTTP responses

std::optional<std::string> HttpResponse::Header(std::string_view name) const {
  auto it = headers.find(Lower(name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::size_t HttpResponse::HeaderCount(std::string_view name) const {
  return headers.count(Lower(name));
}

std::vector<std::string> HttpResponse::HeaderValues(std::string_view name) const {
  std::vector<std::string> values;
  auto [first, last] = headers.equal_range(Lower(name));
  for (auto it = first; it != last; ++it) values.push_back(it->second);
  return values;
}

bool SetCookie::Has(std::string_view name) const { return Attribute(name).has_value(); }

std::optional<std::string> SetCookie::Attribute(std::string_view name) const {
  for (const auto& [key, value] : attributes) {
    if (Lower(key) == Lower(name)) return value;
  }
  return std::nullopt;
}

std::optional<SetCookie> ParseSetCookie(std::string_view header_value) {
  SetCookie cookie;
  bool first = true;
  while (!header_value.empty() || first) {
    std::size_t semi = header_value.find(';');
    std::string_view part = Trim(header_value.substr(0, semi));
    header_value =
        semi == std::string_view::npos ? std::string_view() : header_value.substr(semi + 1);
    std::size_t eq = part.find('=');
    if (first) {
      if (eq == std::string_view::npos || eq == 0) return std::nullopt;
      cookie.name = std::string(part.substr(0, eq));
      cookie.value = std::string(part.substr(eq + 1));
      first = false;
      continue;
    }
    if (part.empty()) continue;
    if (eq == std::string_view::npos) {
      cookie.attributes.emplace_back(std::string(part), "");
    } else {
      cookie.attributes.emplace_back(std::string(Trim(part.substr(0, eq))),
                                     std::string(Trim(part.substr(eq + 1))));
    }
  }
  return cookie;
}

std::optional<SetCookie> FindSetCookie(const HttpResponse& response, std::string_view name) {
  std::optional<SetCookie> found;
  int count = 0;
  for (const std::string& value : response.HeaderValues("Set-Cookie")) {
    auto cookie = ParseSetCookie(value);
    if (!cookie || cookie->name != name) continue;
    ++count;
    found = std::move(cookie);
  }
  EXPECT_LE(count, 1) << "cookie " << name << " set " << count << " times";
  return found;
}

ParseState ParseHttpResponse(std::string_view data, bool at_eof, HttpResponse* out,
                             std::size_t* consumed) {
  std::size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    return data.size() > 1024 * 1024 ? ParseState::kMalformed : ParseState::kIncomplete;
  }
  std::string_view head = data.substr(0, head_end);
  std::size_t body_start = head_end + 4;

  HttpResponse response;
  std::size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  if (!status_line.starts_with("HTTP/")) return ParseState::kMalformed;
  std::size_t sp1 = status_line.find(' ');
  if (sp1 == std::string_view::npos || status_line.size() < sp1 + 4) return ParseState::kMalformed;
  response.version = std::string(status_line.substr(0, sp1));
  std::size_t status = 0;
  if (!ParseSize(status_line.substr(sp1 + 1, 3), 10, &status)) return ParseState::kMalformed;
  response.status = static_cast<int>(status);
  if (status_line.size() > sp1 + 5) response.reason = std::string(status_line.substr(sp1 + 5));

  std::string_view rest =
      line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!rest.empty()) {
    std::size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseState::kMalformed;
    response.headers.emplace(Lower(line.substr(0, colon)),
                             std::string(Trim(line.substr(colon + 1))));
  }

  std::string_view after = data.substr(body_start);
  bool no_body = (response.status >= 100 && response.status < 200) || response.status == 204 ||
                 response.status == 304;
  auto te = response.Header("transfer-encoding");
  if (no_body) {
    *consumed = body_start;
  } else if (te && ContainsNoCase(*te, "chunked")) {
    std::size_t used = 0;
    ParseState state = DecodeChunked(after, &response.body, &used);
    if (state != ParseState::kComplete) {
      return state == ParseState::kIncomplete && at_eof ? ParseState::kMalformed : state;
    }
    *consumed = body_start + used;
  } else if (response.HeaderCount("content-length") > 0) {
    if (response.HeaderCount("content-length") > 1) return ParseState::kMalformed;
    std::size_t length = 0;
    if (!ParseSize(*response.Header("content-length"), 10, &length)) {
      return ParseState::kMalformed;
    }
    if (after.size() < length) {
      return at_eof ? ParseState::kMalformed : ParseState::kIncomplete;
    }
    response.body = std::string(after.substr(0, length));
    *consumed = body_start + length;
  } else {
    // RFC 9112 section 6.3 rule 8: the body runs to the end of the connection.
    if (!at_eof) return ParseState::kIncomplete;
    response.body = std::string(after);
    *consumed = data.size();
  }
  *out = std::move(response);
  return ParseState::kComplete;
}

std::optional<HttpResponse> ParseCurlOutput(std::string_view data) {
  for (int i = 0; i < 8 && !data.empty(); ++i) {
    HttpResponse response;
    std::size_t used = 0;
    if (ParseHttpResponse(data, /*at_eof=*/true, &response, &used) != ParseState::kComplete) {
      return std::nullopt;
    }
    if (response.status >= 200 || used >= data.size()) return response;
    data.remove_prefix(used);
  }
  return std::nullopt;
}

const std::vector<std::pair<std::string, std::string>>& SecurityHeaders() {
  static const std::vector<std::pair<std::string, std::string>> kHeaders = {
      {"X-Frame-Options", "DENY"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-XSS-Protection", "1; mode=block"},
      {"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
      {"Content-Security-Policy", "default-src 'self'"},
      {"Referrer-Policy", "strict-origin-when-cross-origin"},
      {"Permissions-Policy", "geolocation=(), microphone=(), camera=()"},
  };
  return kHeaders;
}

std::string SecurityHeaderProblems(const HttpResponse& response) {
  std::string problems;
  for (const auto& [name, value] : SecurityHeaders()) {
    std::size_t count = response.HeaderCount(name);
    if (count != 1) {
      problems += name + ": present " + std::to_string(count) + " times\n";
      continue;
    }
    if (*response.Header(name) != value) {
      problems += name + ": \"" + *response.Header(name) + "\" instead of \"" + value + "\"\n";
    }
  }
  auto id = response.Header("X-Request-Id");
  if (response.HeaderCount("X-Request-Id") != 1) {
    problems += "X-Request-Id: present " + std::to_string(response.HeaderCount("X-Request-Id")) +
                " times\n";
  } else if (!IsWellFormedRequestId(*id)) {
    problems += "X-Request-Id: malformed \"" + *id + "\"\n";
  }
  return problems;
}

bool IsWellFormedRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

std::string RawGet(std::string_view target, bool close,
                   const std::vector<std::string>& extra_headers) {
  std::string request = "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n";
  for (const auto& line : extra_headers) request += line + "\r\n";
  if (close) request += "Connection: close\r\n";
  request += "\r\n";
  return request;
}

std::string RawPost(std::string_view target, std::string_view content_type, std::string_view body,
                    bool close) {
  std::string request = "POST " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n";
  request += "Content-Type: " + std::string(content_type) + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) request += "Connection: close\r\n";
  request += "\r\n";
  request += body;
  return request;
}

std::string RawRequest(std::string_view method, std::string_view target,
                       const std::vector<std::string>& extra_headers, std::string_view body) {
  std::string request =
      std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n";
  for (const auto& line : extra_headers) request += line + "\r\n";
  bool has_body_method = method == "POST" || method == "PUT" || method == "PATCH";
  if (!body.empty() || has_body_method) {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "Connection: close\r\n\r\n";
  request += body;
  return request;
}

// ---------------------------------------------------------------------------------------------
// Network clients

std::unique_ptr<Connection> Connection::Open(Kind kind, std::uint16_t port, Millis timeout,
                                             std::string* error, bool* refused) {
  auto deadline = Clock::now() + timeout;
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (refused != nullptr) *refused = false;

  std::unique_ptr<Connection> conn(new Connection());
  conn->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (conn->fd_ < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  int one = 1;
  ::setsockopt(conn->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(conn->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) {
      if (errno == ECONNREFUSED && refused != nullptr) *refused = true;
      *error = std::string("connect: ") + std::strerror(errno);
      return nullptr;
    }
    pollfd pfd{conn->fd_, POLLOUT, 0};
    if (::poll(&pfd, 1, MillisUntil(deadline)) <= 0) {
      *error = "connect: timed out";
      return nullptr;
    }
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    ::getsockopt(conn->fd_, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      if (so_error == ECONNREFUSED && refused != nullptr) *refused = true;
      *error = std::string("connect: ") + std::strerror(so_error);
      return nullptr;
    }
  }
  if (kind == Kind::kTcp) return conn;

  ERR_clear_error();
  conn->ssl_ = SSL_new(ClientContext());
  SSL_set_fd(conn->ssl_, conn->fd_);
  SSL_set_tlsext_host_name(conn->ssl_, "localhost");
  while (true) {
    int rc = SSL_connect(conn->ssl_);
    if (rc == 1) return conn;
    int err = SSL_get_error(conn->ssl_, rc);
    short events = 0;
    if (err == SSL_ERROR_WANT_READ) {
      events = POLLIN;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      events = POLLOUT;
    } else {
      *error = "TLS handshake failed: " + OpenSslErrors() + " (ssl error " + std::to_string(err) +
               ", errno " + std::strerror(errno) + ")";
      return nullptr;
    }
    pollfd pfd{conn->fd_, events, 0};
    if (::poll(&pfd, 1, MillisUntil(deadline)) <= 0) {
      *error = "TLS handshake timed out";
      return nullptr;
    }
  }
}

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

Connection::ReadResult Connection::ReadSome(Clock::time_point deadline) {
  if (peer_closed_) return ReadResult::kClosed;
  char buf[kReadChunk];
  while (true) {
    short events = POLLIN;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n > 0) {
        inbox_.append(buf, static_cast<std::size_t>(n));
        return ReadResult::kData;
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else if (err != SSL_ERROR_WANT_READ) {
        // close_notify, a bare FIN (IGNORE_UNEXPECTED_EOF) or a reset all end the stream.
        if (err != SSL_ERROR_ZERO_RETURN) last_error_ = "TLS read ended: " + OpenSslErrors();
        peer_closed_ = true;
        return ReadResult::kClosed;
      }
    } else {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        inbox_.append(buf, static_cast<std::size_t>(n));
        return ReadResult::kData;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        if (n < 0) last_error_ = std::string("recv: ") + std::strerror(errno);
        peer_closed_ = true;
        return ReadResult::kClosed;
      }
    }
    int wait = MillisUntil(deadline);
    if (wait == 0) return ReadResult::kTimeout;
    pollfd pfd{fd_, events, 0};
    if (::poll(&pfd, 1, wait) == 0) return ReadResult::kTimeout;
  }
}

bool Connection::Send(std::string_view data, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  std::size_t sent = 0;
  while (sent < data.size()) {
    if (peer_closed_) {
      last_error_ = "peer closed after " + std::to_string(sent) + " bytes were sent";
      return false;
    }
    std::size_t chunk = std::min<std::size_t>(data.size() - sent, kReadChunk);
    bool blocked = false;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n = SSL_write(ssl_, data.data() + sent, static_cast<int>(chunk));
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      int err = SSL_get_error(ssl_, n);
      if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) {
        last_error_ = "TLS write failed: " + OpenSslErrors();
        // Whatever the server said before closing is still worth reading.
        ReadSome(Clock::now() + Millis(200));
        return false;
      }
      blocked = true;
    } else {
      ssize_t n = ::send(fd_, data.data() + sent, chunk, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        last_error_ = std::string("send: ") + std::strerror(errno);
        ReadSome(Clock::now() + Millis(200));
        return false;
      }
      blocked = true;
    }
    if (blocked) {
      int wait = MillisUntil(deadline);
      if (wait == 0) {
        last_error_ = "send timed out after " + std::to_string(sent) + " bytes";
        return false;
      }
      pollfd pfd{fd_, static_cast<short>(POLLOUT | POLLIN), 0};
      if (::poll(&pfd, 1, wait) > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        // The server is talking (an early error answer) or hanging up: take its bytes now.
        ReadSome(Clock::now());
      }
    }
  }
  return true;
}

std::optional<HttpResponse> Connection::ReadResponse(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    HttpResponse response;
    std::size_t used = 0;
    ParseState state = ParseHttpResponse(inbox_, peer_closed_, &response, &used);
    if (state == ParseState::kComplete) {
      inbox_.erase(0, used);
      return response;
    }
    if (state == ParseState::kMalformed) {
      last_error_ = "unparseable response: " + Tail(inbox_, 300);
      return std::nullopt;
    }
    if (peer_closed_) {
      if (last_error_.empty()) last_error_ = "connection closed";
      last_error_ +=
          inbox_.empty() ? " before any response byte" : " inside a response: " + Tail(inbox_, 300);
      return std::nullopt;
    }
    if (ReadSome(deadline) == ReadResult::kTimeout) {
      last_error_ = "timed out waiting for a response" +
                    (inbox_.empty() ? std::string() : ", partial: " + Tail(inbox_, 300));
      return std::nullopt;
    }
  }
}

std::string Connection::ReadUntilClose(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (ReadSome(deadline) == ReadResult::kData) {
  }
  std::string out = std::move(inbox_);
  inbox_.clear();
  return out;
}

bool Connection::WaitForClose(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    ReadResult result = ReadSome(deadline);
    inbox_.clear();
    if (result == ReadResult::kClosed) return true;
    if (result == ReadResult::kTimeout) return false;
  }
}

std::string Connection::PeerSubject() const {
  if (ssl_ == nullptr) return {};
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return {};
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  X509_free(cert);
  return buf;
}

std::string Connection::TlsVersion() const {
  return ssl_ == nullptr ? std::string() : SSL_get_version(ssl_);
}

std::string Connection::TlsCipher() const {
  return ssl_ == nullptr ? std::string() : SSL_get_cipher_name(ssl_);
}

std::optional<HttpResponse> Exchange(Connection::Kind kind, std::uint16_t port,
                                     std::string_view raw_request, Millis timeout,
                                     std::string* error) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  auto conn = Connection::Open(kind, port, timeout, error);
  if (conn == nullptr) return std::nullopt;
  conn->Send(raw_request, timeout);
  auto response = conn->ReadResponse(timeout);
  if (!response) *error = conn->last_error();
  return response;
}

std::uint16_t FreePort() {
  // Ports handed out stay reserved for this process, so two deployments made back to back
  // never get the same one.
  static std::mutex mutex;
  static std::set<std::uint16_t> issued;
  std::lock_guard lock(mutex);
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      socklen_t len = sizeof(addr);
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    if (port != 0 && issued.insert(port).second) return port;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// External commands

CommandResult RunCommand(const std::vector<std::string>& argv, Millis timeout,
                         const std::map<std::string, std::string>& env, std::string_view input) {
  CommandResult result;
  auto deadline = Clock::now() + timeout;

  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return result;
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return result;

  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> args = argv;
  std::vector<char*> c_args = CStrings(args);
  std::vector<std::string> envs = CleanEnvironment(env);
  std::vector<char*> c_env = CStrings(envs);
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);  // An ignored disposition would survive exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execvpe(c_args[0], c_args.data(), c_env.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return result;
  }
  ::setpgid(pid, pid);

  int in_fd = in_pipe[1];
  ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  std::size_t written = 0;
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  int out_fd = out_pipe[0];
  int err_fd = err_pipe[0];
  char buf[kReadChunk];
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd pfds[3];
    int n = 0;
    if (out_fd >= 0) pfds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) pfds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) pfds[n++] = {in_fd, POLLOUT, 0};
    int wait = MillisUntil(deadline);
    if (wait == 0 || ::poll(pfds, n, wait) <= 0) {
      if (MillisUntil(deadline) > 0) continue;
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (pfds[i].revents == 0) continue;
      int fd = pfds[i].fd;
      if (fd == in_fd) {
        ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 || written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      ssize_t r = ::read(fd, buf, sizeof(buf));
      if (r > 0) {
        (fd == out_fd ? result.out : result.err).append(buf, static_cast<std::size_t>(r));
      } else {
        ::close(fd);
        (fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  if (out_fd >= 0) ::close(out_fd);
  if (err_fd >= 0) ::close(err_fd);

  // The pipes closed; the process itself may linger briefly (or, after a timeout, is dying).
  int status = 0;
  pid_t waited = 0;
  auto reap_deadline = Clock::now() + (result.timed_out ? Millis(5000) : timeout);
  while ((waited = ::waitpid(pid, &status, WNOHANG)) == 0 && Clock::now() < reap_deadline) {
    std::this_thread::sleep_for(Millis(5));
  }
  if (waited == 0) {
    result.timed_out = true;
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    waited = ::waitpid(pid, &status, 0);
  }
  if (waited == pid) {
    ExitStatus exit = DecodeWaitStatus(status);
    result.exit_code = exit.exited ? exit.code : -1;
    result.signal = exit.signal;
    result.started = !(exit.exited && exit.code == 127 && result.out.empty());
  }
  return result;
}

std::optional<HttpResponse> Curl(const std::vector<std::string>& args, const std::string& url,
                                 std::string* raw) {
  std::vector<std::string> argv = {"curl", "-sS", "-k", "-i", "--http1.1", "--max-time", "5"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  CommandResult run = RunCommand(argv, Millis(8000));
  if (raw != nullptr) {
    *raw = "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + Tail(run.out) + "\nstderr:\n" +
           Tail(run.err);
  }
  if (run.timed_out) return std::nullopt;
  return ParseCurlOutput(run.out);
}

std::string GatehouseBinary() { return GATEHOUSE_BINARY; }

std::filesystem::path RepoRoot() {
  // This file is tests/integration/harness.cc.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

// ---------------------------------------------------------------------------------------------
// Deployments and the server process

std::string RandomBase64(std::size_t n) {
  std::vector<unsigned char> raw(n);
  RAND_bytes(raw.data(), static_cast<int>(n));
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), raw.data(),
                            static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

Deployment::Deployment(Profile profile, KeyType key_type) : key_type_(key_type) {
  std::string pattern = (std::filesystem::temp_directory_path() / "gatehouse-it-XXXXXX").string();
  if (::mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
  port_ = FreePort();

  // Secrets as an operator would make them: random, one per line, mode 0600. Development
  // files carry the marker line, exactly as scripts/dev-setup.sh writes them.
  std::string prefix = profile == Profile::kDevelopment ? std::string(kDevMarker) + "\n" : "";
  WriteFile("keys/master.key", prefix + "v1:" + RandomBase64(32) + "\n");
  WriteFile("keys/token-hmac.key", prefix + RandomBase64(48) + "\n");
  WriteCertificate("localhost");

  Set("", "profile", profile == Profile::kDevelopment ? "development" : "production");
  Set("server", "listen", "127.0.0.1");
  Set("server", "port", static_cast<std::int64_t>(port_));
  Set("server", "tls", true);
  Set("server", "cert_file", "tls/cert.pem");
  Set("server", "key_file", "tls/key.pem");
  Set("server", "redirect_port", std::int64_t{0});
  Set("log", "level", "info");
  Set("crypto", "master_key_file", "keys/master.key");
  Set("tokens", "hmac_secret_file", "keys/token-hmac.key");
  Set("store", "driver", "sqlite");
  Set("store", "sqlite_path", "gatehouse.db");
}

Deployment::~Deployment() {
  if (std::getenv("GATEHOUSE_IT_KEEP") != nullptr || dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void Deployment::Set(const std::string& section, const std::string& key, const char* value) {
  Set(section, key, std::string(value));
}

void Deployment::Set(const std::string& section, const std::string& key, const std::string& value) {
  std::string literal = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  literal += '"';
  SetRaw(section, key, literal);
}

void Deployment::Set(const std::string& section, const std::string& key, std::int64_t value) {
  SetRaw(section, key, std::to_string(value));
}

void Deployment::Set(const std::string& section, const std::string& key, bool value) {
  SetRaw(section, key, value ? "true" : "false");
}

void Deployment::SetRaw(const std::string& section, const std::string& key, std::string literal) {
  auto it = std::find_if(values_.begin(), values_.end(),
                         [&](const auto& entry) { return entry.first == section; });
  if (it == values_.end()) {
    values_.push_back({section, {}});
    it = values_.end() - 1;
  }
  for (auto& [existing, value] : it->second) {
    if (existing == key) {
      value = std::move(literal);
      return;
    }
  }
  it->second.emplace_back(key, std::move(literal));
}

void Deployment::Unset(const std::string& section, const std::string& key) {
  for (auto& [name, keys] : values_) {
    if (name != section) continue;
    std::erase_if(keys, [&](const auto& entry) { return entry.first == key; });
  }
}

std::string Deployment::RenderConfig() const {
  std::string text;
  // Top-level keys must come before the first table header.
  for (const auto& [section, keys] : values_) {
    if (!section.empty()) continue;
    for (const auto& [key, literal] : keys) text += key + " = " + literal + "\n";
  }
  for (const auto& [section, keys] : values_) {
    if (section.empty() || keys.empty()) continue;
    text += "\n[" + section + "]\n";
    for (const auto& [key, literal] : keys) text += key + " = " + literal + "\n";
  }
  return text;
}

std::filesystem::path Deployment::WriteConfig() const {
  WriteFile("gatehouse.toml", RenderConfig(), 0644);
  return config_path();
}

void Deployment::WriteFile(const std::string& relative, std::string_view content, int mode) const {
  std::filesystem::path path = dir_ / relative;
  std::filesystem::create_directories(path.parent_path());
  ::chmod(path.parent_path().c_str(), 0700);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return;
  ::fchmod(fd, static_cast<mode_t>(mode));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

bool Deployment::WriteCertificate(const std::string& common_name, bool atomic) {
  std::filesystem::create_directories(dir_ / "tls");
  std::string suffix = atomic ? ".new" : "";
  std::filesystem::path cert = dir_ / ("tls/cert.pem" + suffix);
  std::filesystem::path key = dir_ / ("tls/key.pem" + suffix);
  std::vector<std::string> argv = {"openssl", "req", "-x509", "-nodes", "-days", "2"};
  if (key_type_ == KeyType::kRsa) {
    argv.insert(argv.end(), {"-newkey", "rsa:2048"});
  } else {
    argv.insert(argv.end(), {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"});
  }
  argv.insert(argv.end(), {"-subj", "/CN=" + common_name, "-addext",
                           "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key.string(),
                           "-out", cert.string()});
  CommandResult run = RunCommand(argv, Millis(20000));
  if (run.exit_code != 0) return false;
  ::chmod(key.c_str(), 0600);
  if (atomic) {
    std::filesystem::rename(cert, dir_ / "tls/cert.pem");
    std::filesystem::rename(key, dir_ / "tls/key.pem");
  }
  return true;
}

bool Deployment::CopyFileFrom(const Deployment& other, const std::string& relative) const {
  std::ifstream in(other.dir() / relative, std::ios::binary);
  if (!in) return false;
  std::stringstream content;
  content << in.rdbuf();
  WriteFile(relative, content.str(), 0600);
  return true;
}

std::uint16_t Deployment::EnableRedirect() {
  if (redirect_port_ == 0) redirect_port_ = FreePort();
  Set("server", "redirect_port", static_cast<std::int64_t>(redirect_port_));
  return redirect_port_;
}

std::unique_ptr<ServerProcess> ServerProcess::Spawn(const std::vector<std::string>& args,
                                                    const std::filesystem::path& dir,
                                                    const std::map<std::string, std::string>& env) {
  std::unique_ptr<ServerProcess> proc(new ServerProcess());
  proc->dir_ = dir;

  std::vector<std::string> argv = {GatehouseBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_args = CStrings(argv);
  std::vector<std::string> envs = CleanEnvironment(env);
  std::vector<char*> c_env = CStrings(envs);
  int out_fd = ::open((dir / "stdout.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err_fd = ::open((dir / "stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::string dir_text = dir.string();
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid == 0) {
    // A crashed or killed test binary must not leave servers holding ports.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::signal(SIGPIPE, SIG_DFL);  // An ignored disposition would survive exec.
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (::chdir(dir_text.c_str()) != 0) ::_exit(127);
    ::execve(c_args[0], c_args.data(), c_env.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(null_fd);
  if (pid < 0) return nullptr;
  proc->pid_ = pid;
  return proc;
}

ServerProcess::~ServerProcess() {
  if (pid_ <= 0 || exit_) return;
  ::kill(pid_, SIGTERM);
  if (WaitExit(Millis(5000))) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

bool ServerProcess::WaitHealthy(std::uint16_t port, Millis timeout, std::string* why) {
  auto deadline = Clock::now() + timeout;
  std::string last;
  while (Clock::now() < deadline) {
    if (!Alive()) {
      *why = "server " + DescribeExit(*exit_) + " before answering /healthz; stderr:\n" +
             Tail(Stderr());
      return false;
    }
    auto response = Exchange(Connection::Kind::kTls, port, RawGet("/healthz"), Millis(1000), &last);
    if (response && response->status == 200) return true;
    if (response) last = "status " + std::to_string(response->status);
    std::this_thread::sleep_for(Millis(50));
  }
  *why = "/healthz not 200 within " + std::to_string(timeout.count()) + " ms (last: " + last +
         "); stderr:\n" + Tail(Stderr());
  return false;
}

void ServerProcess::Signal(int signo) const {
  if (pid_ > 0 && !exit_) ::kill(pid_, signo);
}

std::optional<ExitStatus> ServerProcess::WaitExit(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (!Alive()) return exit_;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis(10));
  }
}

bool ServerProcess::Alive() {
  if (exit_) return false;
  int status = 0;
  pid_t waited = ::waitpid(pid_, &status, WNOHANG);
  if (waited == pid_) {
    exit_ = DecodeWaitStatus(status);
    return false;
  }
  return waited == 0;
}

std::string ServerProcess::Stdout() const { return ReadWholeFile(dir_ / "stdout.log"); }
std::string ServerProcess::Stderr() const { return ReadWholeFile(dir_ / "stderr.log"); }

std::unique_ptr<RunningServer> StartServer(std::unique_ptr<Deployment> deployment, std::string* why,
                                           const std::map<std::string, std::string>& env) {
  auto server = std::make_unique<RunningServer>();
  server->deployment = std::move(deployment);
  std::filesystem::path config = server->deployment->WriteConfig();
  server->process =
      ServerProcess::Spawn({"serve", "--config", config.string()}, server->deployment->dir(), env);
  if (server->process == nullptr) {
    *why = "could not spawn " + GatehouseBinary();
    return nullptr;
  }
  if (!server->process->WaitHealthy(server->port(), Millis(10000), why)) {
    *why += "\nconfig:\n" + server->deployment->RenderConfig();
    return nullptr;
  }
  return server;
}

CommandResult RunServeExpectingExit(const Deployment& deployment, Millis timeout) {
  std::filesystem::path config = deployment.WriteConfig();
  return RunCommand({GatehouseBinary(), "serve", "--config", config.string()}, timeout);
}

std::optional<std::string> WaitForLogLine(const ServerProcess& process,
                                          const std::vector<std::string>& needles, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    std::istringstream lines(process.Stdout() + "\n" + process.Stderr());
    std::string line;
    while (std::getline(lines, line)) {
      bool all = std::all_of(needles.begin(), needles.end(), [&](const std::string& needle) {
        return line.find(needle) != std::string::npos;
      });
      if (all) return line;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Millis(20));
  }
}

namespace {

// A fresh directory for a service script under /tmp. Not created here: the scripts create
// it (and hand it to the `postgres` user when running as root), so only the name is taken.
std::filesystem::path ServiceDir(std::string_view kind) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / ("gatehouse-it-" + std::string(kind) + "-XXXXXX"))
          .string();
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

std::string ScriptPath(std::string_view name) {
  return (RepoRoot() / "scripts" / std::string(name)).string();
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

std::unique_ptr<TestPostgres> TestPostgres::Start(std::string* why) {
  std::unique_ptr<TestPostgres> pg(new TestPostgres());
  pg->dir_ = ServiceDir("pg");
  std::uint16_t port = FreePort();
  if (pg->dir_.empty() || port == 0) {
    *why = "no directory or port for PostgreSQL";
    return nullptr;
  }
  CommandResult run = RunCommand(
      {ScriptPath("pg-test-cluster.sh"), "start", pg->dir_.string(), std::to_string(port)},
      Millis(60000));
  if (run.exit_code != 0) {
    *why = "pg-test-cluster.sh start failed (exit " + std::to_string(run.exit_code) + "):\n" +
           Tail(run.err);
    return nullptr;  // The destructor removes what the script left.
  }
  pg->url_ = ReadWholeFile(pg->url_file());
  pg->url_ = FirstLine(pg->url_);
  if (pg->url_.empty()) {
    *why = "pg-test-cluster.sh wrote no url";
    return nullptr;
  }
  pg->port_ = port;
  return pg;
}

bool TestPostgres::Halt() {
  return RunCommand({ScriptPath("pg-test-cluster.sh"), "halt", dir_.string()}, Millis(30000))
             .exit_code == 0;
}

bool TestPostgres::Resume() {
  return RunCommand(
             {ScriptPath("pg-test-cluster.sh"), "resume", dir_.string(), std::to_string(port_)},
             Millis(60000))
             .exit_code == 0;
}

TestPostgres::~TestPostgres() {
  if (dir_.empty()) return;
  RunCommand({ScriptPath("pg-test-cluster.sh"), "stop", dir_.string()}, Millis(30000));
}

std::unique_ptr<TestRedis> TestRedis::Start(std::string* why) {
  std::unique_ptr<TestRedis> redis(new TestRedis());
  redis->dir_ = ServiceDir("redis");
  redis->port_ = FreePort();
  if (redis->dir_.empty() || redis->port_ == 0) {
    *why = "no directory or port for Redis";
    return nullptr;
  }
  CommandResult run = RunCommand({ScriptPath("redis-test-server.sh"), "start", redis->dir_.string(),
                                  std::to_string(redis->port_)},
                                 Millis(30000));
  if (run.exit_code != 0) {
    *why = "redis-test-server.sh start failed (exit " + std::to_string(run.exit_code) + "):\n" +
           Tail(run.err);
    return nullptr;
  }
  return redis;
}

bool TestRedis::Halt() {
  return RunCommand({ScriptPath("redis-test-server.sh"), "halt", dir_.string()}, Millis(30000))
             .exit_code == 0;
}

bool TestRedis::Resume() {
  return RunCommand({ScriptPath("redis-test-server.sh"), "start", dir_.string(),
                     std::to_string(port_)},
                    Millis(30000))
             .exit_code == 0;
}

TestRedis::~TestRedis() {
  if (dir_.empty()) return;
  RunCommand({ScriptPath("redis-test-server.sh"), "stop", dir_.string()}, Millis(30000));
}

std::unique_ptr<Deployment> StandardDeployment() {
  auto deployment = std::make_unique<Deployment>(Deployment::Profile::kDevelopment);
  deployment->Set("server", "expose_test_endpoints", true);
  deployment->Set("server", "verbose_errors", false);
  deployment->Set("server", "read_timeout_ms", std::int64_t{500});
  deployment->EnableRedirect();
  return deployment;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

std::string Tail(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return "..." + std::string(text.substr(text.size() - max_bytes));
}

}  // namespace gatehouse::itest
