// Hostile and malformed requests, one table row each, all against the same server process:
// every one must get a 4xx answer (never a crash, never a 5xx), and the process must still
// be the same live process serving /healthz afterwards.
//
// The framing rows (duplicate Content-Length, Transfer-Encoding with Content-Length) are the
// request-smuggling shapes of RFC 9112 sections 6.1 and 6.3: a server that guesses instead
// of refusing can be made to disagree with a proxy in front of it about where a request ends.

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <vector>

#include "harness.h"

namespace gatehouse::itest {
namespace {

struct BadInputCase {
  const char* name;
  std::string request;
  int expected_status;  // 0: any 4xx.
};

void PrintTo(const BadInputCase& row, std::ostream* out) { *out << row.name; }

std::string EchoPost(std::string_view body, std::string_view type = "application/json") {
  return RawPost("/test/echo", type, body);
}

std::vector<BadInputCase> Cases() {
  using namespace std::string_literals;
  std::string deep =
      "{\"name\":\"a\",\"count\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  return {
      {"BadRequestLine", "GARBAGE\r\n\r\n", 400},
      {"DuplicateContentLengthDiffering",
       "POST /test/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
       "Content-Length: 12\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"name\":\"a\"}",
       400},
      {"ChunkedWithContentLength",
       "POST /test/echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
       "Transfer-Encoding: chunked\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
       "c\r\n{\"name\":\"a\"}\r\n0\r\n\r\n",
       400},
      {"HeaderLineWithoutColon",
       "GET /healthz HTTP/1.1\r\nHost: localhost\r\nThisHasNoColon\r\nConnection: close\r\n\r\n",
       400},
      {"OneMebibyteHeader", RawGet("/healthz", true, {"X-Big: " + std::string(1 << 20, 'x')}), 0},
      {"NulByteInHeader",
       "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Nul: a\0b\r\nConnection: close\r\n\r\n"s,
       400},
      {"NonUtf8JsonBody", EchoPost("{\"name\":\"\xff\xfe\xc3\x28\"}"), 400},
      {"JsonNestedTenThousandDeep", EchoPost(deep), 400},
      {"UnknownJsonField", EchoPost("{\"name\":\"a\",\"admin\":true}"), 400},
      {"WrongContentType", EchoPost("{\"name\":\"a\"}", "text/plain"), 415},
      {"MalformedJson", EchoPost("{\"name\": \"a\","), 400},
      {"MissingRequiredField", EchoPost("{\"count\":1}"), 400},
      {"WrongFieldType", EchoPost("{\"name\":\"a\",\"count\":\"1\"}"), 400},
      {"FractionalCount", EchoPost("{\"name\":\"a\",\"count\":1.5}"), 400},
      {"DuplicateJsonKey", EchoPost("{\"name\":\"a\",\"name\":\"b\"}"), 400},
      {"TrailingGarbageAfterJson", EchoPost("{\"name\":\"a\"} x"), 400},
  };
}

class BadInput : public SharedServerTest<BadInput>,
                 public ::testing::WithParamInterface<BadInputCase> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return StandardDeployment(); }

  static void SetUpTestSuite() {
    SharedServerTest<BadInput>::SetUpTestSuite();
    if (started()) pid_ = server().process->pid();
  }

 protected:
  static inline pid_t pid_ = -1;
};

TEST_P(BadInput, Rejected) {
  const BadInputCase& row = GetParam();
  std::string error;
  auto conn = Connection::Open(Connection::Kind::kTls, port(), Millis(5000), &error);
  ASSERT_NE(conn, nullptr) << error;

  conn->Send(row.request, Millis(5000));
  auto response = conn->ReadResponse(Millis(5000));

  ASSERT_TRUE(response) << "no answer: " << conn->last_error();
  if (row.expected_status != 0) {
    EXPECT_EQ(response->status, row.expected_status) << response->body;
  } else {
    EXPECT_GE(response->status, 400) << response->body;
    EXPECT_LT(response->status, 500) << response->body;
  }
  EXPECT_EQ(SecurityHeaderProblems(*response), "");

  // The same process, still serving.
  EXPECT_TRUE(server().process->Alive());
  EXPECT_EQ(server().process->pid(), pid_);
  auto health = Exchange(Connection::Kind::kTls, port(), RawGet("/healthz"), Millis(5000), &error);
  ASSERT_TRUE(health) << error;
  EXPECT_EQ(health->status, 200);
}

INSTANTIATE_TEST_SUITE_P(Table, BadInput, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<BadInputCase>& info) {
                           return std::string(info.param.name);
                         });

// The positive control for the table: a valid body is accepted, so the 400s above come
// from the validation, not from a broken endpoint.
class Echo : public SharedServerTest<Echo> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return StandardDeployment(); }
};

TEST_F(Echo, ValidBodyEchoed) {
  std::string error;
  auto response =
      Exchange(Connection::Kind::kTls, port(),
               EchoPost("{\"name\":\"gr\xc3\xbc\xc3\x9f\",\"count\":3}"), Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  ASSERT_EQ(response->status, 200) << response->body;
  auto type = response->Header("Content-Type");
  ASSERT_TRUE(type);
  EXPECT_TRUE(type->starts_with("application/json")) << *type;
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(response->body, ec);
  ASSERT_FALSE(ec) << response->body;
  ASSERT_TRUE(body.is_object()) << response->body;
  const boost::json::object& object = body.as_object();
  ASSERT_TRUE(object.contains("name") && object.at("name").is_string()) << response->body;
  EXPECT_EQ(object.at("name").as_string(), "gr\xc3\xbc\xc3\x9f");
  ASSERT_TRUE(object.contains("count") && object.at("count").is_int64()) << response->body;
  EXPECT_EQ(object.at("count").as_int64(), 3);
}

TEST_F(Echo, CountIsOptional) {
  std::string error;
  auto response =
      Exchange(Connection::Kind::kTls, port(), EchoPost("{\"name\":\"a\"}"), Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  EXPECT_EQ(response->status, 200) << response->body;
}

}  // namespace
}  // namespace gatehouse::itest
