// Accounts over the wire: the register / login / verify / logout round trip with its
// cookies, registration input rules, login answers that do not tell accounts apart, the
// password change, and what reaches the disk and the logs (SQLite store, memory state).

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "auth_support.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;

// Every file of the SQLite database (main file, WAL, shared memory), concatenated: a
// value written moments ago may sit only in the WAL.
std::string RawDatabaseBytes(const std::filesystem::path& dir) {
  std::string bytes;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.path().filename().string().starts_with("gatehouse.db")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    bytes += content.str();
  }
  return bytes;
}

std::string LocalPart(const std::string& email) { return email.substr(0, email.find('@')); }

std::string NoStoreProblem(std::string_view what, const std::optional<HttpResponse>& response) {
  if (!response) return std::string(what) + ": no answer\n";
  auto cache = response->Header("Cache-Control");
  if (cache && ContainsNoCase(*cache, "no-store")) return "";
  return std::string(what) + " (" + std::to_string(response->status) + "): Cache-Control is " +
         cache.value_or("absent") + "\n";
}

class AuthAccount : public SharedServerTest<AuthAccount> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return AuthDeployment(); }
};

TEST_F(AuthAccount, RegisterLoginVerifyLogoutRoundTrip) {
  AuthClient client(port());
  std::string email = UniqueEmail("round");
  std::string password = StrongPassword();

  auto registered = client.Register(email, password);
  ASSERT_TRUE(registered);
  ASSERT_EQ(registered->status, 201) << registered->body;
  json::object account = JsonBody(*registered);
  ASSERT_TRUE(account.contains("id") && account.at("id").is_string()) << registered->body;
  std::string account_id(account.at("id").as_string());
  EXPECT_EQ(account.at("email"), json::value(email));
  EXPECT_EQ(NoStoreProblem("register", registered), "");

  auto login = client.Login(email, password);
  auto grant = GrantOf(login);
  ASSERT_TRUE(grant);
  json::object login_body = JsonBody(*login);
  EXPECT_EQ(login_body.at("token_type"), json::value("Bearer"));
  EXPECT_TRUE(login_body.at("expires_in").is_int64() && login_body.at("expires_in").as_int64() > 0)
      << login->body;
  EXPECT_EQ(NoStoreProblem("login", login), "");

  // The session cookie: the __Host- prefix (RFC 6265bis section 4.1.3.2) pins it to this
  // host, Secure and Path=/ with no Domain; HttpOnly keeps scripts away from it.
  auto session = FindSetCookie(*login, "__Host-gh_session");
  ASSERT_TRUE(session) << "no __Host-gh_session cookie";
  EXPECT_EQ(session->value, grant->access_token);
  EXPECT_TRUE(session->Has("Secure"));
  EXPECT_TRUE(session->Has("HttpOnly"));
  EXPECT_EQ(session->Attribute("SameSite"), "Strict");
  EXPECT_EQ(session->Attribute("Path"), "/");
  EXPECT_FALSE(session->Has("Domain"));
  auto refresh = FindSetCookie(*login, "__Secure-gh_refresh");
  ASSERT_TRUE(refresh) << "no __Secure-gh_refresh cookie";
  EXPECT_EQ(refresh->value, grant->refresh_token);
  EXPECT_TRUE(refresh->Has("Secure"));
  EXPECT_TRUE(refresh->Has("HttpOnly"));
  EXPECT_EQ(refresh->Attribute("SameSite"), "Strict");
  EXPECT_EQ(refresh->Attribute("Path"), "/v1/auth/refresh");
  // The third marks this device as one that signed in (brute-force defence).
  auto device = FindSetCookie(*login, "__Host-gh_device");
  ASSERT_TRUE(device) << "no __Host-gh_device cookie";
  EXPECT_TRUE(device->Has("Secure"));
  EXPECT_TRUE(device->Has("HttpOnly"));
  EXPECT_EQ(device->Attribute("SameSite"), "Strict");
  EXPECT_EQ(device->Attribute("Path"), "/");
  EXPECT_EQ(login->HeaderCount("Set-Cookie"), 3u);

  auto verified = client.Verify(grant->access_token);
  ASSERT_TRUE(verified);
  EXPECT_EQ(verified->status, 200) << verified->body;
  EXPECT_EQ(verified->Header("X-Auth-User"), account_id);
  EXPECT_TRUE(verified->Header("X-Auth-Session").value_or("").size() > 0);
  EXPECT_EQ(verified->Header("X-Auth-Methods"), "pwd");
  EXPECT_EQ(NoStoreProblem("verify", verified), "");

  auto by_cookie = client.Send("GET", "/v1/auth/verify", {SessionCookieHeader(session->value)});
  ASSERT_TRUE(by_cookie);
  EXPECT_EQ(by_cookie->status, 200) << by_cookie->body;
  EXPECT_EQ(by_cookie->Header("X-Auth-User"), account_id);

  auto logout = client.Logout(grant->access_token);
  ASSERT_TRUE(logout);
  EXPECT_EQ(logout->status, 204) << logout->body;
  EXPECT_EQ(NoStoreProblem("logout", logout), "");
  auto cleared = FindSetCookie(*logout, "__Host-gh_session");
  ASSERT_TRUE(cleared) << "logout does not clear the session cookie";
  EXPECT_EQ(cleared->value, "");
  EXPECT_EQ(cleared->Attribute("Max-Age"), "0");

  auto after = client.Verify(grant->access_token);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
  EXPECT_TRUE(after->Header("WWW-Authenticate").has_value());
}

