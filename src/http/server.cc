// The only translation unit with Beast and Asio in it (with OpenSSL's SSL API). See
// server.h for the contract; the comments here say why each step is done the way it is.

#include "http/server.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstring>
#include <limits>
#include <mutex>
#include <string_view>
#include <thread>
#include <tuple>
#include <typeinfo>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/log.h"
#include "http/pipeline.h"
#include "http/problem.h"
#include "http/request_head.h"
#include "http/server_wire.h"
#include "http/tls_context.h"

namespace gatehouse::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// Clients rarely answer close_notify, and a peer that stops reading must not pin a
// connection slot: the polite part of closing gets this long, then the socket is closed.
constexpr std::chrono::seconds kCloseGrace{1};
// At most this much of a rejected request's leftover bytes is read and discarded while
// closing, so the kernel sends FIN rather than RST and the client sees our answer.
constexpr std::size_t kLingerMaxBytes = 64 * 1024;
constexpr std::size_t kReadChunk = 4096;
// Connections over max_connections still get an answer, but only this many at once; past
// that they are closed at accept. Otherwise a flood would turn the 503 path into the very
// resource exhaustion the limit exists to prevent.
constexpr std::size_t kMinRejectSlots = 64;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

using SoReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

class ConnectionBase;

// Lets a worker thread post a finished response to a loop, and stops it from doing so once
// the loop's io_context is gone (the worker may finish after the server was destroyed).
struct PostGate {
  std::mutex mu;
  asio::io_context* ctx = nullptr;  // Guarded by mu; null after teardown.

  template <typename F>
  void Post(F&& f) {
    std::lock_guard<std::mutex> lock(mu);
    if (ctx != nullptr) asio::post(*ctx, std::forward<F>(f));
  }
};

// One event loop: an io_context run by one thread, with its own acceptors.
// Member order matters: the connection set outlives the io_context (connection frames
// destroyed with it unregister themselves), and the I/O objects die before it.
struct Loop {
  std::unordered_set<ConnectionBase*> connections;  // Loop thread only.
  bool draining = false;                            // Loop thread only.
  std::shared_ptr<PostGate> gate = std::make_shared<PostGate>();
  // Concurrency hint 1: one thread runs it, but workers still post into it, so it keeps
  // its locking (the "unsafe" hint would not).
  asio::io_context ctx{1};
  tcp::acceptor acceptor{ctx};
  tcp::acceptor redirect_acceptor{ctx};
  asio::steady_timer drain_timer{ctx};
  // Checks connection deadlines; see StartSweep. Loop thread only.
  asio::steady_timer sweep_timer{ctx};
  Clock::duration sweep_period = std::chrono::milliseconds(50);
  bool sweep_running = false;
  std::optional<asio::signal_set> signals;
  std::thread thread;
};

