// The HTTPS server against real sockets: a raw TCP or OpenSSL client talks to a server on an
// ephemeral port, so what is tested is the bytes on the wire, not Beast's view of them.

#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/worker_pool.h"
#include "http/pipeline.h"
#include "http/router.h"
#include "http/security_headers.h"
#include "http/server_wire.h"

namespace gatehouse::http {
namespace {

using namespace std::chrono_literals;

// ---- Test certificates -----------------------------------------------------------------

// Writes a self-signed P-256 certificate with `serial` and CN `common_name`, and its key.
void WriteSelfSignedCert(const std::string& cert_path, const std::string& key_path, long serial,
                         const std::string& common_name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);

  FILE* f = std::fopen(cert_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

// ---- A minimal HTTP/1.1 client over a raw socket, optionally through OpenSSL ---------------

struct ParsedResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // Lower-case names; last one wins.
  std::vector<std::string> header_names;       // Lower-case, in order, with duplicates.
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

class Client {
 public:
  // Connects to 127.0.0.1:port. Reads time out after 5 s so a broken server fails the test
  // instead of hanging it.
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }

  ~Client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  bool connected() const { return connected_; }

  // TLS handshake with exactly `version` (TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION).
  // The certificate is self-signed, so it is not verified; tests read it instead.
  // `tls12_ciphers`, when given, replaces the client's TLS 1.2 cipher list.
  bool Handshake(int version, const char* tls12_ciphers = nullptr) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, version);
    SSL_CTX_set_max_proto_version(ctx_, version);
    if (tls12_ciphers != nullptr) SSL_CTX_set_cipher_list(ctx_, tls12_ciphers);
    if (version < TLS1_2_VERSION) {
      // OpenSSL 3 would refuse TLS 1.1 on the client side by itself at the default security
      // level; lowering it makes the client really offer 1.1, so a refusal is the server's.
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    ERR_clear_error();
    if (SSL_connect(ssl_) == 1) return true;
    last_tls_error_ = ERR_peek_last_error();
    return false;
  }

  unsigned long last_tls_error() const { return last_tls_error_; }
  int tls_version() const { return SSL_version(ssl_); }

  long PeerSerial() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return -1;
    const long serial = ASN1_INTEGER_get(X509_get0_serialNumber(cert));
    X509_free(cert);
    return serial;
  }

  void Send(std::string_view bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      const long n = ssl_ != nullptr
                         ? SSL_write(ssl_, bytes.data() + off, static_cast<int>(bytes.size() - off))
                         : ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  // TLS only: each of `messages` in its own record, all records in one TCP send.
  void SendRecordsTogether(const std::vector<std::string>& messages) {
    BIO* socket_bio = SSL_get_wbio(ssl_);
    BIO_up_ref(socket_bio);
    BIO* buffered = BIO_push(BIO_new(BIO_f_buffer()), socket_bio);
    SSL_set0_wbio(ssl_, buffered);  // The SSL owns the chain; the socket BIO is still read.
    for (const std::string& m : messages) SSL_write(ssl_, m.data(), static_cast<int>(m.size()));
    BIO_flush(buffered);
  }

  // TLS only: the record of `message` sent one byte per TCP segment.
  void SendTrickled(std::string_view message) {
    BIO* socket_bio = SSL_get_wbio(ssl_);
    BIO_up_ref(socket_bio);
    BIO* memory = BIO_new(BIO_s_mem());
    SSL_set0_wbio(ssl_, memory);
    SSL_write(ssl_, message.data(), static_cast<int>(message.size()));
    char* data = nullptr;
    const long size = BIO_get_mem_data(memory, &data);
    for (long i = 0; i < size; ++i) {
      ::send(fd_, data + i, 1, MSG_NOSIGNAL);
      if (i % 16 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    SSL_set0_wbio(ssl_, socket_bio);  // Frees the memory BIO.
  }

  // Reads one response (Content-Length framed; no body after a HEAD). status 0: the
  // connection ended first.
  ParsedResponse ReadResponse(bool head_request = false) {
    ParsedResponse out;
    std::size_t end = 0;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return out;
    }
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);

    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.compare(0, 9, "HTTP/1.1 ") != 0) return out;
    out.status = std::atoi(status_line.c_str() + 9);
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = Lower(line.substr(0, colon));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      out.header_names.push_back(name);
      out.headers[name] = value;
    }
    const std::size_t length =
        head_request ? 0 : std::strtoul(out.Header("content-length").c_str(), nullptr, 10);
    while (buffer_.size() < length) {
      if (!Fill()) break;
    }
    out.body = buffer_.substr(0, length);
    buffer_.erase(0, std::min(length, buffer_.size()));
    return out;
  }

  // True when the server closed the connection (EOF or reset) within the read timeout.
  bool ClosedByPeer() {
    char c;
    const long n = ssl_ != nullptr ? SSL_read(ssl_, &c, 1) : ::recv(fd_, &c, 1, 0);
    if (n > 0) return false;
    if (ssl_ == nullptr) return n == 0 || errno == ECONNRESET;
    const int err = SSL_get_error(ssl_, static_cast<int>(n));
    return err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL;
  }

 private:
  bool Fill() {
    char chunk[4096];
    const long n = ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof(chunk))
                                   : ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  unsigned long last_tls_error_ = 0;
  std::string buffer_;
};