TEST_F(AuthAccount, ErrorAnswersAreNotStored) {
  // RFC 6749 section 5.1 asks for no-store on token answers; the service promises it on
  // every /v1/auth and /v1/me answer, failures included (a cached 401 or 409 would leak
  // that an address exists to the next user of a shared cache).
  AuthClient client(port());
  std::string email = UniqueEmail("nostore");
  std::string password = StrongPassword();
  ASSERT_TRUE(client.RegisterAndLogin(email, password));

  std::string problems;
  problems += NoStoreProblem("register taken email", client.Register(email, password));
  problems += NoStoreProblem("register weak password", client.Register(UniqueEmail("w"), "abc"));
  problems += NoStoreProblem("register bad email", client.Register("no-at-sign", password));
  problems += NoStoreProblem("login wrong password", client.Login(email, password + "x"));
  problems += NoStoreProblem("refresh bad token", client.Refresh("not-a-token"));
  problems += NoStoreProblem("verify without token", client.Send("GET", "/v1/auth/verify"));
  problems += NoStoreProblem("logout without token", client.Send("POST", "/v1/auth/logout"));
  problems += NoStoreProblem("sessions without token", client.Send("GET", "/v1/me/sessions"));

  EXPECT_EQ(problems, "");
}

TEST_F(AuthAccount, TakenEmailIsRefusedInAnyCase) {
  AuthClient client(port());
  std::string email = UniqueEmail("ada");
  std::string upper_local = email;
  for (std::size_t i = 0; i < upper_local.find('@'); ++i) {
    upper_local[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper_local[i])));
  }
  auto first = client.Register(email, StrongPassword());
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 201) << first->body;

  auto same = client.Register(email, StrongPassword());
  auto variant = client.Register(upper_local, StrongPassword());

  ASSERT_TRUE(same && variant);
  EXPECT_EQ(same->status, 409) << same->body;
  EXPECT_EQ(variant->status, 409) << upper_local << ": " << variant->body;
}

TEST_F(AuthAccount, WeakPasswordNamesEveryViolatedRule) {
  AuthClient client(port());

  auto response = client.Register(UniqueEmail("weak"), "abc");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  // "abc" is short and lacks upper case, a digit and a symbol; it is not on the list.
  EXPECT_EQ(
      ViolationCodes(*response),
      (std::vector<std::string>{"too_short", "missing_upper", "missing_digit", "missing_symbol"}))
      << response->body;
}

