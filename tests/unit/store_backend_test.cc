// The store contract, run with the same bodies on SQLite and PostgreSQL.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/store.h"
#include "store_test_support.h"

namespace gatehouse::store::testing {
namespace {

template <typename Backend>
class StoreContract : public StoreFixture<Backend> {
 protected:
  void SetUp() override {
    StoreFixture<Backend>::SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    auto created = this->store_->Execute(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, t TEXT, b " +
        std::string(Backend::kBlobType) + ")");
    ASSERT_TRUE(created.ok()) << created.error().detail();
    created = this->store_->Execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
    ASSERT_TRUE(created.ok()) << created.error().detail();
  }

  std::int64_t Count(std::string_view table) {
    auto rows = this->store_->Query("SELECT COUNT(*) FROM " + std::string(table));
    EXPECT_TRUE(rows.ok()) << rows.error().detail();
    if (!rows.ok() || rows->empty()) return -1;
    return std::get<std::int64_t>((*rows)[0][0]);
  }

  Result<std::int64_t> InsertKv(Transaction& tx, std::string key) {
    return tx.Execute("INSERT INTO kv (k, v) VALUES ($1, 'x')", {std::move(key)});
  }
};

TYPED_TEST_SUITE(StoreContract, Backends, BackendNames);

TYPED_TEST(StoreContract, RoundTripsEveryValueType) {
  const Blob bytes = {0x00, 0x01, 0x00, 0xFF, 0x5C, 0x78, 0x00};  // NULs and "\x".
  const std::string unicode = "Zoë ☃ 日本語 🚀 \u00A0end";
  const Params row = {std::int64_t{1}, std::numeric_limits<std::int64_t>::min(), -0.1 + 1e-17,
                      unicode, bytes};
  auto inserted =
      this->store_->Execute("INSERT INTO items (id, i, d, t, b) VALUES ($1, $2, $3, $4, $5)", row);
  ASSERT_TRUE(inserted.ok()) << inserted.error().detail();
  EXPECT_EQ(*inserted, 1);

  auto rows =
      this->store_->Query("SELECT id, i, d, t, b FROM items WHERE id = $1", {std::int64_t{1}});
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0], row);
  EXPECT_EQ(rows->columns, (std::vector<std::string>{"id", "i", "d", "t", "b"}));
}

TYPED_TEST(StoreContract, RoundTripsExtremesAndNull) {
  const Params extremes = {std::int64_t{2}, std::numeric_limits<std::int64_t>::max(), 1e300,
                           std::string(100000, 'x'), Blob(70000, 0xAB)};
  const Params nulls = {std::int64_t{3}, std::monostate{}, std::monostate{}, std::monostate{},
                        std::monostate{}};
  for (const Params* row : {&extremes, &nulls}) {
    auto inserted = this->store_->Execute(
        "INSERT INTO items (id, i, d, t, b) VALUES ($1, $2, $3, $4, $5)", *row);
    ASSERT_TRUE(inserted.ok()) << inserted.error().detail();
  }
  auto rows = this->store_->Query("SELECT id, i, d, t, b FROM items ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0], extremes);
  EXPECT_EQ((*rows)[1], nulls);
  EXPECT_TRUE(IsNull((*rows)[1][4]));
}

TYPED_TEST(StoreContract, EmptyTextAndEmptyBlobAreNotNull) {
  auto inserted = this->store_->Execute("INSERT INTO items (id, t, b) VALUES ($1, $2, $3)",
                                        {std::int64_t{1}, std::string(), Blob{}});
  ASSERT_TRUE(inserted.ok()) << inserted.error().detail();
  auto rows = this->store_->Query("SELECT t, b FROM items");
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0][0], Value(std::string()));
  EXPECT_EQ((*rows)[0][1], Value(Blob{}));
}

