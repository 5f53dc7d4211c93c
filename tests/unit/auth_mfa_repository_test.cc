// The second-factor rows on both backends (SQLite and a throwaway PostgreSQL): pending and
// active factors, the envelope bound to its row, and backup codes spent exactly once even
// when many threads try the same code.

#include "auth/mfa_repository.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "crypto/keyring.h"
#include "store/migrations.h"
#include "store_test_support.h"

namespace gatehouse::auth {
namespace {

using store::testing::BackendNames;
using store::testing::Backends;
using store::testing::StoreFixture;

crypto::KeyRing MakeKeys() {
  auto keys = crypto::KeyRing::Parse(crypto::GenerateMasterKeyFile());
  EXPECT_TRUE(keys.ok());
  return std::move(keys).value();
}

template <typename Backend>
class MfaRepositoryTest : public StoreFixture<Backend> {
 protected:
  void SetUp() override {
    StoreFixture<Backend>::SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    auto migrated = store::Migrate(*this->store_, clock_);
    ASSERT_TRUE(migrated.ok()) << migrated.error().detail();
  }

  ManualClock clock_;
  crypto::KeyRing keys_ = MakeKeys();
};

TYPED_TEST_SUITE(MfaRepositoryTest, Backends, BackendNames);

TYPED_TEST(MfaRepositoryTest, APendingFactorBecomesActiveOnce) {
  MfaRepository repo(*this->store_, this->keys_, this->clock_);
  const Secret secret(std::string_view("twenty-byte-secret!!"));
  auto saved = repo.SavePending("acc_1", FactorKind::kTotp, secret);
  ASSERT_TRUE(saved.ok()) << saved.error().detail();

  auto found = repo.Find("acc_1", FactorKind::kTotp);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_FALSE((*found)->active);
  EXPECT_TRUE((*found)->value.Equals(secret));
  EXPECT_FALSE(repo.Find("acc_1", FactorKind::kSms)->has_value());

  EXPECT_TRUE(*repo.Activate("acc_1", saved->id));
  EXPECT_FALSE(*repo.Activate("acc_1", saved->id));
  EXPECT_TRUE((*repo.Find("acc_1", FactorKind::kTotp))->active);
  // With an active factor, a new pending one is refused.
  auto again = repo.SavePending("acc_1", FactorKind::kTotp, secret);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(*repo.Remove("acc_1", FactorKind::kTotp));
  EXPECT_FALSE(*repo.Remove("acc_1", FactorKind::kTotp));
}

TYPED_TEST(MfaRepositoryTest, ASecondPendingFactorReplacesTheFirst) {
  MfaRepository repo(*this->store_, this->keys_, this->clock_);
  auto first = repo.SavePending("acc_1", FactorKind::kSms, Secret(std::string_view("+1415")));
  auto second = repo.SavePending("acc_1", FactorKind::kSms, Secret(std::string_view("+4477")));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(*repo.Activate("acc_1", first->id));
  auto found = repo.Find("acc_1", FactorKind::kSms);
  EXPECT_EQ((*found)->value.reveal(), "+4477");
}

TYPED_TEST(MfaRepositoryTest, ABackupCodeIsSpentExactlyOnceUnderConcurrency) {
  MfaRepository repo(*this->store_, this->keys_, this->clock_);
  const std::string hash = MfaRepository::BackupCodeHash("acc_1", "abcdefghijklmnop");
  ASSERT_TRUE(repo.ReplaceBackupCodes(
                      "acc_1", {hash, MfaRepository::BackupCodeHash("acc_1", "qrstuvwxyz234567")})
                  .ok());
  EXPECT_EQ(*repo.BackupCodesLeft("acc_1"), 2);
  // Another account's hash of the same text is a different hash.
  EXPECT_NE(MfaRepository::BackupCodeHash("acc_2", "abcdefghijklmnop"), hash);

  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto used = repo.UseBackupCode("acc_1", hash);
      if (used.ok() && *used) winners++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(*repo.BackupCodesLeft("acc_1"), 1);
  EXPECT_FALSE(*repo.UseBackupCode("acc_2", hash));

  ASSERT_TRUE(repo.ReplaceBackupCodes("acc_1", {}).ok());
  EXPECT_EQ(*repo.BackupCodesLeft("acc_1"), 0);
}

}  // namespace
}  // namespace gatehouse::auth
