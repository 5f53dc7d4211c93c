#include "core/config.h"
#include "core/config_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/config_keys.h"
#include "core/profile.h"

namespace gatehouse::core {
namespace {

namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;

// Secrets nobody would type by accident, so a leak is unmistakable.
constexpr std::string_view kHmacSecret = "Zq8!hmac-UNIQUE-7f3c9e1b5d2a4c6e8f0a1b2c3d";
constexpr std::string_view kMasterKey = "Mk#master-UNIQUE-0123456789abcdefABCDEF";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gh-config-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

  fs::path Write(const fs::path& relative, std::string_view content, mode_t mode = 0600) const {
    fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    chmod(file.c_str(), mode);
    return file;
  }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

fs::path SampleConfig() {
  return fs::path(GATEHOUSE_TEST_VECTORS_DIR) / ".." / ".." / "config" / "gatehouse.toml";
}

// A file that loads in any profile once its secrets are supplied.
constexpr std::string_view kMinimal = R"(
[server]
cert_file = "tls/cert.pem"
key_file = "tls/key.pem"
)";

std::string Detail(const Result<Config>& result) {
  return result.ok() ? std::string() : result.error().detail();
}

bool HasProblemStartingWith(const std::vector<std::string>& problems, std::string_view prefix) {
  for (const auto& p : problems) {
    if (p.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST(ConfigLoad, SampleFileLoadsInDevelopment) {
  TempDir dir;
  dir.Write("config/gatehouse.toml", ReadFile(SampleConfig()));
  dir.Write("var/keys/master.key",
            std::string(kDevelopmentSecretMarker) + "\n" + std::string(kMasterKey) + "\n");
  dir.Write("var/keys/token-hmac.key",
            std::string(kDevelopmentSecretMarker) + "\n" + std::string(kHmacSecret) + "\n");

  auto config = LoadConfig(dir.path() / "config/gatehouse.toml", {});
  ASSERT_TRUE(config.ok()) << Detail(config);

  EXPECT_EQ(config->profile, Profile::kDevelopment);
  EXPECT_EQ(config->server.port, 8443);
  EXPECT_TRUE(config->server.tls);
  EXPECT_EQ(config->server.cert_file, dir.path() / "var/tls/cert.pem");
  EXPECT_EQ(config->store.sqlite_path, dir.path() / "var/gatehouse.db");
  EXPECT_EQ(config->log.level, log::Level::kDebug);
  EXPECT_EQ(config->server.read_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(config->crypto.argon2_memory_kib, 19456u);
  EXPECT_EQ(config->tokens.hmac_secret.value.reveal(), kHmacSecret);
  EXPECT_TRUE(config->tokens.hmac_secret.development_marker);
  EXPECT_EQ(config->crypto.master_key.value.reveal(), kMasterKey);
  EXPECT_FALSE(config->store.postgres_url.present());
  EXPECT_TRUE(config->warnings.empty());
  EXPECT_TRUE(CheckProfile(*config).errors.empty());
}

TEST(ConfigLoad, AbsentKeysTakeProfileDefaults) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", "profile = \"production\"\n" + std::string(kMinimal));

  auto config = LoadConfig(file, {});
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->server.listen, "127.0.0.1");
  EXPECT_EQ(config->server.max_header_bytes, 8192u);
  EXPECT_EQ(config->server.worker_queue, 1024u);
  EXPECT_EQ(config->log.level, log::Level::kInfo);
  EXPECT_FALSE(config->server.verbose_errors);
  EXPECT_EQ(config->rate_limit.strictness, RateLimitStrictness::kStrict);
  EXPECT_TRUE(config->crypto.require_encryption);
  EXPECT_EQ(config->log.access_log, "stdout");
  EXPECT_EQ(config->store.sqlite_path, dir.path() / "var/gatehouse.db");
}

TEST(ConfigLoad, EnvironmentOverridesNumbersBoolsAndStrings) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + "port = 8443\n");

  Env env = {{"GATEHOUSE_SERVER_PORT", "9443"},
             {"GATEHOUSE_SERVER_EXPOSE_ADMIN", "true"},
             {"GATEHOUSE_LOG_LEVEL", "warn"},
             {"GATEHOUSE_SERVER_LISTEN", "::"},
             {"GATEHOUSE_LOG_ACCESS_LOG", "off"}};
  auto config = LoadConfig(file, env);
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->server.port, 9443);
  EXPECT_TRUE(config->server.expose_admin);
  EXPECT_EQ(config->log.level, log::Level::kWarn);
  EXPECT_EQ(config->server.listen, "::");
  EXPECT_EQ(config->log.access_log, "off");
}

TEST(ConfigLoad, EnvironmentProfileWinsAndPicksItsDefaults) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", "profile = \"development\"\n" + std::string(kMinimal));

  auto config = LoadConfig(file, {{"GATEHOUSE_PROFILE", "staging"}});
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->profile, Profile::kStaging);
  EXPECT_EQ(config->log.level, log::Level::kInfo);
  EXPECT_FALSE(config->server.verbose_errors);
  EXPECT_EQ(config->rate_limit.strictness, RateLimitStrictness::kStandard);
  EXPECT_TRUE(config->crypto.require_encryption);
}