std::string Get(const std::string& path, const std::string& extra = {}) {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n";
}

void ExpectSecurityHeaders(const ParsedResponse& response) {
  ASSERT_EQ(SecurityHeaders().size(), 7u);
  for (const SecurityHeader& h : SecurityHeaders()) {
    EXPECT_EQ(response.Header(Lower(std::string(h.name))), h.value)
        << "missing or wrong " << h.name << " on a " << response.status;
  }
}

// ---- Fixture: router, worker pool, pipeline, temp dir with a certificate ------------------

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : pool_(2, 16) {
    router_.Add(Method::kGet, "/hello", [](Request&, const RouteParams&) -> Result<Response> {
      return Response::Text(200, "hello");
    });
    router_.Add(Method::kPost, "/echo", [](Request& req, const RouteParams&) -> Result<Response> {
      return Response::Text(200, req.body);
    });
    router_.Add(Method::kGet, "/whoami", [](Request& req, const RouteParams&) -> Result<Response> {
      return Response::Text(200, req.client_ip + "|" + req.path + "|" + req.query + "|" +
                                     (req.secure ? "tls" : "plain"));
    });
    router_.Add(
        Method::kGet, "/slow",
        [](Request&, const RouteParams&) -> Result<Response> {
          std::this_thread::sleep_for(400ms);
          return Response::Text(200, "slow");
        },
        RouteOptions{.offload = true});
    router_.Add(Method::kGet, "/bad-header", [](Request&, const RouteParams&) -> Result<Response> {
      Response r = Response::Text(200, "x");
      r.AddHeader("X-Injected", "a\r\nSet-Cookie: evil=1");
      return r;
    });
    EXPECT_TRUE(router_.status().ok());
    pipeline_ = std::make_unique<Pipeline>(router_, pool_, PipelineOptions{});

    dir_ =
        std::filesystem::temp_directory_path() /
        ("gatehouse_server_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    cert_ = (dir_ / "cert.pem").string();
    key_ = (dir_ / "key.pem").string();
    WriteSelfSignedCert(cert_, key_, 1001, "gatehouse-test-one");
  }

  ~ServerTest() override {
    if (server_) {
      server_->Drain();
      server_->Wait();
      server_.reset();
    }
    pool_.Shutdown();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  ServerOptions PlainOptions() {
    ServerOptions options;
    options.listen_address = "127.0.0.1";
    options.port = 0;
    options.tls = false;
    options.io_threads = 2;
    options.drain_timeout = 3000ms;
    options.access_log = [this](const AccessRecord& record) {
      std::lock_guard<std::mutex> lock(log_mu_);
      access_.push_back(record);
    };
    return options;
  }

  ServerOptions TlsOptions() {
    ServerOptions options = PlainOptions();
    options.tls = true;
    options.cert_file = cert_;
    options.key_file = key_;
    return options;
  }

  void StartServer(ServerOptions options) {
    auto created = Server::Create(std::move(options), *pipeline_);
    ASSERT_TRUE(created.ok()) << created.error().message() << " " << created.error().detail();
    server_ = std::move(created).value();
    Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.error().message() << " " << started.error().detail();
    ASSERT_NE(server_->port(), 0);
  }

  // The access log is written after the response's write completes, which can be just
  // after the client has read it: wait briefly for `count` records.
  std::vector<AccessRecord> AccessLog(std::size_t count) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard<std::mutex> lock(log_mu_);
        if (access_.size() >= count) return access_;
      }
      std::this_thread::sleep_for(5ms);
    }
    std::lock_guard<std::mutex> lock(log_mu_);
    return access_;
  }

  static inline int counter_ = 0;
  Router router_;
  WorkerPool pool_;
  std::unique_ptr<Pipeline> pipeline_;
  std::filesystem::path dir_;
  std::string cert_;
  std::string key_;
  std::unique_ptr<Server> server_;
  std::mutex log_mu_;
  std::vector<AccessRecord> access_;
};

