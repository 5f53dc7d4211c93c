#pragma once

// Backends for the store test suites. Every typed suite runs the same bodies on
// SqliteBackend and PostgresBackend.
//
// PostgreSQL: unless GATEHOUSE_TEST_POSTGRES_URL names a database, the first test
// that needs one starts a throwaway cluster with scripts/pg-test-cluster.sh on a
// free loopback port; a global Environment stops it when the test program ends.
// The start is lazy so that a run that selects no PostgreSQL test (ctest runs each
// test in its own process) does not pay for a cluster. Each process works in its
// own schema (search_path), so processes sharing one database do not collide.
// If the cluster cannot start, the tests fail with the script's output.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/secret.h"
#include "process_support.h"
#include "core/status.h"
#include "store/store.h"

namespace gatehouse::store::testing {

inline std::string PgClusterScript() {
  return std::string(GATEHOUSE_SOURCE_DIR) + "/scripts/pg-test-cluster.sh";
}

inline std::pair<int, std::string> RunCommand(const std::string& command) {
  return gatehouse::testing::RunShell(command);
}
using gatehouse::testing::FreeLoopbackPort;

struct PostgresCluster {
  std::mutex mu;
  bool attempted = false;  // Start() ran since the last Stop().
  std::string dir;         // Non-empty when this process started a cluster.
  std::string base_url;    // The database URL.
  std::string url;         // base_url with this process's schema on the search_path.
  std::string schema;
  std::string failure;  // Why no database is available.

  static PostgresCluster& Get() {
    static PostgresCluster cluster;
    return cluster;
  }

  void Start() {
    if (const char* shared = std::getenv("GATEHOUSE_TEST_POSTGRES_URL");
        shared != nullptr && *shared != '\0') {
      base_url = shared;
    } else {
      char tmpl[] = "/tmp/gatehouse-pg-XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) {
        failure = "mkdtemp failed";
        return;
      }
      dir = tmpl;
      const int port = FreeLoopbackPort();
      auto [status, output] =
          RunCommand("'" + PgClusterScript() + "' start '" + dir + "' " + std::to_string(port));
      if (status != 0) {
        failure = "pg-test-cluster.sh start failed:\n" + output;
        return;
      }
      base_url = output.substr(0, output.find('\n'));
    }

    // Own schema per process, so processes sharing a database stay apart.
    schema = "gh_test_" + std::to_string(::getpid());
    StoreOptions options;
    options.driver = "postgres";
    options.postgres_url = Secret(base_url);
    options.pool_size = 1;
    auto admin = OpenStore(options);
    if (!admin.ok()) {
      failure = "cannot reach the test database: " + admin.error().detail();
      return;
    }
    auto created = (*admin)->Execute("CREATE SCHEMA IF NOT EXISTS " + schema);
    if (!created.ok()) {
      failure = "cannot create schema: " + created.error().detail();
      return;
    }
    const char separator = base_url.find('?') == std::string::npos ? '?' : '&';
    url = base_url + separator + "options=-csearch_path%3D" + schema;
  }

  void Stop() {
    std::lock_guard lock(mu);
    attempted = false;
    failure.clear();
    if (!dir.empty()) {
      RunCommand("'" + PgClusterScript() + "' stop '" + dir + "'");
      std::error_code ec;
      std::filesystem::remove(dir, ec);  // Left empty when the start failed early.
      dir.clear();
      base_url.clear();
      url.clear();
      schema.clear();
      return;
    }
    if (schema.empty() || base_url.empty()) return;
    // A shared database: remove only what this process made.
    StoreOptions options;
    options.driver = "postgres";
    options.postgres_url = Secret(base_url);
    options.pool_size = 1;
    if (auto admin = OpenStore(options); admin.ok()) {
      (void)(*admin)->Execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    }
    schema.clear();
  }
};

class PostgresClusterEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { PostgresCluster::Get().Stop(); }
};

inline ::testing::Environment* const kPostgresEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresClusterEnvironment);

// The URL of this process's PostgreSQL test schema, or the reason there is none.
inline Result<std::string> PostgresTestUrl() {
  auto& cluster = PostgresCluster::Get();
  std::lock_guard lock(cluster.mu);
  if (!cluster.attempted) {
    cluster.attempted = true;
    cluster.Start();
  }
  if (!cluster.failure.empty()) return Internal(cluster.failure);
  return cluster.url;
}

struct StoreTweaks {
  int pool_size = 4;
  std::chrono::milliseconds wait_timeout{5000};
  bool sqlite_synchronous_full = true;
};

class SqliteBackend {
 public:
  static constexpr std::string_view kName = "sqlite";
  static constexpr std::string_view kBlobType = "BLOB";

  SqliteBackend() {
    char tmpl[] = "/tmp/gatehouse-sqlite-XXXXXX";
    dir_ = ::mkdtemp(tmpl) != nullptr ? tmpl : "";
  }
  ~SqliteBackend() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  SqliteBackend(const SqliteBackend&) = delete;
  SqliteBackend& operator=(const SqliteBackend&) = delete;

  std::string path() const { return dir_ + "/gatehouse.db"; }
  const std::string& dir() const { return dir_; }

  // Every Open() of one backend object reaches the same database.
  Result<std::unique_ptr<Store>> Open(const StoreTweaks& tweaks = {}) const {
    StoreOptions options;
    options.driver = "sqlite";
    options.sqlite_path = path();
    options.pool_size = tweaks.pool_size;
    options.wait_timeout = tweaks.wait_timeout;
    options.sqlite_synchronous_full = tweaks.sqlite_synchronous_full;
    return OpenStore(options);
  }

 private:
  std::string dir_;
};

class PostgresBackend {
 public:
  static constexpr std::string_view kName = "postgres";
  static constexpr std::string_view kBlobType = "BYTEA";

  Result<std::unique_ptr<Store>> Open(const StoreTweaks& tweaks = {}) const {
    auto url = PostgresTestUrl();
    if (!url.ok()) return std::move(url).error();
    StoreOptions options;
    options.driver = "postgres";
    options.postgres_url = Secret(*url);
    options.pool_size = tweaks.pool_size;
    options.wait_timeout = tweaks.wait_timeout;
    return OpenStore(options);
  }
};

// Tables the store suites create. PostgreSQL keeps them between tests, so every
// test starts by dropping them.
inline Status DropTestTables(Store& store) {
  for (const char* table : {"child", "parent", "items", "kv", "counter", "gatehouse_meta",
                            "schema_migrations", "mig_a", "mig_b", "mig_c", "mig_blob",
                            "accounts", "sessions", "refresh_tokens", "ip_rules",
                            "protect_blocks", "mfa_factors", "mfa_backup_codes",
                            "service_accounts", "api_keys", "oidc_identities"}) {
    GH_RETURN_IF_ERROR(store.Execute(std::string("DROP TABLE IF EXISTS ") + table));
  }
  return Ok();
}

// Fixture base: opens the backend's store and clears the test tables. A backend
// that cannot start fails the test (with its output), never skips it.
template <typename Backend>
class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = backend_.Open();
    ASSERT_TRUE(store.ok()) << store.error().message() << "\n" << store.error().detail();
    store_ = std::move(*store);
    auto dropped = DropTestTables(*store_);
    ASSERT_TRUE(dropped.ok()) << dropped.error().detail();
  }

  Backend backend_;
  std::unique_ptr<Store> store_;
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return std::string(T::kName);
  }
};

}  // namespace gatehouse::store::testing