TEST(ConfigLoad, SecretFromEnvironmentFileAndValue) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", kMinimal);
  auto key_file = dir.Write("elsewhere/master.key", std::string(kMasterKey) + "\r\n");

  Env env = {{"GATEHOUSE_CRYPTO_MASTER_KEY_FILE", key_file.string()},
             {"GATEHOUSE_TOKENS_HMAC_SECRET", std::string(kHmacSecret)}};
  auto config = LoadConfig(file, env);
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->crypto.master_key.value.reveal(), kMasterKey);
  EXPECT_EQ(config->crypto.master_key.file, key_file);
  EXPECT_EQ(config->crypto.master_key.env_var, "GATEHOUSE_CRYPTO_MASTER_KEY_FILE");
  EXPECT_EQ(config->tokens.hmac_secret.value.reveal(), kHmacSecret);
  EXPECT_EQ(config->tokens.hmac_secret.env_var, "GATEHOUSE_TOKENS_HMAC_SECRET");
  EXPECT_FALSE(config->tokens.hmac_secret.development_marker);
}

TEST(ConfigLoad, EnvironmentSecretWinsOverFileKey) {
  TempDir dir;
  dir.Write("hmac.key", "from-the-file-from-the-file-from-the-file");
  auto file = dir.Write("gatehouse.toml",
                        std::string(kMinimal) + "[tokens]\nhmac_secret_file = \"hmac.key\"\n");

  auto config = LoadConfig(file, {{"GATEHOUSE_TOKENS_HMAC_SECRET", std::string(kHmacSecret)}});
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->tokens.hmac_secret.value.reveal(), kHmacSecret);
}

TEST(ConfigLoad, BothEnvironmentFormsOfASecretAreRefused) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", kMinimal);
  auto hmac = dir.Write("hmac.key", kHmacSecret);

  auto config = LoadConfig(file, {{"GATEHOUSE_TOKENS_HMAC_SECRET", std::string(kHmacSecret)},
                                  {"GATEHOUSE_TOKENS_HMAC_SECRET_FILE", hmac.string()}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(Detail(config).find("tokens.hmac_secret: both GATEHOUSE_TOKENS_HMAC_SECRET and "
                                "GATEHOUSE_TOKENS_HMAC_SECRET_FILE are set"),
            std::string::npos);
  EXPECT_EQ(Detail(config).find(kHmacSecret), std::string::npos);
}

TEST(ConfigLoad, BadEnvironmentValueNamesKeyAndVariableButNotValue) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", kMinimal);

  auto config =
      LoadConfig(file, {{"GATEHOUSE_SERVER_PORT", "84x3"}, {"GATEHOUSE_SERVER_TLS", "yes"}});
  ASSERT_FALSE(config.ok());
  auto problems = ConfigProblems(config.error());
  EXPECT_TRUE(
      HasProblemStartingWith(problems, "server.port (GATEHOUSE_SERVER_PORT): expected an integer"));
  EXPECT_TRUE(
      HasProblemStartingWith(problems, "server.tls (GATEHOUSE_SERVER_TLS): expected a boolean"));
  EXPECT_EQ(Detail(config).find("84x3"), std::string::npos);
}

TEST(ConfigLoad, UnknownKeysAndSectionsAreErrors) {
  TempDir dir;
  auto file =
      dir.Write("gatehouse.toml",
                std::string(kMinimal) + "prot = 1\n[srever]\nport = 1\n[log]\nlevl = \"info\"\n");

  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  auto problems = ConfigProblems(config.error());
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.prot: unknown key"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "[srever]: unknown section"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "log.levl: unknown key"));
  EXPECT_EQ(problems.size(), 3u) << Detail(config);
}

TEST(ConfigLoad, WrongTypesNameKeyAndExpectedType) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) +
                                              "port = \"8443\"\ntls = 1\n"
                                              "[log]\nlevel = 3\n"
                                              "[crypto]\nargon2_iterations = 2.0\n");

  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  auto problems = ConfigProblems(config.error());
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.port: expected an integer, got a string"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.tls: expected a boolean, got an integer"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "log.level: expected a string, got an integer"));
  EXPECT_TRUE(HasProblemStartingWith(problems,
                                     "crypto.argon2_iterations: expected an integer, got a float"));
}

TEST(ConfigLoad, ProblemsCarryTheLineNumber) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", "[server]\n\nport = 70000\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(Detail(config).find("server.port: must be 1..65535 (line 3)"), std::string::npos);
}

struct RangeCase {
  std::string toml;
  std::string expected;
};

class ConfigRange : public testing::TestWithParam<RangeCase> {};

