// Error answers are RFC 9457 problem documents whose client face never leaks internals
// (SQL, file paths) unless verbose_errors is on, and every answer carries a request id that
// a client can quote: its own when well-formed, a fresh one otherwise (a hostile id would
// otherwise flow into logs and responses).

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>

#include "harness.h"

namespace gatehouse::itest {
namespace {

class Errors : public SharedServerTest<Errors> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return StandardDeployment(); }

 protected:
  std::optional<HttpResponse> Get(std::uint16_t server_port, const std::string& path,
                                  const std::vector<std::string>& headers = {}) {
    std::string error;
    auto response = Exchange(Connection::Kind::kTls, server_port, RawGet(path, true, headers),
                             Millis(5000), &error);
    EXPECT_TRUE(response.has_value()) << error;
    return response;
  }
};

// Checks the RFC 9457 members and returns the parsed object (empty on failure).
boost::json::object ExpectProblem(const HttpResponse& response, int status) {
  EXPECT_EQ(response.status, status);
  auto type = response.Header("Content-Type");
  EXPECT_TRUE(type && type->starts_with("application/problem+json"))
      << type.value_or("(no Content-Type)");
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(response.body, ec);
  if (ec || !parsed.is_object()) {
    ADD_FAILURE() << "body is not a JSON object: " << response.body;
    return {};
  }
  boost::json::object problem = parsed.as_object();
  EXPECT_TRUE(problem.contains("type") && problem.at("type").is_string()) << response.body;
  if (problem.contains("type") && problem.at("type").is_string()) {
    std::string_view uri = problem.at("type").as_string();
    EXPECT_TRUE(uri.starts_with("https://") || uri == "about:blank") << uri;
  }
  EXPECT_TRUE(problem.contains("title") && problem.at("title").is_string()) << response.body;
  EXPECT_TRUE(problem.contains("status") && problem.at("status").is_int64() &&
              problem.at("status").as_int64() == status)
      << response.body;
  EXPECT_TRUE(problem.contains("request_id") && problem.at("request_id").is_string())
      << response.body;
  if (problem.contains("request_id") && problem.at("request_id").is_string()) {
    EXPECT_EQ(std::string(problem.at("request_id").as_string()),
              response.Header("X-Request-Id").value_or("(none)"));
  }
  return problem;
}

TEST_F(Errors, NonVerboseHidesInternalDetail) {
  auto response = Get(port(), "/test/error");

  ASSERT_TRUE(response);
  boost::json::object problem = ExpectProblem(*response, 500);
  EXPECT_EQ(response->body.find("SELECT"), std::string::npos) << response->body;
  EXPECT_EQ(response->body.find("secret_column"), std::string::npos) << response->body;
  EXPECT_EQ(response->body.find("/var/lib"), std::string::npos) << response->body;
  EXPECT_FALSE(problem.contains("debug")) << response->body;
}

TEST_F(Errors, VerboseShowsInternalDetail) {
  auto deployment = StandardDeployment();
  deployment->Set("server", "verbose_errors", true);
  std::string why;
  auto verbose = StartServer(std::move(deployment), &why);
  ASSERT_NE(verbose, nullptr) << why;

  auto response = Get(verbose->port(), "/test/error");

  ASSERT_TRUE(response);
  ExpectProblem(*response, 500);
  EXPECT_NE(response->body.find("SELECT secret_column FROM users"), std::string::npos)
      << response->body;
  EXPECT_NE(response->body.find("/var/lib/gatehouse/db"), std::string::npos) << response->body;
}

TEST_F(Errors, ThrowingHandlerGives500Problem) {
  auto response = Get(port(), "/test/throw");

  ASSERT_TRUE(response);
  ExpectProblem(*response, 500);
  EXPECT_TRUE(server().process->Alive());
}

TEST_F(Errors, NotFoundIsProblem) {
  auto response = Get(port(), "/no/such/route");

  ASSERT_TRUE(response);
  ExpectProblem(*response, 404);
}

TEST_F(Errors, MethodNotAllowedIsProblemWithAllow) {
  std::string error;
  auto response = Exchange(Connection::Kind::kTls, port(),
                           RawPost("/healthz", "application/json", "{}"), Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  ExpectProblem(*response, 405);
  // RFC 9110 section 15.5.6: a 405 must list the allowed methods.
  auto allow = response->Header("Allow");
  ASSERT_TRUE(allow);
  EXPECT_NE(allow->find("GET"), std::string::npos) << *allow;
}

TEST_F(Errors, WellFormedRequestIdEchoed) {
  const std::string id = "client-Req_1.2:3";
  auto response = Get(port(), "/healthz", {"X-Request-Id: " + id});

  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("X-Request-Id").value_or(""), id);
}

TEST_F(Errors, RequestIdOf128CharsEchoed) {
  const std::string id(128, 'r');
  auto response = Get(port(), "/healthz", {"X-Request-Id: " + id});

  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("X-Request-Id").value_or(""), id);
}

TEST_F(Errors, RequestIdWithSpaceReplaced) {
  auto response = Get(port(), "/healthz", {"X-Request-Id: has space"});

  ASSERT_TRUE(response);
  auto echoed = response->Header("X-Request-Id");
  ASSERT_TRUE(echoed);
  EXPECT_NE(*echoed, "has space");
  EXPECT_EQ(echoed->find("has"), std::string::npos) << *echoed;
  EXPECT_TRUE(IsWellFormedRequestId(*echoed)) << *echoed;
}

TEST_F(Errors, OverlongRequestIdReplaced) {
  const std::string id(200, 'r');
  auto response = Get(port(), "/healthz", {"X-Request-Id: " + id});

  ASSERT_TRUE(response);
  auto echoed = response->Header("X-Request-Id");
  ASSERT_TRUE(echoed);
  EXPECT_NE(*echoed, id);
  EXPECT_TRUE(IsWellFormedRequestId(*echoed)) << *echoed;
}

TEST_F(Errors, GeneratedRequestIdsDiffer) {
  auto first = Get(port(), "/healthz");
  auto second = Get(port(), "/healthz");

  ASSERT_TRUE(first && second);
  auto a = first->Header("X-Request-Id");
  auto b = second->Header("X-Request-Id");
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(IsWellFormedRequestId(*a)) << *a;
  EXPECT_NE(*a, *b);
}

TEST_F(Errors, RequestIdInProblemMatchesHeader) {
  const std::string id = "trace-me-42";
  auto response = Get(port(), "/test/error", {"X-Request-Id: " + id});

  ASSERT_TRUE(response);
  boost::json::object problem = ExpectProblem(*response, 500);
  ASSERT_TRUE(problem.contains("request_id") && problem.at("request_id").is_string());
  EXPECT_EQ(std::string(problem.at("request_id").as_string()), id);
}

}  // namespace
}  // namespace gatehouse::itest
