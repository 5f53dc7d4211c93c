#include "auth/auth_service.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "audit/events.h"
#include "core/clock.h"
#include "crypto/keyring.h"
#include "crypto/password.h"
#include "state/state.h"
#include "store/migrations.h"
#include "store/store.h"

namespace gatehouse::auth {
namespace {

using audit::EventType;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kPassword = "Correct-Horse-9!";
constexpr std::string_view kEmail = "ada@example.org";

crypto::Argon2Params FastArgon2() {
  crypto::Argon2Params params;
  params.memory_kib = 8192;
  params.iterations = 1;
  return params;
}

// One service over a real SQLite store and the in-memory state, with a manual clock.
class AuthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gatehouse-auth-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::StoreOptions store_options;
    store_options.driver = "sqlite";
    store_options.sqlite_path = dir_ + "/gatehouse.db";
    store_options.sqlite_synchronous_full = false;
    auto store = store::OpenStore(store_options);
    ASSERT_TRUE(store.ok()) << store.error().detail();
    store_ = std::move(*store);
    ASSERT_TRUE(store::Migrate(*store_, clock_).ok());

    auto keys = crypto::KeyRing::Parse(crypto::GenerateMasterKeyFile());
    ASSERT_TRUE(keys.ok());
    keys_.emplace(std::move(*keys));
    state::StateOptions state_options;
    auto state = state::OpenState(state_options, clock_);
    ASSERT_TRUE(state.ok());
    state_ = std::move(*state);

    core::TokensConfig tokens_config;
    tokens_config.hmac_secret.value = Secret(std::string(48, 'k') + "-unit-test-secret");
    auto keyset = BuildSigningKeys(tokens_config);
    ASSERT_TRUE(keyset.ok()) << keyset.error().detail();
    tokens_.emplace(std::move(*keyset), TokenSettings{}, clock_);

    auto blocklist = PasswordBlocklist::FromText("password1!\nletmein123\n");
    ASSERT_TRUE(blocklist.ok());
    blocklist_.emplace(std::move(*blocklist));

    accounts_.emplace(*store_, *keys_, clock_);
    sessions_.emplace(*store_, *keys_, clock_);
    live_.emplace(*state_, clock_, minutes(30));
    MakeService(FastArgon2());
  }

