#include "http/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace gatehouse::http {
namespace {

Handler Ok200() {
  return [](Request&, const RouteParams&) -> Result<Response> { return Response::Text(200, ""); };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add(Method::kGet, "/", Ok200());
    router_.Add(Method::kGet, "/v1/users", Ok200());
    router_.Add(Method::kPost, "/v1/users", Ok200(), RouteOptions{true, "registration"});
    router_.Add(Method::kGet, "/v1/users/me", Ok200());
    router_.Add(Method::kGet, "/v1/users/{id}", Ok200());
    router_.Add(Method::kDelete, "/v1/users/{id}", Ok200());
    router_.Add(Method::kGet, "/v1/users/{id}/sessions/{sid}", Ok200());
    router_.Add(Method::kGet, "/v1/{any}/x", Ok200());
    ASSERT_TRUE(router_.status().ok());
  }
  Router router_;
};

struct FoundCase {
  Method method;
  std::string path;
  Method route_method;
  std::string pattern;
  std::vector<std::pair<std::string, std::string>> params;
};

TEST_F(RouterTest, FindsRoutesAndDecodesParams) {
  const std::vector<FoundCase> cases = {
      {Method::kGet, "/", Method::kGet, "/", {}},
      {Method::kGet, "/v1/users", Method::kGet, "/v1/users", {}},
      {Method::kPost, "/v1/users", Method::kPost, "/v1/users", {}},
      {Method::kHead, "/v1/users", Method::kGet, "/v1/users", {}},
      {Method::kGet, "/v1/users/me", Method::kGet, "/v1/users/me", {}},
      {Method::kGet, "/v1/users/42", Method::kGet, "/v1/users/{id}", {{"id", "42"}}},
      {Method::kHead, "/v1/users/42", Method::kGet, "/v1/users/{id}", {{"id", "42"}}},
      {Method::kDelete, "/v1/users/42", Method::kDelete, "/v1/users/{id}", {{"id", "42"}}},
      {Method::kGet,
       "/v1/users/7/sessions/s-1",
       Method::kGet,
       "/v1/users/{id}/sessions/{sid}",
       {{"id", "7"}, {"sid", "s-1"}}},
      // A literal segment beats a parameter at the first place two patterns differ.
      {Method::kGet, "/v1/users/x", Method::kGet, "/v1/users/{id}", {{"id", "x"}}},
      {Method::kGet, "/v1/teams/x", Method::kGet, "/v1/{any}/x", {{"any", "teams"}}},
      // Percent-escapes are decoded before matching (RFC 3986 section 6.2.2.2).
      {Method::kGet, "/v1/%75sers/me", Method::kGet, "/v1/users/me", {}},
      {Method::kGet, "/v1/users/%34%32", Method::kGet, "/v1/users/{id}", {{"id", "42"}}},
      {Method::kGet, "/v1/users/%C3%A9", Method::kGet, "/v1/users/{id}", {{"id", "\xC3\xA9"}}},
      {Method::kGet, "/v1/users/a:b@c", Method::kGet, "/v1/users/{id}", {{"id", "a:b@c"}}},
  };
  for (const FoundCase& c : cases) {
    SCOPED_TRACE(std::string(MethodName(c.method)) + " " + c.path);
    const RouteMatch m = router_.Match(c.method, c.path);
    ASSERT_EQ(m.kind, RouteMatch::kFound);
    ASSERT_NE(m.route, nullptr);
    EXPECT_EQ(m.route->method, c.route_method);
    EXPECT_EQ(m.route->pattern, c.pattern);
    ASSERT_EQ(m.params.size(), c.params.size());
    for (std::size_t i = 0; i < c.params.size(); ++i) {
      EXPECT_EQ(m.params.name(i), c.params[i].first);
      EXPECT_EQ(m.params.value(i), c.params[i].second);
      EXPECT_EQ(m.params.Get(c.params[i].first), c.params[i].second);
    }
    EXPECT_FALSE(m.params.Get("missing").has_value());
  }
}

TEST_F(RouterTest, KeepsRouteOptions) {
  const RouteMatch m = router_.Match(Method::kPost, "/v1/users");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_TRUE(m.route->options.offload);
  EXPECT_EQ(m.route->options.rate_class, "registration");
  EXPECT_EQ(router_.Match(Method::kGet, "/v1/users").route->options.rate_class, "default");
}

TEST_F(RouterTest, UnknownPathsAreNotFound) {
  for (const char* path : {"/v1", "/v1/nothing", "/v1/users/", "/v1/users/42/", "/v2/users",
                           "/v1/users/42/sessions", "/v1/users//sessions/s", "/V1/users"}) {
    SCOPED_TRACE(path);
    const RouteMatch m = router_.Match(Method::kGet, path);
    EXPECT_EQ(m.kind, RouteMatch::kNotFound);
    EXPECT_EQ(m.route, nullptr);
  }
}

TEST_F(RouterTest, WrongMethodIsNotAllowedWithAllow) {
  const std::vector<std::tuple<Method, std::string, std::string>> cases = {
      {Method::kPut, "/v1/users", "GET, HEAD, POST"},
      {Method::kDelete, "/", "GET, HEAD"},
      {Method::kPost, "/v1/users/42", "GET, HEAD, DELETE"},
      // The most specific pattern decides; DELETE does not fall through to /v1/users/{id}.
      {Method::kDelete, "/v1/users/me", "GET, HEAD"},
      {Method::kOther, "/v1/users", "GET, HEAD, POST"},
      {Method::kOptions, "/v1/users/1/sessions/2", "GET, HEAD"},
  };
  for (const auto& [method, path, allow] : cases) {
    SCOPED_TRACE(path);
    const RouteMatch m = router_.Match(method, path);
    EXPECT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
    EXPECT_EQ(m.route, nullptr);
    EXPECT_EQ(m.allow, allow);
  }
}