// ---- Keep-alive and the request fields ----------------------------------------------------

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer(PlainOptions());
  Client client(server_->port());
  ASSERT_TRUE(client.connected());

  client.Send(Get("/hello"));
  ParsedResponse first = client.ReadResponse();
  client.Send(Get("/hello"));
  ParsedResponse second = client.ReadResponse();

  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "hello");
  EXPECT_EQ(first.Header("connection"), "");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "hello");
  ExpectSecurityHeaders(second);
  EXPECT_EQ(server_->counters().accepted_connections, 1u);
  EXPECT_EQ(server_->counters().requests, 2u);
}

TEST_F(ServerTest, Http10ClosesWithoutKeepAlive) {
  StartServer(PlainOptions());
  Client client(server_->port());
  client.Send("GET /hello HTTP/1.0\r\n\r\n");
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("connection"), "close");
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(ServerTest, SetsRequestFieldsFromPeerAndTarget) {
  StartServer(PlainOptions());
  Client client(server_->port());
  client.Send(Get("/who%61mi?token=secret"));
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "127.0.0.1|/whoami|token=secret|plain");

  // The access log gets the path without the query: queries can carry secrets.
  std::vector<AccessRecord> log = AccessLog(1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].path, "/who%61mi");
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[0].status, 200);
  EXPECT_EQ(log[0].client_ip, "127.0.0.1");
  EXPECT_FALSE(log[0].request_id.empty());
  EXPECT_GT(log[0].bytes_sent, response.body.size());
}

TEST_F(ServerTest, HeadKeepsContentLengthWithoutBody) {
  StartServer(PlainOptions());
  Client client(server_->port());
  client.Send("HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ParsedResponse head = client.ReadResponse(/*head=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), "5");
  // Had the body been sent, it would now be read as the start of the next response.
  client.Send(Get("/hello"));
  ParsedResponse next = client.ReadResponse();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "hello");
}

TEST_F(ServerTest, ExpectContinueGetsAnInterimResponse) {
  StartServer(PlainOptions());
  Client client(server_->port());
  client.Send(
      "POST /echo HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
      "Content-Length: 3\r\n\r\n");
  EXPECT_EQ(client.ReadResponse().status, 100);
  client.Send("abc");
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "abc");
}

TEST_F(ServerTest, InvalidResponseHeaderFailsClosedWith500) {
  StartServer(PlainOptions());
  Client client(server_->port());
  client.Send(Get("/bad-header"));
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.Header("set-cookie"), "");
  ExpectSecurityHeaders(response);
}

// ---- Limits --------------------------------------------------------------------------------

TEST_F(ServerTest, OversizedHeadersGet431) {
  StartServer(PlainOptions());
  Client client(server_->port());
  client.Send(Get("/hello", "X-Big: " + std::string(9 * 1024, 'a') + "\r\n"));
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 431);
  EXPECT_EQ(response.Header("connection"), "close");
  ExpectSecurityHeaders(response);
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(ServerTest, OversizedContentLengthGets413BeforeTheBody) {
  StartServer(PlainOptions());
  Client client(server_->port());
  client.Send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2097152\r\n\r\n");
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 413);
  ExpectSecurityHeaders(response);
  EXPECT_EQ(server_->counters().requests, 0u);
}

