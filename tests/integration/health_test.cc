// Liveness and readiness probes, the documented development setup, and the logs the
// process writes while serving (JSON lines, no secrets).

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>

#include "harness.h"

namespace gatehouse::itest {
namespace {

class Health : public SharedServerTest<Health> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    return std::make_unique<Deployment>(Deployment::Profile::kDevelopment);
  }
};

TEST_F(Health, HealthzOk) {
  std::string error;
  auto response =
      Exchange(Connection::Kind::kTls, port(), RawGet("/healthz"), Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  EXPECT_EQ(response->status, 200);
}

TEST_F(Health, ReadyzOkWithSqlite) {
  std::string error;
  auto response = Exchange(Connection::Kind::kTls, port(), RawGet("/readyz"), Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_TRUE(std::filesystem::exists(server().deployment->dir() / "gatehouse.db"));
}

TEST_F(Health, TestEndpointsOffByDefault) {
  std::string error;
  auto response =
      Exchange(Connection::Kind::kTls, port(), RawGet("/test/error"), Millis(5000), &error);

  ASSERT_TRUE(response) << error;
  EXPECT_EQ(response->status, 404);
}

// libcurl and libpq, with the GnuTLS, Kerberos and LDAP libraries they pull in, are opened
// only by the features that use them (core/lazy_library.h): a server on SQLite that has sent
// nothing has mapped neither.
TEST_F(Health, IdleSqliteServerMapsNeitherLibcurlNorLibpq) {
  std::string error;
  ASSERT_TRUE(Exchange(Connection::Kind::kTls, port(), RawGet("/healthz"), Millis(5000), &error))
      << error;
  std::ifstream maps("/proc/" + std::to_string(server().process->pid()) + "/maps");
  ASSERT_TRUE(maps.good());
  std::string line;
  while (std::getline(maps, line)) {
    EXPECT_EQ(line.find("libcurl"), std::string::npos) << line;
    EXPECT_EQ(line.find("libpq"), std::string::npos) << line;
    EXPECT_EQ(line.find("libgnutls"), std::string::npos) << line;
  }
}

TEST(DevSetup, ScriptOutputServes) {
  // scripts/dev-setup.sh is what a new user runs; its output must start as is. Ports come
  // from the environment so the test does not need 8443/8080 to be free.
  Deployment scratch(Deployment::Profile::kDevelopment);
  std::filesystem::path dir = scratch.dir() / "var";
  CommandResult setup = RunCommand(
      {"bash", (RepoRoot() / "scripts/dev-setup.sh").string(), dir.string()}, Millis(30000));
  ASSERT_EQ(setup.exit_code, 0) << setup.err;
  std::uint16_t port = FreePort();
  std::uint16_t redirect = FreePort();

  auto process =
      ServerProcess::Spawn({"serve", "--config", (dir / "gatehouse.toml").string()}, dir,
                           {{"GATEHOUSE_SERVER_PORT", std::to_string(port)},
                            {"GATEHOUSE_SERVER_REDIRECT_PORT", std::to_string(redirect)}});
  ASSERT_NE(process, nullptr);
  std::string why;
  ASSERT_TRUE(process->WaitHealthy(port, Millis(10000), &why)) << why;
  std::string error;
  auto ready = Exchange(Connection::Kind::kTls, port, RawGet("/readyz"), Millis(5000), &error);

  ASSERT_TRUE(ready) << error;
  EXPECT_EQ(ready->status, 200);
}

// Every non-empty line of `text` parses as a JSON object; returns the first that does not.
std::string FirstNonJsonLine(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(line, ec);
    if (ec || !value.is_object()) return line;
  }
  return {};
}

class Logs : public ::testing::Test {
 protected:
  void SetUp() override {
    auto deployment = StandardDeployment();
    master_key_ = RandomBase64(32);
    hmac_secret_ = RandomBase64(48);
    deployment->WriteFile("keys/master.key", std::string(kDevMarker) + "\nv1:" + master_key_);
    deployment->WriteFile("keys/token-hmac.key", std::string(kDevMarker) + "\n" + hmac_secret_);
    std::string why;
    server_ = StartServer(std::move(deployment), &why);
    ASSERT_NE(server_, nullptr) << why;

    // Some traffic, errors included, so both logs have lines to check.
    for (const char* path : {"/healthz", "/no/such/route", "/test/error", "/test/throw"}) {
      Exchange(Connection::Kind::kTls, server_->port(), RawGet(path), Millis(5000));
    }
    Exchange(Connection::Kind::kTls, server_->port(), "GARBAGE\r\n\r\n", Millis(5000));
    // Stop the server so its logs are flushed and complete.
    server_->process->Signal(SIGTERM);
    ASSERT_TRUE(server_->process->WaitExit(Millis(5000)));
  }

  std::unique_ptr<RunningServer> server_;
  std::string master_key_;
  std::string hmac_secret_;
};

TEST_F(Logs, AccessLogIsJsonLines) {
  std::string out = server_->process->Stdout();

  ASSERT_FALSE(out.empty()) << "no access log on stdout";
  EXPECT_EQ(FirstNonJsonLine(out), "");
  EXPECT_NE(out.find("/no/such/route"), std::string::npos) << Tail(out);
}

TEST_F(Logs, AppLogIsJsonLines) {
  std::string err = server_->process->Stderr();

  ASSERT_FALSE(err.empty()) << "no app log on stderr";
  EXPECT_EQ(FirstNonJsonLine(err), "");
}

TEST_F(Logs, NoSecretInLogs) {
  std::string all = server_->process->Stdout() + server_->process->Stderr();

  EXPECT_EQ(all.find(master_key_.substr(0, 16)), std::string::npos);
  EXPECT_EQ(all.find(hmac_secret_.substr(0, 16)), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::itest
