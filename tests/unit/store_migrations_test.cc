// Migrations, run with the same bodies on SQLite and PostgreSQL.

#include "store/migrations.h"

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "store_test_support.h"

namespace gatehouse::store::testing {
namespace {

const Migration kCreateA{
    .version = 1, .name = "create a", .statements = {"CREATE TABLE mig_a (x BIGINT NOT NULL)"}};
const Migration kCreateB{
    .version = 2,
    .name = "create b",
    .statements = {"CREATE TABLE mig_b (x BIGINT NOT NULL)", "INSERT INTO mig_b (x) VALUES (2)"}};
// Fails on its second statement, after creating a table.
const Migration kBroken{.version = 3,
                        .name = "broken",
                        .statements = {"CREATE TABLE mig_c (x BIGINT NOT NULL)",
                                       "INSERT INTO no_such_table (x) VALUES (1)"}};

template <typename Backend>
class Migrations : public StoreFixture<Backend> {
 protected:
  // version -> (name, applied_at), in version order.
  std::vector<Row> Recorded() {
    auto rows =
        this->store_->Query("SELECT version, name, applied_at FROM schema_migrations ORDER BY 1");
    EXPECT_TRUE(rows.ok()) << rows.error().detail();
    return rows.ok() ? rows->rows : std::vector<Row>{};
  }

  bool TableExists(std::string_view table) {
    return this->store_->Query("SELECT COUNT(*) FROM " + std::string(table)).ok();
  }

  ManualClock clock_;
};

TYPED_TEST_SUITE(Migrations, Backends, BackendNames);

std::int64_t UnixSeconds(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

TYPED_TEST(Migrations, BuiltinMigrationsCreateTheMetaTable) {
  EXPECT_EQ(*SchemaVersion(*this->store_), 0);
  Status status = Migrate(*this->store_, this->clock_);
  ASSERT_TRUE(status.ok()) << status.error().detail();

  EXPECT_EQ(*SchemaVersion(*this->store_), BuiltinMigrations().back().version);
  auto recorded = this->Recorded();
  ASSERT_EQ(recorded.size(), BuiltinMigrations().size());
  EXPECT_EQ(recorded[0],
            (Row{std::int64_t{1}, std::string("gatehouse_meta"), UnixSeconds(this->clock_)}));

  auto inserted = this->store_->Execute(
      "INSERT INTO gatehouse_meta (key, value, updated_at) VALUES ($1, $2, $3)",
      {std::string("instance_id"), std::string("abc"), std::int64_t{1}});
  ASSERT_TRUE(inserted.ok()) << inserted.error().detail();
  auto duplicate = this->store_->Execute(
      "INSERT INTO gatehouse_meta (key, value, updated_at) VALUES ($1, $2, $3)",
      {std::string("instance_id"), std::string("def"), std::int64_t{2}});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kAlreadyExists);
}

TYPED_TEST(Migrations, SecondRunChangesNothing) {
  const std::vector<Migration> list = {kCreateA, kCreateB};
  ASSERT_TRUE(Migrate(*this->store_, this->clock_, list).ok());
  const auto first = this->Recorded();

  this->clock_.Advance(std::chrono::hours(1));
  Status again = Migrate(*this->store_, this->clock_, list);
  ASSERT_TRUE(again.ok()) << again.error().detail();

  EXPECT_EQ(this->Recorded(), first);  // Same versions, same applied_at.
  auto rows = this->store_->Query("SELECT COUNT(*) FROM mig_b");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0][0], Value(std::int64_t{1}));  // Data statements did not rerun.
}