TEST_F(ServerTest, BodyAtTheLimitIsServed) {
  ServerOptions options = PlainOptions();
  options.max_body_bytes = 16;
  StartServer(std::move(options));
  Client client(server_->port());
  client.Send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 16\r\n\r\n" +
              std::string(16, 'b'));
  EXPECT_EQ(client.ReadResponse().body, std::string(16, 'b'));
  Client over(server_->port());
  over.Send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 17\r\n\r\n" +
            std::string(17, 'b'));
  EXPECT_EQ(over.ReadResponse().status, 413);
}

TEST_F(ServerTest, LongTargetUnderTheHeaderLimitGets414) {
  ServerOptions options = PlainOptions();
  options.max_header_bytes = 32 * 1024;
  StartServer(std::move(options));
  Client client(server_->port());
  client.Send(Get("/" + std::string(9000, 'a')));
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 414);
  ExpectSecurityHeaders(response);
}

TEST_F(ServerTest, SlowlorisGets408AtTheWholeRequestDeadline) {
  ServerOptions options = PlainOptions();
  options.read_timeout = 300ms;
  StartServer(std::move(options));
  Client client(server_->port());
  client.Send("GET /hello HTTP/1.1\r\nHost: localhost\r\n");

  // A header line every 100 ms: each read makes progress, only the whole-request deadline
  // can stop this client.
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (int i = 0; i < 30 && !stop; ++i) {
      std::this_thread::sleep_for(100ms);
      client.Send("X-Slow: 1\r\n");
    }
  });
  const auto start = std::chrono::steady_clock::now();
  ParsedResponse response = client.ReadResponse();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  stop = true;
  trickle.join();

  EXPECT_EQ(response.status, 408);
  ExpectSecurityHeaders(response);
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_EQ(server_->counters().request_timeouts, 1u);
}

TEST_F(ServerTest, IdleKeepAliveIsClosedSilently) {
  ServerOptions options = PlainOptions();
  options.idle_timeout = 200ms;
  StartServer(std::move(options));
  Client client(server_->port());
  client.Send(Get("/hello"));
  EXPECT_EQ(client.ReadResponse().status, 200);
  EXPECT_TRUE(client.ClosedByPeer());
  EXPECT_EQ(client.ReadResponse().status, 0);  // No 408 for an idle connection.
}

struct MalformedCase {
  const char* name;
  std::string bytes;
};

constexpr char kNulRequest[] = "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n";

TEST_F(ServerTest, MalformedRequestsGet400AndTheServerKeepsServing) {
  StartServer(PlainOptions());
  const std::vector<MalformedCase> cases = {
      {"bad request line", "GARBAGE\r\n\r\n"},
      {"duplicate content-length",
       "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"},
      {"chunked and content-length",
       "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n"
       "\r\n2\r\nab\r\n0\r\n\r\n"},
      {"unknown transfer coding",
       "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nab"},
      {"header without colon", "GET /hello HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n\r\n"},
      {"NUL in a header value", std::string(kNulRequest, sizeof(kNulRequest) - 1)},
      {"bare CR in a header value", "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n"},
      {"bare LF in a header value", "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: a\nb\r\n\r\n"},
      {"DEL in a header value", "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: a\x7f\r\n\r\n"},
      {"escape byte in a header value", "GET /hello HTTP/1.1\r\nHost: a\r\nX-A: \x1b[2J\r\n\r\n"},
      {"absolute-form target", "GET http://a/hello HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"asterisk target", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"HTTP/1.1 without Host", "GET /hello HTTP/1.1\r\n\r\n"},
      {"two Host headers", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"unsupported version", "GET /hello HTTP/2.0\r\nHost: a\r\n\r\n"},
      {"bad percent escape", "GET /hel%zzlo HTTP/1.1\r\nHost: a\r\n\r\n"},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    Client bad(server_->port());
    bad.Send(c.bytes);
    ParsedResponse response = bad.ReadResponse();
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.Header("connection"), "close");
    ExpectSecurityHeaders(response);
    EXPECT_TRUE(bad.ClosedByPeer());

    Client good(server_->port());
    good.Send(Get("/hello"));
    EXPECT_EQ(good.ReadResponse().status, 200);
  }
  EXPECT_EQ(server_->counters().bad_requests, cases.size());
}

