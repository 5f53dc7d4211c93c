#include "auth/session_repository.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "crypto/keyring.h"
#include "store/migrations.h"
#include "store_test_support.h"

namespace gatehouse::auth {
namespace {

using store::testing::Backends;
using store::testing::BackendNames;
using store::testing::StoreFixture;
using Kind = RefreshOutcome::Kind;

constexpr std::chrono::seconds kRefreshLifetime{7 * 24 * 3600};
constexpr std::chrono::seconds kGrace{10};

template <typename Backend>
class SessionRepositoryTest : public StoreFixture<Backend> {
 protected:
  void SetUp() override {
    StoreFixture<Backend>::SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    auto migrated = store::Migrate(*this->store_, clock_);
    ASSERT_TRUE(migrated.ok()) << migrated.error().detail();
    auto keys = crypto::KeyRing::Parse(crypto::GenerateMasterKeyFile());
    ASSERT_TRUE(keys.ok());
    keys_.emplace(std::move(*keys));
    repo_.emplace(*this->store_, *keys_, clock_);
  }

  NewSession Sample(std::string account = "acc_1") const {
    NewSession s;
    s.account_id = std::move(account);
    s.fingerprint = "fp";
    s.client_ip = "198.51.100.23";
    s.user_agent = "Mozilla/5.0";
    s.amr = {"pwd"};
    return s;
  }

  SessionRepository::Created MustCreate(std::string account = "acc_1") {
    auto created = repo_->Create(Sample(std::move(account)), kRefreshLifetime);
    EXPECT_TRUE(created.ok()) << created.error().detail();
    return std::move(*created);
  }

  ManualClock clock_;
  std::optional<crypto::KeyRing> keys_;
  std::optional<SessionRepository> repo_;
};

TYPED_TEST_SUITE(SessionRepositoryTest, Backends, BackendNames);

TYPED_TEST(SessionRepositoryTest, CreatesAndFindsASession) {
  auto created = this->MustCreate();
  EXPECT_TRUE(created.session.id.starts_with("ses_"));
  EXPECT_TRUE(created.refresh_token.reveal().starts_with("ghr_"));

  auto found = this->repo_->Find(created.session.id);
  ASSERT_TRUE(found.ok()) << found.error().detail();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->account_id, "acc_1");
  EXPECT_EQ((*found)->client_ip, "198.51.100.23");
  EXPECT_EQ((*found)->amr, std::vector<std::string>{"pwd"});
  EXPECT_EQ((*found)->absolute_expires_at, (*found)->created_at + 8 * 3600);
  EXPECT_FALSE((*found)->revoked_at.has_value());
}

TYPED_TEST(SessionRepositoryTest, StoresTheRefreshTokenOnlyAsAHash) {
  auto created = this->MustCreate();
  auto rows = this->store_->Query("SELECT token_hash FROM refresh_tokens");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(std::get<std::string>((*rows)[0][0]), RefreshTokenHash(created.refresh_token));
  auto ips = this->store_->Query("SELECT ip_enc FROM sessions");
  ASSERT_TRUE(ips.ok());
  EXPECT_EQ(std::get<std::string>((*ips)[0][0]).find("198.51"), std::string::npos);
}

TYPED_TEST(SessionRepositoryTest, ListsOnlyActiveSessionsNewestFirst) {
  auto first = this->MustCreate();
  this->clock_.Advance(std::chrono::seconds(5));
  auto second = this->MustCreate();
  this->MustCreate("acc_other");
  auto listed = this->repo_->ListActive("acc_1");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, second.session.id);
  auto ids = this->repo_->ListActiveIds("acc_1");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::string>{second.session.id, first.session.id}));

  ASSERT_TRUE(*this->repo_->Revoke(first.session.id, "logout"));
  listed = this->repo_->ListActive("acc_1");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  ids = this->repo_->ListActiveIds("acc_1");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<std::string>{second.session.id});

  this->clock_.Advance(std::chrono::hours(9));  // Past the absolute lifetime.
  listed = this->repo_->ListActive("acc_1");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  ids = this->repo_->ListActiveIds("acc_1");
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->empty());
}