  void TearDown() override {
    service_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void MakeService(crypto::Argon2Params argon2, unsigned max_sessions = 5,
                   core::SessionLimitPolicy policy = core::SessionLimitPolicy::kEvictOldest) {
    AuthSettings settings;
    settings.argon2 = argon2;
    settings.max_sessions = max_sessions;
    settings.limit_policy = policy;
    service_.emplace(*accounts_, *sessions_, *live_, *tokens_, *blocklist_, events_, clock_,
                     settings);
    ASSERT_TRUE(service_->Init().ok());
  }

  // What a restart of an instance with the in-memory state does: the recorded activity is
  // flushed (a clean stop), the live state starts empty and is rebuilt from the database.
  std::size_t RestartWithEmptyState(bool flush = true) {
    if (flush) EXPECT_TRUE(service_->FlushSessionActivity().ok());
    service_.reset();
    live_.reset();
    auto state = state::OpenState(state::StateOptions{}, clock_);
    EXPECT_TRUE(state.ok());
    state_ = std::move(*state);
    live_.emplace(*state_, clock_, minutes(30));
    MakeService(FastArgon2());
    auto restored = service_->RestoreLiveSessions();
    EXPECT_TRUE(restored.ok()) << restored.error().detail();
    return restored.ok() ? *restored : 0;
  }

  RequestContext Ctx(std::string fingerprint = "fp-laptop") const {
    RequestContext ctx;
    ctx.request_id = "req";
    ctx.client_ip = "192.0.2.10";
    ctx.user_agent = "test";
    ctx.fingerprint = std::move(fingerprint);
    return ctx;
  }

  void RegisterAda() {
    auto registered = service_->Register(kEmail, kPassword, std::nullopt, std::nullopt, Ctx(),
                                         nullptr);
    ASSERT_TRUE(registered.ok()) << registered.error().message();
  }

  TokenGrant MustLogin(std::string fingerprint = "fp-laptop") {
    auto outcome = service_->Login(kEmail, kPassword, Ctx(std::move(fingerprint)));
    EXPECT_TRUE(outcome.ok()) << outcome.error().message() << " " << outcome.error().detail();
    EXPECT_TRUE(outcome->grant.has_value());
    return std::move(*outcome->grant);
  }

  Result<Principal> Check(const TokenGrant& grant, std::string fingerprint = "fp-laptop") {
    return service_->Authenticate(grant.access.token, false, Ctx(std::move(fingerprint)));
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<store::Store> store_;
  std::optional<crypto::KeyRing> keys_;
  std::unique_ptr<state::StateStore> state_;
  std::optional<TokenService> tokens_;
  std::optional<PasswordBlocklist> blocklist_;
  std::optional<AccountRepository> accounts_;
  std::optional<SessionRepository> sessions_;
  std::optional<LiveSessions> live_;
  audit::MemoryEventSink events_;
  std::optional<AuthService> service_;
};

TEST_F(AuthServiceTest, LoginIssuesATokenThatAuthenticates) {
  RegisterAda();
  TokenGrant grant = MustLogin();
  auto principal = Check(grant);
  ASSERT_TRUE(principal.ok()) << principal.error().detail();
  EXPECT_EQ(principal->account_id, grant.account_id);
  EXPECT_EQ(principal->session_id, grant.session_id);
  EXPECT_EQ(principal->amr, std::vector<std::string>{"pwd"});
  EXPECT_EQ(events_.CountOf(EventType::kLoginSuccess), 1u);
}

TEST_F(AuthServiceTest, UnknownEmailAndWrongPasswordAnswerAlike) {
  RegisterAda();
  auto unknown = service_->Login("nobody@example.org", kPassword, Ctx());
  auto wrong = service_->Login(kEmail, "Wrong-Horse-9!", Ctx());
  ASSERT_FALSE(unknown.ok());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(unknown.error().code(), wrong.error().code());
  EXPECT_EQ(unknown.error().message(), wrong.error().message());
  ASSERT_EQ(events_.CountOf(EventType::kLoginFailure), 2u);
  auto events = events_.Events();
  EXPECT_EQ(events[events.size() - 2].reason, "unknown_account");
  EXPECT_EQ(events.back().reason, "wrong_password");
  for (const auto& event : events) {
    for (const auto& [key, value] : event.attributes) {
      EXPECT_EQ(value.find("ada@"), std::string::npos) << key;
      EXPECT_EQ(value.find("Horse"), std::string::npos) << key;
    }
  }
}

TEST_F(AuthServiceTest, EmailCaseVariantsReachTheSameAccount) {
  RegisterAda();
  auto again = service_->Register("ADA@Example.ORG", kPassword, std::nullopt, std::nullopt,
                                  Ctx(), nullptr);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(service_->Login("Ada@EXAMPLE.org", kPassword, Ctx()).ok());
}

TEST_F(AuthServiceTest, RegisterNamesEveryViolatedRule) {
  PolicyFailure failure;
  auto result = service_->Register(kEmail, "abc", std::nullopt, std::nullopt, Ctx(), &failure);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  std::vector<std::string_view> codes;
  for (const auto& v : failure.violations) codes.push_back(v.code);
  EXPECT_NE(std::find(codes.begin(), codes.end(), "too_short"), codes.end());
  EXPECT_NE(std::find(codes.begin(), codes.end(), "missing_upper"), codes.end());
  EXPECT_NE(std::find(codes.begin(), codes.end(), "missing_digit"), codes.end());
  EXPECT_NE(std::find(codes.begin(), codes.end(), "missing_symbol"), codes.end());
}

TEST_F(AuthServiceTest, OverlongPasswordIsRefusedBeforeHashing) {
  RegisterAda();
  auto result = service_->Login(kEmail, std::string(257, 'A'), Ctx());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(events_.Events().back().reason, "password_too_long");
}

TEST_F(AuthServiceTest, LoginUpgradesAWeakerHash) {
  RegisterAda();
  crypto::Argon2Params stronger = FastArgon2();
  stronger.iterations = 2;
  MakeService(stronger);
  MustLogin();
  auto account = accounts_->FindByEmail(kEmail);
  ASSERT_TRUE(account.ok() && account->has_value());
  EXPECT_FALSE(crypto::NeedsRehash((*account)->password_hash, stronger));
  EXPECT_NE((*account)->password_hash.find("t=2"), std::string::npos);
}

TEST_F(AuthServiceTest, LogoutDeniesTheTokenAndEndsTheSession) {
  RegisterAda();
  TokenGrant grant = MustLogin();
  auto principal = Check(grant);
  ASSERT_TRUE(principal.ok());
  ASSERT_TRUE(service_->Logout(*principal, Ctx()).ok());
  auto after = Check(grant);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code(), ErrorCode::kUnauthenticated);
  auto denied = live_->IsDenied(principal->jti);
  ASSERT_TRUE(denied.ok());
  EXPECT_TRUE(*denied);
  auto refreshed = service_->Refresh(grant.refresh_token, Ctx());
  EXPECT_FALSE(refreshed.ok());
}

TEST_F(AuthServiceTest, IdleSessionEnds) {
  RegisterAda();
  TokenGrant grant = MustLogin();
  clock_.Advance(minutes(29));
  ASSERT_TRUE(Check(grant).ok());  // Activity restarts the idle window.
  clock_.Advance(minutes(29));
  ASSERT_TRUE(Check(grant).ok());
  clock_.Advance(minutes(31));
  auto idle = Check(grant);
  ASSERT_FALSE(idle.ok());
  EXPECT_EQ(idle.error().detail(), "session ended or idle");
  EXPECT_FALSE(service_->Refresh(grant.refresh_token, Ctx()).ok());
}

TEST_F(AuthServiceTest, ActiveSessionStillEndsAtItsAbsoluteTimeout) {
  RegisterAda();
  TokenGrant grant = MustLogin();
  for (int i = 0; i < 23; ++i) {  // 23 x 20 min = 7 h 40 min, active all along.
    clock_.Advance(minutes(20));
    ASSERT_TRUE(Check(grant).ok()) << "step " << i;
  }
  clock_.Advance(minutes(21));  // 8 h 1 min after login.
  EXPECT_FALSE(Check(grant).ok());
}

TEST_F(AuthServiceTest, SessionsOutliveARestartWithTheMemoryState) {
  RegisterAda();
  TokenGrant grant = MustLogin();
  clock_.Advance(minutes(20));
  ASSERT_TRUE(Check(grant).ok());
  clock_.Advance(minutes(20));  // 40 min after login, 20 after the last activity.
  EXPECT_EQ(RestartWithEmptyState(), 1u);
  auto after = Check(grant);
  ASSERT_TRUE(after.ok()) << after.error().detail();
  EXPECT_EQ(after->session_id, grant.session_id);
  // The idle clock went on from the last activity: 31 min without any, and it is over.
  clock_.Advance(minutes(31));
  EXPECT_FALSE(Check(grant).ok());
}

TEST_F(AuthServiceTest, ARestartRevivesNoEndedOrIdleSession) {
  RegisterAda();
  TokenGrant logged_out = MustLogin();
  auto principal = Check(logged_out);
  ASSERT_TRUE(principal.ok());
  ASSERT_TRUE(service_->Logout(*principal, Ctx()).ok());
  TokenGrant idle = MustLogin();
  TokenGrant active = MustLogin();
  clock_.Advance(minutes(20));
  ASSERT_TRUE(Check(active).ok());
  clock_.Advance(minutes(15));  // `idle` has seen nothing for 35 min, `active` for 15.
  EXPECT_EQ(RestartWithEmptyState(), 1u);
  EXPECT_FALSE(Check(logged_out).ok());
  EXPECT_FALSE(Check(idle).ok());
  EXPECT_TRUE(Check(active).ok());
  EXPECT_FALSE(service_->Refresh(idle.refresh_token, Ctx()).ok());
}

TEST_F(AuthServiceTest, ActivityNotYetFlushedCanOnlyEndASessionSooner) {
  // A crash loses the activity of the last flush period: the session is then judged by
  // what the database has, its creation here, and comes back only inside that idle window.
  RegisterAda();
  TokenGrant grant = MustLogin();
  clock_.Advance(minutes(20));
  ASSERT_TRUE(Check(grant).ok());
  clock_.Advance(minutes(15));
  EXPECT_EQ(RestartWithEmptyState(/*flush=*/false), 0u);
  EXPECT_FALSE(Check(grant).ok());
}

TEST_F(AuthServiceTest, FingerprintMismatchEndsTheSession) {
  RegisterAda();
  TokenGrant grant = MustLogin("fp-laptop");
  auto stolen = Check(grant, "fp-elsewhere");
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.error().detail(), "device fingerprint mismatch");
  EXPECT_EQ(events_.CountOf(EventType::kSuspiciousActivity), 1u);
  // The session is over for the original device too.
  EXPECT_FALSE(Check(grant, "fp-laptop").ok());
}