TEST_P(ConfigRange, OutOfRangeValuesAreRefused) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + GetParam().toml + "\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(HasProblemStartingWith(ConfigProblems(config.error()), GetParam().expected))
      << Detail(config);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigRange,
    testing::Values(RangeCase{"port = 0", "server.port: must be 1..65535"},
                    RangeCase{"port = 65536", "server.port: must be 1..65535"},
                    RangeCase{"redirect_port = -1", "server.redirect_port: must be 0..65535"},
                    RangeCase{"redirect_port = 8443", "server.redirect_port: must differ"},
                    RangeCase{"max_header_bytes = 0", "server.max_header_bytes: must be 1.."},
                    RangeCase{"max_body_bytes = 0", "server.max_body_bytes: must be 1.."},
                    RangeCase{"read_timeout_ms = 0", "server.read_timeout_ms: must be 1.."},
                    RangeCase{"worker_queue = 0", "server.worker_queue: must be 1.."},
                    RangeCase{"io_threads = 5000", "server.io_threads: must be 0..1024"},
                    RangeCase{"listen = \"localhost\"", "server.listen: must be an IPv4 or IPv6"},
                    RangeCase{"public_host = \"evil.example/x\"", "server.public_host: must be"},
                    RangeCase{"[log]\nlevel = \"verbose\"", "log.level: must be one of"},
                    RangeCase{"[log]\napp_log = \"off\"", "log.app_log: cannot be \"off\""},
                    RangeCase{"[store]\ndriver = \"mysql\"", "store.driver: must be one of"},
                    RangeCase{"[crypto]\nargon2_memory_kib = 4", "crypto.argon2_memory_kib"},
                    RangeCase{"[store]\npostgres_pool_size = 0", "store.postgres_pool_size"},
                    RangeCase{"[rate_limit]\nstrictness = \"lax\"", "rate_limit.strictness"}));

TEST(ConfigLoad, ReportsEveryProblemAtOnce) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml",
                        "profile = \"prod\"\n[server]\nport = 0\nworker_queue = 0\ntls = true\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(), "invalid configuration");
  auto problems = ConfigProblems(config.error());
  EXPECT_TRUE(HasProblemStartingWith(problems, "profile: must be one of"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.port:"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.worker_queue:"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.cert_file: required"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.key_file: required"));
  EXPECT_EQ(problems.size(), 5u) << Detail(config);
}

TEST(ConfigLoad, InlineSecretIsRefusedWithoutEchoingIt) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + "[tokens]\nhmac_secret = \"" +
                                              std::string(kHmacSecret) + "\"\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  auto problems = ConfigProblems(config.error());
  EXPECT_TRUE(HasProblemStartingWith(problems,
                                     "tokens.hmac_secret: secrets may not be written in the config "
                                     "file; use tokens.hmac_secret_file or the environment"));
  EXPECT_EQ(Detail(config).find(kHmacSecret), std::string::npos);
}

TEST(ConfigLoad, SyntaxErrorNamesFileAndLine) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", "[server]\nport = = 1\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(Detail(config).find("gatehouse.toml:2:"), std::string::npos) << Detail(config);
}

TEST(ConfigLoad, MissingConfigFileIsAnError) {
  TempDir dir;
  auto config = LoadConfig(dir.path() / "absent.toml", {});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(Detail(config).find("absent.toml"), std::string::npos);
}

TEST(ConfigLoad, SecretFileTrailingNewlineAndMarkerAreStripped) {
  TempDir dir;
  dir.Write("hmac.key",
            std::string(kDevelopmentSecretMarker) + "\n" + std::string(kHmacSecret) + "\n");
  auto file = dir.Write("gatehouse.toml",
                        std::string(kMinimal) + "[tokens]\nhmac_secret_file = \"hmac.key\"\n");
  auto config = LoadConfig(file, {});
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->tokens.hmac_secret.value.reveal(), kHmacSecret);
  EXPECT_TRUE(config->tokens.hmac_secret.development_marker);
  EXPECT_EQ(config->tokens.hmac_secret.file, dir.path() / "hmac.key");
}

TEST(ConfigLoad, MissingOrEmptySecretFileIsAnError) {
  TempDir dir;
  dir.Write("empty.key", "\n");
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) +
                                              "[tokens]\nhmac_secret_file = \"absent.key\"\n"
                                              "[crypto]\nmaster_key_file = \"empty.key\"\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  auto problems = ConfigProblems(config.error());
  EXPECT_TRUE(HasProblemStartingWith(problems, "tokens.hmac_secret_file: cannot open"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "crypto.master_key: is empty"));
}

TEST(ConfigLoad, GroupReadableSecretWarnsInDevelopment) {
  TempDir dir;
  dir.Write("hmac.key", kHmacSecret, 0644);
  auto file = dir.Write("gatehouse.toml",
                        std::string(kMinimal) + "[tokens]\nhmac_secret_file = \"hmac.key\"\n");
  auto config = LoadConfig(file, {});
  ASSERT_TRUE(config.ok()) << Detail(config);
  ASSERT_EQ(config->warnings.size(), 1u);
  EXPECT_NE(config->warnings[0].find("tokens.hmac_secret_file: "), std::string::npos);
  EXPECT_NE(config->warnings[0].find("(mode 0644); use mode 0600 or 0400"), std::string::npos);
  EXPECT_TRUE(config->tokens.hmac_secret.present());
}

TEST(ConfigLoad, GroupReadableSecretIsAnErrorInProduction) {
  TempDir dir;
  dir.Write("hmac.key", kHmacSecret, 0640);
  dir.Write("master.key", kMasterKey, 0400);
  auto file = dir.Write("gatehouse.toml", "profile = \"production\"\n" + std::string(kMinimal) +
                                              "[tokens]\nhmac_secret_file = \"hmac.key\"\n"
                                              "[crypto]\nmaster_key_file = \"master.key\"\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  auto problems = ConfigProblems(config.error());
  ASSERT_EQ(problems.size(), 1u) << Detail(config);
  EXPECT_TRUE(HasProblemStartingWith(problems, "tokens.hmac_secret_file: "));
  EXPECT_NE(problems[0].find("mode 0640"), std::string::npos);
}

TEST(ConfigLoad, PostgresDriverNeedsUrl) {
  TempDir dir;
  auto file =
      dir.Write("gatehouse.toml", std::string(kMinimal) + "[store]\ndriver = \"postgres\"\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(HasProblemStartingWith(ConfigProblems(config.error()),
                                     "store.postgres_url: required when store.driver"));

  auto with_url =
      LoadConfig(file, {{"GATEHOUSE_STORE_POSTGRES_URL", "postgresql://gh:pw@db/gatehouse"}});
  ASSERT_TRUE(with_url.ok()) << Detail(with_url);
  EXPECT_EQ(with_url->store.driver, StoreDriver::kPostgres);
}

