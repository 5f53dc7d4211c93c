// Second factors over HTTPS against the real `gatehouse serve`: TOTP enrolment and
// confirmation, the login that answers `mfa_required` with a ticket, the verify step that
// completes it with `amr` in the token, replayed codes and tickets refused, backup codes
// spent once, SMS through a local receiver standing in for the provider (its failure
// answered clearly), disabling, the second-factor lock, and bad input. Run on SQLite with
// memory state, and on PostgreSQL with Redis shared by two instances.

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "../unit/local_http_receiver.h"
#include "auth/totp.h"
#include "auth_support.h"
#include "scale_out_support.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;
using testing_support::LocalHttpReceiver;

// The code of `secret_base32` for the current step plus `offset`, by the test's own clock.
std::string TotpCode(const std::string& secret_base32, int offset = 0) {
  auto secret = auth::Base32Decode(secret_base32);
  EXPECT_TRUE(secret.ok());
  const std::uint64_t step =
      auth::TotpStep(std::chrono::system_clock::now(), std::chrono::seconds(30));
  auto code = auth::TotpAt(*secret, step + offset, auth::TotpParams{});
  EXPECT_TRUE(code.ok());
  return std::string(code->reveal());
}

std::string Str(const json::object& body, std::string_view key) {
  const json::value* v = body.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::vector<std::string> Strings(const json::value& value) {
  std::vector<std::string> out;
  if (!value.is_array()) return out;
  for (const json::value& v : value.as_array()) {
    out.push_back(v.is_string() ? std::string(v.as_string()) : "(not a string)");
  }
  return out;
}

// AuthDeployment with limits high enough that one suite's logins and verifications (all from
// 127.0.0.1) never meet the per-address rate limits.
std::unique_ptr<Deployment> MfaDeployment() {
  auto deployment = AuthDeployment();
  deployment->Set("rate_limit", "auth", "1000/1m");
  deployment->Set("rate_limit", "registration", "1000/1m");
  deployment->Set("rate_limit", "protected", "1000/1m");
  return deployment;
}

// libpq environment for `url`, so the password reaches psql without appearing on its
// command line.
std::map<std::string, std::string> PsqlEnvironment(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  std::string user_info = rest.substr(0, rest.rfind('@'));
  std::string host_part = rest.substr(rest.rfind('@') + 1);
  std::string host_port = host_part.substr(0, host_part.find('/'));
  std::string database = host_part.substr(host_part.find('/') + 1);
  database = database.substr(0, database.find('?'));
  return {{"PGUSER", user_info.substr(0, user_info.find(':'))},
          {"PGPASSWORD", user_info.substr(user_info.find(':') + 1)},
          {"PGHOST", host_port.substr(0, host_port.rfind(':'))},
          {"PGPORT", host_port.substr(host_port.rfind(':') + 1)},
          {"PGDATABASE", database},
          {"PGCONNECT_TIMEOUT", "5"}};
}

std::string ProblemType(const HttpResponse& response) { return Str(JsonBody(response), "type"); }

// One person: an account, its password, a signed-in session and, once enrolled, the secret.
struct Person {
  std::string email = UniqueEmail("mfa");
  std::string password = StrongPassword();
  std::string access_token;
  std::string secret;
  std::vector<std::string> backup_codes;
};

class MfaFlow {
 public:
  explicit MfaFlow(std::uint16_t port) : client_(port) {}
  AuthClient& client() { return client_; }

  // Registers and signs in (no factor yet).
  bool SignUp(Person& p) {
    auto grant = client_.RegisterAndLogin(p.email, p.password);
    if (!grant) return false;
    p.access_token = grant->access_token;
    return true;
  }

  std::optional<HttpResponse> Me(std::string_view method, std::string_view path, const Person& p,
                                 const json::object& body) {
    return client_.Send(method, path,
                        {BearerHeader(p.access_token), "Content-Type: application/json"},
                        json::serialize(body));
  }

  // Enrols TOTP and confirms it with the current code; fills secret and backup codes.
  bool EnableTotp(Person& p) {
    auto enrolment = Me("POST", "/v1/me/mfa/totp", p, {});
    if (!enrolment || enrolment->status != 201) {
      ADD_FAILURE() << "enrolment: " << (enrolment ? enrolment->body : "no answer");
      return false;
    }
    p.secret = Str(JsonBody(*enrolment), "secret");
    auto confirmed = Me("POST", "/v1/me/mfa/totp/confirm", p, {{"code", TotpCode(p.secret)}});
    if (!confirmed || confirmed->status != 200) {
      ADD_FAILURE() << "confirm: " << (confirmed ? confirmed->body : "no answer");
      return false;
    }
    p.backup_codes = Strings(JsonBody(*confirmed).at("backup_codes"));
    return true;
  }

  // The ticket of a password login that must answer mfa_required.
  std::string Ticket(const Person& p) {
    auto login = client_.Login(p.email, p.password);
    if (!login || login->status != 200) {
      ADD_FAILURE() << "login: " << (login ? login->body : "no answer");
      return "";
    }
    json::object body = JsonBody(*login);
    EXPECT_EQ(body["mfa_required"], json::value(true)) << login->body;
    return Str(body, "ticket");
  }

  std::optional<HttpResponse> Verify(const std::string& ticket, const std::string& code) {
    return client_.PostJson("/v1/auth/mfa/verify", {{"ticket", ticket}, {"code", code}});
  }

 private:
  AuthClient client_;
};

// ---------------------------------------------------------------------------------------------
// One instance: SQLite and memory state, SMS through a local receiver.

class AuthMfa : public SharedServerTest<AuthMfa> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    receiver_ = std::make_unique<LocalHttpReceiver>(std::vector<int>{200});
    auto deployment = MfaDeployment();
    deployment->Set("mfa", "sms_enabled", true);
    deployment->Set("mfa", "sms_url", receiver_->url("/sms"));
    deployment->Set("mfa", "sms_allow_plain_http", true);
    deployment->Set("mfa", "sms_body_format", "json");
    deployment->Set("mfa", "sms_body_template", R"({"to":"${to}","text":"${message}"})");
    deployment->Set("mfa", "sms_retry_backoff_ms", std::int64_t{1});
    deployment->Set("mfa", "sms_per_number_limit", std::int64_t{100});
    deployment->WriteFile("keys/sms-auth", "Bearer it-sms-credential\n");
    deployment->Set("mfa", "sms_auth_header_file", (deployment->dir() / "keys/sms-auth").string());
    return deployment;
  }
  static void TearDownTestSuite() {
    SharedServerTest<AuthMfa>::TearDownTestSuite();
    receiver_.reset();
  }

  // The six digits at the end of the receiver's latest message.
  static std::string LastTextedCode() {
    auto requests = receiver_->requests();
    if (requests.empty()) return "";
    const std::string& body = requests.back().body;
    const std::size_t end = body.rfind("\"}");
    return end == std::string::npos || end < 6 ? "" : body.substr(end - 6, 6);
  }

  static inline std::unique_ptr<LocalHttpReceiver> receiver_;
};