TEST_F(ServerTest, OverMaxConnectionsGets503) {
  ServerOptions options = PlainOptions();
  options.max_connections = 1;
  StartServer(std::move(options));
  Client first(server_->port());
  first.Send(Get("/hello"));
  ASSERT_EQ(first.ReadResponse().status, 200);

  Client second(server_->port());
  ParsedResponse response = second.ReadResponse();
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.Header("retry-after"), "1");
  EXPECT_EQ(response.Header("connection"), "close");
  ExpectSecurityHeaders(response);
  EXPECT_EQ(server_->counters().rejected_connections, 1u);
  EXPECT_EQ(server_->counters().active_connections, 1u);

  // The first connection is unaffected.
  first.Send(Get("/hello"));
  EXPECT_EQ(first.ReadResponse().status, 200);
}

// ---- Redirect listener -------------------------------------------------------------------

TEST_F(ServerTest, RedirectListenerAnswers308ToHttps) {
  ServerOptions options = TlsOptions();
  options.redirect_port = 0;
  StartServer(std::move(options));
  ASSERT_NE(server_->redirect_port(), 0);
  const std::string tls_port = std::to_string(server_->port());

  Client client(server_->redirect_port());
  client.Send("GET /login?next=%2F HTTP/1.1\r\nHost: auth.example.com:80\r\n\r\n");
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 308);
  EXPECT_EQ(response.Header("location"),
            "https://auth.example.com:" + tls_port + "/login?next=%2F");
  EXPECT_EQ(response.Header("connection"), "close");
  ExpectSecurityHeaders(response);
  EXPECT_TRUE(client.ClosedByPeer());
}

TEST_F(ServerTest, RedirectIgnoresAnInvalidHost) {
  ServerOptions options = TlsOptions();
  options.redirect_port = 0;
  StartServer(std::move(options));
  Client client(server_->redirect_port());
  client.Send("GET /x HTTP/1.1\r\nHost: evil.com/@attacker\r\n\r\n");
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 308);
  EXPECT_EQ(response.Header("location"),
            "https://127.0.0.1:" + std::to_string(server_->port()) + "/x");
}

TEST_F(ServerTest, RedirectUsesPublicHostVerbatim) {
  ServerOptions options = TlsOptions();
  options.redirect_port = 0;
  options.public_host = "auth.example.com";
  StartServer(std::move(options));
  Client client(server_->redirect_port());
  client.Send("GET /x HTTP/1.1\r\nHost: other.example\r\n\r\n");
  EXPECT_EQ(client.ReadResponse().Header("location"), "https://auth.example.com/x");
}

// ---- TLS -----------------------------------------------------------------------------------

TEST_F(ServerTest, Tls11HandshakeIsRefused) {
  StartServer(TlsOptions());
  Client client(server_->port());
  EXPECT_FALSE(client.Handshake(TLS1_1_VERSION));
  // The server's protocol_version alert, not a local refusal by the client.
  EXPECT_EQ(ERR_GET_REASON(client.last_tls_error()), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
      << ERR_reason_error_string(client.last_tls_error());
}

TEST_F(ServerTest, Tls12AndTls13AreServed) {
  StartServer(TlsOptions());
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    Client client(server_->port());
    ASSERT_TRUE(client.Handshake(version));
    EXPECT_EQ(client.tls_version(), version);
    client.Send(Get("/whoami"));
    ParsedResponse response = client.ReadResponse();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "127.0.0.1|/whoami||tls");
    ExpectSecurityHeaders(response);
  }
}

