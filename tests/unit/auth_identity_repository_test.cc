// Provider identities linked to accounts, on SQLite and PostgreSQL.

#include "auth/identity_repository.h"

#include <gtest/gtest.h>

#include <string>

#include "core/clock.h"
#include "crypto/keyring.h"
#include "store/migrations.h"
#include "store_test_support.h"

namespace gatehouse::auth {
namespace {

using store::testing::BackendNames;
using store::testing::Backends;
using store::testing::StoreFixture;

crypto::KeyRing MakeKeys(const Secret& text) {
  auto keys = crypto::KeyRing::Parse(text);
  EXPECT_TRUE(keys.ok());
  return std::move(keys).value();
}

template <typename Backend>
class IdentityRepositoryTest : public StoreFixture<Backend> {
 protected:
  void SetUp() override {
    StoreFixture<Backend>::SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    auto migrated = store::Migrate(*this->store_, clock_);
    ASSERT_TRUE(migrated.ok()) << migrated.error().detail();
    repo_.emplace(*this->store_, keys_, clock_);
  }

  Identity MustLink(std::string provider, std::string subject, std::string account) {
    auto linked = repo_->Link(provider, subject, account);
    if (!linked.ok()) {
      ADD_FAILURE() << linked.error().detail();
      return Identity{};
    }
    return *linked;
  }

  ManualClock clock_;
  Secret key_file_ = crypto::GenerateMasterKeyFile();
  crypto::KeyRing keys_ = MakeKeys(key_file_);
  std::optional<IdentityRepository> repo_;
};

TYPED_TEST_SUITE(IdentityRepositoryTest, Backends, BackendNames);

TYPED_TEST(IdentityRepositoryTest, ASubjectIsFoundAtItsProviderOnly) {
  const Identity linked = this->MustLink("google", "1234567890", "acc_1");
  auto found = this->repo_->Find("google", "1234567890");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, linked.id);
  EXPECT_EQ((*found)->account_id, "acc_1");
  // The same subject at another provider is another person.
  auto elsewhere = this->repo_->Find("corp", "1234567890");
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(elsewhere->has_value());
  auto for_account = this->repo_->FindForAccount("google", "acc_1");
  ASSERT_TRUE(for_account.ok() && for_account->has_value());
}

TYPED_TEST(IdentityRepositoryTest, LinksAreUniqueBothWays) {
  this->MustLink("google", "sub-1", "acc_1");
  auto again = this->repo_->Link("google", "sub-1", "acc_2");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  auto second = this->repo_->Link("google", "sub-2", "acc_1");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kAlreadyExists);
  // Another provider for the same account is fine.
  EXPECT_TRUE(this->repo_->Link("corp", "sub-1", "acc_1").ok());
  auto list = this->repo_->ListForAccount("acc_1");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].provider, "corp");
}

TYPED_TEST(IdentityRepositoryTest, ProviderTokensAreKeptEncryptedAndARefreshTokenStays) {
  const Identity linked = this->MustLink("google", "sub-1", "acc_1");
  ProviderTokens first;
  first.access_token = Secret(std::string_view("access-UNIQUE-1"));
  first.refresh_token = Secret(std::string_view("refresh-UNIQUE-1"));
  first.access_expires_at = 1'700'003'600;
  ASSERT_TRUE(this->repo_->RecordLogin(linked.id, first).ok());

  // No plaintext token, nor the subject, anywhere in the row.
  auto rows = this->store_->Query("SELECT * FROM oidc_identities");
  ASSERT_TRUE(rows.ok());
  for (const store::Value& value : (*rows)[0]) {
    if (const auto* text = std::get_if<std::string>(&value)) {
      EXPECT_EQ(text->find("UNIQUE"), std::string::npos) << *text;
      EXPECT_EQ(text->find("sub-1"), std::string::npos) << *text;
    }
  }

  // A later answer without a refresh token keeps the one given before.
  ProviderTokens second;
  second.access_token = Secret(std::string_view("access-UNIQUE-2"));
  ASSERT_TRUE(this->repo_->StoreTokens(linked.id, second).ok());
  auto kept = this->repo_->Tokens(linked.id);
  ASSERT_TRUE(kept.ok()) << kept.error().detail();
  EXPECT_EQ(kept->access_token.reveal(), "access-UNIQUE-2");
  EXPECT_EQ(kept->refresh_token.reveal(), "refresh-UNIQUE-1");
  EXPECT_EQ(kept->access_expires_at, 0);

  auto found = this->repo_->Find("google", "sub-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_TRUE((*found)->has_refresh_token);
  EXPECT_EQ((*found)->last_login_at, 1'700'000'000);
}

TYPED_TEST(IdentityRepositoryTest, UnlinkRemovesTheLinkOnce) {
  this->MustLink("google", "sub-1", "acc_1");
  ASSERT_TRUE(this->repo_->Unlink("google", "acc_1").ok());
  auto found = this->repo_->Find("google", "sub-1");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  auto again = this->repo_->Unlink("google", "acc_1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
}

TYPED_TEST(IdentityRepositoryTest, SubjectsIndexedBeforeAKeyRotationAreStillFound) {
  this->MustLink("google", "sub-1", "acc_1");
  // The ring gains a newer master key version; the old index still matches.
  const Secret fresh = crypto::GenerateMasterKeyFile();
  const std::string_view text = fresh.reveal();
  const std::size_t line = text.find("v1:");
  ASSERT_NE(line, std::string_view::npos);
  const std::string rotated =
      std::string(this->key_file_.reveal()) +
      "\nv2:" + std::string(text.substr(line + 3, text.find('\n', line) - line - 3)) + "\n";
  auto keys = crypto::KeyRing::Parse(Secret(rotated));
  ASSERT_TRUE(keys.ok()) << keys.error().detail();
  IdentityRepository after(*this->store_, *keys, this->clock_);
  auto found = after.Find("google", "sub-1");
  ASSERT_TRUE(found.ok()) << found.error().detail();
  EXPECT_TRUE(found->has_value());
}

}  // namespace
}  // namespace gatehouse::auth