TEST(ConfigLoad, UnknownGatehouseVariableIsAWarning) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", kMinimal);
  auto config = LoadConfig(file, {{"GATEHOUSE_SERVER_PROT", "1"}, {"GATEHOUSE_CONFIG", "x"}});
  ASSERT_TRUE(config.ok()) << Detail(config);
  ASSERT_EQ(config->warnings.size(), 1u);
  EXPECT_EQ(config->warnings[0], "GATEHOUSE_SERVER_PROT: not a configuration variable; ignored");
}

// ---- profile rules ---------------------------------------------------------------------------

// A configuration production accepts.
Config GoodProductionConfig() {
  Config config = DefaultConfig(Profile::kProduction);
  config.server.cert_file = "/etc/gatehouse/cert.pem";
  config.server.key_file = "/etc/gatehouse/key.pem";
  config.crypto.master_key.value = Secret(kMasterKey);
  config.tokens.hmac_secret.value = Secret(kHmacSecret);
  return config;
}

struct ProblemCase {
  std::string name;
  void (*mutate)(Config&);
  std::string expected_prefix;
  bool staging_error;  // Whether staging refuses it too (otherwise it warns).
};

class ProductionRule : public testing::TestWithParam<ProblemCase> {};

TEST(ProfileRules, GoodProductionConfigHasNoProblems) {
  EXPECT_TRUE(ProductionProblems(GoodProductionConfig()).empty());
}

TEST_P(ProductionRule, EachProblemHasItsOwnMessage) {
  Config config = GoodProductionConfig();
  GetParam().mutate(config);
  auto problems = ProductionProblems(config);
  ASSERT_EQ(problems.size(), 1u) << testing::PrintToString(problems);
  EXPECT_EQ(problems[0].rfind(GetParam().expected_prefix, 0), 0u) << problems[0];
  EXPECT_EQ(CheckProfile(config).errors, problems);
}

TEST_P(ProductionRule, StagingRefusesOnlyMissingSecretsAndShortHmac) {
  Config config = GoodProductionConfig();
  config.profile = Profile::kStaging;
  GetParam().mutate(config);
  ProfileFindings findings = CheckProfile(config);
  if (GetParam().staging_error) {
    EXPECT_EQ(findings.errors.size(), 1u);
    EXPECT_TRUE(findings.warnings.empty());
  } else {
    EXPECT_TRUE(findings.errors.empty());
    EXPECT_EQ(findings.warnings.size(), 1u);
  }
}