std::string PeerAddress(const tcp::socket& socket) {
  error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return {};
  const asio::ip::address address = peer.address();
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; IP lists and rate limits
  // key on the plain IPv4 text, so one client must not have two spellings.
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

Method MethodFromVerb(bhttp::verb verb) {
  switch (verb) {
    case bhttp::verb::get:
      return Method::kGet;
    case bhttp::verb::head:
      return Method::kHead;
    case bhttp::verb::post:
      return Method::kPost;
    case bhttp::verb::put:
      return Method::kPut;
    case bhttp::verb::patch:
      return Method::kPatch;
    case bhttp::verb::delete_:
      return Method::kDelete;
    case bhttp::verb::options:
      return Method::kOptions;
    default:
      return Method::kOther;
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

using RequestParser = bhttp::request_parser<bhttp::string_body>;

// Framing and target checks Beast leaves to the application. 0 when the header is fine,
// else the status to answer. Runs before the body is read. On 0, `target` holds the split
// request target.
int CheckRequestHeader(const RequestParser::value_type& msg, std::optional<OriginTarget>& target) {
  // Only HTTP/1.0 and 1.1 are spoken here; anything else is a confused or hostile client.
  if (msg.version() != 10 && msg.version() != 11) return 400;
  if (msg.target().size() > kMaxTargetBytes) return 414;

  int hosts = 0;
  int content_lengths = 0;
  int transfer_encodings = 0;
  // RFC 9110 §5.5 (a value with CR, LF or NUL is rejected) is Beast's own rule: its parser
  // ends a value at the first byte below 0x20 other than HTAB, or DEL, and fails the
  // request unless that byte starts the CRLF (http_server_test: MalformedRequests...).
  for (const auto& field : msg) {
    switch (field.name()) {
      case bhttp::field::host:
        ++hosts;
        break;
      case bhttp::field::content_length:
        ++content_lengths;
        // Beast folds "5, 5" into 5; a list is still ambiguous framing to other parsers.
        if (field.value().find(',') != std::string_view::npos) return 400;
        break;
      case bhttp::field::transfer_encoding:
        ++transfer_encodings;
        // Only a lone "chunked" is understood. Beast treats other codings as "no body",
        // which would leave the body in the stream as the next request (smuggling).
        if (!IEquals(field.value(), "chunked")) return 400;
        break;
      default:
        break;
    }
  }
  // RFC 9112 §3.2: a 1.1 request without Host, or any request with several, gets 400.
  if (hosts > 1 || (msg.version() == 11 && hosts == 0)) return 400;
  // RFC 9112 §6.3: duplicated Content-Length, or one next to Transfer-Encoding, is a
  // request-smuggling signature (Beast lets identical duplicates through).
  if (content_lengths > 1 || transfer_encodings > 1) return 400;
  if (transfer_encodings > 0 && (content_lengths > 0 || msg.version() == 10)) return 400;
  target = ParseOriginTarget(msg.target());
  if (!target) return 400;
  return 0;
}

// How often a loop checks connection deadlines: a tenth of the shortest timeout, so that
// one fires at most 10% late, but no more often than every millisecond and at least every
// 50 ms.
std::chrono::milliseconds SweepPeriod(const ServerOptions& options) {
  using std::chrono::milliseconds;
  const milliseconds shortest =
      std::min({options.read_timeout, options.idle_timeout, options.tls_handshake_timeout,
                std::chrono::duration_cast<milliseconds>(kCloseGrace)});
  return std::clamp(shortest / 10, milliseconds(1), milliseconds(50));
}

// The answer to a failed read, or 0 to close without one (the peer went away).
int StatusForReadError(const error_code& ec, bool timed_out) {
  if (timed_out) return 408;
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      ec == asio::error::eof || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset) {
    return 0;
  }
  // Beast's parse errors (bad request line, bad field, bad chunk...) get 400; socket and
  // TLS errors mean there is nobody left to answer.
  if (ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category()) return 0;
  return 400;
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions opts, Pipeline& p) : options(std::move(opts)), pipeline(p) {}

  ServerOptions options;
  Pipeline& pipeline;
  tcp::endpoint endpoint;
  std::string location_host;  // listen_address as it appears in a URL.
  std::vector<std::unique_ptr<Loop>> loops;

  mutable std::mutex tls_mu;
  TlsContext tls;  // Guarded by tls_mu; swapped whole by ReloadCertificates.

  std::atomic<std::uint16_t> bound_port{0};
  std::atomic<std::uint16_t> bound_redirect_port{0};
  std::atomic<bool> started{false};
  std::atomic<bool> drain_requested{false};
  std::mutex wait_mu;  // Serialises Wait()'s joins.

  std::atomic<std::size_t> active{0};
  std::atomic<std::size_t> rejecting{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> tls_failures{0};
  std::atomic<std::uint64_t> idle_trims{0};
  std::atomic<std::uint64_t> redirects{0};
  std::atomic<std::uint64_t> exceptions{0};

  TlsContext CurrentTls() const {
    std::lock_guard<std::mutex> lock(tls_mu);
    return tls;
  }

  void CountStatus(int status) {
    if (status == 408) {
      timeouts.fetch_add(1, std::memory_order_relaxed);
    } else if (status >= 400 && status < 500) {
      bad_requests.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void BeginDrain(Loop& loop, std::chrono::milliseconds deadline);
  void RequestDrain(std::chrono::milliseconds deadline);
  Status Reload();
};

namespace {

// What the connection loop does after one exchange.
enum class Next { kKeepAlive, kCloseGracefully, kCloseNow };

// What the request's head says about the connection (RFC 9112 §9.3).
struct RequestFraming {
  bool keep_alive = true;  // HTTP/1.1 without "Connection: close".
  bool http10 = false;
};

// kServe: the TLS (or plain) API listener. kRedirect: the plain-HTTP listener that answers
// 308 once. kRejectOverloaded: accepted over max_connections, answered 503 at once.
enum class Mode { kServe, kRedirect, kRejectOverloaded };

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Drain: cancel the wait for a next request. A request already received is still served.
  virtual void CancelIdleWait() = 0;
  // Drain deadline: cancel everything; the coroutine ends without writing.
  virtual void ForceClose() = 0;
  // The loop's sweep found deadline() passed: cancel the operations it guards.
  virtual void OnDeadline() = 0;
  // The loop's sweep found the connection waiting for a request since kTrimAfter: give
  // back the memory that only a busy connection needs.
  virtual void Trim() = 0;
  bool idle() const { return idle_; }
  Clock::time_point deadline() const { return deadline_; }
  bool TrimDue(Clock::time_point now) const {
    return idle_ && !trimmed_ && now - idle_since_ >= kTrimAfter;
  }

 protected:
  // Long enough that a busy keep-alive client never sees its buffers freed between requests.
  static constexpr std::chrono::seconds kTrimAfter{1};

  bool idle_ = true;  // Handshaking or waiting for a request's first byte.
  bool trimmed_ = false;
  Clock::time_point idle_since_ = Clock::time_point::max();
  // When the operations under way time out; max() while none is armed.
  Clock::time_point deadline_ = Clock::time_point::max();
};

// Deadlines are checked by one periodic sweep per loop rather than a timer per connection:
// arming one is then a store, where a timer costs a timer-queue insert and removal plus a
// cancelled wait's completion, several times per request. A deadline fires at most one
// sweep period late. The sweep runs only while the loop has connections.
void Sweep(Loop& loop);

void StartSweep(Loop& loop) {
  if (loop.sweep_running) return;
  loop.sweep_running = true;
  loop.sweep_timer.expires_after(loop.sweep_period);
  loop.sweep_timer.async_wait([&loop](const error_code& ec) {
    loop.sweep_running = false;
    if (!ec) Sweep(loop);
  });
}

void Sweep(Loop& loop) {
  const Clock::time_point now = Clock::now();
  // OnDeadline only cancels socket operations, whose handlers run later, so the set does
  // not change while it is walked.
  for (ConnectionBase* conn : loop.connections) {
    if (conn->deadline() <= now) conn->OnDeadline();
    if (conn->TrimDue(now)) conn->Trim();
  }
  if (!loop.connections.empty()) StartSweep(loop);
}

// Writes all of `data` to a non-blocking socket: at once when the socket takes it, which is
// the usual case and costs no trip through the event loop, else by waiting for it.
asio::awaitable<std::tuple<error_code, std::size_t>> WriteAllTo(tcp::socket& socket,
                                                                asio::const_buffer data) {
  error_code ec;
  std::size_t sent = socket.write_some(data, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    sent = 0;
  }
  if (!ec && sent < data.size()) {
    auto [write_ec, n] = co_await asio::async_write(socket, data + sent, kUseTuple);
    ec = write_ec;
    sent += n;
  }
  co_return std::tuple{ec, sent};
}

// Plain TCP, with the interface Connection expects of a stream.
class PlainStream {
 public:
  static constexpr bool kSecure = false;

  explicit PlainStream(tcp::socket socket) : socket_(std::move(socket)) {}

  tcp::socket& socket() { return socket_; }

  // Waits for and reads some bytes.
  auto ReadSome(asio::mutable_buffer buffer) { return socket_.async_read_some(buffer, kUseTuple); }

  auto WriteAll(asio::const_buffer data) { return WriteAllTo(socket_, data); }

  void ReleaseBuffers() {}

 private:
  tcp::socket socket_;
};

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// Ciphertext is read in chunks of one full TLS record (RFC 8446 §5.1: 2^14 plus overhead).
constexpr std::size_t kTlsInChunk = 16 * 1024 + 512;

// The ciphertext between the socket and OpenSSL, where the BIO below reads and writes it in
// place. (Memory BIOs copied every record into and out of buffers of their own and cost
// several BIO calls per request on top.) Heap-allocated by its TlsStream, so the address
// the BIO holds stays put when the stream is moved; it outlives the SSL that uses it.
struct TlsWire {
  std::unique_ptr<char[]> in;  // kTlsInChunk bytes once allocated.
  std::size_t in_begin = 0;    // Ciphertext not yet taken by OpenSSL: in[in_begin, in_end).
  std::size_t in_end = 0;
  std::string out;  // Ciphertext OpenSSL wrote that is not yet sent.

  std::size_t unread() const { return in_end - in_begin; }
};

TlsWire& WireOf(BIO* bio) { return *static_cast<TlsWire*>(BIO_get_data(bio)); }

// OpenSSL asks for ciphertext: what was read from the socket, or "retry" (WANT_READ).
int WireRead(BIO* bio, char* data, std::size_t size, std::size_t* read) {
  TlsWire& wire = WireOf(bio);
  BIO_clear_retry_flags(bio);
  *read = 0;
  if (wire.unread() == 0) {
    BIO_set_retry_read(bio);
    return 0;
  }
  const std::size_t n = std::min(size, wire.unread());
  std::memcpy(data, wire.in.get() + wire.in_begin, n);
  wire.in_begin += n;
  if (wire.in_begin == wire.in_end) wire.in_begin = wire.in_end = 0;
  *read = n;
  return 1;
}

// OpenSSL hands over ciphertext to send: it is kept for the stream to send (never blocks).
int WireWrite(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  BIO_clear_retry_flags(bio);
  WireOf(bio).out.append(data, size);
  *written = size;
  return 1;
}

long WireCtrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:  // The stream sends after each SSL call.
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(WireOf(bio).unread());
    case BIO_CTRL_WPENDING:
      return static_cast<long>(WireOf(bio).out.size());
    default:  // Not at EOF (an empty wire means "retry"), no kTLS, no other controls.
      return 0;
  }
}

int WireCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int WireDestroy(BIO* bio) { return bio != nullptr ? 1 : 0; }  // The TlsWire is not the BIO's.

// The BIO method of TlsWire, made once; null if OpenSSL is out of memory.
const BIO_METHOD* WireMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gatehouse wire");
    if (m == nullptr) return m;
    BIO_meth_set_read_ex(m, WireRead);
    BIO_meth_set_write_ex(m, WireWrite);
    BIO_meth_set_ctrl(m, WireCtrl);
    BIO_meth_set_create(m, WireCreate);
    BIO_meth_set_destroy(m, WireDestroy);
    return m;
  }();
  return method;
}

