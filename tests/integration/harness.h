#pragma once

// Harness for the integration tests: runs the real `gatehouse` binary in a private
// temporary directory and talks to it over loopback as an outside client would.
//
// Pieces:
//  - Deployment: a temp dir with a TOML config, key files and a TLS certificate.
//  - ServerProcess: `gatehouse serve` as a child process, stdout/stderr captured to files.
//  - Connection: a raw TCP or TLS client that sends arbitrary bytes and reads with deadlines.
//  - HttpResponse / ParseHttpResponse: a small HTTP/1.1 response parser.
//  - RunCommand: runs an external tool (curl, openssl, gatehouse) with a timeout.
//
// Every wait in this file has a deadline, so a broken server fails a test instead of
// hanging the suite. Nothing here is thread-safe unless stated; a test that uses a thread
// gives each thread its own Connection.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

typedef struct ssl_st SSL;  // NOLINT: matches OpenSSL's own declaration.

namespace gatehouse::itest {

using Millis = std::chrono::milliseconds;

// Lower-cased copy.
std::string Lower(std::string_view text);
// Case-insensitive substring test.
bool ContainsNoCase(std::string_view haystack, std::string_view needle);
// Last `max_bytes` of `text`, for failure messages.
std::string Tail(std::string_view text, std::size_t max_bytes = 2000);

// ---------------------------------------------------------------------------------------------
// HTTP responses

struct HttpResponse {
  int status = 0;
  std::string version;  // "HTTP/1.1".
  std::string reason;
  std::multimap<std::string, std::string> headers;  // Names lower-cased, values trimmed.
  std::string body;

  // First value of header `name` (any case), if present.
  std::optional<std::string> Header(std::string_view name) const;
  std::size_t HeaderCount(std::string_view name) const;
  // Every value of header `name` (any case), in the order received (e.g. Set-Cookie).
  std::vector<std::string> HeaderValues(std::string_view name) const;
};

// One Set-Cookie header (RFC 6265 section 4.1): the name-value pair and its attributes.
struct SetCookie {
  std::string name;
  std::string value;
  // Attribute names as sent (case kept) with their values ("" for flags like Secure).
  std::vector<std::pair<std::string, std::string>> attributes;

  // Whether attribute `name` (any case) is present, and its value.
  bool Has(std::string_view name) const;
  std::optional<std::string> Attribute(std::string_view name) const;
};

// Parses one Set-Cookie value; nullopt when it has no name=value pair.
std::optional<SetCookie> ParseSetCookie(std::string_view header_value);
// The response's cookie called exactly `name` (case-sensitive, as RFC 6265 compares
// names); nullopt when absent. Fails the calling test when it is set more than once.
std::optional<SetCookie> FindSetCookie(const HttpResponse& response, std::string_view name);

// Outcome of parsing the front of a byte stream.
enum class ParseState { kComplete, kIncomplete, kMalformed };

// Parses one response at the front of `data`. The body is framed by Content-Length, by
// chunked Transfer-Encoding, or (with neither) by the end of the stream, which `at_eof`
// says has been reached. On kComplete, `*consumed` is the number of bytes used.
ParseState ParseHttpResponse(std::string_view data, bool at_eof, HttpResponse* out,
                             std::size_t* consumed);

// Parses the last response head in `data` followed by its body, as `curl -i` prints it
// (curl prints one head per interim 1xx response). Nullopt when nothing parses.
std::optional<HttpResponse> ParseCurlOutput(std::string_view data);

// The seven security headers every response must carry, name -> exact value.
const std::vector<std::pair<std::string, std::string>>& SecurityHeaders();

// Empty when `response` carries each security header exactly once with its exact value,
// and a well-formed X-Request-Id; otherwise one line per discrepancy.
std::string SecurityHeaderProblems(const HttpResponse& response);

// [A-Za-z0-9._:-]{1,128}: the request-id form the server echoes.
bool IsWellFormedRequestId(std::string_view id);

// "GET /path HTTP/1.1" request with Host: localhost and the given extra header lines
// (each without CRLF); `close` adds Connection: close.
std::string RawGet(std::string_view target, bool close = true,
                   const std::vector<std::string>& extra_headers = {});
// A POST with Content-Type and Content-Length set for `body`.
std::string RawPost(std::string_view target, std::string_view content_type, std::string_view body,
                    bool close = true);
// Any method: Host: localhost, the extra header lines (each without CRLF), then
// Content-Length when `body` is not empty or the method is POST/PUT/PATCH, then `body`.
// Always Connection: close.
std::string RawRequest(std::string_view method, std::string_view target,
                       const std::vector<std::string>& extra_headers, std::string_view body = {});

// ---------------------------------------------------------------------------------------------
// Network clients

class Connection {
 public:
  enum class Kind { kTcp, kTls };