TEST_F(AuthAccount, BlocklistedPasswordIsRefusedInAnyCase) {
  // The shipped list is lower-cased and matched without regard to case; "P@ssw0rd" meets
  // every composition rule, so the list is the only thing that can refuse it.
  std::ifstream list(RepoRoot() / "data" / "common-passwords.txt");
  bool listed = false;
  for (std::string line; std::getline(list, line);) listed = listed || line == "p@ssw0rd";
  ASSERT_TRUE(listed) << "the shipped blocklist no longer holds p@ssw0rd; pick another entry";
  AuthClient client(port());

  auto response = client.Register(UniqueEmail("common"), "P@ssw0rd");

  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(ViolationCodes(*response), std::vector<std::string>{"common_password"})
      << response->body;
}

TEST_F(AuthAccount, PasswordLengthCapIsExactly256Bytes) {
  AuthClient client(port());
  std::string longest = "Aa1!" + std::string(252, 'x');
  std::string too_long = longest + "y";
  ASSERT_EQ(longest.size(), 256u);

  auto refused = client.Register(UniqueEmail("long"), too_long);
  auto accepted = client.Register(UniqueEmail("long"), longest);

  ASSERT_TRUE(refused && accepted);
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(ViolationCodes(*refused), std::vector<std::string>{"too_long"}) << refused->body;
  EXPECT_EQ(accepted->status, 201) << accepted->body;
}

TEST_F(AuthAccount, MalformedEmailsAreRefused) {
  AuthClient client(port());
  const std::vector<std::string> bad = {
      "ada.example.org",           // no @
      "ada@lovelace@example.org",  // two @
      "ada@localhost",             // no dot in the domain
      "ada lovelace@example.org",  // space
      "ad\xc3\xa9@example.org",    // non-ASCII (é)
  };

  for (const std::string& email : bad) {
    auto response = client.Register(email, StrongPassword());
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400) << email << ": " << response->body;
  }
}

TEST_F(AuthAccount, PasswordChangeNeedsTheCurrentPassword) {
  AuthClient client(port());
  std::string email = UniqueEmail("change-wrong");
  std::string password = StrongPassword();
  auto grant = client.RegisterAndLogin(email, password);
  ASSERT_TRUE(grant);

  auto refused = client.PostJson(
      "/v1/me/password", {{"current_password", password + "x"}, {"new_password", StrongPassword()}},
      {BearerHeader(grant->access_token)});

  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  auto old_still_works = client.Login(email, password);
  ASSERT_TRUE(old_still_works);
  EXPECT_EQ(old_still_works->status, 200) << "a refused change must change nothing";
}

TEST_F(AuthAccount, PasswordChangeSwapsPasswordAndEndsOtherSessions) {
  AuthClient client(port());
  std::string email = UniqueEmail("change");
  std::string old_password = StrongPassword();
  std::string new_password = StrongPassword();
  auto other = client.RegisterAndLogin(email, old_password);
  auto current = GrantOf(client.Login(email, old_password));
  ASSERT_TRUE(other && current);

  auto changed = client.PostJson(
      "/v1/me/password", {{"current_password", old_password}, {"new_password", new_password}},
      {BearerHeader(current->access_token)});

  ASSERT_TRUE(changed);
  ASSERT_EQ(changed->status, 204) << changed->body;
  EXPECT_EQ(client.VerifyStatus(other->access_token), 401) << "the other session survived";
  EXPECT_EQ(client.VerifyStatus(current->access_token), 200) << "the changing session ended";
  auto with_old = client.Login(email, old_password);
  auto with_new = client.Login(email, new_password);
  ASSERT_TRUE(with_old && with_new);
  EXPECT_EQ(with_old->status, 401);
  EXPECT_EQ(with_new->status, 200) << with_new->body;
}

TEST_F(AuthAccount, SqliteFileHoldsNoPlaintextEmail) {
  AuthClient client(port());
  std::string email = UniqueEmail("sealed");
  auto registered = client.Register(email, StrongPassword());
  ASSERT_TRUE(registered);
  ASSERT_EQ(registered->status, 201) << registered->body;
  std::string account_id(JsonBody(*registered).at("id").as_string());

  std::string bytes = RawDatabaseBytes(server().deployment->dir());

  // The id proves the row is in the bytes searched; the email must be there only sealed.
  ASSERT_NE(bytes.find(account_id), std::string::npos) << "account row not found on disk";
  EXPECT_FALSE(ContainsNoCase(bytes, email));
  EXPECT_FALSE(ContainsNoCase(bytes, LocalPart(email)));
}

