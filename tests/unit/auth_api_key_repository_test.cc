#include "auth/api_key_repository.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/migrations.h"
#include "store_test_support.h"

namespace gatehouse::auth {
namespace {

using store::testing::BackendNames;
using store::testing::Backends;
using store::testing::StoreFixture;
using Outcome = ApiKeyRepository::RotateOutcome;

constexpr std::int64_t kT0 = 1'700'000'000;

template <typename Backend>
class ApiKeyRepositoryTest : public StoreFixture<Backend> {
 protected:
  void SetUp() override {
    StoreFixture<Backend>::SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    auto migrated = store::Migrate(*this->store_, clock_);
    ASSERT_TRUE(migrated.ok()) << migrated.error().detail();
    repo_.emplace(*this->store_, clock_);
  }

  NewApiKey Sample(std::string id, std::string hash, std::string owner = "acc_1") const {
    NewApiKey k;
    k.id = std::move(id);
    k.key_hash = std::move(hash);
    k.hash_version = 1;
    k.prefix = "gh_test_abcdefgh";
    k.name = "bot";
    k.owner_kind = OwnerKind::kUser;
    k.owner_id = std::move(owner);
    k.scopes = {"a:read", "b:write"};
    k.created_by = "acc_1";
    k.created_at = kT0;
    k.expires_at = kT0 + 1000;
    return k;
  }

  void MustInsert(const NewApiKey& key) {
    Status inserted = repo_->Insert(key);
    ASSERT_TRUE(inserted.ok()) << inserted.error().detail();
  }