// A server-side SSL object from `ctx` that reads and writes through `wire`, or null.
// REQUIRES: `wire` outlives the SSL.
SSL* NewServerSsl(SSL_CTX* ctx, TlsWire& wire) {
  const BIO_METHOD* method = WireMethod();
  if (method == nullptr) return nullptr;
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio == nullptr) {
    SSL_free(ssl);
    return nullptr;
  }
  BIO_set_data(bio, &wire);
  SSL_set_bio(ssl, bio, bio);  // One BIO both ways; the SSL owns it from here.
  SSL_set_accept_state(ssl);
  // No SSL_MODE_RELEASE_BUFFERS: it frees and reallocates both record buffers on every
  // request of a busy connection. Connections that wait give them back instead (Trim).
  return ssl;
}

// TLS over a socket. OpenSSL reads and writes a TlsWire and this class moves the
// ciphertext: reads take one recv from the event loop's readiness wait, the way plain reads
// do, and a response is one SSL_write, so one record and one send. (Asio's ssl::stream does
// the same through a composed operation per call, with extra event-loop trips.)
class TlsStream {
 public:
  static constexpr bool kSecure = true;

  // Takes `ssl` from NewServerSsl(ctx, *wire).
  TlsStream(tcp::socket socket, std::unique_ptr<TlsWire> wire, SSL* ssl)
      : socket_(std::move(socket)), wire_(std::move(wire)), ssl_(ssl) {}

  tcp::socket& socket() { return socket_; }

  // Completes the server side of the handshake.
  asio::awaitable<error_code> Handshake() {
    for (;;) {
      ClearStaleErrors();
      const int r = SSL_do_handshake(ssl_.get());
      const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
      // Our flight goes out first; on failure that is the alert telling the client why.
      if (OutputPending()) {
        auto [ec, n] = co_await SendOutput();
        if (ec && r == 1) co_return ec;
      }
      if (r == 1) co_return error_code{};
      if (err != SSL_ERROR_WANT_READ) co_return Fail(err);
      auto [ec, n] = co_await socket_.async_read_some(InBuffer(), kUseTuple);
      if (error_code fed = Feed(ec, n)) co_return fed;
    }
  }

  // Reads some plaintext, waiting for ciphertext only when OpenSSL holds no full record.
  asio::awaitable<std::tuple<error_code, std::size_t>> ReadSome(asio::mutable_buffer buffer) {
    for (;;) {
      // With no ciphertext on the wire and nothing buffered inside OpenSSL (no record, no
      // part of one, no plaintext), SSL_read could only answer WANT_READ. That is the state
      // between the requests of a keep-alive connection, so the call is skipped then.
      if (wire_->unread() > 0 || SSL_has_pending(ssl_.get()) != 0) {
        ClearStaleErrors();
        std::size_t n = 0;
        const int r = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
        if (r == 1) co_return std::tuple{error_code{}, n};
        const int err = SSL_get_error(ssl_.get(), r);
        if (err != SSL_ERROR_WANT_READ) co_return std::tuple{Fail(err), std::size_t{0}};
      }
      // What OpenSSL owes the peer (a TLS 1.3 key update answer) goes before waiting.
      if (OutputPending()) {
        auto [ec, sent] = co_await SendOutput();
        if (ec) co_return std::tuple{ec, std::size_t{0}};
      }
      auto [ec, got] = co_await socket_.async_read_some(InBuffer(), kUseTuple);
      if (error_code fed = Feed(ec, got)) co_return std::tuple{fed, std::size_t{0}};
    }
  }

  // Encrypts `data` with one SSL_write and sends it. The count is of plaintext bytes.
  asio::awaitable<std::tuple<error_code, std::size_t>> WriteAll(asio::const_buffer data) {
    ClearStaleErrors();
    std::size_t n = 0;
    if (SSL_write_ex(ssl_.get(), data.data(), data.size(), &n) != 1) {
      co_return std::tuple{Fail(SSL_get_error(ssl_.get(), 0)), std::size_t{0}};
    }
    auto [ec, sent] = co_await SendOutput();
    co_return std::tuple{ec, ec ? std::size_t{0} : data.size()};
  }

  // Gives OpenSSL's two record buffers (about 34 KiB) back while the connection waits; the
  // next read or write allocates them again. OpenSSL keeps a buffer that still holds data.
  // (The wire's input buffer stays: the pending socket read is reading into it.)
  void ReleaseBuffers() { SSL_free_buffers(ssl_.get()); }

  // Sends close_notify (RFC 8446 §6.1) unless the session already failed. Does not wait for
  // the peer's: the caller closes the TCP stream next.
  asio::awaitable<void> Shutdown() {
    if (broken_) co_return;
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
    if (OutputPending()) co_await SendOutput();
  }

