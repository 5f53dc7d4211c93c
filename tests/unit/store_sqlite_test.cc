// SQLite-only behaviour: file permissions, journal mode, durability setting, paths.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "store/store.h"
#include "store_test_support.h"

namespace gatehouse::store::testing {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

TEST(SqliteStore, DatabaseAndWalFilesAreOwnerOnly) {
  SqliteBackend backend;
  auto store = backend.Open();
  ASSERT_TRUE(store.ok()) << store.error().detail();
  ASSERT_TRUE((*store)->Execute("CREATE TABLE kv (k TEXT PRIMARY KEY)").ok());
  ASSERT_TRUE((*store)->Execute("INSERT INTO kv (k) VALUES ('a')").ok());

  EXPECT_EQ(ModeOf(backend.path()), 0600u);
  EXPECT_EQ(ModeOf(backend.path() + "-wal"), 0600u);
  EXPECT_EQ(ModeOf(backend.path() + "-shm"), 0600u);
}

TEST(SqliteStore, ExistingWorldReadableFileIsNarrowed) {
  SqliteBackend backend;
  const int fd = ::open(backend.path().c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ::fchmod(fd, 0644);
  ::close(fd);
  ASSERT_EQ(ModeOf(backend.path()), 0644u);

  auto store = backend.Open();
  ASSERT_TRUE(store.ok()) << store.error().detail();
  EXPECT_EQ(ModeOf(backend.path()), 0600u);
}

TEST(SqliteStore, JournalModeIsWal) {
  SqliteBackend backend;
  auto store = backend.Open();
  ASSERT_TRUE(store.ok()) << store.error().detail();
  auto rows = (*store)->Query("PRAGMA journal_mode");
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  EXPECT_EQ((*rows)[0][0], Value(std::string("wal")));
}

// The writer's setting is what counts; a transaction runs on the writer.
std::int64_t WriterSynchronous(Store& store) {
  std::int64_t level = -1;
  Status status = store.InTransaction([&](Transaction& tx) -> Status {
    auto rows = tx.Query("PRAGMA synchronous");
    if (!rows.ok()) return std::move(rows).error();
    level = std::get<std::int64_t>((*rows)[0][0]);
    return Ok();
  });
  EXPECT_TRUE(status.ok());
  return level;
}

TEST(SqliteStore, SynchronousIsFullByDefaultAndNormalOnRequest) {
  SqliteBackend backend;
  auto full = backend.Open();
  ASSERT_TRUE(full.ok()) << full.error().detail();
  EXPECT_EQ(WriterSynchronous(**full), 2);  // FULL

  auto normal = backend.Open({.sqlite_synchronous_full = false});
  ASSERT_TRUE(normal.ok()) << normal.error().detail();
  EXPECT_EQ(WriterSynchronous(**normal), 1);  // NORMAL
}

TEST(SqliteStore, MissingDirectoryIsAnErrorNamingIt) {
  SqliteBackend backend;
  const std::string missing = backend.dir() + "/not-there";
  StoreOptions options;
  options.driver = "sqlite";
  options.sqlite_path = missing + "/gatehouse.db";
  auto store = OpenStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(store.error().message().find(missing), std::string::npos) << store.error().message();
  EXPECT_NE(::access(missing.c_str(), F_OK), 0);  // Not created behind the operator's back.
}

TEST(SqliteStore, WritesBecomeVisibleToOtherConnections) {
  SqliteBackend backend;
  auto first = backend.Open();
  auto second = backend.Open();
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*first)->Execute("CREATE TABLE kv (k TEXT PRIMARY KEY)").ok());
  ASSERT_TRUE((*first)->Execute("INSERT INTO kv (k) VALUES ($1)", {std::string("a")}).ok());
  auto rows = (*second)->Query("SELECT k FROM kv");
  ASSERT_TRUE(rows.ok()) << rows.error().detail();
  ASSERT_EQ(rows->size(), 1u);
}

TEST(OpenStore, RefusesUnknownDriverAndMissingSettings) {
  StoreOptions options;
  options.driver = "mysql";
  auto unknown = OpenStore(options);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);

  options.driver = "sqlite";
  auto no_path = OpenStore(options);
  ASSERT_FALSE(no_path.ok());
  EXPECT_EQ(no_path.error().code(), ErrorCode::kInvalidArgument);

  options.driver = "postgres";
  auto no_url = OpenStore(options);
  ASSERT_FALSE(no_url.ok());
  EXPECT_EQ(no_url.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gatehouse::store::testing