  // Connects to 127.0.0.1:`port`; for kTls also completes the handshake (SNI "localhost",
  // certificate not verified: the test certificates are self-signed). Nullptr on failure,
  // with the reason in `*error` when given. `*refused` is set when the TCP connect itself
  // was refused (nobody listening).
  static std::unique_ptr<Connection> Open(Kind kind, std::uint16_t port, Millis timeout,
                                          std::string* error = nullptr, bool* refused = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends all of `data` unless the peer closes first or `timeout` passes. Bytes the peer
  // sends meanwhile are kept for the next read, so a server that answers early and closes
  // (431, 413) does not lose its answer to our own blocked write. True if all was sent.
  bool Send(std::string_view data, Millis timeout);

  // Reads one response (leaving any following bytes buffered). Nullopt on timeout, on a
  // close before a complete response, or on unparseable bytes (see last_error()).
  std::optional<HttpResponse> ReadResponse(Millis timeout);

  // Reads until the peer closes or `timeout` passes; returns everything unread so far.
  std::string ReadUntilClose(Millis timeout);

  // True if the peer closes (FIN, TLS close_notify or reset) within `timeout`. Discards
  // whatever it reads meanwhile.
  bool WaitForClose(Millis timeout);

  bool peer_closed() const { return peer_closed_; }
  const std::string& last_error() const { return last_error_; }
  // "/CN=localhost" style subject of the server certificate; empty for kTcp.
  std::string PeerSubject() const;
  // Negotiated protocol ("TLSv1.3") and cipher suite; empty for kTcp.
  std::string TlsVersion() const;
  std::string TlsCipher() const;

 private:
  enum class ReadResult { kData, kClosed, kTimeout };

  Connection() = default;
  ReadResult ReadSome(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string inbox_;
  bool peer_closed_ = false;
  std::string last_error_;
};

// Connects, sends `raw_request`, reads one response. Nullopt if any step fails; `*error`
// says which.
std::optional<HttpResponse> Exchange(Connection::Kind kind, std::uint16_t port,
                                     std::string_view raw_request, Millis timeout = Millis(5000),
                                     std::string* error = nullptr);

// A loopback port that was free a moment ago (bind port 0, read it, close).
std::uint16_t FreePort();

// ---------------------------------------------------------------------------------------------
// External commands

struct CommandResult {
  bool started = false;    // exec succeeded.
  bool timed_out = false;  // Killed at the deadline.
  int exit_code = -1;      // Exit status; -1 when killed by a signal.
  int signal = 0;          // The signal that ended it, if any.
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) with stdin from `input`, stdout and stderr captured, and
// the environment of this process minus every GATEHOUSE_* variable plus `env`. Kills the
// process group at `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv, Millis timeout,
                         const std::map<std::string, std::string>& env = {},
                         std::string_view input = {});

// `curl -sk -i --http1.1 --max-time 5 ARGS... URL`, parsed. Nullopt (and `*raw` holds the
// command output) when curl failed or printed no response.
std::optional<HttpResponse> Curl(const std::vector<std::string>& args, const std::string& url,
                                 std::string* raw = nullptr);

// Absolute path of the gatehouse binary under test.
std::string GatehouseBinary();
// Root of the source tree (derived from this file's location).
std::filesystem::path RepoRoot();

// ---------------------------------------------------------------------------------------------
// Deployments and the server process

// First line of every secret file made by scripts/dev-setup.sh.
inline constexpr std::string_view kDevMarker =
    "# gatehouse development secret - never use in production";

// `n` random bytes, base64-encoded (OpenSSL RAND_bytes).
std::string RandomBase64(std::size_t n);

// A private temp directory holding everything one server instance needs:
//   gatehouse.toml, keys/master.key, keys/token-hmac.key, tls/cert.pem, tls/key.pem.
// The config starts valid for its profile (TLS on, log level info, SQLite store, free
// ports) and tests change keys with Set/Unset before WriteConfig(). The directory is
// removed on destruction unless GATEHOUSE_IT_KEEP is set in the environment.
class Deployment {
 public:
  enum class Profile { kDevelopment, kProduction };
  enum class KeyType { kEc, kRsa };