 private:
  // A send buffer grown past this by a large response is given back after it.
  static constexpr std::size_t kKeepBufferBytes = 64 * 1024;

  // SSL_get_error reads the thread's OpenSSL error queue, so an entry left there by other
  // code would turn the next WANT_READ into a failure. Peeking is cheaper than clearing.
  static void ClearStaleErrors() {
    if (ERR_peek_error() != 0) ERR_clear_error();
  }

  // Where the next read from the socket goes: the free end of the wire's input, after
  // moving a leftover (the start of a record OpenSSL has not asked for yet) to the front.
  asio::mutable_buffer InBuffer() {
    TlsWire& wire = *wire_;
    if (!wire.in) wire.in = std::make_unique<char[]>(kTlsInChunk);
    if (wire.in_begin > 0) {
      std::memmove(wire.in.get(), wire.in.get() + wire.in_begin, wire.unread());
      wire.in_end -= wire.in_begin;
      wire.in_begin = 0;
    }
    return asio::buffer(wire.in.get() + wire.in_end, kTlsInChunk - wire.in_end);
  }

  // Hands `n` bytes read into InBuffer() to OpenSSL; a read error is passed through.
  error_code Feed(const error_code& ec, std::size_t n) {
    // A TCP close without close_notify could be a truncation attack (RFC 8446 §6.1).
    if (ec == asio::error::eof) return asio::ssl::error::stream_truncated;
    if (ec) return ec;
    wire_->in_end += n;
    return {};
  }

  bool OutputPending() const { return !wire_->out.empty(); }

  // Sends the ciphertext OpenSSL wrote, then forgets it.
  asio::awaitable<std::tuple<error_code, std::size_t>> SendOutput() {
    auto result = co_await WriteAllTo(socket_, asio::buffer(wire_->out));
    wire_->out.clear();
    if (wire_->out.capacity() > kKeepBufferBytes) std::string().swap(wire_->out);
    co_return result;
  }

  // The error for a failed SSL call; the session is unusable afterwards unless the peer
  // closed it cleanly.
  error_code Fail(int ssl_error) {
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
    broken_ = true;
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (ssl_error == SSL_ERROR_SSL && code != 0) {
      return error_code(static_cast<int>(code), asio::error::get_ssl_category());
    }
    return asio::error::connection_aborted;
  }

  tcp::socket socket_;
  std::unique_ptr<TlsWire> wire_;  // Declared before ssl_, so it outlives it.
  std::unique_ptr<SSL, SslDeleter> ssl_;
  bool broken_ = false;  // A fatal TLS error: no close_notify may follow.
};

struct DispatchState {
  Request request;
  std::optional<Response> response;
};