TEST_F(ServerTest, WaitingTlsConnectionGivesBuffersBackAndKeepsServing) {
  StartServer(TlsOptions());
  Client client(server_->port());
  ASSERT_TRUE(client.Handshake(TLS1_3_VERSION));
  client.Send(Get("/whoami"));
  EXPECT_EQ(client.ReadResponse().status, 200);

  // The sweep trims a connection that has waited a second for its next request.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->counters().idle_trims == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(server_->counters().idle_trims, 1u);

  // OpenSSL allocates the record buffers again for the next exchange.
  client.Send(Get("/whoami"));
  ParsedResponse response = client.ReadResponse();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "127.0.0.1|/whoami||tls");
}

// The server keeps ciphertext it has read but OpenSSL has not yet asked for: several
// records in one read are served one after the other, and a record that arrives in
// pieces is waited for.
TEST_F(ServerTest, TlsRecordsTogetherAndInPiecesAreServed) {
  StartServer(TlsOptions());
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    Client client(server_->port());
    ASSERT_TRUE(client.Handshake(version));
    client.SendRecordsTogether({Get("/whoami"), Get("/hello"), Get("/whoami")});
    EXPECT_EQ(client.ReadResponse().body, "127.0.0.1|/whoami||tls");
    EXPECT_EQ(client.ReadResponse().status, 200);
    EXPECT_EQ(client.ReadResponse().body, "127.0.0.1|/whoami||tls");

    client.SendTrickled(Get("/whoami"));
    ParsedResponse trickled = client.ReadResponse();
    EXPECT_EQ(trickled.status, 200);
    EXPECT_EQ(trickled.body, "127.0.0.1|/whoami||tls");
  }
}

// Two requests in one record: the second is already inside OpenSSL when the first is
// answered, and must not wait for more bytes from the socket.
TEST_F(ServerTest, TlsPipelinedRequestsInOneRecordAreServed) {
  StartServer(TlsOptions());
  Client client(server_->port());
  ASSERT_TRUE(client.Handshake(TLS1_3_VERSION));
  client.Send(Get("/whoami") + Get("/whoami"));
  EXPECT_EQ(client.ReadResponse().body, "127.0.0.1|/whoami||tls");
  EXPECT_EQ(client.ReadResponse().body, "127.0.0.1|/whoami||tls");
}