TEST_F(RouterTest, RejectsBadPathsAsInvalidArgument) {
  using namespace std::string_literals;
  const std::vector<std::string> cases = {
      "",
      "v1/users",
      "*",
      "http://evil.example/v1/users",
      "/v1/users/%2F",
      "/v1/users/a%2fb",
      "/v1/users/a%5Cb",
      "/v1/users/%00",
      "/v1/users/a\0b"s,
      "/v1/users/%0D%0Aset-cookie",
      "/v1/users/%7F",
      "/v1/../admin",
      "/v1/users/..",
      "/v1/./users",
      "/v1/users/.",
      "/v1/%2e%2E/admin",
      "/v1/.%2E/admin",
      "/v1/users/a b",
      "/v1/users/a\tb",
      "/v1/users/a\"b",
      "/v1/users/<script>",
      "/v1/users/a#b",
      "/v1/users/a?b",
      "/v1/users/%zz",
      "/v1/users/%4",
      "/v1/users/%",
      "/v1/users/\xC3\xA9",
      "/v1/users/%C0%AF",     // Overlong '/'.
      "/v1/users/%ED%A0%80",  // UTF-16 surrogate.
      "/v1/users/%FF",
  };
  for (const std::string& path : cases) {
    SCOPED_TRACE(testing::PrintToString(path));
    const RouteMatch m = router_.Match(Method::kGet, path);
    ASSERT_EQ(m.kind, RouteMatch::kBadRequest);
    ASSERT_TRUE(m.error.has_value());
    EXPECT_EQ(m.error->code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(m.error->message(), "The request path is not valid.");
    EXPECT_EQ(m.route, nullptr);
  }
}

TEST(Router, ExplicitHeadRouteWinsOverGet) {
  Router router;
  router.Add(Method::kGet, "/x", Ok200());
  router.Add(Method::kHead, "/x", Ok200());
  const RouteMatch m = router.Match(Method::kHead, "/x");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route->method, Method::kHead);
  EXPECT_EQ(router.Match(Method::kPost, "/x").allow, "GET, HEAD");
}

TEST(Router, HeadOnlyRouteDoesNotServeGet) {
  Router router;
  router.Add(Method::kHead, "/x", Ok200());
  const RouteMatch m = router.Match(Method::kGet, "/x");
  EXPECT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "HEAD");
}

TEST(Router, BadRouteTablesAreReported) {
  const std::vector<std::pair<std::string, std::function<void(Router&)>>> cases = {
      {"duplicate",
       [](Router& r) {
         r.Add(Method::kGet, "/a", Ok200());
         r.Add(Method::kGet, "/a", Ok200());
       }},
      {"same shape, other name",
       [](Router& r) {
         r.Add(Method::kGet, "/a/{id}", Ok200());
         r.Add(Method::kGet, "/a/{name}", Ok200());
       }},
      {"kOther", [](Router& r) { r.Add(Method::kOther, "/a", Ok200()); }},
      {"empty handler", [](Router& r) { r.Add(Method::kGet, "/a", Handler()); }},
      {"no leading slash", [](Router& r) { r.Add(Method::kGet, "a", Ok200()); }},
      {"empty param", [](Router& r) { r.Add(Method::kGet, "/a/{}", Ok200()); }},
      {"bad param name", [](Router& r) { r.Add(Method::kGet, "/a/{a b}", Ok200()); }},
      {"param with text", [](Router& r) { r.Add(Method::kGet, "/a/x{id}", Ok200()); }},
      {"repeated param", [](Router& r) { r.Add(Method::kGet, "/a/{id}/{id}", Ok200()); }},
      {"dot segment", [](Router& r) { r.Add(Method::kGet, "/a/../b", Ok200()); }},
      {"escape", [](Router& r) { r.Add(Method::kGet, "/a%20b", Ok200()); }},
      {"too many params",
       [](Router& r) { r.Add(Method::kGet, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", Ok200()); }},
  };
  for (const auto& [name, build] : cases) {
    SCOPED_TRACE(name);
    Router router;
    build(router);
    const Status s = router.status();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), ErrorCode::kInternal);
  }
}

TEST(Router, FailedAddDoesNotRegisterTheRoute) {
  Router router;
  router.Add(Method::kGet, "/a/{}", Ok200());
  EXPECT_EQ(router.Match(Method::kGet, "/a/x").kind, RouteMatch::kNotFound);
}

TEST(Router, EightParamsAreAllowed) {
  Router router;
  router.Add(Method::kGet, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", Ok200());
  ASSERT_TRUE(router.status().ok());
  const RouteMatch m = router.Match(Method::kGet, "/1/2/3/4/5/6/7/8");
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.params.Get("h"), "8");
}

TEST(Router, ConcurrentMatchIsSafe) {
  Router router;
  router.Add(Method::kGet, "/v1/users/{id}", Ok200());
  std::vector<std::thread> threads;
  std::atomic<int> found{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&router, &found, t] {
      for (int i = 0; i < 1000; ++i) {
        const std::string id = std::to_string(t * 1000 + i);
        const RouteMatch m = router.Match(Method::kGet, "/v1/users/" + id);
        if (m.kind == RouteMatch::kFound && m.params.Get("id") == id) ++found;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(found.load(), 4000);
}

}  // namespace
}  // namespace gatehouse::http