// One accepted connection. Lives on its loop's thread only; the coroutine frames hold it by
// shared_ptr, worker completions by weak_ptr.
template <typename Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kSecure = Stream::kSecure;

  Connection(Server::Impl& impl, Loop& loop, Stream stream, std::string client_ip, Mode mode)
      : impl_(impl),
        loop_(loop),
        stream_(std::move(stream)),
        wake_(loop.ctx),
        client_ip_(std::move(client_ip)),
        mode_(mode) {
    loop_.connections.insert(this);
  }

  ~Connection() override { loop_.connections.erase(this); }

  // Runs the connection to its end; never throws.
  static asio::awaitable<void> Run(std::shared_ptr<Connection> self) {
    try {
      co_await self->Serve();
    } catch (const std::exception& e) {
      // The type only: what() can quote request bytes.
      self->impl_.exceptions.fetch_add(1, std::memory_order_relaxed);
      log::RateLimited("http_connection_exception", log::Level::kError, "http_connection_exception",
                       {log::Field("type", typeid(e).name())});
    } catch (...) {
      self->impl_.exceptions.fetch_add(1, std::memory_order_relaxed);
      log::RateLimited("http_connection_exception", log::Level::kError, "http_connection_exception",
                       {log::Field("type", "unknown")});
    }
    self->End();
  }

  void CancelIdleWait() override { CancelIo(); }

  void ForceClose() override {
    aborted_ = true;
    CancelIo();
    wake_.cancel();
  }

  void OnDeadline() override {
    deadline_ = Clock::time_point::max();
    timed_out_ = true;
    CancelIo();
  }

  // Runs between the connection's own steps (same thread), never inside an SSL call.
  void Trim() override {
    trimmed_ = true;
    if constexpr (kSecure) {
      stream_.ReleaseBuffers();
      impl_.idle_trims.fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  // Responses and request buffers grown past this are given back after use.
  static constexpr std::size_t kKeepBufferBytes = 64 * 1024;

  tcp::socket& Socket() { return stream_.socket(); }

  void CancelIo() {
    error_code ignored;
    Socket().cancel(ignored);
  }

  // Starts the deadline for the operations that follow; at expiry the loop's sweep cancels
  // them and timed_out_ tells why.
  void Arm(Clock::duration timeout, Clock::time_point now = Clock::now()) {
    timed_out_ = false;
    deadline_ = now + timeout;
    StartSweep(loop_);
  }

  void Disarm() { deadline_ = Clock::time_point::max(); }

  void End() {
    error_code ignored;
    Socket().close(ignored);
    Disarm();
    if (mode_ == Mode::kRejectOverloaded) {
      impl_.rejecting.fetch_sub(1, std::memory_order_relaxed);
    } else if (mode_ == Mode::kServe) {
      impl_.active.fetch_sub(1, std::memory_order_relaxed);
    }
    loop_.connections.erase(this);
    // The last connection of a draining loop lets its io_context run out of work (the
    // sweep stops by itself once the loop has no connections).
    if (loop_.draining && loop_.connections.empty()) loop_.drain_timer.cancel();
  }

  asio::awaitable<void> Serve() {
    if constexpr (kSecure) {
      Arm(impl_.options.tls_handshake_timeout);
      const error_code ec = co_await stream_.Handshake();
      Disarm();
      if (ec || aborted_) {
        impl_.tls_failures.fetch_add(1, std::memory_order_relaxed);
        co_return;
      }
    }

    if (mode_ == Mode::kRejectOverloaded) {
      idle_ = false;
      Request req = BaseRequest(Clock::now());
      co_await WriteServerAnswer(req, 503);
      co_await CloseGracefully();
      co_return;
    }

    beast::flat_buffer buffer;
    Next next = Next::kKeepAlive;
    while (next == Next::kKeepAlive) {
      // Waiting for the first byte of a request: silence or EOF here is a normal end, and
      // the clock for the request's own read timeout starts only when it begins.
      if (buffer.size() == 0) {
        const Clock::time_point now = Clock::now();
        idle_ = true;
        idle_since_ = now;
        trimmed_ = false;
        if (loop_.draining) co_return;
        if (buffer.capacity() > kKeepBufferBytes) buffer = beast::flat_buffer();
        Arm(mode_ == Mode::kRedirect ? impl_.options.read_timeout : impl_.options.idle_timeout,
            now);
        // The read is tried at once (Asio reads before it waits), and straight after an
        // answer the next request is rarely there yet: that try would be a wasted recv
        // per request. Queued behind the loop's other ready work, it usually finds the
        // bytes instead.
        co_await asio::post(loop_.ctx.get_executor(), asio::use_awaitable);
        auto [ec, n] = co_await stream_.ReadSome(buffer.prepare(kReadChunk));
        Disarm();
        if (ec || aborted_) co_return;
        buffer.commit(n);
      }
      idle_ = false;
      next = co_await ServeOne(buffer);
      if (mode_ == Mode::kRedirect && next == Next::kKeepAlive) next = Next::kCloseGracefully;
    }
    if (next == Next::kCloseGracefully && !aborted_) co_await CloseGracefully();
  }

  Request BaseRequest(Clock::time_point received_at) const {
    Request req;
    req.client_ip = client_ip_;
    req.secure = kSecure;
    req.received_at = received_at;
    return req;
  }

  // Feeds what `buffer` holds to `parser` until the header (whole: the message) is
  // complete. need_more: bytes must be read first. What Beast's read operations do between
  // reads, without their trip through the event loop when the bytes are already here.
  static error_code ParseBuffered(beast::flat_buffer& buffer, RequestParser& parser, bool whole) {
    for (;;) {
      if (whole ? parser.is_done() : parser.is_header_done()) return {};
      if (buffer.size() == 0) return bhttp::error::need_more;
      error_code ec;
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec) return ec;
      if (used == 0) return bhttp::error::need_more;
    }
  }

  // Reads until ParseBuffered completes, with the end-of-stream rules of Beast's reads.
  asio::awaitable<error_code> ReadMore(beast::flat_buffer& buffer, RequestParser& parser,
                                       bool whole) {
    for (;;) {
      const std::size_t size = beast::read_size(buffer, 65536);
      if (size == 0) co_return bhttp::error::buffer_overflow;
      auto [ec, n] = co_await stream_.ReadSome(buffer.prepare(size));
      buffer.commit(n);
      if (ec == asio::error::eof) {
        if (!parser.got_some()) co_return bhttp::error::end_of_stream;
        // The parser decides whether EOF ends the message or cuts it short.
        error_code eof_ec;
        parser.put_eof(eof_ec);
        co_return eof_ec;
      }
      if (ec) co_return ec;
      ec = ParseBuffered(buffer, parser, whole);
      if (ec != bhttp::error::need_more) co_return ec;
    }
  }

  // The request of the exchange starting now, with every field reset. It sits in shared
  // state because an offloaded handler may still hold it after this connection was
  // force-closed; while nobody else does, it is reused and its strings keep their capacity.
  Request& FreshRequest(Clock::time_point received_at) {
    if (!state_ || state_.use_count() != 1) state_ = std::make_shared<DispatchState>();
    state_->response.reset();
    Request& req = state_->request;
    req.method = Method::kGet;
    req.method_text.clear();
    req.target.clear();
    req.path.clear();
    req.query.clear();
    req.body.clear();
    req.request_id.clear();
    req.client_ip.assign(client_ip_);
    req.secure = kSecure;
    req.received_at = received_at;
    return req;
  }

  // Reads, answers and logs one request whose first bytes are in `buffer`.
  asio::awaitable<Next> ServeOne(beast::flat_buffer& buffer) {
    const Clock::time_point received_at = Clock::now();
    RequestFraming framing;
    // The common head is read straight from the bytes at hand; anything else goes to Beast.
    const std::size_t head = ReadCommonHead(
        {static_cast<const char*>(buffer.data().data()), buffer.size()},
        impl_.options.max_header_bytes, FreshRequest(received_at));
    if (head != 0) {
      buffer.consume(head);
    } else if (std::optional<Next> ended = co_await ReadGeneral(buffer, received_at, framing)) {
      co_return *ended;
    }
    Request& req = state_->request;  // ReadGeneral may have begun a new DispatchState.
    if (mode_ == Mode::kRedirect) {
      co_await WriteRedirect(req);
      co_return Next::kCloseGracefully;
    }

    // Hands the request to the pipeline; an inline route answers right here, an offloaded
    // one is waited for without blocking the loop.
    impl_.pipeline.Prepare(req);
    impl_.requests.fetch_add(1, std::memory_order_relaxed);
    std::optional<Response> response =
        impl_.pipeline.DispatchHere(req, [this] { return WorkerDone(); });
    if (!response) {
      DispatchState& state = *state_;
      while (!state.response && !aborted_) {
        wake_.expires_at(Clock::time_point::max());
        co_await wake_.async_wait(kUseTuple);
      }
      if (!state.response) co_return Next::kCloseNow;
      response = std::move(state.response);
    }

    // RFC 9112 §9.3: 1.1 persists unless told otherwise, 1.0 only with keep-alive. During a
    // drain the answer says the connection ends, so the client does not reuse it.
    const bool close = response->close_connection || !framing.keep_alive || loop_.draining;
    const bool written = co_await Write(req, *response, close, framing.http10);
    if (!written) co_return Next::kCloseNow;
    co_return close ? Next::kCloseGracefully : Next::kKeepAlive;
  }

  // What ServeOne does with a head ReadCommonHead left alone: Beast reads it (and any body)
  // into the fresh request. A Next when the exchange ended here (an error answer, the
  // redirect), else nullopt with the request ready.
  asio::awaitable<std::optional<Next>> ReadGeneral(beast::flat_buffer& buffer,
                                                   Clock::time_point received_at,
                                                   RequestFraming& framing) {
    RequestParser parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        impl_.options.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(impl_.options.max_body_bytes);

    // One deadline covers the whole request, first byte to end of body: a client that
    // trickles bytes (slowloris) is cut off however steadily it sends.
    Arm(impl_.options.read_timeout, received_at);
    error_code ec = ParseBuffered(buffer, parser, /*whole=*/false);
    if (ec == bhttp::error::need_more) ec = co_await ReadMore(buffer, parser, /*whole=*/false);
    int problem = 0;
    std::optional<OriginTarget> target;
    if (!ec && !aborted_) {
      problem = CheckRequestHeader(parser.get(), target);
      // A body over the limit was refused from Content-Length already (Beast checks it as
      // the header completes); a body is read only for a request we will serve.
      if (problem == 0 && !parser.is_done() && mode_ == Mode::kServe) {
        if (parser.get().version() == 11 &&
            IEquals(parser.get()[bhttp::field::expect], "100-continue")) {
          // RFC 9110 §10.1.1: tell a waiting client to send the body.
          std::tie(ec, std::ignore) =
              co_await stream_.WriteAll(asio::buffer(kContinue.data(), kContinue.size()));
        }
        if (!ec) {
          parser.eager(true);  // As Beast's whole-message read: parse body bytes as they come.
          ec = ParseBuffered(buffer, parser, /*whole=*/true);
          if (ec == bhttp::error::need_more) ec = co_await ReadMore(buffer, parser, /*whole=*/true);
        }
      }
    }
    Disarm();
    if (aborted_) co_return Next::kCloseNow;
    if (ec) problem = StatusForReadError(ec, timed_out_);
    if (ec && problem == 0) co_return Next::kCloseNow;

    // Filled again from the start: ReadCommonHead may have left part of a head in it.
    Request& req = FreshRequest(received_at);
    if (parser.is_header_done()) {
      // A header that failed the checks before the target's may still have a valid one.
      if (!target) target = ParseOriginTarget(parser.get().target());
      FillHeader(parser.get(), std::move(target), req);
    } else {
      req.headers.clear();
    }
    if (problem != 0) {
      co_await WriteServerAnswer(req, problem);
      co_return Next::kCloseGracefully;
    }
    req.body = std::move(parser.get().body());
    framing.keep_alive = parser.get().keep_alive();
    framing.http10 = parser.get().version() == 10;
    co_return std::nullopt;
  }

  // The completion for an offloaded handler; it runs on a worker thread, and the connection
  // may only be touched on its own loop, so it posts the response there.
  Pipeline::Done WorkerDone() {
    return [state = state_, gate = loop_.gate,
            weak = std::weak_ptr<Connection>(this->shared_from_this())](Response response) {
      gate->Post([state, weak, response = std::move(response)]() mutable {
        state->response = std::move(response);
        if (auto self = weak.lock()) self->wake_.cancel();
      });
    };
  }

  // Copies the parsed request line and header into `req`, reusing its strings.
  static void FillHeader(const RequestParser::value_type& msg, std::optional<OriginTarget> target,
                         Request& req) {
    req.method = MethodFromVerb(msg.method());
    req.method_text.assign(msg.method_string());
    req.target.assign(msg.target());
    if (target) {
      req.path = std::move(target->path);
      req.query = std::move(target->query);
    }
    req.headers.resize(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
    auto header = req.headers.begin();
    for (const auto& field : msg) {
      header->name.assign(field.name_string());
      header->value.assign(field.value());
      ++header;
    }
  }

  // A problem the server answers by itself (400, 408, 413, 414, 431, 503); always closes.
  asio::awaitable<void> WriteServerAnswer(Request& req, int status) {
    impl_.CountStatus(status);
    impl_.pipeline.Prepare(req);
    Response response = MakeStatusProblem(status, req.request_id);
    if (status == 503) response.AddHeader("Retry-After", "1");
    impl_.pipeline.Finish(req, response);
    co_await Write(req, response, /*close=*/true, /*http10=*/false);
  }

  asio::awaitable<void> WriteRedirect(Request& req) {
    impl_.redirects.fetch_add(1, std::memory_order_relaxed);
    impl_.pipeline.Prepare(req);
    std::string_view host = impl_.location_host;
    if (auto header = req.FindHeader("Host")) {
      if (auto valid = HostFromHostHeader(*header)) host = *valid;
    }
    Response response;
    response.status = 308;  // RFC 9110 §15.4.9: permanent, and the method is kept.
    response.AddHeader("Location", HttpsRedirectLocation(impl_.options.public_host, host,
                                                         impl_.bound_port.load(), req.target));
    impl_.pipeline.Finish(req, response);
    co_await Write(req, response, /*close=*/true, /*http10=*/false);
  }

  // Serializes and writes one response with one write, then logs it. False when the write
  // failed (the connection is then useless).
  asio::awaitable<bool> Write(const Request& req, Response& response, bool close, bool http10) {
    ResponseFraming framing;
    framing.head_request = req.method == Method::kHead;
    framing.close = close;
    framing.keep_alive_http10 = http10 && !close;
    Status serialized = SerializeResponseTo(response, framing, wire_);
    if (!serialized.ok()) {
      // Fail closed: a handler produced a header that could split the response.
      log::RateLimited("http_invalid_response", log::Level::kError, "http_invalid_response",
                       {log::Field("request_id", req.request_id),
                        log::Field("detail", serialized.error().detail())});
      response = MakeStatusProblem(500, req.request_id);
      impl_.pipeline.Finish(req, response);
      framing.close = true;
      framing.keep_alive_http10 = false;
      if (!SerializeResponseTo(response, framing, wire_).ok()) co_return false;
    }

    // A stalled reader gets the same patience as a stalled writer of requests.
    Arm(impl_.options.read_timeout);
    auto [ec, written] = co_await stream_.WriteAll(asio::buffer(wire_));
    Disarm();
    if (wire_.capacity() > kKeepBufferBytes) std::string().swap(wire_);

    if (impl_.options.access_log) {
      AccessRecord record;
      record.request_id = req.request_id;
      record.method = req.method_text;
      record.path = std::string(req.RawPath());
      record.status = response.status;
      record.bytes_sent = written;
      record.duration =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - req.received_at);
      record.client_ip = req.client_ip;  // The client behind trusted proxies.
      if (auto ua = req.FindHeader("User-Agent")) record.user_agent = std::string(*ua);
      impl_.options.access_log(record);
    }
    co_return !ec && !aborted_;
  }

  // Ends the connection politely within kCloseGrace: TLS close_notify, then FIN, then read
  // and discard what the client still sends, so that closing with unread input does not
  // turn into an RST that destroys our last answer in the client's receive buffer.
  asio::awaitable<void> CloseGracefully() {
    Arm(kCloseGrace);
    if constexpr (kSecure) {
      co_await stream_.Shutdown();
    }
    error_code ec;
    Socket().shutdown(tcp::socket::shutdown_send, ec);
    std::size_t discarded = 0;
    while (!ec && !timed_out_ && !aborted_ && discarded < kLingerMaxBytes) {
      char scratch[2048];
      std::size_t n = 0;
      std::tie(ec, n) = co_await Socket().async_read_some(asio::buffer(scratch), kUseTuple);
      discarded += n;
    }
    Disarm();
  }

  Server::Impl& impl_;
  Loop& loop_;
  Stream stream_;
  asio::steady_timer wake_;  // Cancelled to resume the coroutine when a worker answers.
  std::string client_ip_;
  Mode mode_;
  std::shared_ptr<DispatchState> state_;  // The current or last exchange; see FreshRequest.
  std::string wire_;                      // The serialized response being written.
  bool timed_out_ = false;
  bool aborted_ = false;
};