  // Development secrets start with the development marker, production ones are random
  // lines from RAND_bytes; both written with mode 0600.
  explicit Deployment(Profile profile, KeyType key_type = KeyType::kEc);
  ~Deployment();
  Deployment(const Deployment&) = delete;
  Deployment& operator=(const Deployment&) = delete;

  // `section` "" is the top level. The const char* overload keeps string literals from
  // converting to bool.
  void Set(const std::string& section, const std::string& key, const char* value);
  void Set(const std::string& section, const std::string& key, const std::string& value);
  void Set(const std::string& section, const std::string& key, std::int64_t value);
  void Set(const std::string& section, const std::string& key, bool value);
  // A TOML value literal written verbatim.
  void SetRaw(const std::string& section, const std::string& key, std::string literal);
  void Unset(const std::string& section, const std::string& key);

  // Renders the config into gatehouse.toml; returns its path.
  std::filesystem::path WriteConfig() const;
  std::string RenderConfig() const;

  // Writes `content` to dir()/relative with `mode`, creating parent directories.
  void WriteFile(const std::string& relative, std::string_view content, int mode = 0600) const;

  // (Re)creates tls/cert.pem and tls/key.pem: self-signed, CN `common_name`, SAN
  // localhost and 127.0.0.1. When `atomic`, each file is written beside and renamed over
  // the old one, so a reload never sees a half-written file.
  bool WriteCertificate(const std::string& common_name, bool atomic = false);

  // Copies `other`'s file at `relative` to the same place here (mode 0600): two instances
  // that must share keys (master key, token secret, signing key) copy them this way.
  // False when the source cannot be read.
  bool CopyFileFrom(const Deployment& other, const std::string& relative) const;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path config_path() const { return dir_ / "gatehouse.toml"; }
  std::uint16_t port() const { return port_; }
  // Allocates a free port for [server] redirect_port and sets it.
  std::uint16_t EnableRedirect();
  std::uint16_t redirect_port() const { return redirect_port_; }

 private:
  std::filesystem::path dir_;
  KeyType key_type_;
  std::uint16_t port_ = 0;
  std::uint16_t redirect_port_ = 0;
  // section -> (key -> literal), both in insertion order.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> values_;
};

// How a child process ended.
struct ExitStatus {
  bool exited = false;  // Normal exit (else killed by `signal`).
  int code = -1;
  int signal = 0;
};

// `gatehouse serve --config FILE` as a child process. The destructor sends SIGTERM, waits
// up to 5 s, then SIGKILLs and reaps. The child dies with the test binary (PDEATHSIG).
class ServerProcess {
 public:
  // Spawns the binary with `args` (after the binary path) in `dir`, stdout and stderr to
  // dir/stdout.log and dir/stderr.log. Nullptr if fork/exec failed.
  static std::unique_ptr<ServerProcess> Spawn(const std::vector<std::string>& args,
                                              const std::filesystem::path& dir,
                                              const std::map<std::string, std::string>& env);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Polls GET /healthz over TLS on `port` until it answers 200, the process exits, or
  // `timeout` passes. On failure `*why` says which, with the tail of stderr.
  bool WaitHealthy(std::uint16_t port, Millis timeout, std::string* why);

  void Signal(int signo) const;
  // Waits for the process to end; nullopt at the deadline (the process keeps running).
  std::optional<ExitStatus> WaitExit(Millis timeout);
  bool Alive();
  pid_t pid() const { return pid_; }

  std::string Stdout() const;
  std::string Stderr() const;

