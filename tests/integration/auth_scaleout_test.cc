// Two `gatehouse serve` instances sharing one PostgreSQL store and one Redis state, as a
// scaled-out deployment runs: a session started on one is honoured by the other, a logout
// on one reaches the other at once, and the shared database holds no plaintext email.
// The PostgreSQL cluster and Redis server are throwaway ones started for this suite.

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "auth_support.h"
#include "scale_out_support.h"

namespace gatehouse::itest {
namespace {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

// libpq environment for `url` (postgresql://user:password@host:port/db), so the password
// reaches psql without appearing on its command line.
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

class AuthScaleOut : public ScaleOutTest<AuthScaleOut> {
 public:
  static std::unique_ptr<Deployment> BaseDeployment() { return AuthDeployment(); }
  static constexpr const char* kStatePrefix = "gh-it:";
};

TEST_F(AuthScaleOut, SessionFromOneInstanceVerifiesOnTheOther) {
  AuthClient on_a(a_->port());
  AuthClient on_b(b_->port());
  std::string email = UniqueEmail("scale");
  std::string password = StrongPassword();

  auto grant = on_a.RegisterAndLogin(email, password);

  ASSERT_TRUE(grant);
  auto verified = on_b.Verify(grant->access_token);
  ASSERT_TRUE(verified);
  EXPECT_EQ(verified->status, 200) << verified->body;
  auto login_on_b = on_b.Login(email, password);
  ASSERT_TRUE(login_on_b);
  EXPECT_EQ(login_on_b->status, 200) << "the account made on A is unknown to B";
}

TEST_F(AuthScaleOut, LogoutOnOneInstanceReachesTheOtherWithinOneSecond) {
  AuthClient on_a(a_->port());
  AuthClient on_b(b_->port());
  auto grant = on_a.RegisterAndLogin(UniqueEmail("spread"), StrongPassword());
  ASSERT_TRUE(grant);
  ASSERT_EQ(on_b.VerifyStatus(grant->access_token), 200);

  auto logout = on_a.Logout(grant->access_token);
  ASSERT_TRUE(logout);
  ASSERT_EQ(logout->status, 204) << logout->body;

  // The deny list and the session end live in Redis, so B should see them on its next
  // check; allow one second, polling.
  int status = 0;
  auto deadline = SteadyClock::now() + Millis(1000);
  do {
    status = on_b.VerifyStatus(grant->access_token);
    if (status == 401) break;
    std::this_thread::sleep_for(Millis(50));
  } while (SteadyClock::now() < deadline);
  EXPECT_EQ(status, 401) << "B still accepts the token one second after the logout on A";
}

TEST_F(AuthScaleOut, PostgresAccountsHoldNoPlaintextEmail) {
  AuthClient on_a(a_->port());
  std::string email = UniqueEmail("pg-sealed");
  auto registered = on_a.Register(email, StrongPassword());
  ASSERT_TRUE(registered);
  ASSERT_EQ(registered->status, 201) << registered->body;
  std::string account_id(JsonBody(*registered).at("id").as_string());

  CommandResult dump = RunCommand({"psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c",
                                   "SELECT * FROM accounts; SELECT * FROM sessions;"},
                                  Millis(10000), PsqlEnvironment(postgres_->url()));

  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  // The id proves the row was read; the email may only be there sealed.
  ASSERT_NE(dump.out.find(account_id), std::string::npos) << "account row not found";
  EXPECT_FALSE(ContainsNoCase(dump.out, email));
  EXPECT_FALSE(ContainsNoCase(dump.out, email.substr(0, email.find('@'))));
}

}  // namespace
}  // namespace gatehouse::itest