using PlainConnection = Connection<PlainStream>;
using TlsConnection = Connection<TlsStream>;

template <typename Conn>
void Spawn(Loop& loop, std::shared_ptr<Conn> conn) {
  asio::co_spawn(loop.ctx, Conn::Run(std::move(conn)), asio::detached);
}

asio::awaitable<void> AcceptLoop(Server::Impl& impl, Loop& loop, bool redirect) {
  tcp::acceptor& acceptor = redirect ? loop.redirect_acceptor : loop.acceptor;
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open() || loop.draining) {
        co_return;
      }
      // Out of descriptors or memory: pause instead of spinning on a failing accept.
      asio::steady_timer pause(loop.ctx, std::chrono::milliseconds(50));
      co_await pause.async_wait(kUseTuple);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    // Writes are tried at once and only wait when the socket is full (see WriteAllTo).
    socket.non_blocking(true, ignored);
    std::string client_ip = PeerAddress(socket);

    if (redirect) {
      Spawn(loop, std::make_shared<PlainConnection>(impl, loop, PlainStream(std::move(socket)),
                                                    std::move(client_ip), Mode::kRedirect));
      continue;
    }

    auto mode = Mode::kServe;
    if (impl.active.fetch_add(1, std::memory_order_relaxed) >= impl.options.max_connections) {
      impl.active.fetch_sub(1, std::memory_order_relaxed);
      const std::size_t reject_slots = std::max(kMinRejectSlots, impl.options.max_connections / 10);
      if (impl.rejecting.fetch_add(1, std::memory_order_relaxed) >= reject_slots) {
        impl.rejecting.fetch_sub(1, std::memory_order_relaxed);
        impl.rejected.fetch_add(1, std::memory_order_relaxed);
        continue;  // The socket closes here: no answer, but no unbounded work either.
      }
      impl.rejected.fetch_add(1, std::memory_order_relaxed);
      mode = Mode::kRejectOverloaded;
    } else {
      impl.accepted.fetch_add(1, std::memory_order_relaxed);
    }

    if (!impl.options.tls) {
      Spawn(loop, std::make_shared<PlainConnection>(impl, loop, PlainStream(std::move(socket)),
                                                    std::move(client_ip), mode));
      continue;
    }
    // The context current at accept time; a later reload does not affect this connection.
    const TlsContext tls = impl.CurrentTls();
    auto wire = std::make_unique<TlsWire>();
    SSL* ssl = NewServerSsl(tls.get(), *wire);
    if (ssl == nullptr) {
      (mode == Mode::kServe ? impl.active : impl.rejecting).fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    Spawn(loop, std::make_shared<TlsConnection>(impl, loop,
                                                TlsStream(std::move(socket), std::move(wire), ssl),
                                                std::move(client_ip), mode));
  }
}