 private:
  ServerProcess() = default;

  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_;
  std::filesystem::path dir_;
};

// A deployment and its running server.
struct RunningServer {
  std::unique_ptr<Deployment> deployment;
  std::unique_ptr<ServerProcess> process;

  std::uint16_t port() const { return deployment->port(); }
  std::uint16_t redirect_port() const { return deployment->redirect_port(); }
};

// Writes the deployment's config and starts `gatehouse serve`, waiting until /healthz is
// 200. Nullptr on failure with the reason (and the server's stderr tail) in `*why`.
std::unique_ptr<RunningServer> StartServer(std::unique_ptr<Deployment> deployment, std::string* why,
                                           const std::map<std::string, std::string>& env = {});

// `gatehouse serve --config FILE` expected to refuse: runs it with a timeout (a server that
// starts instead is killed at the deadline and reported as timed_out).
CommandResult RunServeExpectingExit(const Deployment& deployment, Millis timeout = Millis(10000));

// Polls the process's stdout and stderr until some line of them contains every one of
// `needles`, or `timeout` passes (log writes may lag the answer that caused them).
// Returns that line; nullopt at the deadline.
std::optional<std::string> WaitForLogLine(const ServerProcess& process,
                                          const std::vector<std::string>& needles, Millis timeout);

// ---------------------------------------------------------------------------------------------
// Backing services for scale-out tests: a throwaway PostgreSQL cluster and Redis server,
// started by the project's scripts (scripts/pg-test-cluster.sh, scripts/redis-test-server.sh)
// on free loopback ports, and stopped (data deleted) by the destructor.

class TestPostgres {
 public:
  // Nullptr on failure, with the script's output in `*why`. Takes a few seconds (initdb).
  static std::unique_ptr<TestPostgres> Start(std::string* why);
  ~TestPostgres();
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  // postgresql://gatehouse:PASSWORD@127.0.0.1:PORT/gatehouse_test (a secret: never log it).
  const std::string& url() const { return url_; }
  // The file holding url() (0600), usable as [store] postgres_url_file.
  std::filesystem::path url_file() const { return dir_ / "url"; }

  // Stops the server but keeps its data; Resume starts it again on the same port with the
  // same URL (an outage, as clients see one). True on success.
  bool Halt();
  bool Resume();

 private:
  TestPostgres() = default;
  std::filesystem::path dir_;
  std::string url_;
  std::uint16_t port_ = 0;
};

class TestRedis {
 public:
  // Nullptr on failure, with the script's output in `*why`.
  static std::unique_ptr<TestRedis> Start(std::string* why);
  ~TestRedis();
  TestRedis(const TestRedis&) = delete;
  TestRedis& operator=(const TestRedis&) = delete;

  std::uint16_t port() const { return port_; }
  // Stops the server but keeps its directory; Resume starts it again on the same port
  // with the same password (an outage, as clients see one). True on success.
  bool Halt();
  bool Resume();
  // The file holding the password (0600), usable as [state] redis_password_file.
  std::filesystem::path password_file() const { return dir_ / "password"; }

 private:
  TestRedis() = default;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
};

// The development deployment most suites share: test endpoints on, verbose errors off,
// read_timeout_ms 500 (so a slow-request test waits half a second, not ten), a redirect
// listener on a free port.
std::unique_ptr<Deployment> StandardDeployment();

// A suite whose tests share one server, started once in SetUpTestSuite from
// `Derived::MakeDeployment()`. Every test fails (not hangs, not skips) if it did not start.
template <typename Derived>
class SharedServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    start_error_.clear();
    server_ = StartServer(Derived::MakeDeployment(), &start_error_);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override { ASSERT_NE(server_, nullptr) << start_error_; }
  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      std::cerr << "--- server stderr (tail) ---\n" << Tail(server_->process->Stderr()) << "\n";
    }
  }

  static bool started() { return server_ != nullptr; }
  static RunningServer& server() { return *server_; }
  static std::uint16_t port() { return server_->port(); }

 private:
  static inline std::unique_ptr<RunningServer> server_;
  static inline std::string start_error_;
};

}  // namespace gatehouse::itest