  ManualClock clock_;
  std::optional<ApiKeyRepository> repo_;
};

TYPED_TEST_SUITE(ApiKeyRepositoryTest, Backends, BackendNames);

TYPED_TEST(ApiKeyRepositoryTest, FindsAKeyByItsHashAndVersionOnly) {
  this->MustInsert(this->Sample("key_a", "hash-a"));
  const KeyHash right[] = {{"hash-a", 1}};
  auto found = this->repo_->FindByHash(right);
  ASSERT_TRUE(found.ok()) << found.error().detail();
  ASSERT_TRUE(*found);
  EXPECT_EQ((*found)->id, "key_a");
  EXPECT_EQ((*found)->scopes, (std::vector<std::string>{"a:read", "b:write"}));
  EXPECT_EQ((*found)->owner_kind, OwnerKind::kUser);
  EXPECT_EQ((*found)->EndsAt(), kT0 + 1000);

  const KeyHash wrong_version[] = {{"hash-a", 2}};
  EXPECT_FALSE(*this->repo_->FindByHash(wrong_version));
  const KeyHash several[] = {{"hash-x", 2}, {"hash-a", 1}};
  EXPECT_EQ((*this->repo_->FindByHash(several))->id, "key_a");
}

TYPED_TEST(ApiKeyRepositoryTest, AHashIsStoredOnce) {
  this->MustInsert(this->Sample("key_a", "hash-a"));
  Status again = this->repo_->Insert(this->Sample("key_b", "hash-a"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
}

TYPED_TEST(ApiKeyRepositoryTest, RotationLinksTheSuccessorAndSetsTheGrace) {
  this->MustInsert(this->Sample("key_old", "hash-old"));
  NewApiKey successor = this->Sample("key_new", "hash-new");

  auto outcome = this->repo_->Rotate("key_old", successor, kT0 + 100, kT0 + 10);

  ASSERT_TRUE(outcome.ok()) << outcome.error().detail();
  EXPECT_EQ(*outcome, Outcome::kRotated);
  auto old = *this->repo_->FindById("key_old");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->rotated_to, "key_new");
  EXPECT_EQ(old->grace_until, kT0 + 100);
  EXPECT_EQ(old->EndsAt(), kT0 + 100);
  auto fresh = *this->repo_->FindById("key_new");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->rotated_from, "key_old");
}

TYPED_TEST(ApiKeyRepositoryTest, GraceIsCappedByTheOldExpiry) {
  this->MustInsert(this->Sample("key_old", "hash-old"));
  ASSERT_EQ(
      *this->repo_->Rotate("key_old", this->Sample("key_new", "hash-new"), kT0 + 5000, kT0 + 10),
      Outcome::kRotated);
  EXPECT_EQ((*this->repo_->FindById("key_old"))->EndsAt(), kT0 + 1000);
}

TYPED_TEST(ApiKeyRepositoryTest, RotationRefusesWhatCannotBeRotated) {
  this->MustInsert(this->Sample("key_a", "hash-a"));
  ASSERT_EQ(*this->repo_->Rotate("key_a", this->Sample("key_b", "hash-b"), kT0 + 100, kT0),
            Outcome::kRotated);
  EXPECT_EQ(*this->repo_->Rotate("key_a", this->Sample("key_c", "hash-c"), kT0 + 100, kT0),
            Outcome::kAlreadyRotated);
  EXPECT_EQ(*this->repo_->Rotate("key_zzz", this->Sample("key_d", "hash-d"), kT0 + 100, kT0),
            Outcome::kNotFound);
  ASSERT_TRUE(*this->repo_->Revoke("key_b", kT0, "test"));
  EXPECT_EQ(*this->repo_->Rotate("key_b", this->Sample("key_e", "hash-e"), kT0 + 100, kT0),
            Outcome::kNotActive);
  this->MustInsert(this->Sample("key_f", "hash-f"));
  EXPECT_EQ(*this->repo_->Rotate("key_f", this->Sample("key_g", "hash-g"), kT0 + 9000, kT0 + 1000),
            Outcome::kNotActive);  // Expired at kT0 + 1000.
  // Nothing was inserted by the refused rotations.
  EXPECT_FALSE(*this->repo_->FindById("key_c"));
  EXPECT_FALSE(*this->repo_->FindById("key_g"));
}

TYPED_TEST(ApiKeyRepositoryTest, ConcurrentRotationsMakeOneSuccessor) {
  this->MustInsert(this->Sample("key_a", "hash-a"));
  std::atomic<int> rotated{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto outcome = this->repo_->Rotate(
          "key_a", this->Sample("key_s" + std::to_string(i), "hash-s" + std::to_string(i)),
          kT0 + 100, kT0);
      if (outcome.ok() && *outcome == Outcome::kRotated) ++rotated;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(rotated.load(), 1);
}

TYPED_TEST(ApiKeyRepositoryTest, RevokeHappensOnce) {
  this->MustInsert(this->Sample("key_a", "hash-a"));
  EXPECT_TRUE(*this->repo_->Revoke("key_a", kT0 + 1, "user_revoked"));
  EXPECT_FALSE(*this->repo_->Revoke("key_a", kT0 + 2, "user_revoked"));
  EXPECT_FALSE(*this->repo_->Revoke("key_zzz", kT0 + 2, "user_revoked"));
  auto key = *this->repo_->FindById("key_a");
  EXPECT_EQ(key->revoked_at, kT0 + 1);
  EXPECT_EQ(key->revoke_reason, "user_revoked");
}

TYPED_TEST(ApiKeyRepositoryTest, UsageAddsUpAndKeepsTheNewestUse) {
  this->MustInsert(this->Sample("key_a", "hash-a"));
  const UsageDelta first[] = {{"key_a", 10, kT0 + 50, "203.0.113.0/24"}};
  const UsageDelta late[] = {{"key_a", 5, kT0 + 40, "198.51.100.0/24"}};  // Older, later.
  ASSERT_TRUE(this->repo_->AddUsage(first).ok());
  ASSERT_TRUE(this->repo_->AddUsage(late).ok());
  auto key = *this->repo_->FindById("key_a");
  EXPECT_EQ(key->usage_count, 15);
  EXPECT_EQ(key->last_used_at, kT0 + 50);
  EXPECT_EQ(key->last_ip, "203.0.113.0/24");
}

TYPED_TEST(ApiKeyRepositoryTest, CountsOnlyKeysThatStillCount) {
  this->MustInsert(this->Sample("key_live", "h1"));
  this->MustInsert(this->Sample("key_revoked", "h2"));
  this->MustInsert(this->Sample("key_rotated", "h3"));
  NewApiKey expired = this->Sample("key_expired", "h4");
  expired.expires_at = kT0 + 5;
  this->MustInsert(expired);
  this->MustInsert(this->Sample("key_other", "h5", "acc_2"));
  ASSERT_TRUE(*this->repo_->Revoke("key_revoked", kT0, "x"));
  ASSERT_EQ(*this->repo_->Rotate("key_rotated", this->Sample("key_succ", "h6"), kT0 + 100, kT0),
            Outcome::kRotated);

  // key_live and key_succ count; the rotated one (in its grace) does not.
  EXPECT_EQ(*this->repo_->CountActive(OwnerKind::kUser, "acc_1", kT0 + 10), 2);
  // Working keys include the rotated one while its grace lasts.
  EXPECT_EQ(this->repo_->Working(OwnerKind::kUser, "acc_1", kT0 + 10)->size(), 3u);
  EXPECT_EQ(this->repo_->Working(OwnerKind::kUser, "acc_1", kT0 + 200)->size(), 2u);
  EXPECT_EQ(this->repo_->List(OwnerKind::kUser, std::string_view("acc_1"))->size(), 5u);
  EXPECT_EQ(this->repo_->List(std::nullopt, std::nullopt)->size(), 6u);
}

TYPED_TEST(ApiKeyRepositoryTest, ExpiryNoticesAreClaimedOncePerDay) {
  NewApiKey soon = this->Sample("key_soon", "h1");
  soon.expires_at = kT0 + 3 * 86400;
  this->MustInsert(soon);
  NewApiKey far = this->Sample("key_far", "h2");
  far.expires_at = kT0 + 30 * 86400;
  this->MustInsert(far);

  const std::int64_t day = kT0 / 86400;
  auto ending = this->repo_->DueForExpiryNotice(kT0, kT0 + 14 * 86400, day, 100);
  ASSERT_TRUE(ending.ok()) << ending.error().detail();
  ASSERT_EQ(ending->size(), 1u);
  EXPECT_EQ((*ending)[0].id, "key_soon");

  EXPECT_TRUE(*this->repo_->ClaimExpiryNotice("key_soon", day));
  EXPECT_FALSE(*this->repo_->ClaimExpiryNotice("key_soon", day));
  // Reported today: no longer due today, due again tomorrow.
  EXPECT_TRUE(this->repo_->DueForExpiryNotice(kT0, kT0 + 14 * 86400, day, 100)->empty());
  EXPECT_EQ(this->repo_->DueForExpiryNotice(kT0, kT0 + 14 * 86400, day + 1, 100)->size(), 1u);
  EXPECT_TRUE(*this->repo_->ClaimExpiryNotice("key_soon", day + 1));
}

TYPED_TEST(ApiKeyRepositoryTest, ExpiryNoticesWorkThroughMoreKeysThanOneBatch) {
  for (int i = 0; i < 5; ++i) {
    NewApiKey key = this->Sample("key_" + std::to_string(i), "h" + std::to_string(i));
    key.expires_at = kT0 + 86400 + i;
    this->MustInsert(key);
  }
  const std::int64_t day = kT0 / 86400;
  std::set<std::string> reported;
  for (int batch = 0; batch < 3; ++batch) {
    auto due = this->repo_->DueForExpiryNotice(kT0, kT0 + 14 * 86400, day, 2);
    ASSERT_TRUE(due.ok());
    for (const ApiKeyRecord& key : *due) {
      if (*this->repo_->ClaimExpiryNotice(key.id, day)) reported.insert(key.id);
    }
  }
  EXPECT_EQ(reported.size(), 5u);
}

TYPED_TEST(ApiKeyRepositoryTest, RehashMovesAKeyToAnotherVersion) {
  this->MustInsert(this->Sample("key_a", "hash-v1"));
  ASSERT_TRUE(this->repo_->Rehash("key_a", {"hash-v2", 2}).ok());
  const KeyHash old[] = {{"hash-v1", 1}};
  EXPECT_FALSE(*this->repo_->FindByHash(old));
  const KeyHash now[] = {{"hash-v2", 2}};
  EXPECT_EQ((*this->repo_->FindByHash(now))->hash_version, 2u);
}

TYPED_TEST(ApiKeyRepositoryTest, ServiceAccountsBelongToTheirOwner) {
  auto mine = this->repo_->CreateServiceAccount("sync", "nightly", std::string("acc_1"), "acc_1");
  ASSERT_TRUE(mine.ok()) << mine.error().detail();
  auto ops = this->repo_->CreateServiceAccount("ops", "", std::nullopt, kAdminActor);
  ASSERT_TRUE(ops.ok());
  EXPECT_EQ(mine->id.rfind("sa_", 0), 0u);

  auto listed = this->repo_->ListServiceAccounts(std::string_view("acc_1"));
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].description, "nightly");
  EXPECT_EQ(this->repo_->ListServiceAccounts(std::nullopt)->size(), 2u);
  EXPECT_FALSE((*this->repo_->FindServiceAccount(ops->id))->owner_account_id);
  EXPECT_EQ(*this->repo_->CountActiveServiceAccounts("acc_1"), 1);

  EXPECT_TRUE(*this->repo_->DisableServiceAccount(mine->id, kT0));
  EXPECT_FALSE(*this->repo_->DisableServiceAccount(mine->id, kT0));
  EXPECT_EQ(*this->repo_->CountActiveServiceAccounts("acc_1"), 0);
}

}  // namespace
}  // namespace gatehouse::auth