asio::awaitable<void> SignalLoop(Server::Impl& impl, Loop& loop) {
  for (;;) {
    auto [ec, signal] = co_await loop.signals->async_wait(kUseTuple);
    if (ec) co_return;
    if (signal == SIGHUP) {
      // Reading two small PEM files briefly occupies this loop; reloads are rare.
      Status status = impl.Reload();
      if (status.ok()) {
        log::Event(log::Level::kInfo, "tls_certificates_reloaded");
      } else {
        log::Event(log::Level::kError, "tls_certificates_reload_failed",
                   {log::Field("message", status.error().message()),
                    log::Field("detail", status.error().detail())});
      }
      continue;
    }
    log::Event(log::Level::kInfo, "http_server_draining", {log::Field("signal", signal)});
    impl.RequestDrain(impl.options.drain_timeout);
    co_return;
  }
}

void RunLoop(Loop& loop) {
  for (;;) {
    try {
      loop.ctx.run();
      return;
    } catch (const std::exception& e) {
      // Connection coroutines catch their own exceptions; this is a last line of defence
      // so one escaped exception does not take the loop down.
      log::RateLimited("http_loop_exception", log::Level::kError, "http_loop_exception",
                       {log::Field("type", typeid(e).name())});
    }
  }
}

error_code OpenAcceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  // Every loop binds its own acceptor to the port and the kernel balances between them.
  // Only sockets of the same user may share a port this way.
  if (!ec) acceptor.set_option(SoReusePort(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  return ec;
}

// SO_REUSEPORT would let a second instance share a port that is already in use without an
// error. A plain bind first makes "port in use" an error at start, as operators expect.
error_code ProbePortFree(asio::io_context& ctx, const tcp::endpoint& endpoint) {
  error_code ec;
  if (endpoint.port() == 0) return ec;
  tcp::acceptor probe(ctx);
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  return ec;
}

// Binds one acceptor per loop on `endpoint`; returns the bound port.
Result<std::uint16_t> BindAll(std::vector<std::unique_ptr<Loop>>& loops, tcp::endpoint endpoint,
                              bool redirect) {
  auto fail = [&endpoint](const error_code& ec) -> Error {
    return Unavailable("cannot listen on " + endpoint.address().to_string() + ":" +
                           std::to_string(endpoint.port()),
                       ec.message());
  };
  if (error_code ec = ProbePortFree(loops.front()->ctx, endpoint)) return fail(ec);
  for (auto& loop : loops) {
    tcp::acceptor& acceptor = redirect ? loop->redirect_acceptor : loop->acceptor;
    if (error_code ec = OpenAcceptor(acceptor, endpoint)) return fail(ec);
    // Port 0: the first bind picks the port, the other loops join it.
    error_code ec;
    endpoint.port(acceptor.local_endpoint(ec).port());
    if (ec) return fail(ec);
  }
  return endpoint.port();
}

}  // namespace

void Server::Impl::BeginDrain(Loop& loop, std::chrono::milliseconds deadline) {
  if (loop.draining) return;
  loop.draining = true;
  error_code ignored;
  loop.acceptor.close(ignored);
  loop.redirect_acceptor.close(ignored);
  if (loop.signals) loop.signals->cancel(ignored);

  // Idle keep-alive connections end now; requests in flight get until the deadline.
  for (ConnectionBase* conn : loop.connections) {
    if (conn->idle()) conn->CancelIdleWait();
  }
  if (loop.connections.empty()) return;
  loop.drain_timer.expires_after(deadline);
  loop.drain_timer.async_wait([&loop](const error_code& ec) {
    if (ec) return;
    for (ConnectionBase* conn : loop.connections) conn->ForceClose();
  });
}

