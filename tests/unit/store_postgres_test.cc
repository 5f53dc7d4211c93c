// PostgreSQL-only behaviour: reconnecting, secrecy of the URL, type conversion.

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "store/store.h"
#include "store_test_support.h"

namespace gatehouse::store::testing {
namespace {

class PostgresStoreTest : public StoreFixture<PostgresBackend> {};

std::int64_t BackendPid(Store& store) {
  auto rows = store.Query("SELECT pg_backend_pid()");
  EXPECT_TRUE(rows.ok()) << rows.error().detail();
  return rows.ok() ? std::get<std::int64_t>((*rows)[0][0]) : -1;
}

TEST_F(PostgresStoreTest, BrokenConnectionIsReplacedOnNextUse) {
  auto single = backend_.Open({.pool_size = 1});
  ASSERT_TRUE(single.ok()) << single.error().detail();
  const std::int64_t pid = BackendPid(**single);

  auto killed = store_->Query("SELECT pg_terminate_backend($1::INTEGER)", {pid});
  ASSERT_TRUE(killed.ok()) << killed.error().detail();
  ASSERT_EQ((*killed)[0][0], Value(std::int64_t{1}));

  // The call that meets the dead connection reports it...
  auto lost = (*single)->Query("SELECT 1");
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code(), ErrorCode::kUnavailable);
  // ...and the next one runs on a fresh connection.
  const std::int64_t new_pid = BackendPid(**single);
  EXPECT_GT(new_pid, 0);
  EXPECT_NE(new_pid, pid);
  EXPECT_TRUE((*single)->Ping().ok());
}

TEST_F(PostgresStoreTest, WrongPasswordFailsWithoutRevealingTheUrl) {
  auto url = PostgresTestUrl();
  ASSERT_TRUE(url.ok());
  // postgresql://gatehouse:<password>@... -> a wrong password.
  const std::size_t colon = url->find(':', std::string("postgresql://").size());
  const std::size_t at = url->find('@');
  ASSERT_NE(colon, std::string::npos);
  ASSERT_NE(at, std::string::npos);
  const std::string wrong = url->substr(0, colon + 1) + "Wr0ngPassw0rdXyz" + url->substr(at);

  StoreOptions options;
  options.driver = "postgres";
  options.postgres_url = Secret(wrong);
  auto store = OpenStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(store.error().detail().find("Wr0ngPassw0rdXyz"), std::string::npos);
  EXPECT_EQ(store.error().message().find("Wr0ngPassw0rdXyz"), std::string::npos);
}

TEST_F(PostgresStoreTest, UnparseableUrlIsRefusedWithoutQuotingIt) {
  StoreOptions options;
  options.driver = "postgres";
  options.postgres_url = Secret("postgresql://user:Hunter2Secret@[::1/db?sslmode=%zz");
  auto store = OpenStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store.error().detail().find("Hunter2"), std::string::npos);
  EXPECT_EQ(store.error().message().find("Hunter2"), std::string::npos);
}

TEST_F(PostgresStoreTest, NativeTypesMapToValues) {
  auto rows = store_->Query(
      "SELECT TRUE, FALSE, 7::SMALLINT, 8::INTEGER, 1.5::REAL, 12.50::NUMERIC, 'x'::VARCHAR,"
      " '\\x00ff'::BYTEA, NULL::BIGINT");
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  const Row expected = {
      std::int64_t{1},      std::int64_t{0},  std::int64_t{7},  std::int64_t{8}, 1.5,
      std::string("12.50"), std::string("x"), Blob{0x00, 0xFF}, std::monostate{}};
  EXPECT_EQ((*rows)[0], expected);
}

TEST_F(PostgresStoreTest, SpecialDoublesRoundTrip) {
  auto rows = store_->Query(
      "SELECT $1::DOUBLE PRECISION, $2::DOUBLE PRECISION, $3::DOUBLE PRECISION",
      {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
       std::numeric_limits<double>::quiet_NaN()});
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  EXPECT_EQ((*rows)[0][0], Value(std::numeric_limits<double>::infinity()));
  EXPECT_EQ((*rows)[0][1], Value(-std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(std::isnan(std::get<double>((*rows)[0][2])));
}

TEST_F(PostgresStoreTest, DataErrorsDoNotQuoteTheValue) {
  auto rows = store_->Query("SELECT $1::BIGINT", {std::string("secret-pii-value")});
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code(), ErrorCode::kInternal);
  EXPECT_NE(rows.error().detail().find("22P02"), std::string::npos) << rows.error().detail();
  EXPECT_EQ(rows.error().detail().find("secret-pii"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::store::testing