TEST_P(ProductionRule, DevelopmentRefusesNothing) {
  Config config = GoodProductionConfig();
  config.profile = Profile::kDevelopment;
  GetParam().mutate(config);
  ProfileFindings findings = CheckProfile(config);
  EXPECT_TRUE(findings.errors.empty());
  EXPECT_TRUE(findings.warnings.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, ProductionRule,
    testing::Values(
        ProblemCase{"TlsOff", [](Config& c) { c.server.tls = false; }, "server.tls:", false},
        ProblemCase{"MasterKeyMissing", [](Config& c) { c.crypto.master_key = {}; },
                    "crypto.master_key: missing", true},
        ProblemCase{"HmacMissing", [](Config& c) { c.tokens.hmac_secret = {}; },
                    "tokens.hmac_secret: missing", true},
        ProblemCase{"PostgresUrlMissing",
                    [](Config& c) { c.store.driver = StoreDriver::kPostgres; },
                    "store.postgres_url: missing", true},
        ProblemCase{"DevelopmentHmac",
                    [](Config& c) { c.tokens.hmac_secret.development_marker = true; },
                    "tokens.hmac_secret: is a development secret", false},
        ProblemCase{"DevelopmentMasterKey",
                    [](Config& c) { c.crypto.master_key.development_marker = true; },
                    "crypto.master_key: is a development secret", false},
        ProblemCase{"DevelopmentPostgresUrl",
                    [](Config& c) {
                      c.store.driver = StoreDriver::kPostgres;
                      c.store.postgres_url.value = Secret("postgresql://gh:x@db/gh");
                      c.store.postgres_url.development_marker = true;
                    },
                    "store.postgres_url: is a development secret", false},
        ProblemCase{"RepeatedByteHmac",
                    [](Config& c) { c.tokens.hmac_secret.value = Secret(std::string(32, 'a')); },
                    "tokens.hmac_secret: is a well-known weak value", false},
        ProblemCase{"WeakMasterKey",
                    [](Config& c) { c.crypto.master_key.value = Secret(std::string(48, '\0')); },
                    "crypto.master_key: is a well-known weak value", false},
        ProblemCase{
            "ShortHmac",
            [](Config& c) { c.tokens.hmac_secret.value = Secret(kHmacSecret.substr(0, 31)); },
            "tokens.hmac_secret: must be at least 32 bytes (has 31)", true},
        ProblemCase{"ShortMasterKey",
                    [](Config& c) { c.crypto.master_key.value = Secret(kMasterKey.substr(0, 16)); },
                    "crypto.master_key: must be at least 32 bytes (has 16)", false},
        ProblemCase{"DebugLogs", [](Config& c) { c.log.level = log::Level::kDebug; },
                    "log.level: must be info, warn or error (is debug)", false},
        ProblemCase{"TraceLogs", [](Config& c) { c.log.level = log::Level::kTrace; },
                    "log.level: must be info, warn or error (is trace)", false},
        ProblemCase{"VerboseErrors", [](Config& c) { c.server.verbose_errors = true; },
                    "server.verbose_errors:", false},
        ProblemCase{"ExposeAdmin", [](Config& c) { c.server.expose_admin = true; },
                    "server.expose_admin:", false},
        ProblemCase{"ExposeTestEndpoints", [](Config& c) { c.server.expose_test_endpoints = true; },
                    "server.expose_test_endpoints:", false},
        ProblemCase{"EncryptionOff", [](Config& c) { c.crypto.require_encryption = false; },
                    "crypto.require_encryption:", false},
        ProblemCase{"SigningKeyMissing",
                    [](Config& c) { c.tokens.algorithm = TokenAlgorithm::kEdDsa; },
                    "tokens.signing_key: missing", true},
        ProblemCase{"ShortPreviousHmac",
                    [](Config& c) { c.tokens.previous_hmac_secret.value = Secret("short"); },
                    "tokens.previous_hmac_secret: must be at least 32 bytes (has 5)", true},
        ProblemCase{"RedisPasswordMissing", [](Config& c) { c.state.driver = StateDriver::kRedis; },
                    "state.redis_password: missing", true},
        ProblemCase{"SmsWithoutTlsVerification",
                    [](Config& c) {
                      c.mfa.sms_enabled = true;
                      c.mfa.sms_verify_tls = false;
                    },
                    "mfa.sms_verify_tls:", true},
        ProblemCase{"SmsOverPlainHttp",
                    [](Config& c) {
                      c.mfa.sms_enabled = true;
                      c.mfa.sms_allow_plain_http = true;
                    },
                    "mfa.sms_allow_plain_http:", true}),
    [](const testing::TestParamInfo<ProblemCase>& info) { return info.param.name; });

TEST(ProfileRules, WeakSecretList) {
  EXPECT_TRUE(IsWeakSecret("changeme"));
  EXPECT_TRUE(IsWeakSecret("CHANGEME"));
  EXPECT_TRUE(IsWeakSecret("Password"));
  EXPECT_TRUE(IsWeakSecret("secret"));
  EXPECT_TRUE(IsWeakSecret("x"));
  EXPECT_TRUE(IsWeakSecret(std::string(64, '7')));
  EXPECT_FALSE(IsWeakSecret(kHmacSecret));
  EXPECT_FALSE(IsWeakSecret("ab"));
}

TEST(ProfileRules, ProfileDefaults) {
  EXPECT_EQ(DefaultsFor(Profile::kDevelopment).log_level, log::Level::kDebug);
  EXPECT_TRUE(DefaultsFor(Profile::kDevelopment).verbose_errors);
  EXPECT_FALSE(DefaultsFor(Profile::kDevelopment).require_encryption);
  EXPECT_EQ(DefaultsFor(Profile::kStaging).rate_limit_strictness, RateLimitStrictness::kStandard);
  EXPECT_TRUE(DefaultsFor(Profile::kStaging).require_encryption);
  EXPECT_EQ(DefaultsFor(Profile::kProduction).rate_limit_strictness, RateLimitStrictness::kStrict);
  EXPECT_EQ(DefaultsFor(Profile::kProduction).log_level, log::Level::kInfo);
  EXPECT_FALSE(DefaultsFor(Profile::kProduction).verbose_errors);
}

TEST(ProfileRules, LoadAndValidateListsEveryProductionProblem) {
  TempDir dir;
  dir.Write("hmac.key", std::string(kDevelopmentSecretMarker) + "\n" + std::string(kHmacSecret));
  auto file = dir.Write("gatehouse.toml", "profile = \"production\"\n" + std::string(kMinimal) +
                                              "verbose_errors = true\n"
                                              "[log]\nlevel = \"debug\"\n"
                                              "[tokens]\nhmac_secret_file = \"hmac.key\"\n");
  auto config = LoadAndValidate(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(), "configuration refused by the production profile");
  auto problems = ConfigProblems(config.error());
  EXPECT_EQ(problems.size(), 4u) << Detail(config);
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.verbose_errors:"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "log.level:"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "crypto.master_key: missing"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "tokens.hmac_secret: is a development secret"));
}

TEST(ProfileRules, LoadAndValidateListsLoadAndProfileProblemsTogether) {
  TempDir dir;
  dir.Write("hmac.key", kHmacSecret, 0644);
  dir.Write("master.key", kMasterKey, 0600);
  auto file = dir.Write("gatehouse.toml", "profile = \"production\"\n" + std::string(kMinimal) +
                                              "tls = false\nport = 0\n"
                                              "[tokens]\nhmac_secret_file = \"hmac.key\"\n"
                                              "[crypto]\nmaster_key_file = \"master.key\"\n");
  auto config = LoadAndValidate(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(), "invalid configuration");
  auto problems = ConfigProblems(config.error());
  // The unreadable-by-policy HMAC file is reported once, not again as "missing".
  EXPECT_EQ(problems.size(), 3u) << Detail(config);
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.port: must be"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "tokens.hmac_secret_file: "));
  EXPECT_TRUE(HasProblemStartingWith(problems, "server.tls: must be true"));
}

TEST(ProfileRules, LoadAndValidateAcceptsGoodProductionAndAddsStagingWarnings) {
  TempDir dir;
  dir.Write("hmac.key", kHmacSecret, 0400);
  dir.Write("master.key", kMasterKey, 0600);
  std::string body = std::string(kMinimal) +
                     "[tokens]\nhmac_secret_file = \"hmac.key\"\n"
                     "[crypto]\nmaster_key_file = \"master.key\"\n";
  auto file = dir.Write("gatehouse.toml", body);

  auto production = LoadAndValidate(file, {{"GATEHOUSE_PROFILE", "production"}});
  ASSERT_TRUE(production.ok()) << Detail(production);
  EXPECT_TRUE(production->warnings.empty());

  auto staging = LoadAndValidate(
      file, {{"GATEHOUSE_PROFILE", "staging"}, {"GATEHOUSE_SERVER_EXPOSE_ADMIN", "true"}});
  ASSERT_TRUE(staging.ok()) << Detail(staging);
  ASSERT_EQ(staging->warnings.size(), 1u);
  EXPECT_EQ(staging->warnings[0].rfind("server.expose_admin:", 0), 0u);
}

// ---- rendering -------------------------------------------------------------------------------

TEST(RenderMasked, NeverContainsASecretByte) {
  TempDir dir;
  dir.Write("hmac.key", kHmacSecret);
  auto file = dir.Write("gatehouse.toml",
                        std::string(kMinimal) + "[tokens]\nhmac_secret_file = \"hmac.key\"\n");
  auto config = LoadConfig(file, {{"GATEHOUSE_CRYPTO_MASTER_KEY", std::string(kMasterKey)}});
  ASSERT_TRUE(config.ok()) << Detail(config);

  std::string text = RenderMasked(*config);
  EXPECT_EQ(text.find(kHmacSecret), std::string::npos);
  EXPECT_EQ(text.find(kMasterKey), std::string::npos);
  EXPECT_EQ(text.find("UNIQUE"), std::string::npos);  // Not even a fragment.
  EXPECT_NE(text.find("hmac_secret = \"[secret: set, " + std::to_string(kHmacSecret.size()) +
                      " bytes, from file " + (dir.path() / "hmac.key").string() + "]\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("master_key = \"[secret: set, " + std::to_string(kMasterKey.size()) +
                      " bytes, from GATEHOUSE_CRYPTO_MASTER_KEY]\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("postgres_url = \"[secret: missing]\""), std::string::npos) << text;
}

TEST(RenderMasked, IsTomlWithTheEffectiveValues) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + "port = 9000\n");
  auto config = LoadConfig(file, {{"GATEHOUSE_LOG_LEVEL", "error"}});
  ASSERT_TRUE(config.ok()) << Detail(config);

  toml::table parsed;
  ASSERT_NO_THROW(parsed = toml::parse(RenderMasked(*config)));
  EXPECT_EQ(parsed["profile"].value<std::string>(), "development");
  EXPECT_EQ(parsed["server"]["port"].value<int64_t>(), 9000);
  EXPECT_EQ(parsed["server"]["read_timeout_ms"].value<int64_t>(), 10000);
  EXPECT_EQ(parsed["log"]["level"].value<std::string>(), "error");
  EXPECT_EQ(parsed["server"]["cert_file"].value<std::string>(),
            (dir.path() / "tls/cert.pem").string());
  EXPECT_EQ(parsed["rate_limit"]["strictness"].value<std::string>(), "relaxed");
}

}  // namespace
}  // namespace gatehouse::core