TYPED_TEST(Migrations, AppliesOnlyTheMissingOnes) {
  ASSERT_TRUE(Migrate(*this->store_, this->clock_, std::vector<Migration>{kCreateA}).ok());
  const std::int64_t first_time = UnixSeconds(this->clock_);
  this->clock_.Advance(std::chrono::minutes(5));

  Status status = Migrate(*this->store_, this->clock_, std::vector<Migration>{kCreateA, kCreateB});
  ASSERT_TRUE(status.ok()) << status.error().detail();
  const auto recorded = this->Recorded();
  ASSERT_EQ(recorded.size(), 2u);
  EXPECT_EQ(recorded[0], (Row{std::int64_t{1}, std::string("create a"), first_time}));
  EXPECT_EQ(recorded[1],
            (Row{std::int64_t{2}, std::string("create b"), UnixSeconds(this->clock_)}));
  EXPECT_EQ(*SchemaVersion(*this->store_), 2);
}

TYPED_TEST(Migrations, RefusesADatabaseNewerThanTheBinary) {
  ASSERT_TRUE(
      Migrate(*this->store_, this->clock_, std::vector<Migration>{kCreateA, kCreateB}).ok());
  const auto before = this->Recorded();

  Status status = Migrate(*this->store_, this->clock_, std::vector<Migration>{kCreateA});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(status.error().detail().find("migration 2"), std::string::npos)
      << status.error().detail();
  EXPECT_EQ(this->Recorded(), before);
}

TYPED_TEST(Migrations, FailedMigrationLeavesNoTrace) {
  Status status =
      Migrate(*this->store_, this->clock_, std::vector<Migration>{kCreateA, kCreateB, kBroken});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kInternal);
  EXPECT_NE(status.error().detail().find("migration 3 (broken)"), std::string::npos)
      << status.error().detail();

  EXPECT_EQ(*SchemaVersion(*this->store_), 2);  // Earlier migrations stay applied.
  EXPECT_TRUE(this->TableExists("mig_b"));
  EXPECT_FALSE(this->TableExists("mig_c"));  // The DDL rolled back with the rest.
}

TYPED_TEST(Migrations, OutOfOrderListIsRefusedBeforeAnyChange) {
  Status status = Migrate(*this->store_, this->clock_, std::vector<Migration>{kCreateB, kCreateA});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(*SchemaVersion(*this->store_), 0);
  EXPECT_FALSE(this->TableExists("mig_a"));
}

TYPED_TEST(Migrations, BackendSpecificStatementsAreChosen) {
  const Migration blobs{.version = 1,
                        .name = "blobs",
                        .statements = {"CREATE TABLE mig_blob (b TEXT)"},  // Would lose the bytes.
                        .sqlite_statements = {"CREATE TABLE mig_blob (b BLOB NOT NULL)"},
                        .postgres_statements = {"CREATE TABLE mig_blob (b BYTEA NOT NULL)"}};
  ASSERT_TRUE(Migrate(*this->store_, this->clock_, std::vector<Migration>{blobs}).ok());
  const Blob bytes = {0x00, 0xFF, 0x00};
  ASSERT_TRUE(this->store_->Execute("INSERT INTO mig_blob (b) VALUES ($1)", {bytes}).ok());
  auto rows = this->store_->Query("SELECT b FROM mig_blob");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0][0], Value(bytes));
}

TYPED_TEST(Migrations, InstancesStartingTogetherApplyEachMigrationOnce) {
  const std::vector<Migration> list = {kCreateA, kCreateB};
  constexpr int kInstances = 4;
  std::vector<std::unique_ptr<Store>> instances;
  for (int i = 0; i < kInstances; ++i) {
    auto store = this->backend_.Open({.pool_size = 1});
    ASSERT_TRUE(store.ok()) << store.error().detail();
    instances.push_back(std::move(*store));
  }
  std::vector<Status> results(kInstances);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] { results[i] = Migrate(*instances[i], this->clock_, list); });
  }
  for (auto& thread : threads) thread.join();

  for (const Status& result : results) {
    EXPECT_TRUE(result.ok()) << result.error().detail();
  }
  EXPECT_EQ(this->Recorded().size(), 2u);
  auto rows = this->store_->Query("SELECT COUNT(*) FROM mig_b");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0][0], Value(std::int64_t{1}));
}

}  // namespace
}  // namespace gatehouse::store::testing
