// The [[oidc.providers]] tables: reading, checks, secrets and rendering.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "core/config.h"
#include "core/profile.h"

namespace gatehouse::core {
namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;

constexpr std::string_view kClientSecret = "Cs#client-UNIQUE-4e9d0c1b2a3f";

class OidcConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "gh-oidc-config-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    Write("google.secret", std::string(kClientSecret) + "\n");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Write(const std::string& name, std::string_view content) const {
    std::ofstream(dir_ / name, std::ios::binary | std::ios::trunc) << content;
    chmod((dir_ / name).c_str(), 0600);
  }

  Result<Config> Load(std::string_view providers, const Env& env = {},
                      std::string_view profile = "development") const {
    Write("gatehouse.toml", "profile = \"" + std::string(profile) + "\"\n" +
                                "[server]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\n" +
                                std::string(providers));
    return LoadConfig(dir_ / "gatehouse.toml", env);
  }

  std::string Problems(std::string_view providers, const Env& env = {}) const {
    auto config = Load(providers, env);
    return config.ok() ? std::string("(loaded)") : config.error().detail();
  }

  fs::path dir_;
};

constexpr std::string_view kGoogle = R"(
[[oidc.providers]]
id = "google"
preset = "google"
client_id = "1234.apps.googleusercontent.com"
client_secret_file = "google.secret"
redirect_uri = "https://auth.example.com/v1/auth/oidc/google/callback"
)";

TEST_F(OidcConfigTest, GooglePresetFillsTheIssuerAndReadsTheSecret) {
  auto config = Load(kGoogle);
  ASSERT_TRUE(config.ok()) << config.error().detail();
  ASSERT_EQ(config->oidc.providers.size(), 1u);
  const OidcProviderConfig& google = config->oidc.providers[0];
  EXPECT_EQ(google.issuer, "https://accounts.google.com");
  EXPECT_EQ(google.client_secret.value.reveal(), kClientSecret);
  EXPECT_EQ(google.scopes, "openid email profile");
  EXPECT_EQ(google.token_auth, "client_secret_basic");
  EXPECT_FALSE(google.link_by_email);
  EXPECT_TRUE(google.create_accounts);
  EXPECT_TRUE(google.verify_tls);
}

TEST_F(OidcConfigTest, SecretComesFromTheEnvironment) {
  const std::string without_file = R"(
[[oidc.providers]]
id = "corp-sso"
issuer = "https://sso.corp.example"
client_id = "gatehouse"
redirect_uri = "https://auth.example.com/v1/auth/oidc/corp-sso/callback"
)";
  auto config = Load(without_file, {{"GATEHOUSE_OIDC_CORP_SSO_CLIENT_SECRET", "from-env-1"}});
  ASSERT_TRUE(config.ok()) << config.error().detail();
  EXPECT_EQ(config->oidc.providers[0].client_secret.value.reveal(), "from-env-1");
  // The variable is known, so it draws no warning.
  for (const std::string& warning : config->warnings) {
    EXPECT_EQ(warning.find("CORP_SSO"), std::string::npos) << warning;
  }

  auto from_file =
      Load(without_file,
           {{"GATEHOUSE_OIDC_CORP_SSO_CLIENT_SECRET_FILE", (dir_ / "google.secret").string()}});
  ASSERT_TRUE(from_file.ok()) << from_file.error().detail();
  EXPECT_EQ(from_file->oidc.providers[0].client_secret.value.reveal(), kClientSecret);

  EXPECT_NE(Problems(without_file)
                .find("oidc.providers[corp-sso].client_secret: missing; set "
                      "client_secret_file in its table, "
                      "GATEHOUSE_OIDC_CORP_SSO_CLIENT_SECRET_FILE or "
                      "GATEHOUSE_OIDC_CORP_SSO_CLIENT_SECRET"),
            std::string::npos);
}