TEST_F(AuthMfa, EnrolConfirmLoginAndVerifyGiveTokensWithAmr) {
  MfaFlow flow(port());
  Person ada;
  ASSERT_TRUE(flow.SignUp(ada));

  auto enrolment = flow.Me("POST", "/v1/me/mfa/totp", ada, {});
  ASSERT_TRUE(enrolment);
  ASSERT_EQ(enrolment->status, 201) << enrolment->body;
  EXPECT_TRUE(ContainsNoCase(enrolment->Header("Cache-Control").value_or(""), "no-store"));
  json::object e = JsonBody(*enrolment);
  ada.secret = Str(e, "secret");
  EXPECT_EQ(ada.secret.size(), 32u);
  std::string local = ada.email.substr(0, ada.email.find('@'));
  EXPECT_EQ(Str(e, "otpauth_uri"), "otpauth://totp/Gatehouse:" + local +
                                       "%40example.org?secret=" + ada.secret +
                                       "&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30");
  EXPECT_EQ(Str(e, "qr_svg").rfind("<svg", 0), 0u);
  EXPECT_EQ(Str(e, "qr_png").rfind("iVBORw0KGgo", 0), 0u);  // base64 of the PNG signature.

  // Pending: the password alone still signs in.
  auto before = flow.client().Login(ada.email, ada.password);
  ASSERT_TRUE(before);
  EXPECT_TRUE(JsonBody(*before).contains("access_token")) << before->body;

  auto confirmed =
      flow.Me("POST", "/v1/me/mfa/totp/confirm", ada, {{"code", TotpCode(ada.secret)}});
  ASSERT_TRUE(confirmed);
  ASSERT_EQ(confirmed->status, 200) << confirmed->body;
  EXPECT_EQ(Strings(JsonBody(*confirmed).at("backup_codes")).size(), 10u);

  auto overview = flow.Me("GET", "/v1/me/mfa", ada, {});
  ASSERT_TRUE(overview);
  ASSERT_EQ(overview->status, 200) << overview->body;
  json::object o = JsonBody(*overview);
  EXPECT_EQ(o["totp"].as_object()["enabled"], json::value(true));
  EXPECT_EQ(o["backup_codes_left"], json::value(10));
  EXPECT_EQ(Strings(o["methods"]), (std::vector<std::string>{"totp", "backup_code"}));

  auto login = flow.client().Login(ada.email, ada.password);
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200) << login->body;
  json::object challenge = JsonBody(*login);
  EXPECT_EQ(challenge["mfa_required"], json::value(true));
  EXPECT_EQ(Strings(challenge["methods"]), (std::vector<std::string>{"totp", "backup_code"}));
  EXPECT_EQ(challenge["expires_in"], json::value(300));
  EXPECT_FALSE(challenge.contains("access_token"));
  EXPECT_FALSE(FindSetCookie(*login, "__Host-gh_session"));
  EXPECT_FALSE(FindSetCookie(*login, "__Secure-gh_refresh"));

  auto verified = flow.Verify(Str(challenge, "ticket"), TotpCode(ada.secret, 1));
  auto grant = GrantOf(verified);
  ASSERT_TRUE(grant);
  EXPECT_TRUE(FindSetCookie(*verified, "__Host-gh_session"));
  EXPECT_TRUE(FindSetCookie(*verified, "__Host-gh_device"));
  json::object claims = JwtPayload(grant->access_token);
  EXPECT_EQ(Strings(claims["amr"]), (std::vector<std::string>{"pwd", "otp", "mfa"}));
  auto forward = flow.client().Verify(grant->access_token);
  ASSERT_TRUE(forward);
  EXPECT_EQ(forward->status, 200);
  EXPECT_EQ(forward->Header("X-Auth-Methods"), "pwd,otp,mfa");

  // The refresh token carries the session's amr on.
  auto refreshed = GrantOf(flow.client().Refresh(grant->refresh_token));
  ASSERT_TRUE(refreshed);
  EXPECT_EQ(Strings(JwtPayload(refreshed->access_token)["amr"]),
            (std::vector<std::string>{"pwd", "otp", "mfa"}));
}

