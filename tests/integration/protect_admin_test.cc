// The admin listener and the IP lists, as an operator and a client meet them: the token
// guards every admin endpoint, runtime deny rules reach the public listener at once,
// configured lists apply from the start, and every admin use is an audited event.

#include <string>

#include <boost/json.hpp>

#include "auth_support.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;

constexpr std::string_view kAdminToken = "admin-token-for-tests-0123456789abcdef";

class AdminListener : public SharedServerTest<AdminListener> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = AuthDeployment();
    admin_port_ = FreePort();
    deployment->WriteFile("keys/admin.token", kAdminToken);
    deployment->Set("admin", "enabled", true);
    deployment->Set("admin", "port", static_cast<std::int64_t>(admin_port_));
    deployment->Set("admin", "token_file", "keys/admin.token");
    // Loopback is our proxy, so tests can speak for any client address.
    deployment->Set("client_ip", "trusted_proxies", "127.0.0.1");
    deployment->Set("ip_lists", "deny", "198.51.100.0/24");
    deployment->Set("ip_lists", "allow", "192.0.2.10");
    return deployment;
  }

  static std::optional<HttpResponse> Admin(std::string_view method, std::string_view target,
                                           std::string_view body = {},
                                           std::string_view token = kAdminToken) {
    AuthClient client(admin_port_);
    std::vector<std::string> headers;
    if (!token.empty()) headers.push_back("Authorization: Bearer " + std::string(token));
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    return client.Send(method, target, headers, body);
  }

  static int PublicStatus(std::string_view client_ip) {
    AuthClient client(port());
    auto answer =
        client.Send("GET", "/healthz", {"X-Forwarded-For: " + std::string(client_ip)});
    return answer ? answer->status : 0;
  }

  static inline std::uint16_t admin_port_ = 0;
};

TEST_F(AdminListener, EveryEndpointNeedsTheToken) {
  for (auto [method, target] : {std::pair{"GET", "/v1/admin/blocks"},
                                std::pair{"GET", "/v1/admin/ip-rules"},
                                std::pair{"DELETE", "/v1/admin/ip-rules/ipr_x"},
                                std::pair{"DELETE", "/v1/admin/blocks/blk_x"}}) {
    auto none = Admin(method, target, {}, "");
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401) << method << " " << target;
    auto wrong = Admin(method, target, {}, "admin-token-for-tests-0123456789abcdeX");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401) << method << " " << target;
    EXPECT_EQ(SecurityHeaderProblems(*wrong), "");
  }
  EXPECT_TRUE(WaitForLogLine(*server().process, {"unauthorized_access", "admin_token_invalid"},
                             Millis(3000)));
  // The admin routes do not exist on the public listener.
  AuthClient client(port());
  auto answer = client.Send("GET", "/v1/admin/blocks",
                            {"Authorization: Bearer " + std::string(kAdminToken)});
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);
}

TEST_F(AdminListener, ConfiguredListsApplyFromTheStart) {
  EXPECT_EQ(PublicStatus("198.51.100.77"), 403);
  EXPECT_EQ(PublicStatus("203.0.113.77"), 200);
  auto rules = Admin("GET", "/v1/admin/ip-rules");
  ASSERT_TRUE(rules);
  ASSERT_EQ(rules->status, 200) << rules->body;
  json::object body = JsonBody(*rules);
  EXPECT_EQ(json::serialize(body.at("configured")),
            R"([{"cidr":"192.0.2.10/32","action":"allow"},)"
            R"({"cidr":"198.51.100.0/24","action":"deny"}])");
}

TEST_F(AdminListener, RuntimeDenyRuleTakesEffectAndIsAudited) {
  EXPECT_EQ(PublicStatus("203.0.113.50"), 200);
  auto added = Admin("POST", "/v1/admin/ip-rules",
                     R"({"cidr":"203.0.113.50","action":"deny","note":"scanner"})");
  ASSERT_TRUE(added);
  ASSERT_EQ(added->status, 201) << added->body;
  const std::string id(JsonBody(*added).at("id").as_string());
  EXPECT_EQ(PublicStatus("203.0.113.50"), 403);
  EXPECT_EQ(PublicStatus("203.0.113.51"), 200);
  EXPECT_TRUE(WaitForLogLine(*server().process, {"admin_action", "ip_rule_added"},
                             Millis(3000)));

  auto bad = Admin("POST", "/v1/admin/ip-rules", R"({"cidr":"10.0.0.1/8","action":"deny"})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  auto bad_action =
      Admin("POST", "/v1/admin/ip-rules", R"({"cidr":"10.0.0.0/8","action":"maybe"})");
  ASSERT_TRUE(bad_action);
  EXPECT_EQ(bad_action->status, 400);

  auto removed = Admin("DELETE", "/v1/admin/ip-rules/" + id);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 204);
  EXPECT_EQ(PublicStatus("203.0.113.50"), 200);
  auto again = Admin("DELETE", "/v1/admin/ip-rules/" + id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
}

TEST(AdminConfig, EnabledWithoutATokenRefusesToStart) {
  auto deployment = AuthDeployment();
  deployment->Set("admin", "enabled", true);
  deployment->Set("admin", "port", static_cast<std::int64_t>(FreePort()));
  CommandResult run = RunServeExpectingExit(*deployment);
  EXPECT_FALSE(run.timed_out);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("admin token missing"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace gatehouse::itest
