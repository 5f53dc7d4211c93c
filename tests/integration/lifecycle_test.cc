// Process lifecycle under signals: SIGTERM drains (in-flight requests finish, new
// connections are refused, exit 0) and SIGHUP swaps the TLS certificate without dropping
// the service.

#include <signal.h>

#include <future>
#include <string>
#include <thread>

#include "harness.h"

namespace gatehouse::itest {
namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<RunningServer> StartDrainServer(std::string* why) {
  auto deployment = StandardDeployment();
  deployment->Set("server", "read_timeout_ms", std::int64_t{10000});
  deployment->Set("server", "drain_timeout_ms", std::int64_t{10000});
  return StartServer(std::move(deployment), why);
}

// GET /test/slow?ms=N on its own thread and connection.
std::future<std::optional<HttpResponse>> StartSlowRequest(std::uint16_t port, int ms,
                                                          std::string* error) {
  return std::async(std::launch::async, [port, ms, error] {
    return Exchange(Connection::Kind::kTls, port, RawGet("/test/slow?ms=" + std::to_string(ms)),
                    Millis(8000), error);
  });
}

TEST(Drain, InFlightRequestCompletesAndExitZero) {
  std::string why;
  auto server = StartDrainServer(&why);
  ASSERT_NE(server, nullptr) << why;
  std::string slow_error;
  auto slow = StartSlowRequest(server->port(), 1500, &slow_error);

  std::this_thread::sleep_for(Millis(300));
  server->process->Signal(SIGTERM);
  auto response = slow.get();
  auto exit = server->process->WaitExit(Millis(5000));

  ASSERT_TRUE(response) << "slow request lost during drain: " << slow_error << "\nstderr:\n"
                        << Tail(server->process->Stderr());
  EXPECT_EQ(response->status, 200);
  ASSERT_TRUE(exit) << "still running 5 s after the drained request finished";
  EXPECT_TRUE(exit->exited) << "killed by signal " << exit->signal;
  EXPECT_EQ(exit->code, 0) << Tail(server->process->Stderr());
}

TEST(Drain, RefusesNewConnectionsWhileDraining) {
  std::string why;
  auto server = StartDrainServer(&why);
  ASSERT_NE(server, nullptr) << why;
  std::string slow_error;
  auto slow = StartSlowRequest(server->port(), 1500, &slow_error);
  std::this_thread::sleep_for(Millis(300));

  server->process->Signal(SIGTERM);
  // Poll briefly: the listener closes asynchronously, but well before the slow request
  // (still ~1.2 s from done) lets the process go.
  bool refused = false;
  std::string last;
  auto deadline = Clock::now() + Millis(800);
  while (!refused && Clock::now() < deadline) {
    std::this_thread::sleep_for(Millis(50));
    auto conn =
        Connection::Open(Connection::Kind::kTcp, server->port(), Millis(500), &last, &refused);
  }
  bool slow_still_running = slow.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
  auto response = slow.get();

  EXPECT_TRUE(refused) << "new connections still accepted after SIGTERM (last: " << last << ")";
  EXPECT_TRUE(slow_still_running) << "the check ran after the drain ended; it proves nothing";
  ASSERT_TRUE(response) << slow_error;
  EXPECT_EQ(response->status, 200);
  auto exit = server->process->WaitExit(Millis(5000));
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 0);
}

TEST(Drain, IdleServerExitsZeroPromptly) {
  std::string why;
  auto server = StartDrainServer(&why);
  ASSERT_NE(server, nullptr) << why;

  server->process->Signal(SIGTERM);
  auto exit = server->process->WaitExit(Millis(3000));

  ASSERT_TRUE(exit) << "an idle server took over 3 s to stop";
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->code, 0);
}

class Reload : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = StartServer(std::make_unique<Deployment>(Deployment::Profile::kDevelopment), &why);
    ASSERT_NE(server_, nullptr) << why;
  }

  std::string SubjectOfNewConnection() {
    std::string error;
    auto conn = Connection::Open(Connection::Kind::kTls, server_->port(), Millis(3000), &error);
    return conn == nullptr ? "(connect failed: " + error + ")" : conn->PeerSubject();
  }

  // Polls new connections until one presents `cn`, bounded.
  bool WaitForSubject(const std::string& cn, std::string* last) {
    auto deadline = Clock::now() + Millis(5000);
    while (Clock::now() < deadline) {
      *last = SubjectOfNewConnection();
      if (last->find("CN=" + cn) != std::string::npos) return true;
      std::this_thread::sleep_for(Millis(100));
    }
    return false;
  }

  std::unique_ptr<RunningServer> server_;
};

TEST_F(Reload, SighupServesNewCertificate) {
  ASSERT_NE(SubjectOfNewConnection().find("CN=localhost"), std::string::npos);
  ASSERT_TRUE(server_->deployment->WriteCertificate("reloaded.gatehouse.test", true));

  server_->process->Signal(SIGHUP);
  std::string last;
  bool seen = WaitForSubject("reloaded.gatehouse.test", &last);

  EXPECT_TRUE(seen) << "still presenting: " << last << "\nstderr:\n"
                    << Tail(server_->process->Stderr());
  EXPECT_TRUE(server_->process->Alive());
}

TEST_F(Reload, OpenConnectionKeepsWorkingAcrossReload) {
  std::string error;
  auto conn = Connection::Open(Connection::Kind::kTls, server_->port(), Millis(3000), &error);
  ASSERT_NE(conn, nullptr) << error;
  ASSERT_TRUE(conn->Send(RawGet("/healthz", false), Millis(3000)));
  ASSERT_TRUE(conn->ReadResponse(Millis(3000)));
  ASSERT_TRUE(server_->deployment->WriteCertificate("reloaded.gatehouse.test", true));

  server_->process->Signal(SIGHUP);
  std::string last;
  ASSERT_TRUE(WaitForSubject("reloaded.gatehouse.test", &last)) << last;
  ASSERT_TRUE(conn->Send(RawGet("/healthz", false), Millis(3000))) << conn->last_error();
  auto response = conn->ReadResponse(Millis(3000));

  ASSERT_TRUE(response) << conn->last_error();
  EXPECT_EQ(response->status, 200);
}

TEST_F(Reload, BrokenCertificateKeepsOldOne) {
  // An operator's botched copy must not take the service down: the reload is refused and
  // the previous certificate stays in use.
  server_->deployment->WriteFile("tls/cert.pem", "-----BEGIN CERTIFICATE-----\nnope\n");

  server_->process->Signal(SIGHUP);
  std::this_thread::sleep_for(Millis(500));
  std::string error;
  auto health =
      Exchange(Connection::Kind::kTls, server_->port(), RawGet("/healthz"), Millis(3000), &error);

  EXPECT_TRUE(server_->process->Alive()) << Tail(server_->process->Stderr());
  ASSERT_TRUE(health) << error;
  EXPECT_EQ(health->status, 200);
  EXPECT_NE(SubjectOfNewConnection().find("CN=localhost"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::itest