namespace gatehouse::core {
namespace {

TEST(ConfigAuthKeys, ReadsTokenSessionStateAndPasswordKeys) {
  TempDir dir;
  dir.Write("signing.pem", "-----BEGIN PRIVATE KEY-----\nnot parsed here\n");
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + R"(
[tokens]
algorithm = "EdDSA"
signing_key_file = "signing.pem"
issuer = "https://auth.example.com"
access_ttl_s = 900
refresh_grace_s = 5
[sessions]
idle_timeout_s = 600
max_per_user = 3
limit_policy = "refuse_new"
fingerprint = "user_agent,ip_prefix"
allowed_origins = "https://app.example.com,http://localhost:3000"
[state]
driver = "redis"
redis_port = 6380
[passwords]
min_bytes = 12
require_complexity = false
)");
  auto config = LoadConfig(file, {});
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->tokens.algorithm, TokenAlgorithm::kEdDsa);
  EXPECT_TRUE(config->tokens.signing_key.present());
  EXPECT_EQ(config->tokens.issuer, "https://auth.example.com");
  EXPECT_EQ(config->tokens.access_ttl, std::chrono::seconds(900));
  EXPECT_EQ(config->tokens.refresh_grace, std::chrono::seconds(5));
  EXPECT_EQ(config->sessions.idle_timeout, std::chrono::seconds(600));
  EXPECT_EQ(config->sessions.max_per_user, 3u);
  EXPECT_EQ(config->sessions.limit_policy, SessionLimitPolicy::kRefuseNew);
  EXPECT_EQ(config->state.driver, StateDriver::kRedis);
  EXPECT_EQ(config->state.redis_port, 6380);
  EXPECT_EQ(config->passwords.min_bytes, 12u);
  EXPECT_FALSE(config->passwords.require_complexity);
}

