// The command line: `version`, and `config check`, which an operator runs (and pastes into
// tickets), so it must show what is effective without ever printing a secret.

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace gatehouse::itest {
namespace {

// Distinctive, so a leak of any part of it is findable in the output.
constexpr std::string_view kSecret = "Qz8Kp3Wm7Xv2Ln9Rb4Tj6Hc1Fy5Gd0SeUo";

CommandResult ConfigCheck(const Deployment& deployment,
                          const std::map<std::string, std::string>& env = {}) {
  std::filesystem::path config = deployment.WriteConfig();
  return RunCommand({GatehouseBinary(), "config", "check", "--config", config.string()},
                    Millis(10000), env);
}

std::string Describe(const CommandResult& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout:\n" + Tail(run.out) + "\nstderr:\n" +
         Tail(run.err);
}

// Empty if no 6-byte window of the secret appears in `text`; else the window found.
std::string LeakedPart(std::string_view text, std::string_view secret) {
  for (std::size_t i = 0; i + 6 <= secret.size(); ++i) {
    if (text.find(secret.substr(i, 6)) != std::string_view::npos) {
      return std::string(secret.substr(i, 6));
    }
  }
  return {};
}

// The lines of `text` that mention `word`.
std::vector<std::string> LinesWith(const std::string& text, std::string_view word) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (ContainsNoCase(line, word)) lines.push_back(line);
  }
  return lines;
}

bool SaysSet(const std::vector<std::string>& lines) {
  return std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
    return ContainsNoCase(line, "set") || line.find("***") != std::string::npos ||
           ContainsNoCase(line, "mask") || ContainsNoCase(line, "redact");
  });
}

TEST(Cli, VersionPrintsVersion) {
  CommandResult run = RunCommand({GatehouseBinary(), "version"}, Millis(5000));

  EXPECT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_NE(run.out.find_first_of("0123456789"), std::string::npos) << Describe(run);
}

TEST(Cli, ConfigCheckPrintsEffectiveConfig) {
  Deployment deployment(Deployment::Profile::kDevelopment);

  CommandResult run = ConfigCheck(deployment);

  ASSERT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_FALSE(LinesWith(run.out, "port = " + std::to_string(deployment.port())).empty())
      << Describe(run);
  EXPECT_NE(run.out.find("[server]"), std::string::npos) << Describe(run);
}

TEST(Cli, ConfigCheckMasksSecretFromFile) {
  Deployment deployment(Deployment::Profile::kDevelopment);
  deployment.WriteFile("keys/token-hmac.key", std::string(kSecret) + "\n");

  CommandResult run = ConfigCheck(deployment);

  ASSERT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_EQ(LeakedPart(run.out + run.err, kSecret), "") << Describe(run);
  EXPECT_TRUE(SaysSet(LinesWith(run.out, "hmac_secret"))) << Describe(run);
}

TEST(Cli, ConfigCheckMasksSecretFromEnvironment) {
  Deployment deployment(Deployment::Profile::kDevelopment);
  deployment.Unset("tokens", "hmac_secret_file");

  CommandResult run =
      ConfigCheck(deployment, {{"GATEHOUSE_TOKENS_HMAC_SECRET", std::string(kSecret)}});

  ASSERT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_EQ(LeakedPart(run.out + run.err, kSecret), "") << Describe(run);
  EXPECT_TRUE(SaysSet(LinesWith(run.out, "hmac_secret"))) << Describe(run);
}

TEST(Cli, EnvironmentOverridesConfigKey) {
  Deployment deployment(Deployment::Profile::kDevelopment);

  CommandResult run = ConfigCheck(deployment, {{"GATEHOUSE_SERVER_PORT", "45678"}});

  ASSERT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_FALSE(LinesWith(run.out, "port = 45678").empty()) << Describe(run);
}

TEST(Cli, ConfigCheckRejectsUnknownKey) {
  Deployment deployment(Deployment::Profile::kDevelopment);
  deployment.Set("server", "bogus_key", std::int64_t{1});

  CommandResult run = ConfigCheck(deployment);

  EXPECT_NE(run.exit_code, 0) << Describe(run);
  EXPECT_NE(run.err.find("bogus_key"), std::string::npos) << Describe(run);
}

TEST(Cli, ConfigCheckRejectsPortOutOfRange) {
  Deployment deployment(Deployment::Profile::kDevelopment);
  deployment.Set("server", "port", std::int64_t{70000});

  CommandResult run = ConfigCheck(deployment);

  EXPECT_NE(run.exit_code, 0) << Describe(run);
  EXPECT_TRUE(ContainsNoCase(run.err, "port")) << Describe(run);
}

TEST(Cli, ServeReportsEachProblemOnItsOwnLine) {
  Deployment deployment(Deployment::Profile::kDevelopment);
  deployment.Set("server", "bogus_key", std::int64_t{1});
  deployment.Set("server", "port", std::int64_t{70000});

  CommandResult run = RunServeExpectingExit(deployment, Millis(6000));

  ASSERT_FALSE(run.timed_out) << "server started with an invalid config";
  EXPECT_EQ(run.exit_code, 2) << Describe(run);
  EXPECT_FALSE(LinesWith(run.err, "bogus_key").empty()) << Describe(run);
  auto port_lines = LinesWith(run.err, "port");
  bool port_alone = std::any_of(port_lines.begin(), port_lines.end(), [](const auto& line) {
    return line.find("bogus_key") == std::string::npos;
  });
  EXPECT_TRUE(port_alone) << "no line of its own names the port problem\n" << Describe(run);
}

}  // namespace
}  // namespace gatehouse::itest