TEST_F(ServerTest, Tls12WithoutForwardSecrecyOrAeadIsRefused) {
  StartServer(TlsOptions());
  for (const char* suite :
       {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"}) {
    SCOPED_TRACE(suite);
    Client client(server_->port());
    EXPECT_FALSE(client.Handshake(TLS1_2_VERSION, suite));
  }
  Client aead(server_->port());
  EXPECT_TRUE(aead.Handshake(TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"));
}

TEST_F(ServerTest, MissingCertificateFileIsANamedError) {
  ServerOptions options = TlsOptions();
  options.cert_file = (dir_ / "absent.pem").string();
  auto created = Server::Create(std::move(options), *pipeline_);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message().find("absent.pem"), std::string::npos);
}

TEST_F(ServerTest, ReloadSwapsTheCertificateForNewConnectionsOnly) {
  StartServer(TlsOptions());
  Client old_conn(server_->port());
  ASSERT_TRUE(old_conn.Handshake(TLS1_3_VERSION));
  EXPECT_EQ(old_conn.PeerSerial(), 1001);
  old_conn.Send(Get("/hello"));
  ASSERT_EQ(old_conn.ReadResponse().status, 200);

  WriteSelfSignedCert(cert_, key_, 2002, "gatehouse-test-two");
  ASSERT_TRUE(server_->ReloadCertificates().ok());

  Client new_conn(server_->port());
  ASSERT_TRUE(new_conn.Handshake(TLS1_2_VERSION));
  EXPECT_EQ(new_conn.PeerSerial(), 2002);
  new_conn.Send(Get("/hello"));
  EXPECT_EQ(new_conn.ReadResponse().status, 200);

  old_conn.Send(Get("/hello"));
  EXPECT_EQ(old_conn.ReadResponse().status, 200);
  EXPECT_EQ(old_conn.PeerSerial(), 1001);
}

TEST_F(ServerTest, FailedReloadKeepsTheCurrentCertificate) {
  StartServer(TlsOptions());
  {
    FILE* f = std::fopen(cert_.c_str(), "w");
    std::fputs("not a certificate\n", f);
    std::fclose(f);
  }
  Status reloaded = server_->ReloadCertificates();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_NE(reloaded.error().message().find("cert.pem"), std::string::npos);

  Client client(server_->port());
  ASSERT_TRUE(client.Handshake(TLS1_3_VERSION));
  EXPECT_EQ(client.PeerSerial(), 1001);
}

// ---- Start, drain ---------------------------------------------------------------------------

TEST_F(ServerTest, StartOnAPortInUseFails) {
  StartServer(PlainOptions());
  ServerOptions options = PlainOptions();
  options.port = server_->port();
  auto second = Server::Create(std::move(options), *pipeline_);
  ASSERT_TRUE(second.ok());
  Status started = (*second)->Start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code(), ErrorCode::kUnavailable);
}

TEST_F(ServerTest, DrainFinishesInFlightRequestsAndClosesIdleOnes) {
  StartServer(PlainOptions());
  Client idle(server_->port());
  idle.Send(Get("/hello"));
  ASSERT_EQ(idle.ReadResponse().status, 200);

  Client busy(server_->port());
  busy.Send(Get("/slow"));
  std::this_thread::sleep_for(100ms);  // The handler is now running on a worker.

  const auto start = std::chrono::steady_clock::now();
  server_->Drain();
  EXPECT_TRUE(idle.ClosedByPeer());
  ParsedResponse response = busy.ReadResponse();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "slow");
  EXPECT_EQ(response.Header("connection"), "close");
  server_->Wait();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);

  // The listener is gone.
  Client late(server_->port());
  EXPECT_FALSE(late.connected());
}

TEST_F(ServerTest, DrainForceClosesAfterTheDeadline) {
  ServerOptions options = PlainOptions();
  options.drain_timeout = 100ms;
  StartServer(std::move(options));
  Client busy(server_->port());
  busy.Send(Get("/slow"));
  std::this_thread::sleep_for(50ms);

  const auto start = std::chrono::steady_clock::now();
  server_->Drain();
  server_->Wait();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 350ms);
  EXPECT_EQ(busy.ReadResponse().status, 0);
}

// ---- Wire helpers ---------------------------------------------------------------------------

TEST(ServerWireTest, SerializeRejectsHeaderInjection) {
  Response response = Response::Text(200, "x");
  response.AddHeader("X-A", "ok\r\nSet-Cookie: a=b");
  EXPECT_FALSE(SerializeResponse(response, {}).ok());
  Response bad_name = Response::Text(200, "x");
  bad_name.AddHeader("X A", "v");
  EXPECT_FALSE(SerializeResponse(bad_name, {}).ok());
}

// The word-at-a-time check must give exactly the byte-wise verdict: one byte of every value
// in every position of values up to three words long, around a valid filler.
TEST(ServerWireTest, HeaderValueCheckMatchesTheByteRule) {
  const auto allowed = [](unsigned char c) { return !((c < 0x20 && c != '\t') || c == 0x7f); };
  for (std::size_t length = 1; length <= 24; ++length) {
    for (std::size_t position = 0; position < length; ++position) {
      for (int byte = 0; byte < 256; ++byte) {
        for (char filler : {'a', '\t', '\x80', '\xff'}) {
          std::string value(length, filler);
          value[position] = static_cast<char>(byte);
          ASSERT_EQ(IsValidHeaderValue(value), allowed(static_cast<unsigned char>(byte)))
              << "length " << length << " position " << position << " byte " << byte << " filler "
              << static_cast<int>(static_cast<unsigned char>(filler));
        }
      }
    }
  }
  EXPECT_TRUE(IsValidHeaderValue(""));
  EXPECT_TRUE(IsValidHeaderValue("Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl\t~ \x80"));
  EXPECT_FALSE(IsValidHeaderValue(std::string(1000, 'x') + '\0'));
}

