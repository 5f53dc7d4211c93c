// The production profile fails closed: each insecure setting alone, in an otherwise valid
// production deployment, stops `serve` with a non-zero exit and a line naming the setting.
// The valid deployment itself must start, so every refusal below is caused by its one
// change and not by something else in the base config.

#include <functional>
#include <string>
#include <vector>

#include "harness.h"

namespace gatehouse::itest {
namespace {

std::unique_ptr<Deployment> ProductionDeployment() {
  return std::make_unique<Deployment>(Deployment::Profile::kProduction);
}

struct Refusal {
  const char* name;
  std::function<void(Deployment&)> change;
  // Every group must match stderr; a group matches if any of its words does.
  std::vector<std::vector<std::string>> must_name;
};

// Names the row in gtest's messages instead of dumping the struct's bytes.
void PrintTo(const Refusal& row, std::ostream* out) { *out << row.name; }

std::vector<Refusal> Refusals() {
  const std::string marker = std::string(kDevMarker) + "\n";
  return {
      {"TlsOff", [](Deployment& d) { d.Set("server", "tls", false); }, {{"tls"}}},
      {"MasterKeyMissing",
       [](Deployment& d) { d.Unset("crypto", "master_key_file"); },
       {{"master_key"}}},
      {"MasterKeyFileAbsent",
       [](Deployment& d) { d.Set("crypto", "master_key_file", "keys/absent.key"); },
       {{"master_key"}}},
      {"HmacSecretMissing",
       [](Deployment& d) { d.Unset("tokens", "hmac_secret_file"); },
       {{"hmac_secret"}}},
      {"MasterKeyDevelopment",
       [marker](Deployment& d) {
         d.WriteFile("keys/master.key", marker + "v1:" + RandomBase64(32) + "\n");
       },
       {{"master_key"}, {"development"}}},
      {"HmacSecretDevelopment",
       [marker](Deployment& d) {
         d.WriteFile("keys/token-hmac.key", marker + RandomBase64(48) + "\n");
       },
       {{"hmac_secret"}, {"development"}}},
      {"HmacSecretShort",
       [](Deployment& d) { d.WriteFile("keys/token-hmac.key", RandomBase64(16) + "\n"); },
       {{"hmac_secret"}}},
      {"HmacSecretWeak",
       [](Deployment& d) { d.WriteFile("keys/token-hmac.key", std::string(64, 'a') + "\n"); },
       {{"hmac_secret"}}},
      {"MasterKeyWeak",
       [](Deployment& d) {
         // v1: followed by the base64 of 32 zero bytes.
         d.WriteFile("keys/master.key", "v1:" + std::string(43, 'A') + "=\n");
       },
       {{"master_key"}}},
      {"MasterKeyReadableByOthers",
       [](Deployment& d) { d.WriteFile("keys/master.key", "v1:" + RandomBase64(32) + "\n", 0644); },
       {{"master_key"}}},
      {"LogLevelDebug",
       [](Deployment& d) { d.Set("log", "level", "debug"); },
       {{"level", "debug"}}},
      {"VerboseErrors",
       [](Deployment& d) { d.Set("server", "verbose_errors", true); },
       {{"verbose_errors"}}},
      {"ExposeAdmin",
       [](Deployment& d) { d.Set("server", "expose_admin", true); },
       {{"expose_admin"}}},
      {"ExposeTestEndpoints",
       [](Deployment& d) { d.Set("server", "expose_test_endpoints", true); },
       {{"expose_test_endpoints"}}},
  };
}

std::string MissingNames(const std::string& text,
                         const std::vector<std::vector<std::string>>& groups) {
  std::string missing;
  for (const auto& group : groups) {
    bool any = false;
    for (const auto& word : group) any = any || ContainsNoCase(text, word);
    if (!any) missing += "\"" + group.front() + "\" ";
  }
  return missing;
}

class Production : public ::testing::TestWithParam<Refusal> {};

TEST_P(Production, RefusesToStart) {
  const Refusal& row = GetParam();
  auto deployment = ProductionDeployment();
  row.change(*deployment);

  CommandResult run = RunServeExpectingExit(*deployment, Millis(6000));

  ASSERT_TRUE(run.started);
  ASSERT_FALSE(run.timed_out) << "server started despite " << row.name << "; stderr:\n"
                              << Tail(run.err);
  EXPECT_EQ(run.signal, 0) << "crashed instead of refusing";
  EXPECT_NE(run.exit_code, 0);
  EXPECT_EQ(run.exit_code, 2) << "config refusals exit with 2";
  EXPECT_EQ(MissingNames(run.err, row.must_name), "") << "stderr:\n" << Tail(run.err);
}

INSTANTIATE_TEST_SUITE_P(Table, Production, ::testing::ValuesIn(Refusals()),
                         [](const ::testing::TestParamInfo<Refusal>& info) {
                           return std::string(info.param.name);
                         });

TEST(ProductionProfile, ValidConfigServes) {
  std::string why;
  auto server = StartServer(ProductionDeployment(), &why);
  ASSERT_NE(server, nullptr) << why;

  std::string error;
  auto ready =
      Exchange(Connection::Kind::kTls, server->port(), RawGet("/readyz"), Millis(5000), &error);

  ASSERT_TRUE(ready) << error;
  EXPECT_EQ(ready->status, 200);
}

TEST(ProductionProfile, TestEndpointsAbsent) {
  std::string why;
  auto server = StartServer(ProductionDeployment(), &why);
  ASSERT_NE(server, nullptr) << why;

  std::string error;
  auto response =
      Exchange(Connection::Kind::kTls, server->port(), RawGet("/test/error"), Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  EXPECT_EQ(response->status, 404);
}

TEST(ProductionProfile, NamesEveryProblem) {
  auto deployment = ProductionDeployment();
  deployment->Set("server", "tls", false);
  deployment->Set("server", "verbose_errors", true);
  deployment->Set("server", "expose_test_endpoints", true);

  CommandResult run = RunServeExpectingExit(*deployment, Millis(6000));

  ASSERT_FALSE(run.timed_out) << "server started; stderr:\n" << Tail(run.err);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_EQ(MissingNames(run.err, {{"tls"}, {"verbose_errors"}, {"expose_test_endpoints"}}), "")
      << "stderr:\n"
      << Tail(run.err);
}

TEST(ProductionProfile, RefusalNeverPrintsSecret) {
  // A development secret is refused; the refusal must not quote it.
  auto deployment = ProductionDeployment();
  const std::string secret = RandomBase64(48);
  deployment->WriteFile("keys/token-hmac.key", std::string(kDevMarker) + "\n" + secret + "\n");

  CommandResult run = RunServeExpectingExit(*deployment, Millis(6000));

  ASSERT_FALSE(run.timed_out);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_EQ((run.out + run.err).find(secret.substr(0, 12)), std::string::npos) << run.err;
}

}  // namespace
}  // namespace gatehouse::itest