TEST_F(AuthMfa, AReplayedCodeIsRefused) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  ASSERT_TRUE(flow.EnableTotp(p));
  const std::string code = TotpCode(p.secret, 1);
  ASSERT_TRUE(GrantOf(flow.Verify(flow.Ticket(p), code)));

  auto replay = flow.Verify(flow.Ticket(p), code);
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 401) << replay->body;
  EXPECT_EQ(ProblemType(*replay), "https://gatehouse.dev/problems/unauthenticated");
  EXPECT_EQ(Str(JsonBody(*replay), "detail"), "invalid code");
  // The confirmation code cannot sign in either: its step is spent too.
  auto confirm_code = flow.Verify(flow.Ticket(p), TotpCode(p.secret));
  ASSERT_TRUE(confirm_code);
  EXPECT_EQ(confirm_code->status, 401);
  EXPECT_TRUE(WaitForLogLine(*server().process, {"otp_replay"}, Millis(2000)));
}

TEST_F(AuthMfa, ATicketWorksOnce) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  ASSERT_TRUE(flow.EnableTotp(p));
  const std::string ticket = flow.Ticket(p);
  ASSERT_TRUE(GrantOf(flow.Verify(ticket, p.backup_codes[0])));
  auto again = flow.Verify(ticket, p.backup_codes[1]);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
  EXPECT_EQ(Str(JsonBody(*again), "detail"), "invalid or expired ticket");
}

TEST_F(AuthMfa, ATicketIsBoundToTheDeviceThatGaveThePassword) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  ASSERT_TRUE(flow.EnableTotp(p));
  const std::string ticket = flow.Ticket(p);
  AuthClient other(port(), "another-device/2.0");
  auto elsewhere =
      other.PostJson("/v1/auth/mfa/verify", {{"ticket", ticket}, {"code", p.backup_codes[0]}});
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->status, 401);
  EXPECT_EQ(Str(JsonBody(*elsewhere), "detail"), "invalid or expired ticket");
}