TEST(ServerWireTest, HeaderNameIsAToken) {
  const std::string_view specials = "!#$%&'*+-.^_`|~";
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    const bool token = std::isalnum(byte) != 0 && byte < 0x80;
    const bool expected = token || specials.find(c) != std::string_view::npos;
    EXPECT_EQ(IsValidHeaderName(std::string(1, c)), expected) << "byte " << byte;
    EXPECT_EQ(IsValidHeaderName("X-" + std::string(1, c) + "-Y"), expected) << "byte " << byte;
    // Short and long names, the bad byte last.
    EXPECT_EQ(IsValidHeaderName("X-Sixteen-Bytes" + std::string(1, c)), expected) << byte;
    EXPECT_EQ(IsValidHeaderName("X-Longer-Than-Sixteen-" + std::string(1, c)), expected) << byte;
  }
  EXPECT_FALSE(IsValidHeaderName(""));
}

TEST(ServerWireTest, SerializeOwnsFramingHeaders) {
  Response response = Response::Text(200, "abc");
  response.AddHeader("Content-Length", "999");
  response.AddHeader("X-Ok", "1");
  ResponseFraming framing;
  framing.close = true;
  Result<std::string> bytes = SerializeResponse(response, framing);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->find("999"), std::string::npos);
  EXPECT_NE(bytes->find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_NE(bytes->find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(bytes->find(SecurityHeaderBlock()), std::string::npos);
  EXPECT_EQ(bytes->substr(bytes->size() - 7), "\r\n\r\nabc");
}

TEST(ServerWireTest, NoContentHasNoLengthAndNoBody) {
  Response response;
  response.status = 204;
  response.body = "ignored";
  Result<std::string> bytes = SerializeResponse(response, {});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->find("Content-Length"), std::string::npos);
  EXPECT_EQ(bytes->find("ignored"), std::string::npos);
}

TEST(ServerWireTest, HostHeaderValidation) {
  struct Case {
    std::string_view value;
    std::optional<std::string_view> host;
  };
  const Case cases[] = {
      {"example.com", "example.com"},
      {"example.com:8080", "example.com"},
      {"10.0.0.1:80", "10.0.0.1"},
      {"[::1]:8443", "[::1]"},
      {"[::1]", "[::1]"},
      {"", std::nullopt},
      {"exa mple.com", std::nullopt},
      {"evil.com/@x", std::nullopt},
      {"a.com:80:80", std::nullopt},
      {"a.com:", std::nullopt},
      {"[::1]x", std::nullopt},
      {"[zz]", std::nullopt},
      {"-a.com", std::nullopt},
      {"a.com:123456", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(HostFromHostHeader(c.value), c.host) << c.value;
  }
  EXPECT_FALSE(HostFromHostHeader(std::string(254, 'a')));
}

TEST(ServerWireTest, OriginTargetParsing) {
  auto parsed = ParseOriginTarget("/a%20b/c?x=%20&y");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->path, "/a b/c");
  EXPECT_EQ(parsed->query, "x=%20&y");
  EXPECT_FALSE(ParseOriginTarget("http://a/b"));
  EXPECT_FALSE(ParseOriginTarget("*"));
  EXPECT_FALSE(ParseOriginTarget("/a%00b"));
  EXPECT_FALSE(ParseOriginTarget("/a%0d%0ab"));
  EXPECT_FALSE(ParseOriginTarget("/a%2"));
  EXPECT_FALSE(ParseOriginTarget("/a#frag"));
  // A path without escapes is taken as it is; control bytes and spaces are still refused.
  auto plain = ParseOriginTarget("/v1/auth/verify?rd=%2F");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->path, "/v1/auth/verify");
  EXPECT_EQ(plain->query, "rd=%2F");
  EXPECT_FALSE(ParseOriginTarget(std::string_view("/a\0b", 4)));
  EXPECT_FALSE(ParseOriginTarget("/a\x7f"));
  EXPECT_FALSE(ParseOriginTarget("/a b"));
}

}  // namespace
}  // namespace gatehouse::http
