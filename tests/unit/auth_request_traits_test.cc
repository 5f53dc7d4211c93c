#include "auth/request_traits.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/hash.h"

namespace gatehouse::auth {
namespace {

http::Request With(std::vector<http::Header> headers) {
  http::Request req;
  req.headers = std::move(headers);
  req.client_ip = "203.0.113.9";
  return req;
}

TEST(FindCookie, ReadsOneCookieAmongOthers) {
  auto req = With({{"Cookie", "a=1; __Host-gh_session=tok.en.x; b=2"}});
  EXPECT_EQ(FindCookie(req, kSessionCookie), "tok.en.x");
  EXPECT_EQ(FindCookie(req, "b"), "2");
  EXPECT_FALSE(FindCookie(req, "missing").has_value());
}

TEST(FindCookie, DuplicateIsTreatedAsAbsent) {
  // A cookie planted by a sibling domain shadowing the real one must not win.
  auto req = With({{"Cookie", "__Host-gh_session=real"}, {"cookie", "__Host-gh_session=fake"}});
  EXPECT_FALSE(FindCookie(req, kSessionCookie).has_value());
}

TEST(FindCookie, NameMustMatchExactly) {
  auto req = With({{"Cookie", "x__Host-gh_session=1; __host-gh_session=2"}});
  EXPECT_FALSE(FindCookie(req, kSessionCookie).has_value());
}

TEST(BearerToken, SchemeIsCaseInsensitiveAndTokenRequired) {
  EXPECT_EQ(BearerToken(With({{"Authorization", "Bearer abc"}})), "abc");
  EXPECT_EQ(BearerToken(With({{"authorization", "bearer  abc "}})), "abc");
  EXPECT_FALSE(BearerToken(With({{"Authorization", "Bearer "}})).has_value());
  EXPECT_FALSE(BearerToken(With({{"Authorization", "Basic abc"}})).has_value());
  EXPECT_FALSE(BearerToken(With({})).has_value());
}

TEST(Cookies, CarryEveryProtectiveAttribute) {
  const std::string session = SessionCookie("v", std::chrono::seconds(60));
  EXPECT_EQ(session, "__Host-gh_session=v; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Strict");
  const std::string refresh = RefreshCookie("r", std::chrono::seconds(5));
  EXPECT_EQ(refresh,
            "__Secure-gh_refresh=r; Path=/v1/auth/refresh; Max-Age=5; Secure; HttpOnly; "
            "SameSite=Strict");
  EXPECT_NE(ClearSessionCookie().find("Max-Age=0"), std::string::npos);
  EXPECT_NE(ClearRefreshCookie().find("Path=/v1/auth/refresh"), std::string::npos);
}

TEST(DeviceFingerprint, FollowsTheConfiguredTraits) {
  auto a = With({{"User-Agent", "Firefox"}, {"Accept-Language", "en"}});
  auto b = With({{"User-Agent", "Chrome"}, {"Accept-Language", "en"}});
  EXPECT_NE(DeviceFingerprint(a, "user_agent"), DeviceFingerprint(b, "user_agent"));
  EXPECT_EQ(DeviceFingerprint(a, "accept_language"), DeviceFingerprint(b, "accept_language"));
  auto c = a;
  c.client_ip = "203.0.113.200";
  EXPECT_EQ(DeviceFingerprint(a, "ip_prefix"), DeviceFingerprint(c, "ip_prefix"));
  EXPECT_NE(DeviceFingerprint(a, "client_ip"), DeviceFingerprint(c, "client_ip"));
  EXPECT_EQ(DeviceFingerprint(a, "user_agent").size(), 64u);
}

TEST(DeviceFingerprint, TraitValuesCannotBeShiftedAcrossTraits) {
  // Length prefixes keep "UA=a, AL=bc" apart from "UA=ab, AL=c".
  auto a = With({{"User-Agent", "a"}, {"Accept-Language", "bc"}});
  auto b = With({{"User-Agent", "ab"}, {"Accept-Language", "c"}});
  EXPECT_NE(DeviceFingerprint(a, "user_agent,accept_language"),
            DeviceFingerprint(b, "user_agent,accept_language"));
}

TEST(DeviceFingerprint, RemembersDigestsWithoutMixingThemUp) {
  // Far more distinct devices than the per-thread memo holds, asked for twice in another
  // order: every answer is the SHA-256 of that device's own material, whether it was
  // remembered, evicted or never stored (an over-long user agent).
  std::vector<std::string> agents;
  for (int i = 0; i < 300; ++i) agents.push_back("Agent/" + std::to_string(i));
  agents.push_back(std::string(2000, 'x'));
  const auto expected = [](const std::string& agent) {
    return crypto::HexEncode(crypto::Sha256("user_agent:" + std::to_string(agent.size()) +
                                            ":" + agent + ";"));
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < agents.size(); ++i) {
      const std::string& agent = pass == 0 ? agents[i] : agents[agents.size() - 1 - i];
      ASSERT_EQ(DeviceFingerprint(With({{"User-Agent", agent}}), "user_agent"), expected(agent));
    }
  }
}

TEST(OriginAllowed, NeedsAnExactAllowedOrigin) {
  const std::string own = "https://auth.example.com";
  const std::string allowed = "https://app.example.com,http://localhost:3000";
  EXPECT_TRUE(OriginAllowed(With({{"Origin", own}}), allowed, own));
  EXPECT_TRUE(OriginAllowed(With({{"Origin", "https://app.example.com"}}), allowed, own));
  EXPECT_TRUE(OriginAllowed(With({{"Origin", "http://localhost:3000"}}), allowed, own));
  EXPECT_FALSE(OriginAllowed(With({{"Origin", "https://app.example.com.evil"}}), allowed, own));
  EXPECT_FALSE(OriginAllowed(With({{"Origin", "null"}}), allowed, own));
  EXPECT_FALSE(OriginAllowed(With({}), allowed, own));
}

TEST(IsUnsafeMethod, SafeMethodsAreGetHeadOptions) {
  EXPECT_FALSE(IsUnsafeMethod(http::Method::kGet));
  EXPECT_FALSE(IsUnsafeMethod(http::Method::kHead));
  EXPECT_FALSE(IsUnsafeMethod(http::Method::kOptions));
  EXPECT_TRUE(IsUnsafeMethod(http::Method::kPost));
  EXPECT_TRUE(IsUnsafeMethod(http::Method::kDelete));
}

}  // namespace
}  // namespace gatehouse::auth