TEST_F(AuthMfa, ABackupCodeIsSpentOnce) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  ASSERT_TRUE(flow.EnableTotp(p));
  auto first = flow.Verify(flow.Ticket(p), p.backup_codes[2]);
  auto grant = GrantOf(first);
  ASSERT_TRUE(grant);
  EXPECT_EQ(Strings(JwtPayload(grant->access_token)["amr"]),
            (std::vector<std::string>{"pwd", "backup_code", "mfa"}));

  auto again = flow.Verify(flow.Ticket(p), p.backup_codes[2]);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
  p.access_token = grant->access_token;
  auto overview = flow.Me("GET", "/v1/me/mfa", p, {});
  ASSERT_TRUE(overview);
  EXPECT_EQ(JsonBody(*overview)["backup_codes_left"], json::value(9));
  EXPECT_TRUE(
      WaitForLogLine(*server().process, {"backup_code_use", "\"codes_left\":\"9\""}, Millis(2000)));
}

TEST_F(AuthMfa, RegeneratingBackupCodesNeedsProofAndReplacesTheSet) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  ASSERT_TRUE(flow.EnableTotp(p));
  auto without = flow.Me("POST", "/v1/me/mfa/backup-codes", p, {});
  ASSERT_TRUE(without);
  EXPECT_EQ(without->status, 400);
  auto regenerated = flow.Me("POST", "/v1/me/mfa/backup-codes", p, {{"password", p.password}});
  ASSERT_TRUE(regenerated);
  ASSERT_EQ(regenerated->status, 200) << regenerated->body;
  auto fresh = Strings(JsonBody(*regenerated).at("backup_codes"));
  ASSERT_EQ(fresh.size(), 10u);
  auto old = flow.Verify(flow.Ticket(p), p.backup_codes[0]);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->status, 401);
  EXPECT_TRUE(GrantOf(flow.Verify(flow.Ticket(p), fresh[0])));
}

TEST_F(AuthMfa, DisablingNeedsACurrentCodeOrThePassword) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  ASSERT_TRUE(flow.EnableTotp(p));
  auto neither = flow.Me("DELETE", "/v1/me/mfa/totp", p, {});
  ASSERT_TRUE(neither);
  EXPECT_EQ(neither->status, 400);
  auto both = flow.Me("DELETE", "/v1/me/mfa/totp", p, {{"code", "123456"}, {"password", "x"}});
  ASSERT_TRUE(both);
  EXPECT_EQ(both->status, 400);
  auto wrong_password = flow.Me("DELETE", "/v1/me/mfa/totp", p, {{"password", "Wrong-1!pass"}});
  ASSERT_TRUE(wrong_password);
  EXPECT_EQ(wrong_password->status, 403);
  auto wrong_code = flow.Me("DELETE", "/v1/me/mfa/totp", p, {{"code", "000000"}});
  ASSERT_TRUE(wrong_code);
  EXPECT_EQ(wrong_code->status, 401);

  auto disabled = flow.Me("DELETE", "/v1/me/mfa/totp", p, {{"code", TotpCode(p.secret, 1)}});
  ASSERT_TRUE(disabled);
  EXPECT_EQ(disabled->status, 204) << disabled->body;
  auto login = flow.client().Login(p.email, p.password);
  ASSERT_TRUE(GrantOf(login));
  EXPECT_TRUE(WaitForLogLine(*server().process, {"mfa_change", "totp_disabled"}, Millis(2000)));
}

TEST_F(AuthMfa, BadInputIsRefusedWithoutCountingAnAttempt) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  ASSERT_TRUE(flow.EnableTotp(p));
  const std::string ticket = flow.Ticket(p);
  struct Case {
    json::object body;
    int status;
  };
  const std::vector<Case> cases = {
      {{{"ticket", ticket}}, 400},
      {{{"code", "123456"}}, 400},
      {{{"ticket", ticket}, {"code", "12345"}}, 400},
      {{{"ticket", ticket}, {"code", "abc!def"}}, 400},
      {{{"ticket", ticket}, {"code", std::string(65, '1')}}, 400},
      {{{"ticket", ticket}, {"code", 123456}}, 400},
      {{{"ticket", ticket}, {"code", "123456"}, {"method", "email"}}, 400},
      {{{"ticket", ticket}, {"code", "123456"}, {"extra", 1}}, 400},
      {{{"ticket", "ght_unknown"}, {"code", "123456"}}, 401},
  };
  for (const Case& c : cases) {
    auto response = flow.client().PostJson("/v1/auth/mfa/verify", c.body);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, c.status) << json::serialize(c.body) << " -> " << response->body;
    EXPECT_EQ(response->Header("Content-Type"), "application/problem+json");
  }
  // The ticket survived all of it.
  EXPECT_TRUE(GrantOf(flow.Verify(ticket, TotpCode(p.secret, 1))));
  auto bad_phone = flow.Me("POST", "/v1/me/mfa/sms", p, {{"phone", "0123"}});
  ASSERT_TRUE(bad_phone);
  EXPECT_EQ(bad_phone->status, 400);
  auto no_token = flow.client().PostJson("/v1/me/mfa/totp", {});
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
}

