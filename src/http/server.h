#pragma once

// The HTTPS front door: accepts connections, parses HTTP/1.1 with hard limits, hands each
// request to the Pipeline and writes the answer. Beast and Asio stay inside server.cc, so
// including this header costs nothing.
//
// Threads: `io_threads` event loops, each with its own io_context and its own acceptor on
// the same port (SO_REUSEPORT lets the kernel spread connections). A connection lives on
// one loop for its whole life. Loops never block: the Pipeline offloads slow handlers to
// its WorkerPool and the answer is posted back to the connection's loop.
//
// What the server answers by itself, always with the security header block:
//   400  unparseable request, duplicate Content-Length, Transfer-Encoding with
//        Content-Length or other than "chunked", control bytes in a field value, a target
//        that is not origin-form, HTTP/1.1 without exactly one Host;
//   408  the request (first byte to end of body) took longer than read_timeout;
//   413  body over max_body_bytes (decided from Content-Length before reading the body);
//   414  target over 8 KiB (a larger one usually hits the header limit first: 431);
//   431  request line plus header fields over max_header_bytes;
//   503  (with Retry-After: 1) the connection was accepted over max_connections;
//   308  everything on the optional plain-HTTP redirect listener.
// Each of these closes the connection after writing. An idle keep-alive connection is
// closed silently after idle_timeout.
//
// Timeouts are checked by one sweep per loop, not one timer per connection: a deadline
// never fires early, and fires at most a tenth of the shortest timeout (50 ms at most)
// late.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"

namespace gatehouse::http {

class Pipeline;

// One line of the access log. Holds no query string and no header other than User-Agent:
// queries and headers can carry tokens.
struct AccessRecord {
  std::string request_id;
  std::string method;  // As received, e.g. "GET".
  std::string path;    // Target without the query, still percent-encoded.
  int status = 0;
  std::uint64_t bytes_sent = 0;           // Status line, headers and body.
  std::chrono::microseconds duration{0};  // From the request's first byte to the write's end.
  std::string client_ip;                  // Peer address; IPv4-mapped IPv6 shown as IPv4.
  std::string user_agent;                 // Empty when absent.
};

struct ServerOptions {
  std::string listen_address = "0.0.0.0";  // IPv4 or IPv6 literal.
  std::uint16_t port = 443;                // 0: an ephemeral port, see Server::port().
  bool tls = true;        // false: plain HTTP on `port` (only behind a TLS-terminating proxy).
  std::string cert_file;  // PEM, leaf first then intermediates. Required when tls.
  std::string key_file;   // PEM, unencrypted. Required when tls.
  // Plain-HTTP listener that only answers 308 to https. nullopt: none; 0: an ephemeral port.
  std::optional<std::uint16_t> redirect_port;
  // Authority for redirect Locations ("auth.example.com" or "auth.example.com:8443"). Empty:
  // the request's Host (validated) or else listen_address, with the TLS port.
  std::string public_host;
  std::size_t io_threads = 1;  // 0 is taken as 1.
  std::size_t max_header_bytes = 8192;
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds tls_handshake_timeout{10000};
  std::chrono::milliseconds drain_timeout{15000};
  std::size_t max_connections = 10000;
  // Called on the I/O thread after each response is written, including the server's own
  // 4xx/503/308 answers. Must not block.
  std::function<void(const AccessRecord&)> access_log;
  // Install SIGTERM/SIGINT -> Drain() and SIGHUP -> ReloadCertificates() handlers. The
  // binary sets this; tests call the methods directly.
  bool handle_signals = false;
};

// A snapshot; each field is read atomically, the set is not.
struct ServerCounters {
  std::uint64_t active_connections = 0;      // Open now, under max_connections.
  std::uint64_t accepted_connections = 0;    // Ever accepted under the limit.
  std::uint64_t rejected_connections = 0;    // Answered 503 for being over max_connections.
  std::uint64_t requests = 0;                // Handed to the pipeline.
  std::uint64_t bad_requests = 0;            // Answered 400/413/414/431 by the server.
  std::uint64_t request_timeouts = 0;        // Answered 408.
  std::uint64_t tls_handshake_failures = 0;  // Includes handshake timeouts.
  std::uint64_t redirects = 0;               // 308s on the redirect listener.
  std::uint64_t connection_exceptions = 0;   // Connections ended by an unexpected exception.
  std::uint64_t idle_trims = 0;  // Waiting connections that gave their TLS buffers back.
};

class Server {
 public:
  // Validates the options and, with TLS, loads the certificate and key (the Error names the
  // file that failed). Binds nothing yet. `pipeline` must outlive the Server, and its
  // WorkerPool must not be shut down before Wait() has returned.
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, Pipeline& pipeline);

  // Drains with a zero deadline if still running, then joins.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listeners (kUnavailable naming the address when a port is taken or not
  // permitted) and starts the I/O threads. Call once.
  Status Start();

  // The bound ports; meaningful after a successful Start(). redirect_port() is 0 without a
  // redirect listener.
  std::uint16_t port() const;
  std::uint16_t redirect_port() const;

  // Loads the certificate and key files again into a new TLS context and makes it the one
  // new connections use; connections already open keep theirs. On failure the current
  // context stays and the error is returned. Thread-safe.
  Status ReloadCertificates();

  // Stops accepting, closes idle keep-alive connections, lets requests in flight finish
  // (their answers carry "Connection: close"), and force-closes whatever is left after
  // drain_timeout. Returns at once; idempotent; callable from any thread.
  void Drain();

  // Blocks until every I/O thread has ended, i.e. after Drain() has completed.
  void Wait();

  ServerCounters counters() const;

  struct Impl;  // Public so server.cc's free functions can name it; defined there only.

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::http
