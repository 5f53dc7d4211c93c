// Second factors end to end below HTTP: a real SQLite store, the in-memory state and a
// ManualClock (every expiry is reached by moving the clock, never by sleeping). TOTP
// enrolment and replay, tickets and their misuse, backup codes, SMS codes and their expiry,
// and the login that needs a second factor.

#include "auth/mfa_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "audit/events.h"
#include "auth/auth_service.h"
#include "core/clock.h"
#include "crypto/keyring.h"
#include "crypto/password.h"
#include "state/state.h"
#include "store/migrations.h"
#include "store/store.h"

namespace gatehouse::auth {
namespace {

using audit::EventType;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kPassword = "Correct-Horse-9!";

// Records messages and answers with a scripted outcome at once, on the calling thread.
class FakeSms final : public SmsSender {
 public:
  bool Send(SmsMessage message, Done done) override {
    if (refuse) return false;
    sent.push_back({message.to, std::string(message.text.reveal())});
    if (hold) {
      held.push_back(std::move(done));
      return true;
    }
    done(fail ? Unavailable("the text message could not be delivered", "provider answered 500")
              : Ok());
    return true;
  }
  // The digits of the last message.
  std::string LastCode() const {
    const std::string& text = sent.back().second;
    return text.substr(text.size() - 6);
  }
  std::vector<std::pair<std::string, std::string>> sent;
  bool fail = false;
  bool refuse = false;
  bool hold = false;  // Keep the outcome back, like a provider still being retried.
  std::vector<Done> held;
};

class MfaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gatehouse-mfa-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::StoreOptions store_options;
    store_options.driver = "sqlite";
    store_options.sqlite_path = dir_ + "/gatehouse.db";
    store_options.sqlite_synchronous_full = false;
    auto store = store::OpenStore(store_options);
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    ASSERT_TRUE(store::Migrate(*store_, clock_).ok());
    auto keys = crypto::KeyRing::Parse(crypto::GenerateMasterKeyFile());
    ASSERT_TRUE(keys.ok());
    keys_.emplace(std::move(*keys));
    auto state = state::OpenState(state::StateOptions{}, clock_);
    ASSERT_TRUE(state.ok());
    state_ = std::move(*state);

    core::TokensConfig tokens_config;
    tokens_config.hmac_secret.value = Secret(std::string(48, 'k') + "-unit-test-secret");
    auto keyset = BuildSigningKeys(tokens_config);
    ASSERT_TRUE(keyset.ok());
    tokens_.emplace(std::move(*keyset), TokenSettings{}, clock_);
    auto blocklist = PasswordBlocklist::FromText("password1!\n");
    ASSERT_TRUE(blocklist.ok());
    blocklist_.emplace(std::move(*blocklist));

    accounts_.emplace(*store_, *keys_, clock_);
    sessions_.emplace(*store_, *keys_, clock_);
    factors_.emplace(*store_, *keys_, clock_);
    live_.emplace(*state_, clock_, minutes(30));
    AuthSettings auth_settings;
    auth_settings.argon2.memory_kib = 8192;
    auth_settings.argon2.iterations = 1;
    auth_.emplace(*accounts_, *sessions_, *live_, *tokens_, *blocklist_, events_, clock_,
                  auth_settings);
    ASSERT_TRUE(auth_->Init().ok());

    auto key = keys_->DeriveKey("mfa-codes", keys_->current_version());
    ASSERT_TRUE(key.ok());
    code_key_ = *key;
    MakeService(&sms_);
    ada_ = Register("ada@example.org");
    grace_ = Register("grace@example.org");
  }

