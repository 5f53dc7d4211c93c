#include "auth/account_repository.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "core/clock.h"
#include "crypto/keyring.h"
#include "store/migrations.h"
#include "store_test_support.h"

namespace gatehouse::auth {
namespace {

using store::testing::Backends;
using store::testing::BackendNames;
using store::testing::StoreFixture;

constexpr std::string_view kEmail = "ada.lovelace@example.org";

crypto::KeyRing MakeKeys(const Secret& text) {
  auto keys = crypto::KeyRing::Parse(text);
  EXPECT_TRUE(keys.ok());
  return std::move(keys).value();
}

template <typename Backend>
class AccountRepositoryTest : public StoreFixture<Backend> {
 protected:
  void SetUp() override {
    StoreFixture<Backend>::SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    auto migrated = store::Migrate(*this->store_, clock_);
    ASSERT_TRUE(migrated.ok()) << migrated.error().detail();
  }

  NewAccount Sample() const {
    NewAccount account;
    account.email = std::string(kEmail);
    account.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    account.display_name = "Ada";
    account.phone = "+14155552671";
    return account;
  }

  ManualClock clock_;
  Secret key_file_ = crypto::GenerateMasterKeyFile();
  crypto::KeyRing keys_ = MakeKeys(key_file_);
};

TYPED_TEST_SUITE(AccountRepositoryTest, Backends, BackendNames);

TYPED_TEST(AccountRepositoryTest, CreatesAndFindsByEmailAndId) {
  AccountRepository repo(*this->store_, this->keys_, this->clock_);
  auto created = repo.Create(this->Sample());
  ASSERT_TRUE(created.ok()) << created.error().detail();
  EXPECT_TRUE(created->id.starts_with("acc_"));

  auto by_email = repo.FindByEmail(kEmail);
  ASSERT_TRUE(by_email.ok()) << by_email.error().detail();
  ASSERT_TRUE(by_email->has_value());
  EXPECT_EQ((*by_email)->id, created->id);
  EXPECT_EQ((*by_email)->email, kEmail);
  EXPECT_EQ((*by_email)->phone, "+14155552671");
  EXPECT_EQ((*by_email)->display_name, "Ada");
  EXPECT_EQ((*by_email)->password_hash, this->Sample().password_hash);

  auto by_id = repo.FindById(created->id);
  ASSERT_TRUE(by_id.ok());
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->email, kEmail);

  auto missing = repo.FindByEmail("nobody@example.org");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TYPED_TEST(AccountRepositoryTest, TakenEmailIsAlreadyExists) {
  AccountRepository repo(*this->store_, this->keys_, this->clock_);
  ASSERT_TRUE(repo.Create(this->Sample()).ok());
  auto again = repo.Create(this->Sample());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
}

TYPED_TEST(AccountRepositoryTest, StoresNoPlaintextPersonalData) {
  AccountRepository repo(*this->store_, this->keys_, this->clock_);
  ASSERT_TRUE(repo.Create(this->Sample()).ok());
  auto rows = this->store_->Query(
      "SELECT id, email_index, email_enc, phone_enc, display_name_enc FROM accounts");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  for (const store::Value& value : (*rows)[0]) {
    const std::string* text = std::get_if<std::string>(&value);
    ASSERT_NE(text, nullptr);
    EXPECT_EQ(text->find("lovelace"), std::string::npos) << *text;
    EXPECT_EQ(text->find("4155552671"), std::string::npos) << *text;
  }
}

TYPED_TEST(AccountRepositoryTest, FindsAccountsIndexedBeforeAKeyRotation) {
  AccountRepository before(*this->store_, this->keys_, this->clock_);
  auto created = before.Create(this->Sample());
  ASSERT_TRUE(created.ok());

  auto rotated_text = crypto::AddMasterKeyVersion(this->key_file_);
  ASSERT_TRUE(rotated_text.ok());
  crypto::KeyRing rotated = MakeKeys(*rotated_text);
  ASSERT_EQ(rotated.current_version(), 2u);
  AccountRepository after(*this->store_, rotated, this->clock_);

  auto found = after.FindByEmail(kEmail);
  ASSERT_TRUE(found.ok()) << found.error().detail();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, created->id);
  EXPECT_EQ((*found)->phone, "+14155552671");
}

TYPED_TEST(AccountRepositoryTest, CiphertextMovedToAnotherRowDoesNotOpen) {
  AccountRepository repo(*this->store_, this->keys_, this->clock_);
  auto first = repo.Create(this->Sample());
  NewAccount other = this->Sample();
  other.email = "grace.hopper@example.org";
  auto second = repo.Create(other);
  ASSERT_TRUE(first.ok() && second.ok());

  // An attacker with write access to the table swaps the email envelopes.
  auto copied = this->store_->Execute(
      "UPDATE accounts SET email_enc = (SELECT email_enc FROM accounts WHERE id = $1)"
      " WHERE id = $2",
      {first->id, second->id});
  ASSERT_TRUE(copied.ok()) << copied.error().detail();
  auto tampered = repo.FindById(second->id);
  ASSERT_FALSE(tampered.ok());
  EXPECT_EQ(tampered.error().code(), ErrorCode::kDataLoss);
}

TYPED_TEST(AccountRepositoryTest, UpdatesThePasswordHash) {
  AccountRepository repo(*this->store_, this->keys_, this->clock_);
  auto created = repo.Create(this->Sample());
  ASSERT_TRUE(created.ok());
  this->clock_.Advance(std::chrono::hours(1));

  ASSERT_TRUE(repo.UpdatePasswordHash(created->id, "$argon2id$new", true).ok());
  auto found = repo.FindById(created->id);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->password_hash, "$argon2id$new");
  EXPECT_EQ((*found)->password_changed_at, created->created_at + 3600);

  auto missing = repo.UpdatePasswordHash("acc_missing", "$argon2id$x", true);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

// The SQLite file and its write-ahead log hold no plaintext email.
TEST(AccountRepositorySqliteFile, HoldsNoPlaintextEmail) {
  store::testing::SqliteBackend backend;
  auto opened = backend.Open();
  ASSERT_TRUE(opened.ok());
  ManualClock clock;
  ASSERT_TRUE(store::Migrate(**opened, clock).ok());
  Secret key_file = crypto::GenerateMasterKeyFile();
  crypto::KeyRing keys = MakeKeys(key_file);
  AccountRepository repo(**opened, keys, clock);
  NewAccount account;
  account.email = std::string(kEmail);
  account.password_hash = "$argon2id$x";
  ASSERT_TRUE(repo.Create(account).ok());

  for (const std::string suffix : {"", "-wal"}) {
    std::ifstream in(backend.path() + suffix, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find("lovelace"), std::string::npos) << "found in " << suffix;
    EXPECT_EQ(bytes.find("example.org"), std::string::npos) << "found in " << suffix;
  }
}

}  // namespace
}  // namespace gatehouse::auth