TYPED_TEST(StoreContract, ExecuteReportsAffectedRows) {
  for (std::int64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(this->store_->Execute("INSERT INTO items (id, i) VALUES ($1, $1)", {id}).ok());
  }
  auto updated = this->store_->Execute("UPDATE items SET t = $1 WHERE i >= $2",
                                       {std::string("big"), std::int64_t{2}});
  ASSERT_TRUE(updated.ok()) << updated.error().detail();
  EXPECT_EQ(*updated, 2);

  auto deleted = this->store_->Execute("DELETE FROM items WHERE id = $1", {std::int64_t{1}});
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1);

  // DDL changes no rows, even right after a statement that did.
  auto ddl = this->store_->Execute("CREATE TABLE counter (n BIGINT NOT NULL)");
  ASSERT_TRUE(ddl.ok()) << ddl.error().detail();
  EXPECT_EQ(*ddl, 0);

  auto missing = this->store_->Execute("DELETE FROM items WHERE id = $1", {std::int64_t{99}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, 0);
}

TYPED_TEST(StoreContract, InsertReturningWorksThroughQuery) {
  auto rows = this->store_->Query("INSERT INTO items (id, t) VALUES ($1, $2) RETURNING id, t",
                                  {std::int64_t{7}, std::string("seven")});
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0], (Row{std::int64_t{7}, std::string("seven")}));
  EXPECT_EQ(this->Count("items"), 1);
}

TYPED_TEST(StoreContract, ParametersAreNeverParsedAsSql) {
  const std::string hostile = "'); DROP TABLE items; --";
  ASSERT_TRUE(
      this->store_->Execute("INSERT INTO items (id, t) VALUES ($1, $2)", {std::int64_t{1}, hostile})
          .ok());
  auto rows = this->store_->Query("SELECT t FROM items WHERE t = $1", {hostile});
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0][0], Value(hostile));

  // The classic tautology matches nothing when it is data.
  auto tautology =
      this->store_->Query("SELECT id FROM items WHERE t = $1", {std::string("x' OR '1'='1")});
  ASSERT_TRUE(tautology.ok());
  EXPECT_TRUE(tautology->empty());
  EXPECT_EQ(this->Count("items"), 1);
}

TYPED_TEST(StoreContract, PlaceholdersMayRepeatAndComeInAnyOrder) {
  auto inserted = this->store_->Execute("INSERT INTO items (id, t, i) VALUES ($2, $1, $2)",
                                        {std::string("text"), std::int64_t{5}});
  ASSERT_TRUE(inserted.ok()) << inserted.error().detail();
  auto rows = this->store_->Query("SELECT id, t, i FROM items");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0], (Row{std::int64_t{5}, std::string("text"), std::int64_t{5}}));
}

TYPED_TEST(StoreContract, PlaceholderWithoutParameterFails) {
  auto rows = this->store_->Query("SELECT id FROM items WHERE id = $2", {std::int64_t{1}});
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code(), ErrorCode::kInternal);
}