TYPED_TEST(SessionRepositoryTest, RevokeIsIdempotentAndEndsRefreshTokens) {
  auto created = this->MustCreate();
  auto first = this->repo_->Revoke(created.session.id, "logout");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  auto second = this->repo_->Revoke(created.session.id, "logout");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  auto refreshed = this->repo_->Refresh(created.refresh_token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_EQ(refreshed->kind, Kind::kInvalid);
}

TYPED_TEST(SessionRepositoryTest, RevokeAllExceptKeepsOne) {
  auto keep = this->MustCreate();
  auto a = this->MustCreate();
  auto b = this->MustCreate();
  auto revoked = this->repo_->RevokeAllExcept("acc_1", keep.session.id, "password_change");
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(std::set<std::string>(revoked->begin(), revoked->end()),
            (std::set<std::string>{a.session.id, b.session.id}));
  auto listed = this->repo_->ListActive("acc_1");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, keep.session.id);
}

TYPED_TEST(SessionRepositoryTest, RefreshRotatesAndTheSuccessorWorks) {
  auto created = this->MustCreate();
  auto first = this->repo_->Refresh(created.refresh_token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(first.ok()) << first.error().detail();
  ASSERT_EQ(first->kind, Kind::kRotated);
  EXPECT_FALSE(first->token.Equals(created.refresh_token));
  EXPECT_EQ(first->session_id, created.session.id);
  EXPECT_EQ(first->account_id, "acc_1");

  auto second = this->repo_->Refresh(first->token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->kind, Kind::kRotated);
}

TYPED_TEST(SessionRepositoryTest, ReplayWithinGraceGetsTheSameSuccessor) {
  auto created = this->MustCreate();
  auto first = this->repo_->Refresh(created.refresh_token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(first.ok());
  this->clock_.Advance(std::chrono::seconds(9));
  auto replay = this->repo_->Refresh(created.refresh_token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->kind, Kind::kGraceReplay);
  EXPECT_TRUE(replay->token.Equals(first->token));
}

TYPED_TEST(SessionRepositoryTest, ReplayAfterGraceRevokesFamilyAndSession) {
  auto created = this->MustCreate();
  auto first = this->repo_->Refresh(created.refresh_token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(first.ok());
  this->clock_.Advance(std::chrono::seconds(11));
  auto reuse = this->repo_->Refresh(created.refresh_token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(reuse.ok());
  EXPECT_EQ(reuse->kind, Kind::kReuse);
  EXPECT_EQ(reuse->session_id, created.session.id);

  // The legitimate-looking successor is dead too, and so is the session.
  auto successor = this->repo_->Refresh(first->token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(successor.ok());
  EXPECT_EQ(successor->kind, Kind::kInvalid);
  auto session = this->repo_->Find(created.session.id);
  ASSERT_TRUE(session.ok() && session->has_value());
  EXPECT_TRUE((*session)->revoked_at.has_value());
  EXPECT_EQ((*session)->revoke_reason, "refresh_reuse");
}

TYPED_TEST(SessionRepositoryTest, WithoutGraceEveryReplayRevokes) {
  auto created = this->MustCreate();
  auto first =
      this->repo_->Refresh(created.refresh_token, kRefreshLifetime, std::chrono::seconds(0));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->kind, Kind::kRotated);
  // Same second, no grace: a replay is reuse.
  auto replay =
      this->repo_->Refresh(created.refresh_token, kRefreshLifetime, std::chrono::seconds(0));
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->kind, Kind::kReuse);
}

TYPED_TEST(SessionRepositoryTest, UnknownAndExpiredTokensAreInvalid) {
  auto unknown = this->repo_->Refresh(Secret("ghr_unknown"), kRefreshLifetime, kGrace);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->kind, Kind::kInvalid);

  auto created = this->MustCreate();
  this->clock_.Advance(std::chrono::hours(8) + std::chrono::seconds(1));
  auto expired = this->repo_->Refresh(created.refresh_token, kRefreshLifetime, kGrace);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->kind, Kind::kInvalid);
}

TYPED_TEST(SessionRepositoryTest, ConcurrentRefreshesLeaveOneSuccessor) {
  auto created = this->MustCreate();
  constexpr int kThreads = 20;
  std::vector<Result<RefreshOutcome>> results(kThreads, Internal("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = this->repo_->Refresh(created.refresh_token, kRefreshLifetime, kGrace);
    });
  }
  for (auto& t : threads) t.join();

  int rotated = 0;
  std::set<std::string> tokens;
  for (auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().detail();
    ASSERT_TRUE(r->kind == Kind::kRotated || r->kind == Kind::kGraceReplay);
    if (r->kind == Kind::kRotated) ++rotated;
    tokens.insert(std::string(r->token.reveal()));
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(tokens.size(), 1u);
  auto rows = this->store_->Query("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(std::get<std::int64_t>((*rows)[0][0]), 1);
}

}  // namespace
}  // namespace gatehouse::auth