TEST_F(AuthMfa, SmsEnrolmentAndLoginGoThroughTheSender) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  receiver_->SetStatuses({200});
  const std::size_t before = receiver_->requests().size();

  auto begun = flow.Me("POST", "/v1/me/mfa/sms", p, {{"phone", "+14155552671"}});
  ASSERT_TRUE(begun);
  ASSERT_EQ(begun->status, 200) << begun->body;
  EXPECT_EQ(Str(JsonBody(*begun), "status"), "sent");
  EXPECT_EQ(Str(JsonBody(*begun), "phone"), "+1*******71");
  ASSERT_EQ(receiver_->requests().size(), before + 1);
  const testing_support::ReceivedRequest sent = receiver_->requests().back();
  EXPECT_TRUE(sent.HasHeader("Authorization: Bearer it-sms-credential"));
  EXPECT_NE(sent.body.find("\"to\":\"+14155552671\""), std::string::npos) << sent.body;
  auto confirmed = flow.Me("POST", "/v1/me/mfa/sms/confirm", p, {{"code", LastTextedCode()}});
  ASSERT_TRUE(confirmed);
  ASSERT_EQ(confirmed->status, 200) << confirmed->body;

  auto login = flow.client().Login(p.email, p.password);
  ASSERT_TRUE(login);
  json::object challenge = JsonBody(*login);
  EXPECT_EQ(Strings(challenge["methods"]), (std::vector<std::string>{"sms", "backup_code"}));
  const std::string ticket = Str(challenge, "ticket");
  auto texted = flow.client().PostJson("/v1/auth/mfa/sms", {{"ticket", ticket}});
  ASSERT_TRUE(texted);
  ASSERT_EQ(texted->status, 200) << texted->body;
  const std::string code = LastTextedCode();
  auto grant = GrantOf(flow.Verify(ticket, code));
  ASSERT_TRUE(grant);
  EXPECT_EQ(Strings(JwtPayload(grant->access_token)["amr"]),
            (std::vector<std::string>{"pwd", "sms", "mfa"}));
  // Single use.
  auto again = flow.Verify(flow.Ticket(p), code);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
  // The number never reaches the log unmasked, nor the code.
  const std::string logs = server().process->Stderr();
  EXPECT_EQ(logs.find("4155552671"), std::string::npos);
}

TEST_F(AuthMfa, AFailedDeliveryIsAnsweredClearly) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  receiver_->SetStatuses({500});
  auto begun = flow.Me("POST", "/v1/me/mfa/sms", p, {{"phone", "+14155550123"}});
  receiver_->SetStatuses({200});
  ASSERT_TRUE(begun);
  EXPECT_EQ(begun->status, 503) << begun->body;
  EXPECT_EQ(Str(JsonBody(*begun), "detail"),
            "the text message could not be delivered; try again later or use another method");
  EXPECT_TRUE(
      WaitForLogLine(*server().process, {"sms_delivery_failed", "+1*******23"}, Millis(2000)));
}

TEST_F(AuthMfa, AReceiverThatFailsTwiceThenSucceedsDelivers) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  const std::size_t before = receiver_->requests().size();
  receiver_->SetStatuses({503, 502, 200});
  auto begun = flow.Me("POST", "/v1/me/mfa/sms", p, {{"phone", "+14155550177"}});
  receiver_->SetStatuses({200});
  ASSERT_TRUE(begun);
  EXPECT_EQ(begun->status, 200) << begun->body;
  EXPECT_EQ(receiver_->requests().size(), before + 3);
}

// ---------------------------------------------------------------------------------------------
// The second-factor lock: a server of its own with a low threshold.

class AuthMfaLock : public SharedServerTest<AuthMfaLock> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    auto deployment = MfaDeployment();
    deployment->Set("brute_force", "lock_after", std::int64_t{3});
    return deployment;
  }
};

