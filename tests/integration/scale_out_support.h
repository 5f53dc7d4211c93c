#pragma once

// Two `gatehouse serve` instances sharing one throwaway PostgreSQL store and one throwaway
// Redis state, with the same master key (field encryption, the email blind index) and token
// secret: how a scaled-out deployment runs, so each instance reads the other's rows and
// accepts the other's tokens.
//
// A suite derives as `class S : public ScaleOutTest<S>` and defines
//   static std::unique_ptr<Deployment> BaseDeployment();  // what each instance serves
//   static constexpr const char* kStatePrefix = "gh-...:";  // its keys in Redis

#include <iostream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "auth_support.h"

namespace gatehouse::itest {

template <typename Suite>
class ScaleOutTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    failure_.clear();
    postgres_ = TestPostgres::Start(&failure_);
    if (postgres_ == nullptr) return;
    redis_ = TestRedis::Start(&failure_);
    if (redis_ == nullptr) return;
    auto first = MakeDeployment();
    auto second = MakeDeployment();
    if (!second->CopyFileFrom(*first, "keys/master.key") ||
        !second->CopyFileFrom(*first, "keys/token-hmac.key")) {
      failure_ = "could not copy the keys";
      return;
    }
    a_ = StartServer(std::move(first), &failure_);
    if (a_ == nullptr) return;
    b_ = StartServer(std::move(second), &failure_);
  }

  static void TearDownTestSuite() {
    b_.reset();
    a_.reset();
    redis_.reset();
    postgres_.reset();
  }

  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = Suite::BaseDeployment();
    deployment->Set("store", "driver", "postgres");
    deployment->Unset("store", "sqlite_path");
    deployment->Set("store", "postgres_url_file", postgres_->url_file().string());
    deployment->Set("state", "driver", "redis");
    deployment->Set("state", "redis_host", "127.0.0.1");
    deployment->Set("state", "redis_port", static_cast<std::int64_t>(redis_->port()));
    deployment->Set("state", "redis_password_file", redis_->password_file().string());
    deployment->Set("state", "prefix", Suite::kStatePrefix);
    return deployment;
  }

  void SetUp() override { ASSERT_NE(b_, nullptr) << failure_; }
  void TearDown() override {
    if (!this->HasFailure() || b_ == nullptr) return;
    std::cerr << "--- instance A stderr (tail) ---\n" << Tail(a_->process->Stderr()) << "\n";
    std::cerr << "--- instance B stderr (tail) ---\n" << Tail(b_->process->Stderr()) << "\n";
  }

  static inline std::unique_ptr<TestPostgres> postgres_;
  static inline std::unique_ptr<TestRedis> redis_;
  static inline std::unique_ptr<RunningServer> a_;
  static inline std::unique_ptr<RunningServer> b_;
  static inline std::string failure_;
};

}  // namespace gatehouse::itest