TYPED_TEST(StoreContract, SecondStatementInOneCallIsRefused) {
  ASSERT_TRUE(this->store_->Execute("INSERT INTO items (id) VALUES (1)").ok());
  auto stacked = this->store_->Execute("DELETE FROM items; DROP TABLE items");
  ASSERT_FALSE(stacked.ok());
  EXPECT_EQ(stacked.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(this->Count("items"), 1);
}

TYPED_TEST(StoreContract, TextThatIsNotStoreableUtf8IsRefused) {
  for (const std::string& bad : {std::string("\xFF"), std::string("a\0b", 3),
                                 std::string("\xC0\xAF"), std::string("\xED\xA0\x80")}) {
    auto inserted =
        this->store_->Execute("INSERT INTO items (id, t) VALUES ($1, $2)", {std::int64_t{1}, bad});
    ASSERT_FALSE(inserted.ok());
    EXPECT_EQ(inserted.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(this->Count("items"), 0);
}

TYPED_TEST(StoreContract, UniqueViolationIsAlreadyExistsAndHidesTheValue) {
  const std::string email = "alice.private@example.com";
  ASSERT_TRUE(this->store_->Execute("INSERT INTO kv (k, v) VALUES ($1, 'a')", {email}).ok());
  auto again = this->store_->Execute("INSERT INTO kv (k, v) VALUES ($1, 'b')", {email});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(again.error().message(), "already exists");
  EXPECT_FALSE(again.error().detail().empty());
  EXPECT_EQ(again.error().detail().find("alice"), std::string::npos) << again.error().detail();
}

TYPED_TEST(StoreContract, ForeignKeysAreEnforced) {
  ASSERT_TRUE(this->store_->Execute("CREATE TABLE parent (id BIGINT PRIMARY KEY)").ok());
  ASSERT_TRUE(this->store_
                  ->Execute("CREATE TABLE child (id BIGINT PRIMARY KEY,"
                            " parent_id BIGINT NOT NULL REFERENCES parent (id))")
                  .ok());
  auto orphan =
      this->store_->Execute("INSERT INTO child (id, parent_id) VALUES (1, $1)", {std::int64_t{42}});
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(this->Count("child"), 0);
}

TYPED_TEST(StoreContract, TransactionCommitsWhenCallbackReturnsOk) {
  Status status = this->store_->InTransaction([&](Transaction& tx) -> Status {
    EXPECT_EQ(tx.backend_name(), TypeParam::kName);
    GH_RETURN_IF_ERROR(this->InsertKv(tx, "a"));
    GH_RETURN_IF_ERROR(this->InsertKv(tx, "b"));
    auto seen = tx.Query("SELECT COUNT(*) FROM kv");  // Own writes are visible inside.
    if (!seen.ok()) return std::move(seen).error();
    EXPECT_EQ((*seen)[0][0], Value(std::int64_t{2}));
    return Ok();
  });
  ASSERT_TRUE(status.ok()) << status.error().detail();
  EXPECT_EQ(this->Count("kv"), 2);
}

TYPED_TEST(StoreContract, TransactionRollsBackWhenCallbackReturnsError) {
  Status status = this->store_->InTransaction([&](Transaction& tx) -> Status {
    GH_RETURN_IF_ERROR(this->InsertKv(tx, "a"));
    return NotFound("no such account");
  });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kNotFound);  // The callback's own error.
  EXPECT_EQ(this->Count("kv"), 0);
}

TYPED_TEST(StoreContract, TransactionRollsBackOnFailedStatement) {
  Status status = this->store_->InTransaction([&](Transaction& tx) -> Status {
    GH_RETURN_IF_ERROR(this->InsertKv(tx, "a"));
    GH_RETURN_IF_ERROR(this->InsertKv(tx, "a"));
    return Ok();
  });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(this->Count("kv"), 0);
}

TYPED_TEST(StoreContract, TransactionRollsBackWhenCallbackIgnoresFailedStatement) {
  Status status = this->store_->InTransaction([&](Transaction& tx) -> Status {
    GH_RETURN_IF_ERROR(this->InsertKv(tx, "a"));
    (void)this->InsertKv(tx, "a");  // Fails; the callback pretends it did not.
    return Ok();
  });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(this->Count("kv"), 0);
}

TYPED_TEST(StoreContract, TransactionRollsBackWhenCallbackThrows) {
  EXPECT_THROW((void)this->store_->InTransaction([&](Transaction& tx) -> Status {
    (void)this->InsertKv(tx, "a");
    throw std::runtime_error("callback bug");
  }),
               std::runtime_error);
  EXPECT_EQ(this->Count("kv"), 0);

  // The connection went back to the pool clean.
  Status status = this->store_->InTransaction([&](Transaction& tx) -> Status {
    return this->InsertKv(tx, "b").ok() ? Ok() : Internal("x");
  });
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(this->Count("kv"), 1);
}

TYPED_TEST(StoreContract, NestedCallFromCallbackIsRefusedNotDeadlocked) {
  Status status = this->store_->InTransaction([&](Transaction&) -> Status {
    auto nested = this->store_->Execute("INSERT INTO kv (k, v) VALUES ('n', 'x')");
    EXPECT_FALSE(nested.ok());
    if (!nested.ok()) {
      EXPECT_EQ(nested.error().code(), ErrorCode::kInternal);
    }
    return Ok();
  });
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(this->Count("kv"), 0);
}

TYPED_TEST(StoreContract, OtherCallersDoNotSeeUncommittedWrites) {
  std::promise<void> written;
  std::promise<void> checked;
  std::thread writer([&] {
    Status status = this->store_->InTransaction([&](Transaction& tx) -> Status {
      GH_RETURN_IF_ERROR(this->InsertKv(tx, "pending"));
      written.set_value();
      checked.get_future().wait();
      return Ok();
    });
    EXPECT_TRUE(status.ok());
  });
  written.get_future().wait();
  // Runs while the transaction is open: reads are not blocked by the writer.
  EXPECT_EQ(this->Count("kv"), 0);
  checked.set_value();
  writer.join();
  EXPECT_EQ(this->Count("kv"), 1);
}

TYPED_TEST(StoreContract, ConcurrentWritersLoseNoWrite) {
  ASSERT_TRUE(this->store_->Execute("CREATE TABLE counter (n BIGINT NOT NULL)").ok());
  ASSERT_TRUE(this->store_->Execute("INSERT INTO counter (n) VALUES (0)").ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::int64_t id = t * 1000 + i;
        if (!this->store_->Execute("INSERT INTO items (id, i) VALUES ($1, $2)", {id, id}).ok()) {
          ++failures;
        }
        Status status = this->store_->InTransaction([&](Transaction& tx) -> Status {
          GH_RETURN_IF_ERROR(this->InsertKv(tx, "k" + std::to_string(id)));
          GH_RETURN_IF_ERROR(tx.Execute("UPDATE counter SET n = n + 1"));
          return Ok();
        });
        if (!status.ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(this->Count("items"), kThreads * kPerThread);
  EXPECT_EQ(this->Count("kv"), kThreads * kPerThread);
  auto counter = this->store_->Query("SELECT n FROM counter");
  ASSERT_TRUE(counter.ok());
  EXPECT_EQ((*counter)[0][0], Value(std::int64_t{kThreads * kPerThread}));
}

TYPED_TEST(StoreContract, WaitForAConnectionIsBounded) {
  auto small =
      this->backend_.Open({.pool_size = 1, .wait_timeout = std::chrono::milliseconds(200)});
  ASSERT_TRUE(small.ok()) << small.error().detail();
  Store& store = **small;

  std::promise<void> holding;
  std::promise<void> release;
  std::thread holder([&] {
    Status status = store.InTransaction([&](Transaction& tx) -> Status {
      GH_RETURN_IF_ERROR(this->InsertKv(tx, "held"));
      holding.set_value();
      release.get_future().wait();
      return Ok();
    });
    EXPECT_TRUE(status.ok());
  });
  holding.get_future().wait();

  const auto start = std::chrono::steady_clock::now();
  auto blocked = store.Execute("INSERT INTO kv (k, v) VALUES ('other', 'x')");
  const auto waited = std::chrono::steady_clock::now() - start;
  release.set_value();
  holder.join();

  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().code(), ErrorCode::kUnavailable);
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_LT(waited, std::chrono::seconds(3));
  EXPECT_EQ(this->Count("kv"), 1);
}

TYPED_TEST(StoreContract, PingAnswersAndNamesTheBackend) {
  Status status = this->store_->Ping();
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(this->store_->backend_name(), TypeParam::kName);
}

}  // namespace
}  // namespace gatehouse::store::testing