TEST(ConfigAuthKeys, RefusesBadValuesNamingTheKey) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + R"(
[tokens]
algorithm = "none"
issuer = "has space"
[sessions]
idle_timeout_s = 40000
absolute_timeout_s = 30000
fingerprint = "user_agent,shoe_size"
allowed_origins = "https://app.example.com/path"
[passwords]
min_bytes = 7
)");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  auto problems = ConfigProblems(config.error());
  EXPECT_TRUE(HasProblemStartingWith(problems, "tokens.algorithm: must be one of"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "tokens.issuer:"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "sessions.idle_timeout_s: must not exceed"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "sessions.fingerprint:"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "sessions.allowed_origins:"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "passwords.min_bytes: must be 8..64"));
}

TEST(ConfigAuthKeys, AsymmetricAlgorithmNeedsASigningKey) {
  TempDir dir;
  auto file =
      dir.Write("gatehouse.toml", std::string(kMinimal) + "[tokens]\nalgorithm = \"ES256\"\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(HasProblemStartingWith(ConfigProblems(config.error()), "tokens.signing_key:"));
}

TEST(ConfigApiKeys, DefaultsMatchTheIssue) {
  TempDir dir;
  auto config = LoadConfig(dir.Write("gatehouse.toml", std::string(kMinimal)), {});
  ASSERT_TRUE(config.ok()) << Detail(config);
  const ApiKeysConfig& keys = config->api_keys;
  EXPECT_TRUE(keys.enabled);
  EXPECT_EQ(keys.header, "X-API-Key");
  EXPECT_EQ(keys.environment, "");  // The profile decides: live in production.
  EXPECT_EQ(keys.default_lifetime_days, 90u);
  EXPECT_EQ(keys.rotation_grace, std::chrono::hours(24 * 7));
  EXPECT_EQ(keys.expiry_warning_days, 14u);
}

TEST(ConfigApiKeys, ReadsTheSection) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + R"(
[api_keys]
header = "X-Service-Key"
environment = "live"
default_lifetime_days = 30
rotation_grace_s = 3600
usage_flush_interval_s = 5
scopes = "billing:read, billing:write, ops:admin"
admin_only_scopes = "ops:admin"
)");
  auto config = LoadConfig(file, {});
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->api_keys.header, "X-Service-Key");
  EXPECT_EQ(config->api_keys.environment, "live");
  EXPECT_EQ(config->api_keys.default_lifetime_days, 30u);
  EXPECT_EQ(config->api_keys.rotation_grace, std::chrono::seconds(3600));
  EXPECT_EQ(config->api_keys.usage_flush_interval, std::chrono::seconds(5));
}

TEST(ConfigApiKeys, RefusesBadValuesNamingTheKey) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + R"(
[api_keys]
header = "Authorization"
environment = "prod"
default_lifetime_days = 200
max_lifetime_days = 100
scopes = "billing:read, has space"
rotation_grace_s = -1
)");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  auto problems = ConfigProblems(config.error());
  EXPECT_TRUE(HasProblemStartingWith(problems, "api_keys.header: must not be a header"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "api_keys.environment: must be"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "api_keys.default_lifetime_days: must not exceed"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "api_keys.scopes:"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "api_keys.rotation_grace_s: must be 0.."));
}

TEST(ConfigApiKeys, HeaderMustBeAFieldName) {
  TempDir dir;
  auto file =
      dir.Write("gatehouse.toml", std::string(kMinimal) + "[api_keys]\nheader = \"X-Key: evil\"\n");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(HasProblemStartingWith(ConfigProblems(config.error()), "api_keys.header:"));
}

TEST(ConfigApiKeys, AdminOnlyScopesMustBeInTheVocabulary) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + R"(
[api_keys]
scopes = "billing:read"
admin_only_scopes = "ops:admin"
)");
  auto config = LoadConfig(file, {});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(HasProblemStartingWith(ConfigProblems(config.error()),
                                     "api_keys.admin_only_scopes: \"ops:admin\" is not in"));
}

TEST(ConfigSample, DocumentsEveryKey) {
  // Every key the loader knows appears in the sample, set or commented out ("# key = "),
  // inside its own section.
  const std::string sample = ReadFile(SampleConfig());
  std::map<std::string, std::string> section_text;
  std::string current;
  std::istringstream in(sample);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("[") && line.ends_with("]")) {
      current = line.substr(1, line.size() - 2);
      continue;
    }
    section_text[current] += line + "\n";
  }
  for (const auto& spec : config_internal::KeySpecs()) {
    const std::string& text = section_text[std::string(spec.section)];
    const std::string key(spec.key);
    const bool set =
        text.find("\n" + key + " = ") != std::string::npos || text.starts_with(key + " = ");
    const bool commented = text.find("# " + key + " = ") != std::string::npos;
    EXPECT_TRUE(set || commented) << spec.section << "." << spec.key;
  }
}

}  // namespace
}  // namespace gatehouse::core