// Login failures on a server of their own: their log lines are rate limited per second,
// so other suites' failures must not crowd them out.
class AuthLogin : public SharedServerTest<AuthLogin> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return AuthDeployment(); }
};

TEST_F(AuthLogin, FailuresAreLoggedWithoutPasswordOrEmail) {
  AuthClient client(port());
  std::string email = UniqueEmail("leak");
  std::string unknown = UniqueEmail("ghost");
  std::string password = StrongPassword();
  std::string wrong = StrongPassword();
  ASSERT_TRUE(client.RegisterAndLogin(email, password));

  auto bad_password = client.Login(email, wrong);
  auto bad_email = client.Login(unknown, wrong);

  ASSERT_TRUE(bad_password && bad_email);
  ASSERT_EQ(bad_password->status, 401);
  ASSERT_EQ(bad_email->status, 401);
  const std::string failure = R"("event":"security_event")";
  const std::string type = R"("type":"login_failure")";
  auto wrong_line =
      WaitForLogLine(*server().process, {failure, type, "wrong_password"}, Millis(2000));
  auto unknown_line =
      WaitForLogLine(*server().process, {failure, type, "unknown_account"}, Millis(2000));
  EXPECT_TRUE(wrong_line) << "no login_failure event for a wrong password";
  EXPECT_TRUE(unknown_line) << "no login_failure event for an unknown email";
  std::string logs = server().process->Stdout() + server().process->Stderr();
  for (const std::string& secret : {password, wrong, LocalPart(email), LocalPart(unknown)}) {
    EXPECT_FALSE(ContainsNoCase(logs, secret)) << "a log line holds " << secret;
  }
}

TEST_F(AuthLogin, UnknownEmailAndWrongPasswordAnswerAlike) {
  AuthClient client(port());
  std::string email = UniqueEmail("alike");
  auto registered = client.Register(email, StrongPassword());
  ASSERT_TRUE(registered);
  ASSERT_EQ(registered->status, 201);

  auto wrong_password = client.Login(email, StrongPassword());
  auto unknown_email = client.Login(UniqueEmail("nobody"), StrongPassword());

  ASSERT_TRUE(wrong_password && unknown_email);
  EXPECT_EQ(wrong_password->status, 401);
  EXPECT_EQ(unknown_email->status, wrong_password->status);
  // Only the request id may differ; blank it out and compare the bytes.
  auto without_id = [](const HttpResponse& r) {
    std::string body = r.body;
    std::string id = r.Header("X-Request-Id").value_or("");
    std::size_t at = id.empty() ? std::string::npos : body.find(id);
    if (at != std::string::npos) body.replace(at, id.size(), "<id>");
    return body;
  };
  EXPECT_EQ(without_id(*wrong_password), without_id(*unknown_email));
  EXPECT_EQ(wrong_password->Header("Content-Type"), unknown_email->Header("Content-Type"));
}

// The one suite that hashes at the product's default cost (argon2id, 19 MiB, 2 passes).
TEST(AuthDefaultCost, LoginWorksAndStoresDefaultParameters) {
  auto deployment = StandardDeployment();
  std::string why;
  auto server = StartServer(std::move(deployment), &why);
  ASSERT_NE(server, nullptr) << why;
  AuthClient client(server->port());

  auto grant = client.RegisterAndLogin(UniqueEmail("default"), StrongPassword());

  ASSERT_TRUE(grant);
  EXPECT_EQ(client.VerifyStatus(grant->access_token), 200);
  std::string bytes = RawDatabaseBytes(server->deployment->dir());
  EXPECT_NE(bytes.find("$argon2id$v=19$m=19456,t=2,p=1$"), std::string::npos)
      << "no hash with the default parameters on disk";
}

}  // namespace
}  // namespace gatehouse::itest
