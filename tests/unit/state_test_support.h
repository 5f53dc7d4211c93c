#pragma once

// Backends for the state store suites: every typed test body runs on MemoryBackend
// and RedisBackend.
//
// Redis: the first test that needs a server starts a throwaway one with
// scripts/redis-test-server.sh on a free loopback port; a global Environment stops it
// (and deletes its directory) when the test program ends. The start is lazy, so a run
// that selects only memory tests pays nothing. If the server cannot start, the tests
// FAIL with the script's output; they are never skipped.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "process_support.h"
#include "core/secret.h"
#include "core/status.h"
#include "state/memory/memory_state.h"
#include "state/redis/redis_state.h"
#include "state/state.h"

namespace gatehouse::state::testing {

inline std::string RedisScriptPath() {
  return std::string(GATEHOUSE_SOURCE_DIR) + "/scripts/redis-test-server.sh";
}

using gatehouse::testing::RunShell;
inline std::pair<int, std::string> Run(const std::string& command) { return RunShell(command); }
inline int FreePort() { return gatehouse::testing::FreeLoopbackPort(); }

class RedisTestServer {
 public:
  static RedisTestServer& Get() {
    static RedisTestServer server;
    return server;
  }

  // Starts the server on first use; its failure, if it could not start.
  Status Ensure() {
    std::lock_guard lock(mu_);
    if (!attempted_) {
      attempted_ = true;
      StartLocked();
    }
    if (!failure_.empty()) return Internal(failure_);
    return Ok();
  }

  // Stops the server but keeps its directory and password (for restart tests).
  Status Halt() {
    std::lock_guard lock(mu_);
    auto [status, output] = Run("'" + RedisScriptPath() + "' halt '" + dir_ + "'");
    if (status != 0) return Internal("halt failed: " + output);
    return Ok();
  }

  // Starts it again on the same port with the same password.
  Status Restart() {
    std::lock_guard lock(mu_);
    auto [status, output] =
        Run("'" + RedisScriptPath() + "' start '" + dir_ + "' " + std::to_string(port_));
    if (status != 0) return Internal("restart failed: " + output);
    return Ok();
  }

  // Runs redis-cli against the server (for test set-up the store does not offer).
  std::pair<int, std::string> Cli(const std::string& args) {
    std::lock_guard lock(mu_);
    return Run("REDISCLI_AUTH=\"$(cat '" + dir_ + "/password')\" redis-cli --no-auth-warning " +
               "-h 127.0.0.1 -p " + std::to_string(port_) + " " + args);
  }

  void Stop() {
    std::lock_guard lock(mu_);
    if (!dir_.empty()) Run("'" + RedisScriptPath() + "' stop '" + dir_ + "'");
    dir_.clear();
    attempted_ = false;
    failure_.clear();
  }

  int port() const { return port_; }
  Secret password() const { return password_; }

 private:
  void StartLocked() {
    char tmpl[] = "/tmp/gatehouse-redis-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      failure_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    port_ = FreePort();
    auto [status, output] =
        Run("'" + RedisScriptPath() + "' start '" + dir_ + "' " + std::to_string(port_));
    if (status != 0) {
      failure_ = "redis-test-server.sh start failed:\n" + output;
      return;
    }
    std::ifstream in(dir_ + "/password");
    std::string password;
    std::getline(in, password);
    if (password.empty()) {
      failure_ = "redis-test-server.sh wrote no password";
      return;
    }
    password_ = Secret(password);
    SecureWipe(password);
  }

  std::mutex mu_;
  bool attempted_ = false;
  std::string dir_;
  int port_ = 0;
  Secret password_;
  std::string failure_;
};

class RedisTestEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { RedisTestServer::Get().Stop(); }
};

inline ::testing::Environment* const kRedisEnvironment =
    ::testing::AddGlobalTestEnvironment(new RedisTestEnvironment);

// Options for the test server, with a key prefix of their own so that tests never
// see each other's keys.
inline Result<RedisStateOptions> RedisTestOptions() {
  GH_RETURN_IF_ERROR(RedisTestServer::Get().Ensure());
  static std::atomic<int> next{0};
  RedisStateOptions options;
  options.host = "127.0.0.1";
  options.port = static_cast<std::uint16_t>(RedisTestServer::Get().port());
  options.password = RedisTestServer::Get().password();
  options.prefix = "ghtest:" + std::to_string(::getpid()) + ":" + std::to_string(next++) + ":";
  // Generous: the machine may be busy; the timeout tests set their own.
  options.call_timeout = std::chrono::milliseconds(2000);
  return options;
}

class MemoryBackend {
 public:
  static constexpr std::string_view kName = "memory";

  Result<std::unique_ptr<StateStore>> Open() {
    MemoryStateOptions options;
    options.shards = 8;
    return std::unique_ptr<StateStore>(std::make_unique<MemoryStateStore>(clock_, options));
  }

  // A span of time long enough to be measured reliably by this backend.
  std::chrono::milliseconds Unit() const { return std::chrono::seconds(10); }
  // Lets `d` pass for the store.
  void Elapse(std::chrono::milliseconds d) { clock_.Advance(d); }

 private:
  ManualClock clock_;
};

class RedisBackend {
 public:
  static constexpr std::string_view kName = "redis";

  Result<std::unique_ptr<StateStore>> Open() {
    auto options = RedisTestOptions();
    if (!options.ok()) return std::move(options).error();
    auto store = OpenRedisState(*options);
    if (!store.ok()) return std::move(store).error();
    return std::unique_ptr<StateStore>(std::move(*store));
  }

  // Redis keeps real time: short, but above the stalls of a 2-core machine running the
  // integration suite beside this one (150 ms was not: a window of two units closed early).
  std::chrono::milliseconds Unit() const { return std::chrono::milliseconds(300); }
  void Elapse(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }
};

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return std::string(T::kName);
  }
};

}  // namespace gatehouse::state::testing