TEST_F(OidcConfigTest, EachBadSettingIsNamed) {
  struct Case {
    std::string line;
    std::string problem;
  };
  const Case cases[] = {
      {"client_secret = \"x\"", "oidc.providers[google].client_secret: secrets may not be written"},
      {"issuer = \"https://evil.example\"",
       "oidc.providers[google].issuer: the google preset's issuer is https://accounts.google.com"},
      {"scopes = \"email profile\"", "oidc.providers[google].scopes: must include openid"},
      {"scopes = \"openid  email\"",
       "oidc.providers[google].scopes: must be scope names separated by single spaces"},
      {"token_auth = \"private_key_jwt\"",
       "oidc.providers[google].token_auth: must be \"client_secret_basic\" or"},
      {"pinned_public_keys = \"sha1//abc\"",
       "oidc.providers[google].pinned_public_keys: must be sha256//<base64 of 32 bytes>"},
      {"verify_tls = \"no\"", "oidc.providers[google].verify_tls: expected a boolean"},
      {"colour = \"blue\"", "oidc.providers[google].colour: unknown key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    EXPECT_NE(Problems(std::string(kGoogle) + c.line + "\n").find(c.problem), std::string::npos)
        << Problems(std::string(kGoogle) + c.line + "\n");
  }
}

TEST_F(OidcConfigTest, UnknownPresetIsNamed) {
  std::string okta(kGoogle);
  okta.replace(okta.find("\"google\"\nclient_id"), 8, "\"okta\"");
  EXPECT_NE(Problems(okta).find("oidc.providers[google].preset: must be \"google\" or absent"),
            std::string::npos)
      << Problems(okta);
}

TEST_F(OidcConfigTest, RequiredSettingsAndTheirForms) {
  EXPECT_NE(Problems("[[oidc.providers]]\nclient_id = \"x\"\n")
                .find("oidc.providers[#1].id: "
                      "missing"),
            std::string::npos);
  EXPECT_NE(Problems("[[oidc.providers]]\nid = \"Google\"\n")
                .find("oidc.providers[#1].id: must be 1..32 of [a-z0-9_-]"),
            std::string::npos);
  const std::string bare = "[[oidc.providers]]\nid = \"corp\"\n";
  const std::string problems = Problems(bare);
  EXPECT_NE(problems.find("oidc.providers[corp].issuer: missing"), std::string::npos);
  EXPECT_NE(problems.find("oidc.providers[corp].client_id: missing"), std::string::npos);
  EXPECT_NE(problems.find("oidc.providers[corp].redirect_uri: missing"), std::string::npos);

  const std::string wrong_path = R"(
[[oidc.providers]]
id = "corp"
issuer = "https://sso.corp.example"
client_id = "gatehouse"
client_secret_file = "google.secret"
redirect_uri = "https://auth.example.com/v1/auth/oidc/google/callback"
)";
  EXPECT_NE(Problems(wrong_path)
                .find("oidc.providers[corp].redirect_uri: its path must be "
                      "/v1/auth/oidc/corp/callback"),
            std::string::npos);
  EXPECT_NE(Problems(std::string(kGoogle) + std::string(kGoogle))
                .find("oidc.providers[google].id: used by another provider"),
            std::string::npos);
}

TEST_F(OidcConfigTest, PlainHttpAndUnverifiedTlsOnlyInDevelopmentOnLoopback) {
  const std::string local = R"(
[[oidc.providers]]
id = "local"
issuer = "http://127.0.0.1:9000"
client_id = "gatehouse"
client_secret_file = "google.secret"
redirect_uri = "http://localhost:8443/v1/auth/oidc/local/callback"
verify_tls = false
)";
  EXPECT_TRUE(Load(local).ok()) << Problems(local);

  const std::string remote_http = R"(
[[oidc.providers]]
id = "remote"
issuer = "http://sso.example"
client_id = "gatehouse"
client_secret_file = "google.secret"
redirect_uri = "https://auth.example.com/v1/auth/oidc/remote/callback"
)";
  EXPECT_NE(Problems(remote_http).find("oidc.providers[remote].issuer: must be an https URL"),
            std::string::npos);

  auto staging = Load(local, {}, "staging");
  ASSERT_FALSE(staging.ok());
  EXPECT_NE(staging.error().detail().find("oidc.providers[local].issuer: must be an https URL"),
            std::string::npos);
  EXPECT_NE(staging.error().detail().find(
                "oidc.providers[local].verify_tls: may be false only in the development profile"),
            std::string::npos);
}

TEST_F(OidcConfigTest, RenderingMasksTheClientSecret) {
  auto config = Load(kGoogle);
  ASSERT_TRUE(config.ok()) << config.error().detail();
  const std::string text = RenderMasked(*config);
  EXPECT_EQ(text.find(kClientSecret), std::string::npos);
  EXPECT_NE(text.find("[[oidc.providers]]\nid = \"google\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("client_secret = \"[secret: set, " + std::to_string(kClientSecret.size()) +
                      " bytes, from file "),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace gatehouse::core
