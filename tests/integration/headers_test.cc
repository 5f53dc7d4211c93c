// The seven security headers and X-Request-Id on every kind of answer: the ones routes
// produce and the ones the transport produces before any route runs (limits, timeouts,
// overload), which are the easiest to forget.

#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace gatehouse::itest {
namespace {

class Headers : public SharedServerTest<Headers> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return StandardDeployment(); }

 protected:
  // curl over TLS to the shared server; fails the test if curl got no answer.
  std::optional<HttpResponse> CurlTls(const std::string& path,
                                      const std::vector<std::string>& args = {}) {
    std::string host = "localhost:" + std::to_string(port());
    std::vector<std::string> all = {"--resolve", host + ":127.0.0.1"};
    all.insert(all.end(), args.begin(), args.end());
    std::string raw;
    auto response = Curl(all, "https://" + host + path, &raw);
    EXPECT_TRUE(response.has_value()) << raw;
    return response;
  }

  // Raw TLS exchange; fails the test if no answer came back.
  std::optional<HttpResponse> RawTls(const std::string& request, Millis timeout = Millis(5000)) {
    std::string error;
    auto response = Exchange(Connection::Kind::kTls, port(), request, timeout, &error);
    EXPECT_TRUE(response.has_value()) << error;
    return response;
  }
};

TEST_F(Headers, PresentOn200) {
  auto response = CurlTls("/healthz");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn404) {
  auto response = CurlTls("/no/such/route");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn405) {
  auto response = CurlTls("/healthz", {"-X", "POST", "--data", ""});

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn400) {
  auto response =
      CurlTls("/test/echo", {"-H", "Content-Type: application/json", "--data", "{\"name\": "});

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn500FromError) {
  auto response = CurlTls("/test/error");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn500FromThrow) {
  auto response = CurlTls("/test/throw");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn308) {
  std::string raw;
  std::string url = "http://127.0.0.1:" + std::to_string(server().redirect_port()) + "/a?b=c";
  auto response = Curl({}, url, &raw);

  ASSERT_TRUE(response) << raw;
  EXPECT_EQ(response->status, 308);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn413) {
  std::string request =
      "POST /test/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: 2097152\r\n\r\n{\"name\":\"";
  auto response = RawTls(request);

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn431) {
  auto response = RawTls(RawGet("/healthz", true, {"X-Pad: " + std::string(9 * 1024, 'a')}));

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn408) {
  // Half a request line, then silence past read_timeout_ms (500).
  auto response = RawTls("GET /healthz HT", Millis(4000));

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 408);
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Headers, PresentOn503) {
  auto deployment = StandardDeployment();
  deployment->Set("server", "max_connections", std::int64_t{2});
  std::string why;
  auto limited = StartServer(std::move(deployment), &why);
  ASSERT_NE(limited, nullptr) << why;
  // Let the server retire the connections its health probes used.
  std::this_thread::sleep_for(Millis(300));

  std::string error;
  auto idle1 = Connection::Open(Connection::Kind::kTls, limited->port(), Millis(3000), &error);
  ASSERT_NE(idle1, nullptr) << error;
  auto idle2 = Connection::Open(Connection::Kind::kTls, limited->port(), Millis(3000), &error);
  ASSERT_NE(idle2, nullptr) << error;
  auto third =
      Exchange(Connection::Kind::kTls, limited->port(), RawGet("/healthz"), Millis(5000), &error);

  ASSERT_TRUE(third) << error << "\nserver stderr:\n" << Tail(limited->process->Stderr());
  EXPECT_EQ(third->status, 503);
  EXPECT_EQ(SecurityHeaderProblems(*third), "");
}

TEST_F(Headers, NoServerVersionDisclosed) {
  // A version string tells an attacker which CVEs to try.
  auto response = CurlTls("/healthz");

  ASSERT_TRUE(response);
  auto server_header = response->Header("Server");
  if (server_header) {
    EXPECT_EQ(server_header->find_first_of("0123456789"), std::string::npos) << *server_header;
  }
  EXPECT_EQ(response->HeaderCount("X-Powered-By"), 0u);
}

}  // namespace
}  // namespace gatehouse::itest