TEST_F(AuthMfaLock, WrongCodesLockTheSecondFactorButNotThePassword) {
  MfaFlow flow(port());
  Person p;
  ASSERT_TRUE(flow.SignUp(p));
  ASSERT_TRUE(flow.EnableTotp(p));
  const std::string ticket = flow.Ticket(p);
  const std::string right = TotpCode(p.secret, 1);
  const std::string wrong = right == "000000" ? "111111" : "000000";
  for (int i = 0; i < 3; ++i) {
    // The progressive delay after a failure is a millisecond or two here (delay_base_ms 1):
    // let it pass, so every attempt is checked and counted.
    std::this_thread::sleep_for(Millis(20));
    auto failed = flow.Verify(ticket, wrong);
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->status, 401) << i << ": " << failed->body;
  }
  // Locked: even the right code is not checked now.
  std::this_thread::sleep_for(Millis(20));
  auto locked = flow.Verify(ticket, right);
  ASSERT_TRUE(locked);
  EXPECT_EQ(locked->status, 429) << locked->body;
  EXPECT_TRUE(locked->Header("Retry-After").has_value());
  EXPECT_EQ(Str(JsonBody(*locked), "detail"), "too many wrong codes; try again later");
  EXPECT_TRUE(
      WaitForLogLine(*server().process, {"account_lockout", "second_factor"}, Millis(2000)));
  // The password counter is separate: the password still gets a ticket.
  EXPECT_FALSE(flow.Ticket(p).empty());
}

// ---------------------------------------------------------------------------------------------
// Two instances on PostgreSQL and Redis: tickets, replay markers and backup codes are shared.

class AuthMfaScaleOut : public ScaleOutTest<AuthMfaScaleOut> {
 public:
  static std::unique_ptr<Deployment> BaseDeployment() { return MfaDeployment(); }
  static constexpr const char* kStatePrefix = "gh-mfa:";
};

TEST_F(AuthMfaScaleOut, ATicketFromOneInstanceCompletesOnTheOther) {
  MfaFlow on_a(a_->port());
  MfaFlow on_b(b_->port());
  Person p;
  ASSERT_TRUE(on_a.SignUp(p));
  ASSERT_TRUE(on_a.EnableTotp(p));

  const std::string ticket = on_a.Ticket(p);
  const std::string code = TotpCode(p.secret, 1);
  auto grant = GrantOf(on_b.Verify(ticket, code));
  ASSERT_TRUE(grant);
  EXPECT_EQ(Strings(JwtPayload(grant->access_token)["amr"]),
            (std::vector<std::string>{"pwd", "otp", "mfa"}));
  EXPECT_EQ(on_a.client().VerifyStatus(grant->access_token), 200);

  // The ticket is spent on A too, and the code's step is marked used for both.
  auto reused_ticket = on_a.Verify(ticket, p.backup_codes[0]);
  ASSERT_TRUE(reused_ticket);
  EXPECT_EQ(reused_ticket->status, 401);
  auto replay = on_a.Verify(on_a.Ticket(p), code);
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->status, 401);
}

TEST_F(AuthMfaScaleOut, ABackupCodeSpentOnOneInstanceIsSpentOnBoth) {
  MfaFlow on_a(a_->port());
  MfaFlow on_b(b_->port());
  Person p;
  ASSERT_TRUE(on_b.SignUp(p));
  ASSERT_TRUE(on_b.EnableTotp(p));
  ASSERT_TRUE(GrantOf(on_a.Verify(on_a.Ticket(p), p.backup_codes[4])));
  auto again = on_b.Verify(on_b.Ticket(p), p.backup_codes[4]);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 401);
}

TEST_F(AuthMfaScaleOut, PostgresHoldsNoPlainSecretOrBackupCode) {
  MfaFlow on_a(a_->port());
  Person p;
  ASSERT_TRUE(on_a.SignUp(p));
  ASSERT_TRUE(on_a.EnableTotp(p));
  CommandResult dump = RunCommand({"psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c",
                                   "SELECT * FROM mfa_factors; SELECT * FROM mfa_backup_codes;"},
                                  Millis(10000), PsqlEnvironment(postgres_->url()));
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  ASSERT_NE(dump.out.find("|totp|active|"), std::string::npos) << "factor row not found";
  EXPECT_EQ(dump.out.find(p.secret), std::string::npos);
  std::string plain = p.backup_codes[0];
  plain.erase(std::remove(plain.begin(), plain.end(), '-'), plain.end());
  EXPECT_EQ(dump.out.find(plain), std::string::npos);
  EXPECT_EQ(dump.out.find(p.backup_codes[0]), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::itest
