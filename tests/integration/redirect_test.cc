// The plain-HTTP listener: it only ever answers 308 to the HTTPS origin (RFC 9110 section
// 15.4.9 keeps the method and body, so a POST is redirected as a POST), and it must never
// turn an attacker's Host header into a Location (open redirect, header injection).

#include <string>

#include "harness.h"

namespace gatehouse::itest {
namespace {

class Redirect : public SharedServerTest<Redirect> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return StandardDeployment(); }

 protected:
  std::optional<HttpResponse> Plain(const std::string& raw) {
    std::string error;
    auto response =
        Exchange(Connection::Kind::kTcp, server().redirect_port(), raw, Millis(5000), &error);
    EXPECT_TRUE(response.has_value()) << error;
    return response;
  }

  std::string HostLine() { return "Host: localhost:" + std::to_string(server().redirect_port()); }
};

bool HasWhitespaceOrControl(std::string_view text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

TEST_F(Redirect, GetAnswers308ToSamePathOverHttps) {
  auto response =
      Plain("GET /same/path?q=1 HTTP/1.1\r\n" + HostLine() + "\r\nConnection: close\r\n\r\n");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 308);
  auto location = response->Header("Location");
  ASSERT_TRUE(location);
  EXPECT_TRUE(location->starts_with("https://")) << *location;
  EXPECT_TRUE(location->ends_with("/same/path?q=1")) << *location;
  EXPECT_EQ(SecurityHeaderProblems(*response), "");
}

TEST_F(Redirect, PostAnswers308) {
  auto response = Plain("POST /v1/login HTTP/1.1\r\n" + HostLine() +
                        "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                        "Connection: close\r\n\r\n{}");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 308);
  auto location = response->Header("Location");
  ASSERT_TRUE(location);
  EXPECT_TRUE(location->starts_with("https://")) << *location;
  EXPECT_TRUE(location->ends_with("/v1/login")) << *location;
}

TEST_F(Redirect, HostWithSpacesNotReflected) {
  auto response =
      Plain("GET /x HTTP/1.1\r\nHost: evil.example attacker.example\r\nConnection: close\r\n\r\n");

  ASSERT_TRUE(response);
  EXPECT_TRUE(response->status == 308 || response->status == 400) << response->status;
  auto location = response->Header("Location");
  if (location) {
    EXPECT_EQ(location->find("evil.example attacker.example"), std::string::npos) << *location;
    EXPECT_FALSE(HasWhitespaceOrControl(*location)) << *location;
  }
}

TEST_F(Redirect, HostWithLineBreaksNotReflected) {
  // An obs-fold continuation line and a bare CR: each would smuggle a Set-Cookie header
  // into the answer if the Host value were copied unchecked.
  for (std::string host_line : {std::string("Host: evil.example\r\n Set-Cookie: pwned=1"),
                                std::string("Host: evil.example\rSet-Cookie: pwned=1"),
                                std::string("Host: evil.example%0d%0aSet-Cookie:pwned=1")}) {
    SCOPED_TRACE(host_line);
    auto response = Plain("GET /x HTTP/1.1\r\n" + host_line + "\r\nConnection: close\r\n\r\n");

    ASSERT_TRUE(response);
    EXPECT_TRUE(response->status == 308 || response->status == 400) << response->status;
    EXPECT_EQ(response->HeaderCount("Set-Cookie"), 0u);
    auto location = response->Header("Location");
    if (location) {
      EXPECT_FALSE(ContainsNoCase(*location, "Set-Cookie")) << *location;
      EXPECT_FALSE(ContainsNoCase(*location, "pwned")) << *location;
      EXPECT_FALSE(HasWhitespaceOrControl(*location)) << *location;
    }
  }
}

TEST_F(Redirect, NeverServesContent) {
  // The plain listener must not answer the real routes: credentials sent over it would
  // travel in clear text.
  auto response = Plain("GET /healthz HTTP/1.1\r\n" + HostLine() + "\r\nConnection: close\r\n\r\n");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 308);
}

}  // namespace
}  // namespace gatehouse::itest