void Server::Impl::RequestDrain(std::chrono::milliseconds deadline) {
  if (drain_requested.exchange(true)) return;
  for (auto& loop : loops) {
    Loop* target = loop.get();
    asio::post(target->ctx, [this, target, deadline] { BeginDrain(*target, deadline); });
  }
}

Status Server::Impl::Reload() {
  Result<TlsContext> fresh = LoadServerTlsContext(options.cert_file, options.key_file);
  if (!fresh.ok()) return std::move(fresh).error();
  std::lock_guard<std::mutex> lock(tls_mu);
  tls = std::move(fresh).value();
  return Ok();
}

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, Pipeline& pipeline) {
  if (options.io_threads == 0) options.io_threads = 1;
  if (options.max_header_bytes == 0 || options.max_connections == 0) {
    return InvalidArgument("max_header_bytes and max_connections must be positive");
  }
  using std::chrono::milliseconds;
  if (options.read_timeout <= milliseconds::zero() ||
      options.idle_timeout <= milliseconds::zero() ||
      options.tls_handshake_timeout <= milliseconds::zero() ||
      options.drain_timeout < milliseconds::zero()) {
    return InvalidArgument("server timeouts must be positive");
  }
  // The public host is written into Location headers verbatim: hold it to the same rules
  // as a Host header, so a configuration typo cannot inject a header.
  if (!options.public_host.empty() && !HostFromHostHeader(options.public_host)) {
    return InvalidArgument("public_host '" + options.public_host + "' is not a host[:port]");
  }

  error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.listen_address, ec);
  if (ec) {
    return InvalidArgument("listen address '" + options.listen_address + "' is not an IP address");
  }

  auto impl = std::make_unique<Impl>(std::move(options), pipeline);
  impl->endpoint = tcp::endpoint(address, impl->options.port);
  impl->location_host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();

  if (impl->options.tls) {
    if (impl->options.cert_file.empty() || impl->options.key_file.empty()) {
      return InvalidArgument("TLS needs a certificate file and a key file");
    }
    Result<TlsContext> tls = LoadServerTlsContext(impl->options.cert_file, impl->options.key_file);
    if (!tls.ok()) return std::move(tls).error();
    impl->tls = std::move(tls).value();
  }

  for (std::size_t i = 0; i < impl->options.io_threads; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->gate->ctx = &loop->ctx;
    loop->sweep_period = SweepPeriod(impl->options);
    impl->loops.push_back(std::move(loop));
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (impl_->started) {
    // A drain already under way may have a long deadline; cut it short.
    impl_->RequestDrain(std::chrono::milliseconds(0));
    for (auto& loop : impl_->loops) {
      Impl* impl = impl_.get();
      Loop* target = loop.get();
      asio::post(target->ctx, [impl, target] {
        impl->BeginDrain(*target, std::chrono::milliseconds(0));
        for (ConnectionBase* conn : target->connections) conn->ForceClose();
      });
    }
    Wait();
  }
  // Workers that finish later must not post into a destroyed io_context.
  for (auto& loop : impl_->loops) {
    std::lock_guard<std::mutex> lock(loop->gate->mu);
    loop->gate->ctx = nullptr;
  }
  impl_->loops.clear();
}

Status Server::Start() {
  if (impl_->started.exchange(true)) {
    return Error(ErrorCode::kFailedPrecondition, "server already started");
  }
  auto undo = [this](Error error) -> Status {
    error_code ignored;
    for (auto& loop : impl_->loops) {
      loop->acceptor.close(ignored);
      loop->redirect_acceptor.close(ignored);
    }
    impl_->started = false;
    return error;
  };

  Result<std::uint16_t> port = BindAll(impl_->loops, impl_->endpoint, /*redirect=*/false);
  if (!port.ok()) return undo(std::move(port).error());
  impl_->bound_port = *port;
  if (impl_->options.redirect_port) {
    tcp::endpoint redirect_endpoint(impl_->endpoint.address(), *impl_->options.redirect_port);
    Result<std::uint16_t> redirect = BindAll(impl_->loops, redirect_endpoint, true);
    if (!redirect.ok()) return undo(std::move(redirect).error());
    impl_->bound_redirect_port = *redirect;
  }

  Impl& impl = *impl_;
  for (auto& loop : impl_->loops) {
    asio::co_spawn(loop->ctx, AcceptLoop(impl, *loop, false), asio::detached);
    if (impl_->options.redirect_port) {
      asio::co_spawn(loop->ctx, AcceptLoop(impl, *loop, true), asio::detached);
    }
  }
  if (impl_->options.handle_signals) {
    Loop& first = *impl_->loops.front();
    first.signals.emplace(first.ctx, SIGINT, SIGTERM, SIGHUP);
    asio::co_spawn(first.ctx, SignalLoop(impl, first), asio::detached);
  }
  for (auto& loop : impl_->loops) {
    Loop* target = loop.get();
    target->thread = std::thread([target] { RunLoop(*target); });
  }
  return Ok();
}

std::uint16_t Server::port() const { return impl_->bound_port.load(); }
std::uint16_t Server::redirect_port() const { return impl_->bound_redirect_port.load(); }

Status Server::ReloadCertificates() {
  if (!impl_->options.tls) {
    return Error(ErrorCode::kFailedPrecondition, "TLS is not enabled on this server");
  }
  return impl_->Reload();
}

void Server::Drain() { impl_->RequestDrain(impl_->options.drain_timeout); }

void Server::Wait() {
  std::lock_guard<std::mutex> lock(impl_->wait_mu);
  for (auto& loop : impl_->loops) {
    if (loop->thread.joinable()) loop->thread.join();
  }
}

ServerCounters Server::counters() const {
  ServerCounters c;
  c.active_connections = impl_->active.load(std::memory_order_relaxed);
  c.accepted_connections = impl_->accepted.load(std::memory_order_relaxed);
  c.rejected_connections = impl_->rejected.load(std::memory_order_relaxed);
  c.requests = impl_->requests.load(std::memory_order_relaxed);
  c.bad_requests = impl_->bad_requests.load(std::memory_order_relaxed);
  c.request_timeouts = impl_->timeouts.load(std::memory_order_relaxed);
  c.tls_handshake_failures = impl_->tls_failures.load(std::memory_order_relaxed);
  c.idle_trims = impl_->idle_trims.load(std::memory_order_relaxed);
  c.redirects = impl_->redirects.load(std::memory_order_relaxed);
  c.connection_exceptions = impl_->exceptions.load(std::memory_order_relaxed);
  return c;
}

}  // namespace gatehouse::http