  void TearDown() override {
    mfa_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void MakeService(SmsSender* sms) {
    mfa_.emplace(*factors_, *accounts_, *state_, events_, clock_, settings_, code_key_, sms);
    auth_->set_second_factors(&*mfa_);
  }

  std::string Register(std::string_view email) {
    auto registered = auth_->Register(email, kPassword, std::nullopt, std::nullopt, Ctx(), nullptr);
    EXPECT_TRUE(registered.ok());
    return registered.ok() ? registered->account_id : "";
  }

  RequestContext Ctx(std::string fingerprint = "fp-laptop") const {
    RequestContext ctx;
    ctx.request_id = "req-mfa";
    ctx.client_ip = "192.0.2.10";
    ctx.fingerprint = std::move(fingerprint);
    return ctx;
  }

  // The current code of `secret_base32` at the clock's time, `offset` steps away.
  std::string Code(const Secret& secret_base32, int offset = 0) {
    auto secret = Base32Decode(secret_base32.reveal());
    EXPECT_TRUE(secret.ok());
    const std::uint64_t step = TotpStep(clock_.Now(), settings_.totp.period);
    auto code = TotpAt(*secret, step + offset, settings_.totp);
    EXPECT_TRUE(code.ok());
    return std::string(code->reveal());
  }

  // Enrols and confirms TOTP for `account`; returns the base32 secret and the backup codes.
  std::pair<Secret, std::vector<std::string>> EnableTotp(const std::string& account) {
    auto enrolment = mfa_->BeginTotp(account, Ctx());
    EXPECT_TRUE(enrolment.ok());
    Secret secret = enrolment->secret_base32;
    auto codes = mfa_->ConfirmTotp(account, Code(secret), Ctx());
    EXPECT_TRUE(codes.ok()) << (codes.ok() ? "" : codes.error().detail());
    // Later codes must come from later steps: the confirming step is spent.
    clock_.Advance(seconds(30));
    return {secret, codes.ok() ? *codes : std::vector<std::string>{}};
  }

  Secret Ticket(std::string_view email, std::string fingerprint = "fp-laptop") {
    auto outcome = auth_->Login(email, kPassword, Ctx(std::move(fingerprint)));
    EXPECT_TRUE(outcome.ok());
    EXPECT_TRUE(outcome->challenge.has_value());
    return outcome->challenge ? outcome->challenge->ticket : Secret();
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
  std::optional<MfaRepository> factors_;
  std::optional<LiveSessions> live_;
  audit::MemoryEventSink events_;
  std::optional<AuthService> auth_;
  MfaSettings settings_;
  Secret code_key_;
  FakeSms sms_;
  std::optional<MfaService> mfa_;
  std::string ada_;
  std::string grace_;
};

// ---- enrolment -------------------------------------------------------------------------------

TEST_F(MfaServiceTest, EnrolmentGivesAKeyUriForThePendingSecret) {
  auto enrolment = mfa_->BeginTotp(ada_, Ctx());
  ASSERT_TRUE(enrolment.ok()) << enrolment.error().detail();
  EXPECT_EQ(enrolment->secret_base32.size(), 32u);  // 160 bits.
  EXPECT_EQ(std::string(enrolment->otpauth_uri.reveal()),
            "otpauth://totp/Gatehouse:ada%40example.org?secret=" +
                std::string(enrolment->secret_base32.reveal()) +
                "&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30");
  EXPECT_EQ(enrolment->qr_svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(enrolment->qr_png[1], 'P');

  auto overview = mfa_->Overview(ada_);
  ASSERT_TRUE(overview.ok());
  EXPECT_TRUE(overview->totp_pending);
  EXPECT_FALSE(overview->totp_active);
  // Pending is not a factor yet: the password alone still signs in.
  auto login = auth_->Login("ada@example.org", kPassword, Ctx());
  ASSERT_TRUE(login.ok());
  EXPECT_TRUE(login->grant.has_value());
}

TEST_F(MfaServiceTest, TheSecretIsStoredOnlyEncryptedAndBoundToItsRow) {
  auto enrolment = mfa_->BeginTotp(ada_, Ctx());
  ASSERT_TRUE(enrolment.ok());
  auto rows = store_->Query("SELECT id, secret_enc FROM mfa_factors WHERE account_id = $1", {ada_});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  const std::string sealed = std::get<std::string>((*rows)[0][1]);
  auto raw = Base32Decode(enrolment->secret_base32.reveal());
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(sealed.find(enrolment->secret_base32.reveal()), std::string::npos);
  // Moved to another account's row, the envelope no longer opens.
  ASSERT_TRUE(
      store_
          ->Execute("UPDATE mfa_factors SET account_id = $1 WHERE account_id = $2", {grace_, ada_})
          .ok());
  auto moved = factors_->Find(grace_, FactorKind::kTotp);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.error().code(), ErrorCode::kDataLoss);
}

TEST_F(MfaServiceTest, ConfirmActivatesAndIssuesBackupCodesOnce) {
  auto [secret, codes] = EnableTotp(ada_);
  EXPECT_EQ(codes.size(), 10u);
  for (const std::string& c : codes) EXPECT_EQ(c.size(), 19u) << c;  // xxxx-xxxx-xxxx-xxxx
  auto overview = mfa_->Overview(ada_);
  ASSERT_TRUE(overview.ok());
  EXPECT_TRUE(overview->totp_active);
  EXPECT_EQ(overview->backup_codes_left, 10);
  EXPECT_EQ(overview->methods, (std::vector<std::string>{"totp", "backup_code"}));
  EXPECT_EQ(events_.CountOf(EventType::kMfaChange), 2u);  // Started, enabled.
  // The codes are stored only as hashes.
  auto rows = store_->Query("SELECT code_hash FROM mfa_backup_codes");
  ASSERT_TRUE(rows.ok());
  for (const auto& row : *rows) {
    for (const std::string& c : codes) {
      EXPECT_EQ(std::get<std::string>(row[0]).find(c.substr(0, 4)), std::string::npos);
    }
  }
}

TEST_F(MfaServiceTest, ConfirmRefusesAWrongCodeAndStaysPending) {
  auto enrolment = mfa_->BeginTotp(ada_, Ctx());
  ASSERT_TRUE(enrolment.ok());
  const std::string right = Code(enrolment->secret_base32);
  const std::string wrong = right == "000000" ? "000001" : "000000";
  auto confirmed = mfa_->ConfirmTotp(ada_, wrong, Ctx());
  ASSERT_FALSE(confirmed.ok());
  EXPECT_EQ(confirmed.error().code(), ErrorCode::kUnauthenticated);
  auto overview = mfa_->Overview(ada_);
  EXPECT_TRUE(overview->totp_pending);
  EXPECT_TRUE(mfa_->ConfirmTotp(ada_, right, Ctx()).ok());
}

TEST_F(MfaServiceTest, ASecondEnrolmentWhileActiveIsRefused) {
  EnableTotp(ada_);
  auto again = mfa_->BeginTotp(ada_, Ctx());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(MfaServiceTest, DisablingTheLastFactorDropsBackupCodesAndTheRequirement) {
  EnableTotp(ada_);
  ASSERT_TRUE(mfa_->DisableTotp(ada_, Ctx()).ok());
  auto overview = mfa_->Overview(ada_);
  EXPECT_FALSE(overview->totp_active);
  EXPECT_EQ(overview->backup_codes_left, 0);
  auto login = auth_->Login("ada@example.org", kPassword, Ctx());
  ASSERT_TRUE(login.ok());
  EXPECT_TRUE(login->grant.has_value());
  EXPECT_EQ(mfa_->DisableTotp(ada_, Ctx()).error().code(), ErrorCode::kNotFound);
}

// ---- login and tickets -----------------------------------------------------------------------

TEST_F(MfaServiceTest, LoginWithAFactorGivesATicketAndNoSession) {
  EnableTotp(ada_);
  auto outcome = auth_->Login("ada@example.org", kPassword, Ctx());
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome->grant.has_value());
  ASSERT_TRUE(outcome->challenge.has_value());
  EXPECT_EQ(outcome->challenge->methods, (std::vector<std::string>{"totp", "backup_code"}));
  EXPECT_EQ(outcome->challenge->expires_in, seconds(300));
  EXPECT_EQ(outcome->challenge->ticket.reveal().substr(0, 4), "ght_");
  auto sessions = sessions_->ListActive(ada_);
  ASSERT_TRUE(sessions.ok());
  EXPECT_TRUE(sessions->empty());
  EXPECT_EQ(events_.CountOf(EventType::kLoginSuccess), 0u);
  // The state holds the ticket's hash, never the ticket.
  auto by_text = state_->Exists("mfa:ticket:" + std::string(outcome->challenge->ticket.reveal()));
  EXPECT_FALSE(*by_text);
  EXPECT_TRUE(*state_->Exists(MfaService::TicketKey(outcome->challenge->ticket.reveal())));
}

TEST_F(MfaServiceTest, ATotpCodeRedeemsTheTicketWithOtpInAmr) {
  auto [secret, codes] = EnableTotp(ada_);
  Secret ticket = Ticket("ada@example.org");
  auto pass = mfa_->Redeem(ticket.reveal(), Code(secret), std::nullopt, Ctx());
  ASSERT_TRUE(pass.ok()) << pass.error().detail();
  EXPECT_EQ(pass->account_id, ada_);
  EXPECT_EQ(pass->method, SecondFactorMethod::kTotp);
  EXPECT_EQ(pass->amr, (std::vector<std::string>{"pwd", "otp", "mfa"}));

  auto grant = auth_->CompleteLogin(pass->account_id, pass->amr, "totp", Ctx());
  ASSERT_TRUE(grant.ok());
  auto principal = auth_->Authenticate(grant->access.token, false, Ctx());
  ASSERT_TRUE(principal.ok());
  EXPECT_EQ(principal->amr, (std::vector<std::string>{"pwd", "otp", "mfa"}));
  EXPECT_EQ(events_.CountOf(EventType::kLoginSuccess), 1u);
}

TEST_F(MfaServiceTest, ATicketCannotBeUsedTwice) {
  auto [secret, codes] = EnableTotp(ada_);
  Secret ticket = Ticket("ada@example.org");
  ASSERT_TRUE(mfa_->Redeem(ticket.reveal(), Code(secret), std::nullopt, Ctx()).ok());
  clock_.Advance(seconds(30));  // A fresh, unused code: only the ticket is spent.
  auto again = mfa_->Redeem(ticket.reveal(), Code(secret), std::nullopt, Ctx());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(again.error().message(), "invalid or expired ticket");
}

TEST_F(MfaServiceTest, AProviderSignInKeepsItsFirstFactorInTheAmr) {
  auto [secret, codes] = EnableTotp(ada_);
  auto account = accounts_->FindById(ada_);
  ASSERT_TRUE(account.ok() && account->has_value());
  // An OpenID provider vouched for the first factor ("fed"), as SignInExternal reports it.
  auto outcome = auth_->SignInExternal(**account, {"fed"}, "oidc", "corp", Ctx());
  ASSERT_TRUE(outcome.ok()) << outcome.error().detail();
  ASSERT_TRUE(outcome->challenge.has_value());
  EXPECT_FALSE(outcome->grant.has_value());
  auto pass = mfa_->Redeem(outcome->challenge->ticket.reveal(), Code(secret), std::nullopt, Ctx());
  ASSERT_TRUE(pass.ok()) << pass.error().detail();
  EXPECT_EQ(pass->amr, (std::vector<std::string>{"fed", "otp", "mfa"}));
}

TEST_F(MfaServiceTest, ATicketExpiresAfterItsLifetime) {
  auto [secret, codes] = EnableTotp(ada_);
  Secret ticket = Ticket("ada@example.org");
  clock_.Advance(seconds(299));
  EXPECT_TRUE(mfa_->PeekTicket(ticket.reveal(), Ctx()).ok());
  clock_.Advance(seconds(1));
  auto late = mfa_->Redeem(ticket.reveal(), Code(secret), std::nullopt, Ctx());
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().message(), "invalid or expired ticket");
}

TEST_F(MfaServiceTest, ATicketDoesNotAcceptAnotherAccountsCode) {
  auto [ada_secret, ada_codes] = EnableTotp(ada_);
  auto [grace_secret, grace_codes] = EnableTotp(grace_);
  Secret ticket = Ticket("ada@example.org");
  // Grace's current code and one of her backup codes do not open Ada's ticket.
  auto with_totp = mfa_->Redeem(ticket.reveal(), Code(grace_secret), std::nullopt, Ctx());
  ASSERT_FALSE(with_totp.ok());
  EXPECT_EQ(with_totp.error().message(), "invalid code");
  auto with_backup = mfa_->Redeem(ticket.reveal(), grace_codes[0], std::nullopt, Ctx());
  ASSERT_FALSE(with_backup.ok());
  EXPECT_EQ(with_backup.error().message(), "invalid code");
  // Ada's own code still does: a wrong code leaves the ticket usable.
  auto pass = mfa_->Redeem(ticket.reveal(), Code(ada_secret), std::nullopt, Ctx());
  ASSERT_TRUE(pass.ok());
  EXPECT_EQ(pass->account_id, ada_);
  // And Grace's backup code is still unspent.
  EXPECT_EQ(*factors_->BackupCodesLeft(grace_), 10);
}

TEST_F(MfaServiceTest, ATicketFromAnotherDeviceIsRefused) {
  auto [secret, codes] = EnableTotp(ada_);
  Secret ticket = Ticket("ada@example.org", "fp-laptop");
  auto elsewhere = mfa_->Redeem(ticket.reveal(), Code(secret), std::nullopt, Ctx("fp-phone"));
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_EQ(elsewhere.error().message(), "invalid or expired ticket");
}

TEST_F(MfaServiceTest, MalformedTicketsAndCodesAreRefused) {
  auto [secret, codes] = EnableTotp(ada_);
  EXPECT_EQ(mfa_->PeekTicket("nope", Ctx()).error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(mfa_->PeekTicket("ght_" + std::string(200, 'a'), Ctx()).error().code(),
            ErrorCode::kUnauthenticated);
  Secret ticket = Ticket("ada@example.org");
  EXPECT_EQ(mfa_->Redeem(ticket.reveal(), "12345", std::nullopt, Ctx()).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(mfa_->Redeem(ticket.reveal(), "abc!", std::nullopt, Ctx()).error().code(),
            ErrorCode::kInvalidArgument);
}

// ---- replay ----------------------------------------------------------------------------------

TEST_F(MfaServiceTest, AUsedCodeIsRefusedWithinItsWindow) {
  auto [secret, codes] = EnableTotp(ada_);
  const std::string code = Code(secret);
  ASSERT_TRUE(mfa_->CheckTotp(ada_, code, Ctx()).ok());
  // The same code again, and again one step later when it is still inside the window.
  auto replay = mfa_->CheckTotp(ada_, code, Ctx());
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().code(), ErrorCode::kUnauthenticated);
  clock_.Advance(seconds(30));
  EXPECT_FALSE(mfa_->CheckTotp(ada_, code, Ctx()).ok());
  auto events = events_.Events();
  std::size_t replays = 0;
  for (const auto& e : events) replays += e.reason == "otp_replay" ? 1 : 0;
  EXPECT_EQ(replays, 2u);
}

TEST_F(MfaServiceTest, ReplayIsPerAccount) {
  // Two accounts sharing a step (and, by chance, never a secret) do not block each other.
  auto [ada_secret, a] = EnableTotp(ada_);
  auto [grace_secret, g] = EnableTotp(grace_);
  EXPECT_TRUE(mfa_->CheckTotp(ada_, Code(ada_secret), Ctx()).ok());
  EXPECT_TRUE(mfa_->CheckTotp(grace_, Code(grace_secret), Ctx()).ok());
}

TEST_F(MfaServiceTest, AnOlderCodeIsRefusedOnceANewerOneWasUsed) {
  auto [secret, codes] = EnableTotp(ada_);
  clock_.Advance(seconds(30));  // Neither the current nor the previous step is used yet.
  const std::string previous = Code(secret, -1);
  ASSERT_TRUE(mfa_->CheckTotp(ada_, Code(secret), Ctx()).ok());
  // The previous step is inside the window, but the current one was used after it.
  EXPECT_FALSE(mfa_->CheckTotp(ada_, previous, Ctx()).ok());
  bool older = false;
  for (const auto& e : events_.Events()) {
    for (const auto& [k, v] : e.attributes) older = older || (k == "kind" && v == "older_step");
  }
  EXPECT_TRUE(older);
}

TEST_F(MfaServiceTest, SkewEdgesFollowTheWindow) {
  auto [secret, codes] = EnableTotp(ada_);
  // Two steps behind and two ahead are outside a window of one.
  EXPECT_FALSE(mfa_->CheckTotp(ada_, Code(secret, -2), Ctx()).ok());
  EXPECT_FALSE(mfa_->CheckTotp(ada_, Code(secret, 2), Ctx()).ok());
  EXPECT_TRUE(mfa_->CheckTotp(ada_, Code(secret, 1), Ctx()).ok());
}

TEST_F(MfaServiceTest, ReplayMarkersOutliveTheWindow) {
  auto [secret, codes] = EnableTotp(ada_);
  const std::string code = Code(secret, 1);  // Accepted now as "one step ahead".
  ASSERT_TRUE(mfa_->CheckTotp(ada_, code, Ctx()).ok());
  // The clock starts 20 s into a step; 69 s later is the last second at which that code's
  // step is still inside the window (one behind), and it is still marked used.
  clock_.Advance(seconds(69));
  EXPECT_FALSE(mfa_->CheckTotp(ada_, code, Ctx()).ok());
}

// ---- backup codes ----------------------------------------------------------------------------

TEST_F(MfaServiceTest, ABackupCodeWorksOnceAndEmitsAnEvent) {
  auto [secret, codes] = EnableTotp(ada_);
  Secret first = Ticket("ada@example.org");
  // Any case and without the dashes: the code is normalised.
  std::string typed = codes[3];
  typed.erase(std::remove(typed.begin(), typed.end(), '-'), typed.end());
  for (char& c : typed) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto pass = mfa_->Redeem(first.reveal(), typed, std::nullopt, Ctx());
  ASSERT_TRUE(pass.ok()) << pass.error().detail();
  EXPECT_EQ(pass->method, SecondFactorMethod::kBackupCode);
  EXPECT_EQ(pass->amr, (std::vector<std::string>{"pwd", "backup_code", "mfa"}));
  EXPECT_EQ(pass->backup_codes_left, 9);
  ASSERT_EQ(events_.CountOf(EventType::kBackupCodeUse), 1u);
  for (const auto& e : events_.Events()) {
    for (const auto& [k, v] : e.attributes) {
      EXPECT_EQ(v.find(codes[3].substr(0, 4)), std::string::npos) << k;
    }
  }

  Secret second = Ticket("ada@example.org");
  auto reuse = mfa_->Redeem(second.reveal(), codes[3], std::nullopt, Ctx());
  ASSERT_FALSE(reuse.ok());
  EXPECT_EQ(reuse.error().message(), "invalid code");
  EXPECT_EQ(mfa_->Overview(ada_)->backup_codes_left, 9);
}

TEST_F(MfaServiceTest, RegeneratingReplacesTheWholeSet) {
  auto [secret, old_codes] = EnableTotp(ada_);
  Secret ticket = Ticket("ada@example.org");
  ASSERT_TRUE(mfa_->Redeem(ticket.reveal(), old_codes[0], std::nullopt, Ctx()).ok());
  auto fresh = mfa_->RegenerateBackupCodes(ada_, Ctx());
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->size(), 10u);
  EXPECT_EQ(mfa_->Overview(ada_)->backup_codes_left, 10);
  Secret next = Ticket("ada@example.org");
  EXPECT_FALSE(mfa_->Redeem(next.reveal(), old_codes[1], std::nullopt, Ctx()).ok());
  EXPECT_TRUE(mfa_->Redeem(next.reveal(), (*fresh)[0], std::nullopt, Ctx()).ok());
}

TEST_F(MfaServiceTest, BackupCodesNeedAFactorFirst) {
  auto codes = mfa_->RegenerateBackupCodes(ada_, Ctx());
  ASSERT_FALSE(codes.ok());
  EXPECT_EQ(codes.error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(MfaServiceTest, TheBackupCodeCountIsConfigurable) {
  settings_.backup_code_count = 4;
  MakeService(&sms_);
  auto [secret, codes] = EnableTotp(ada_);
  EXPECT_EQ(codes.size(), 4u);
}

// ---- SMS -------------------------------------------------------------------------------------

TEST_F(MfaServiceTest, SmsEnrolmentIsConfirmedByTheTextedCode) {
  auto dispatch = mfa_->BeginSms(ada_, "+14155552671", Ctx());
  ASSERT_TRUE(dispatch.ok()) << dispatch.error().detail();
  EXPECT_EQ(dispatch->state, SmsDispatch::State::kSent);
  EXPECT_EQ(dispatch->phone_masked, "+1*******71");
  ASSERT_EQ(sms_.sent.size(), 1u);
  EXPECT_EQ(sms_.sent[0].first, "+14155552671");
  EXPECT_EQ(sms_.sent[0].second.rfind("Your Gatehouse code is ", 0), 0u);

  auto codes = mfa_->ConfirmSms(ada_, sms_.LastCode(), Ctx());
  ASSERT_TRUE(codes.ok()) << codes.error().detail();
  EXPECT_EQ(codes->size(), 10u);
  EXPECT_TRUE(mfa_->Overview(ada_)->sms_active);
  // The number is stored encrypted.
  auto rows = store_->Query("SELECT secret_enc FROM mfa_factors WHERE kind = 'sms'");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(std::get<std::string>((*rows)[0][0]).find("4155552671"), std::string::npos);
}

TEST_F(MfaServiceTest, AnSmsLoginCodeIsSingleUse) {
  ASSERT_TRUE(mfa_->BeginSms(ada_, "+14155552671", Ctx()).ok());
  ASSERT_TRUE(mfa_->ConfirmSms(ada_, sms_.LastCode(), Ctx()).ok());
  Secret ticket = Ticket("ada@example.org");
  auto sent = mfa_->SendLoginCode(ticket.reveal(), Ctx());
  ASSERT_TRUE(sent.ok()) << sent.error().detail();
  const std::string code = sms_.LastCode();
  auto pass = mfa_->Redeem(ticket.reveal(), code, std::nullopt, Ctx());
  ASSERT_TRUE(pass.ok()) << pass.error().detail();
  EXPECT_EQ(pass->method, SecondFactorMethod::kSms);
  EXPECT_EQ(pass->amr, (std::vector<std::string>{"pwd", "sms", "mfa"}));

  Secret next = Ticket("ada@example.org");
  EXPECT_FALSE(mfa_->Redeem(next.reveal(), code, std::nullopt, Ctx()).ok());
}

TEST_F(MfaServiceTest, AnSmsCodeExpiresAfterFiveMinutes) {
  ASSERT_TRUE(mfa_->BeginSms(ada_, "+14155552671", Ctx()).ok());
  ASSERT_TRUE(mfa_->ConfirmSms(ada_, sms_.LastCode(), Ctx()).ok());
  Secret ticket = Ticket("ada@example.org");
  ASSERT_TRUE(mfa_->SendLoginCode(ticket.reveal(), Ctx()).ok());
  const std::string code = sms_.LastCode();
  clock_.Advance(seconds(300));
  // The ticket (issued at the same instant) has expired too; a fresh ticket shows the code
  // itself is gone.
  Secret fresh = Ticket("ada@example.org");
  auto late = mfa_->Redeem(fresh.reveal(), code, SecondFactorMethod::kSms, Ctx());
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().message(), "invalid code");
}

TEST_F(MfaServiceTest, AnSmsCodeIsStillValidJustBeforeItExpires) {
  ASSERT_TRUE(mfa_->BeginSms(ada_, "+14155552671", Ctx()).ok());
  clock_.Advance(seconds(299));
  EXPECT_TRUE(mfa_->ConfirmSms(ada_, sms_.LastCode(), Ctx()).ok());
}

TEST_F(MfaServiceTest, TextsAreRateLimitedPerNumber) {
  // Three texts per 15 minutes to one number, whichever accounts ask.
  ASSERT_EQ(mfa_->BeginSms(ada_, "+14155552671", Ctx())->state, SmsDispatch::State::kSent);
  ASSERT_EQ(mfa_->BeginSms(ada_, "+14155552671", Ctx())->state, SmsDispatch::State::kSent);
  ASSERT_EQ(mfa_->BeginSms(grace_, "+14155552671", Ctx())->state, SmsDispatch::State::kSent);
  auto limited = mfa_->BeginSms(grace_, "+14155552671", Ctx());
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->state, SmsDispatch::State::kRateLimited);
  EXPECT_EQ(limited->retry_after, seconds(900));
  EXPECT_EQ(sms_.sent.size(), 3u);
  // Another number is not affected; the window ends on time.
  EXPECT_EQ(mfa_->BeginSms(grace_, "+14155550000", Ctx())->state, SmsDispatch::State::kSent);
  clock_.Advance(seconds(900));
  EXPECT_EQ(mfa_->BeginSms(ada_, "+14155552671", Ctx())->state, SmsDispatch::State::kSent);
}

TEST_F(MfaServiceTest, ADeliveryFailureIsAnsweredAndLeavesNoCode) {
  sms_.fail = true;
  auto dispatch = mfa_->BeginSms(ada_, "+14155552671", Ctx());
  ASSERT_FALSE(dispatch.ok());
  EXPECT_EQ(dispatch.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(dispatch.error().message(),
            "the text message could not be delivered; try again later or use another method");
  EXPECT_FALSE(*state_->Exists("mfa:sms:enrol:" + ada_));
  sms_.refuse = true;
  EXPECT_EQ(mfa_->BeginSms(ada_, "+14155552671", Ctx()).error().code(), ErrorCode::kUnavailable);
}

TEST_F(MfaServiceTest, AProviderStillBeingTriedIsAnsweredQueued) {
  settings_.sms_answer_wait = std::chrono::milliseconds(0);
  MakeService(&sms_);
  sms_.hold = true;
  auto dispatch = mfa_->BeginSms(ada_, "+14155552671", Ctx());
  ASSERT_TRUE(dispatch.ok());
  EXPECT_EQ(dispatch->state, SmsDispatch::State::kQueued);
  // The code stays valid: the text may still arrive.
  sms_.held.back()(Ok());
  EXPECT_TRUE(mfa_->ConfirmSms(ada_, sms_.LastCode(), Ctx()).ok());
}

TEST_F(MfaServiceTest, WithoutASenderSmsIsNotAvailable) {
  MakeService(nullptr);
  auto dispatch = mfa_->BeginSms(ada_, "+14155552671", Ctx());
  ASSERT_FALSE(dispatch.ok());
  EXPECT_EQ(dispatch.error().code(), ErrorCode::kNotFound);
}

TEST_F(MfaServiceTest, EventsCarryNoCodeOrSecret) {
  auto [secret, codes] = EnableTotp(ada_);
  Secret ticket = Ticket("ada@example.org");
  (void)mfa_->Redeem(ticket.reveal(), "000000", std::nullopt, Ctx());
  ASSERT_TRUE(mfa_->Redeem(ticket.reveal(), codes[0], std::nullopt, Ctx()).ok());
  for (const auto& e : events_.Events()) {
    for (const auto& [k, v] : e.attributes) {
      EXPECT_EQ(v.find(secret.reveal()), std::string::npos) << k;
      EXPECT_EQ(v.find(ticket.reveal()), std::string::npos) << k;
      EXPECT_EQ(v.find(codes[0]), std::string::npos) << k;
    }
  }
}

TEST(MfaCodes, ClassifyTellsDigitsFromBackupCodes) {
  std::string normalised;
  EXPECT_EQ(ClassifyCode("123 456", 6, &normalised), CodeShape::kDigits);
  EXPECT_EQ(normalised, "123456");
  EXPECT_EQ(ClassifyCode("12345678", 8, nullptr), CodeShape::kDigits);
  EXPECT_EQ(ClassifyCode("123456", 8, nullptr), CodeShape::kDigits);  // SMS codes are 6.
  EXPECT_EQ(ClassifyCode("ABCD-EFGH-2345-WXYZ", 6, &normalised), CodeShape::kBackupCode);
  EXPECT_EQ(normalised, "abcdefgh2345wxyz");
  EXPECT_EQ(ClassifyCode("abcd-efgh-2345-wxy1", 6, nullptr), std::nullopt);  // '1' is not base32.
  EXPECT_EQ(ClassifyCode("12345", 6, nullptr), std::nullopt);
  EXPECT_EQ(ClassifyCode("", 6, nullptr), std::nullopt);
  EXPECT_EQ(ClassifyCode(std::string(65, '1'), 6, nullptr), std::nullopt);
}

TEST(MfaSettingsCheck, RefusesBadValues) {
  MfaSettings settings;
  EXPECT_TRUE(ValidateMfaSettings(settings).ok());
  settings.issuer = "Bad:Issuer";
  EXPECT_FALSE(ValidateMfaSettings(settings).ok());
  settings = {};
  settings.sms_message = "no code here";
  EXPECT_FALSE(ValidateMfaSettings(settings).ok());
  settings = {};
  settings.backup_code_count = 0;
  EXPECT_FALSE(ValidateMfaSettings(settings).ok());
}

}  // namespace
}  // namespace gatehouse::auth
