// Resource limits at their boundaries, and that the server is still fine after each:
// header bytes (max_header_bytes 8192), body bytes (max_body_bytes 1 MiB), the whole-request
// read deadline (read_timeout_ms 500 here) and HTTP/1.1 keep-alive.

#include <string>

#include "harness.h"

namespace gatehouse::itest {
namespace {

constexpr std::size_t kMaxBody = 1024 * 1024;

class Limits : public SharedServerTest<Limits> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return StandardDeployment(); }

 protected:
  std::unique_ptr<Connection> Open() {
    std::string error;
    auto conn = Connection::Open(Connection::Kind::kTls, port(), Millis(5000), &error);
    EXPECT_NE(conn, nullptr) << error;
    return conn;
  }

  // A fresh connection's /healthz: the limit hit before must not have hurt the server.
  void ExpectStillHealthy() {
    std::string error;
    auto response =
        Exchange(Connection::Kind::kTls, port(), RawGet("/healthz"), Millis(5000), &error);
    ASSERT_TRUE(response) << error;
    EXPECT_EQ(response->status, 200);
    EXPECT_TRUE(server().process->Alive());
  }

  // An echo body of exactly `size` bytes: {"name":"aaa..."}.
  static std::string EchoBodyOfSize(std::size_t size) {
    const std::string head = "{\"name\":\"";
    const std::string tail = "\"}";
    return head + std::string(size - head.size() - tail.size(), 'a') + tail;
  }
};

TEST_F(Limits, OversizedHeadersGet431AndClose) {
  auto conn = Open();
  ASSERT_NE(conn, nullptr);

  conn->Send(RawGet("/healthz", false, {"X-Pad: " + std::string(9 * 1024, 'a')}), Millis(5000));
  auto response = conn->ReadResponse(Millis(5000));

  ASSERT_TRUE(response) << conn->last_error();
  EXPECT_EQ(response->status, 431);
  EXPECT_TRUE(conn->WaitForClose(Millis(3000))) << "connection left open after 431";
  ExpectStillHealthy();
}

TEST_F(Limits, OversizedContentLengthGets413) {
  auto conn = Open();
  ASSERT_NE(conn, nullptr);

  // Only the head is sent: the server must judge the declared length, not wait for 2 MiB.
  conn->Send(
      "POST /test/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: 2097152\r\n\r\n",
      Millis(5000));
  auto response = conn->ReadResponse(Millis(5000));

  ASSERT_TRUE(response) << conn->last_error();
  EXPECT_EQ(response->status, 413);
  ExpectStillHealthy();
}

TEST_F(Limits, BodyOfExactlyMaxBytesAccepted) {
  std::string error;
  auto response = Exchange(Connection::Kind::kTls, port(),
                           RawPost("/test/echo", "application/json", EchoBodyOfSize(kMaxBody)),
                           Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  EXPECT_EQ(response->status, 200);
}

TEST_F(Limits, BodyOneByteOverMaxGets413) {
  std::string error;
  auto response = Exchange(Connection::Kind::kTls, port(),
                           RawPost("/test/echo", "application/json", EchoBodyOfSize(kMaxBody + 1)),
                           Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  EXPECT_EQ(response->status, 413);
  ExpectStillHealthy();
}

TEST_F(Limits, SlowRequestGets408AndClose) {
  auto conn = Open();
  ASSERT_NE(conn, nullptr);
  auto start = std::chrono::steady_clock::now();

  // Slowloris: half a request line, then nothing.
  ASSERT_TRUE(conn->Send("GET /healthz HT", Millis(2000)));
  auto response = conn->ReadResponse(Millis(4000));
  auto waited = std::chrono::steady_clock::now() - start;

  ASSERT_TRUE(response) << conn->last_error();
  EXPECT_EQ(response->status, 408);
  EXPECT_GE(waited, Millis(400)) << "answered before read_timeout_ms";
  EXPECT_TRUE(conn->WaitForClose(Millis(3000))) << "connection left open after 408";
  ExpectStillHealthy();
}

TEST_F(Limits, TricklingBytesDoNotExtendReadDeadline) {
  // read_timeout_ms bounds the whole request, so a client that sends one byte at a time
  // (each within any per-read timeout) is still cut off.
  auto conn = Open();
  ASSERT_NE(conn, nullptr);
  std::string request = RawGet("/healthz", true, {"X-Slow: " + std::string(40, 'b')});
  auto start = std::chrono::steady_clock::now();

  std::optional<HttpResponse> response;
  for (std::size_t i = 0; i < request.size() - 1 && !conn->peer_closed(); ++i) {
    if (!conn->Send(request.substr(i, 1), Millis(1000))) break;
    response = conn->ReadResponse(Millis(100));
    if (response) break;
    if (std::chrono::steady_clock::now() - start > Millis(4000)) break;
  }
  if (!response) response = conn->ReadResponse(Millis(2000));

  ASSERT_TRUE(response) << "no answer while trickling: " << conn->last_error();
  EXPECT_EQ(response->status, 408);
  EXPECT_LT(std::chrono::steady_clock::now() - start, Millis(3000));
  ExpectStillHealthy();
}

class KeepAlive : public SharedServerTest<KeepAlive> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return StandardDeployment(); }
};

TEST_F(KeepAlive, TwoRequestsOnOneConnection) {
  std::string error;
  auto conn = Connection::Open(Connection::Kind::kTls, port(), Millis(5000), &error);
  ASSERT_NE(conn, nullptr) << error;

  ASSERT_TRUE(conn->Send(RawGet("/healthz", false), Millis(3000)));
  auto first = conn->ReadResponse(Millis(3000));
  ASSERT_TRUE(first) << conn->last_error();
  ASSERT_TRUE(conn->Send(RawGet("/readyz", false), Millis(3000))) << conn->last_error();
  auto second = conn->ReadResponse(Millis(3000));

  EXPECT_EQ(first->status, 200);
  ASSERT_TRUE(second) << conn->last_error();
  EXPECT_EQ(second->status, 200);
}

TEST_F(KeepAlive, PipelinedRequestsAnsweredInOrder) {
  std::string error;
  auto conn = Connection::Open(Connection::Kind::kTls, port(), Millis(5000), &error);
  ASSERT_NE(conn, nullptr) << error;

  ASSERT_TRUE(
      conn->Send(RawGet("/healthz", false) + RawGet("/no/such/route", false), Millis(3000)));
  auto first = conn->ReadResponse(Millis(3000));
  auto second = conn->ReadResponse(Millis(3000));

  ASSERT_TRUE(first) << conn->last_error();
  ASSERT_TRUE(second) << conn->last_error();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 404);
}

TEST_F(KeepAlive, ConnectionCloseHonoured) {
  std::string error;
  auto conn = Connection::Open(Connection::Kind::kTls, port(), Millis(5000), &error);
  ASSERT_NE(conn, nullptr) << error;

  ASSERT_TRUE(conn->Send(RawGet("/healthz", true), Millis(3000)));
  auto response = conn->ReadResponse(Millis(3000));

  ASSERT_TRUE(response) << conn->last_error();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(conn->WaitForClose(Millis(3000)));
}

}  // namespace
}  // namespace gatehouse::itest