// The I/O thread's check must not write to the store: a replayed token is left to the
// worker pool, whose check then ends the session.
TEST_F(AuthServiceTest, FromMemoryLeavesAReplayedTokenToTheWorkerPool) {
  RegisterAda();
  TokenGrant grant = MustLogin("fp-laptop");

  auto same_device = service_->AuthenticateFromMemory(grant.access.token, false, Ctx());
  auto replayed =
      service_->AuthenticateFromMemory(grant.access.token, false, Ctx("fp-elsewhere"));

  ASSERT_TRUE(same_device.has_value());
  ASSERT_TRUE(same_device->ok()) << same_device->error().detail();
  EXPECT_EQ((*same_device)->session_id, grant.session_id);
  EXPECT_FALSE(replayed.has_value());
  EXPECT_EQ(events_.CountOf(EventType::kSuspiciousActivity), 0u);
  auto stored = sessions_->Find(grant.session_id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_FALSE((*stored)->revoked_at.has_value());

  auto on_worker = Check(grant, "fp-elsewhere");
  ASSERT_FALSE(on_worker.ok());
  EXPECT_EQ(on_worker.error().detail(), "device fingerprint mismatch");
  stored = sessions_->Find(grant.session_id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_TRUE((*stored)->revoked_at.has_value());
  EXPECT_EQ((*stored)->revoke_reason, "fingerprint_mismatch");
  auto after = service_->AuthenticateFromMemory(grant.access.token, false, Ctx());
  ASSERT_TRUE(after.has_value());
  EXPECT_FALSE(after->ok());
}

TEST_F(AuthServiceTest, RefreshRotatesAndIssuesAWorkingToken) {
  RegisterAda();
  TokenGrant grant = MustLogin();
  clock_.Advance(seconds(30));
  auto refreshed = service_->Refresh(grant.refresh_token, Ctx());
  ASSERT_TRUE(refreshed.ok()) << refreshed.error().detail();
  EXPECT_FALSE(refreshed->refresh_token.Equals(grant.refresh_token));
  EXPECT_EQ(refreshed->session_id, grant.session_id);
  EXPECT_TRUE(Check(*refreshed).ok());
}

TEST_F(AuthServiceTest, RefreshReuseRevokesTheFamilyAndReports) {
  RegisterAda();
  TokenGrant grant = MustLogin();
  auto first = service_->Refresh(grant.refresh_token, Ctx());
  ASSERT_TRUE(first.ok());
  clock_.Advance(seconds(11));  // Past the 10 s grace window.
  auto reuse = service_->Refresh(grant.refresh_token, Ctx());
  ASSERT_FALSE(reuse.ok());
  EXPECT_EQ(reuse.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(events_.CountOf(EventType::kSuspiciousActivity), 1u);
  EXPECT_FALSE(Check(*first).ok());
  EXPECT_FALSE(service_->Refresh(first->refresh_token, Ctx()).ok());
}

TEST_F(AuthServiceTest, SessionLimitEvictsTheOldest) {
  MakeService(FastArgon2(), 2, core::SessionLimitPolicy::kEvictOldest);
  RegisterAda();
  TokenGrant first = MustLogin();
  clock_.Advance(seconds(1));
  TokenGrant second = MustLogin();
  clock_.Advance(seconds(1));
  TokenGrant third = MustLogin();
  EXPECT_FALSE(Check(first).ok());
  EXPECT_TRUE(Check(second).ok());
  EXPECT_TRUE(Check(third).ok());
}

TEST_F(AuthServiceTest, SessionLimitCanRefuseNewSessions) {
  MakeService(FastArgon2(), 1, core::SessionLimitPolicy::kRefuseNew);
  RegisterAda();
  TokenGrant first = MustLogin();
  auto second = service_->Login(kEmail, kPassword, Ctx());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(Check(first).ok());
}

TEST_F(AuthServiceTest, IdleSessionsDoNotCountTowardsTheLimit) {
  MakeService(FastArgon2(), 1, core::SessionLimitPolicy::kRefuseNew);
  RegisterAda();
  MustLogin();
  clock_.Advance(minutes(31));
  EXPECT_TRUE(service_->Login(kEmail, kPassword, Ctx()).ok());
}

TEST_F(AuthServiceTest, PasswordChangeRevokesOtherSessions) {
  RegisterAda();
  TokenGrant here = MustLogin();
  TokenGrant there = MustLogin();
  auto principal = Check(here);
  ASSERT_TRUE(principal.ok());

  auto wrong = service_->ChangePassword(*principal, "Not-The-One-1!", "Brand-New-Pass-2?", Ctx(),
                                        nullptr);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kPermissionDenied);

  ASSERT_TRUE(
      service_->ChangePassword(*principal, kPassword, "Brand-New-Pass-2?", Ctx(), nullptr).ok());
  EXPECT_TRUE(Check(here).ok());
  EXPECT_FALSE(Check(there).ok());
  EXPECT_FALSE(service_->Login(kEmail, kPassword, Ctx()).ok());
  EXPECT_TRUE(service_->Login(kEmail, "Brand-New-Pass-2?", Ctx()).ok());
  EXPECT_EQ(events_.CountOf(EventType::kPasswordChange), 1u);
}

TEST_F(AuthServiceTest, SessionsAreListedAndRevokedPerAccount) {
  RegisterAda();
  TokenGrant a = MustLogin();
  TokenGrant b = MustLogin();
  auto principal = Check(a);
  ASSERT_TRUE(principal.ok());
  auto listed = service_->ListSessions(*principal);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);

  ASSERT_TRUE(service_->Register("grace@example.org", kPassword, std::nullopt, std::nullopt,
                                 Ctx(), nullptr)
                  .ok());
  auto grace = service_->Login("grace@example.org", kPassword, Ctx());
  ASSERT_TRUE(grace.ok() && grace->grant);
  // Another account's session is "not found", exactly like an unknown id.
  auto foreign = service_->RevokeSession(*principal, grace->grant->session_id);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Check(*grace->grant).ok());

  ASSERT_TRUE(service_->RevokeSession(*principal, b.session_id).ok());
  EXPECT_FALSE(Check(b).ok());
  auto others = service_->RevokeOtherSessions(*principal);
  ASSERT_TRUE(others.ok());
  EXPECT_EQ(*others, 0u);
  EXPECT_TRUE(Check(a).ok());
}

}  // namespace
}  // namespace gatehouse::auth