namespace gatehouse::core {
namespace {

TEST(ConfigMfaKeys, ReadsTheMfaSection) {
  TempDir dir;
  dir.Write("sms.header", "Basic QUMxMjM6c2VjcmV0\n");
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + R"(
[mfa]
issuer = "Acme Login"
totp_algorithm = "SHA256"
totp_digits = 8
totp_period_s = 60
totp_window = 2
backup_codes = 12
sms_enabled = true
sms_preset = "twilio"
sms_twilio_account_sid = "AC123"
sms_from = "+15005550006"
sms_auth_header_file = "sms.header"
sms_attempts = 4
)");
  auto config = LoadConfig(file, {{"GATEHOUSE_CRYPTO_MASTER_KEY", std::string(kMasterKey)}});
  ASSERT_TRUE(config.ok()) << Detail(config);
  EXPECT_EQ(config->mfa.issuer, "Acme Login");
  EXPECT_EQ(config->mfa.totp_algorithm, "SHA256");
  EXPECT_EQ(config->mfa.totp_digits, 8u);
  EXPECT_EQ(config->mfa.totp_period, std::chrono::seconds(60));
  EXPECT_EQ(config->mfa.totp_window, 2u);
  EXPECT_EQ(config->mfa.backup_codes, 12u);
  EXPECT_TRUE(config->mfa.sms_enabled);
  EXPECT_EQ(config->mfa.sms_auth_header.value.reveal(), "Basic QUMxMjM6c2VjcmV0");
  EXPECT_EQ(config->mfa.sms_attempts, 4u);
  // The credential never shows in the rendering.
  EXPECT_EQ(RenderMasked(*config).find("QUMxMjM6"), std::string::npos);
}

TEST(ConfigMfaKeys, DefaultsMatchTheIssue) {
  Config config = DefaultConfig(Profile::kDevelopment);
  EXPECT_EQ(config.mfa.issuer, "Gatehouse");
  EXPECT_EQ(config.mfa.totp_algorithm, "SHA1");
  EXPECT_EQ(config.mfa.totp_digits, 6u);
  EXPECT_EQ(config.mfa.totp_period, std::chrono::seconds(30));
  EXPECT_EQ(config.mfa.totp_window, 1u);
  EXPECT_EQ(config.mfa.backup_codes, 10u);
  EXPECT_EQ(config.mfa.ticket_ttl, std::chrono::seconds(300));
  EXPECT_EQ(config.mfa.sms_code_ttl, std::chrono::seconds(300));
  EXPECT_FALSE(config.mfa.sms_enabled);
}

TEST(ConfigMfaKeys, RefusesBadValuesAndHalfConfiguredSenders) {
  TempDir dir;
  auto file = dir.Write("gatehouse.toml", std::string(kMinimal) + R"(
[mfa]
issuer = "Bad:Issuer"
totp_algorithm = "MD5"
totp_digits = 9
sms_enabled = true
sms_url = "http://sms.example/send"
sms_body_template = "To=${to}"
sms_message = "no placeholder"
)");
  auto config = LoadConfig(file, {{"GATEHOUSE_CRYPTO_MASTER_KEY", std::string(kMasterKey)}});
  ASSERT_FALSE(config.ok());
  const std::vector<std::string> problems = ConfigProblems(config.error());
  for (std::string_view prefix :
       {"mfa.issuer:", "mfa.totp_algorithm:", "mfa.totp_digits:", "mfa.sms_url: must be https",
        "mfa.sms_body_template: must contain", "mfa.sms_message: must contain"}) {
    EXPECT_TRUE(HasProblemStartingWith(problems, prefix)) << prefix << "\n"
                                                          << config.error().detail();
  }
}

TEST(ConfigMfaKeys, TwilioPresetNeedsItsAccountAndCredential) {
  TempDir dir;
  auto file =
      dir.Write("gatehouse.toml",
                std::string(kMinimal) + "[mfa]\nsms_enabled = true\nsms_preset = \"twilio\"\n");
  auto config = LoadConfig(file, {{"GATEHOUSE_CRYPTO_MASTER_KEY", std::string(kMasterKey)}});
  ASSERT_FALSE(config.ok());
  const std::vector<std::string> problems = ConfigProblems(config.error());
  EXPECT_TRUE(HasProblemStartingWith(problems, "mfa.sms_twilio_account_sid: required"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "mfa.sms_from: required"));
  EXPECT_TRUE(HasProblemStartingWith(problems, "mfa.sms_auth_header: required"));
}

TEST(ConfigMfaKeys, TheSampleFileDocumentsEveryMfaKey) {
  const std::string sample = ReadFile(SampleConfig());
  const std::size_t section = sample.find("\n[mfa]\n");
  ASSERT_NE(section, std::string::npos);
  const std::string text = sample.substr(section);
  for (const auto& spec : config_internal::KeySpecs()) {
    if (spec.section != "mfa") continue;
    const std::string key(spec.key);
    // Written as `key = ...` or, for optional secrets, as a commented `# key = ...`.
    EXPECT_TRUE(text.find("\n" + key + " = ") != std::string::npos ||
                text.find("\n# " + key + " = ") != std::string::npos)
        << key;
  }
}

}  // namespace
}  // namespace gatehouse::core
