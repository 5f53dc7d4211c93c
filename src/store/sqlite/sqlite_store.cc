#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "store/backend_support.h"

namespace gatehouse::store {
namespace {

using internal::AlreadyExistsError;
using internal::InternalError;
using internal::TransactionScope;
using internal::UnavailableError;

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// SQLite's messages name tables, columns and constraints but never bound values,
// so they are safe for the detail.
Error SqliteError(sqlite3* db, int rc, std::string_view step) {
  std::string detail = "sqlite " + std::string(step) + " failed (" + std::to_string(rc) +
                       "): " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return AlreadyExistsError(std::move(detail));
  }
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    return UnavailableError(std::move(detail));
  return InternalError(std::move(detail));
}

Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql) {
  if (sql.size() >= INT_MAX) return InternalError("sqlite prepare: statement too long");
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, &tail);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, "prepare");
  if (stmt == nullptr) return InternalError("sqlite prepare: no statement in the SQL text");

  // One call, one statement: whatever follows must be only blanks and comments,
  // which compile to nothing. This keeps a stray `;` plus more SQL from running.
  const char* end = sql.data() + sql.size();
  sqlite3_stmt* extra = nullptr;
  rc = sqlite3_prepare_v2(db, tail, static_cast<int>(end - tail), &extra, nullptr);
  StmtPtr extra_owner(extra);
  if (rc != SQLITE_OK || extra != nullptr) {
    return InternalError("sqlite prepare: more than one statement in one call");
  }
  return stmt;
}

int BindOne(sqlite3_stmt* stmt, int index, const Value& value) {
  // SQLITE_STATIC: the caller's Params outlive the statement's execution.
  struct Binder {
    sqlite3_stmt* stmt;
    int index;
    int operator()(std::monostate) const { return sqlite3_bind_null(stmt, index); }
    int operator()(std::int64_t v) const { return sqlite3_bind_int64(stmt, index, v); }
    int operator()(double v) const { return sqlite3_bind_double(stmt, index, v); }
    int operator()(const std::string& v) const {
      return sqlite3_bind_text64(stmt, index, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
    }
    int operator()(const Blob& v) const {
      // A null data pointer would bind NULL, so an empty blob needs its own call.
      if (v.empty()) return sqlite3_bind_zeroblob(stmt, index, 0);
      return sqlite3_bind_blob64(stmt, index, v.data(), v.size(), SQLITE_STATIC);
    }
  };
  return std::visit(Binder{stmt, index}, value);
}

// Binds `$N` placeholders by name. SQLite numbers named parameters in order of
// first appearance, which need not match N, so each name is parsed.
Status Bind(sqlite3* db, sqlite3_stmt* stmt, const Params& params) {
  std::vector<bool> used(params.size(), false);
  const int count = sqlite3_bind_parameter_count(stmt);
  for (int i = 1; i <= count; ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt, i);
    const auto n = name != nullptr ? internal::ParsePlaceholder(name) : std::nullopt;
    if (!n) {
      return InternalError("sqlite bind: only $1, $2, ... placeholders are supported, got " +
                           std::string(name != nullptr ? name : "?"));
    }
    if (*n > params.size()) {
      return InternalError("sqlite bind: placeholder $" + std::to_string(*n) +
                           " has no parameter (" + std::to_string(params.size()) + " given)");
    }
    const int rc = BindOne(stmt, i, params[*n - 1]);
    if (rc != SQLITE_OK) return SqliteError(db, rc, "bind");
    used[*n - 1] = true;
  }
  for (std::size_t k = 0; k < used.size(); ++k) {
    if (!used[k]) {
      return InternalError("sqlite bind: parameter $" + std::to_string(k + 1) +
                           " is not used by the statement");
    }
  }
  return Ok();
}

Value ColumnValue(sqlite3_stmt* stmt, int col) {
  switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER:
      return static_cast<std::int64_t>(sqlite3_column_int64(stmt, col));
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, col);
    case SQLITE_TEXT: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
      const int size = sqlite3_column_bytes(stmt, col);
      return std::string(text, static_cast<std::size_t>(size));
    }
    case SQLITE_BLOB: {
      const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, col));
      const int size = sqlite3_column_bytes(stmt, col);
      return data == nullptr ? Blob{} : Blob(data, data + size);
    }
    default:
      return std::monostate{};
  }
}

// Runs a prepared and bound statement to completion, keeping the rows if asked.
Result<Rows> StepAll(sqlite3* db, sqlite3_stmt* stmt, bool keep_rows) {
  Rows rows;
  const int columns = sqlite3_column_count(stmt);
  if (keep_rows) {
    for (int c = 0; c < columns; ++c) rows.columns.emplace_back(sqlite3_column_name(stmt, c));
  }
  while (true) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return rows;
    if (rc != SQLITE_ROW) return SqliteError(db, rc, "step");
    if (!keep_rows) continue;
    Row row;
    row.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) row.push_back(ColumnValue(stmt, c));
    rows.rows.push_back(std::move(row));
  }
}

Result<Rows> QueryOn(sqlite3* db, std::string_view sql, const Params& params) {
  GH_RETURN_IF_ERROR(internal::ValidateParams(params));
  auto stmt = Prepare(db, sql);
  if (!stmt.ok()) return std::move(stmt).error();
  GH_RETURN_IF_ERROR(Bind(db, stmt->get(), params));
  return StepAll(db, stmt->get(), /*keep_rows=*/true);
}

Result<std::int64_t> ExecuteOn(sqlite3* db, std::string_view sql, const Params& params) {
  GH_RETURN_IF_ERROR(internal::ValidateParams(params));
  auto stmt = Prepare(db, sql);
  if (!stmt.ok()) return std::move(stmt).error();
  GH_RETURN_IF_ERROR(Bind(db, stmt->get(), params));

  // sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE even when
  // the statement just run was DDL, so only trust it if the total moved.
  const sqlite3_int64 before = sqlite3_total_changes64(db);
  auto stepped = StepAll(db, stmt->get(), /*keep_rows=*/false);
  if (!stepped.ok()) return std::move(stepped).error();
  if (sqlite3_total_changes64(db) == before) return std::int64_t{0};
  return static_cast<std::int64_t>(sqlite3_changes64(db));
}

using SqliteTransaction = internal::TrackingTransaction<sqlite3*, QueryOn, ExecuteOn>;

class SqliteStore final : public Store {
 public:
  SqliteStore(DbPtr writer, std::vector<DbPtr> readers, std::chrono::milliseconds wait_timeout)
      : writer_(std::move(writer)), readers_(std::move(readers)), wait_timeout_(wait_timeout) {
    for (auto& reader : readers_) idle_readers_.push_back(reader.get());
  }

  Result<Rows> Query(std::string_view sql, const Params& params) override {
    if (TransactionScope::Active(this)) return internal::NestedCallError();
    GH_RETURN_IF_ERROR(internal::ValidateParams(params));

    // Reads go to a read-only connection so they never queue behind the writer;
    // a statement that writes (INSERT ... RETURNING) falls through to the writer.
    {
      auto reader = AcquireReader();
      if (!reader.ok()) return std::move(reader).error();
      ReaderLease lease(this, *reader);
      auto stmt = Prepare(*reader, sql);
      if (!stmt.ok()) return std::move(stmt).error();
      if (sqlite3_stmt_readonly(stmt->get()) != 0) {
        GH_RETURN_IF_ERROR(Bind(*reader, stmt->get(), params));
        return StepAll(*reader, stmt->get(), /*keep_rows=*/true);
      }
    }

    std::unique_lock lock(writer_mu_, wait_timeout_);
    if (!lock.owns_lock()) return WriterBusy();
    return QueryOn(writer_.get(), sql, params);
  }

  Result<std::int64_t> Execute(std::string_view sql, const Params& params) override {
    if (TransactionScope::Active(this)) return internal::NestedCallError();
    std::unique_lock lock(writer_mu_, wait_timeout_);
    if (!lock.owns_lock()) return WriterBusy();
    return ExecuteOn(writer_.get(), sql, params);
  }

  Status InTransaction(const std::function<Status(Transaction&)>& body) override {
    if (TransactionScope::Active(this)) return internal::NestedCallError();
    std::unique_lock lock(writer_mu_, wait_timeout_);
    if (!lock.owns_lock()) return WriterBusy();
    sqlite3* db = writer_.get();

    // IMMEDIATE takes the write lock up front: a deferred transaction that reads
    // first and writes later can fail with SQLITE_BUSY against another process.
    GH_RETURN_IF_ERROR(ExecuteOn(db, "BEGIN IMMEDIATE", {}));

    // Rolls back on every path that does not commit, an exception from `body`
    // included, so the writer never goes back into service mid-transaction.
    struct RollbackGuard {
      sqlite3* db;
      ~RollbackGuard() {
        if (sqlite3_get_autocommit(db) == 0)
          sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      }
    } guard{db};

    SqliteTransaction tx(db, "sqlite");
    Status result = [&] {
      TransactionScope scope(this);
      return body(tx);
    }();
    if (!result.ok()) return result;

    // A callback that swallowed a failed statement must not commit half its work
    // (PostgreSQL would refuse to anyway); both backends roll back.
    if (tx.had_failure()) {
      return InternalError("transaction callback returned Ok after a failed statement");
    }
    GH_RETURN_IF_ERROR(ExecuteOn(db, "COMMIT", {}));
    return Ok();
  }

  Status Ping() override {
    if (TransactionScope::Active(this)) return internal::NestedCallError();
    auto rows = Query("SELECT 1", {});
    if (!rows.ok()) return std::move(rows).error();
    return Ok();
  }

  std::string_view backend_name() const override { return "sqlite"; }

 private:
  class ReaderLease {
   public:
    ReaderLease(SqliteStore* store, sqlite3* db) : store_(store), db_(db) {}
    ~ReaderLease() { store_->ReleaseReader(db_); }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;

   private:
    SqliteStore* store_;
    sqlite3* db_;
  };

  Result<sqlite3*> AcquireReader() {
    std::unique_lock lock(readers_mu_);
    if (!readers_cv_.wait_for(lock, wait_timeout_, [&] { return !idle_readers_.empty(); })) {
      return UnavailableError("sqlite: no read connection free within the wait timeout");
    }
    sqlite3* db = idle_readers_.back();
    idle_readers_.pop_back();
    return db;
  }

  void ReleaseReader(sqlite3* db) {
    {
      std::lock_guard lock(readers_mu_);
      idle_readers_.push_back(db);
    }
    readers_cv_.notify_one();
  }

  static Error WriterBusy() {
    return UnavailableError("sqlite: writer connection busy for longer than the wait timeout");
  }

  std::timed_mutex writer_mu_;
  DbPtr writer_;  // Guarded by writer_mu_.

  std::vector<DbPtr> readers_;  // Owns the read connections; fixed after construction.
  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<sqlite3*> idle_readers_;  // Guarded by readers_mu_.

  const std::chrono::milliseconds wait_timeout_;
};

Error FilesystemError(std::string message, const std::string& path, int err) {
  return Error(ErrorCode::kFailedPrecondition, std::move(message),
               "sqlite: " + path + ": " + std::strerror(err));
}

// Creates the database file (or narrows an existing one) with mode 0600 before
// SQLite touches it: it holds password hashes and personal data, and SQLite gives
// its -wal and -shm files the mode of the main file.
Status PreparePrivateFile(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  struct stat dir_stat {};
  if (::stat(dir.c_str(), &dir_stat) != 0 || !S_ISDIR(dir_stat.st_mode)) {
    // Creating it would hide a typo in the configured path.
    return Error(ErrorCode::kFailedPrecondition,
                 "database directory does not exist: " + dir.string(),
                 "sqlite: directory " + dir.string() + " of sqlite_path is missing");
  }

  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) return FilesystemError("cannot open database file: " + path, path, errno);
  struct stat st {};
  int err = 0;
  if (::fstat(fd, &st) != 0) {
    err = errno;
  } else if (!S_ISREG(st.st_mode)) {
    err = EINVAL;
  } else if ((st.st_mode & 077) != 0 && ::fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
    err = errno;
  }
  ::close(fd);
  if (err != 0) return FilesystemError("cannot secure database file: " + path, path, err);

  // Side files left by an older run may be wider; narrow them too.
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string side = path + suffix;
    struct stat side_stat {};
    if (::stat(side.c_str(), &side_stat) == 0 && (side_stat.st_mode & 077) != 0 &&
        ::chmod(side.c_str(), S_IRUSR | S_IWUSR) != 0) {
      return FilesystemError("cannot secure database file: " + side, side, errno);
    }
  }
  return Ok();
}

Result<DbPtr> OpenConnection(const StoreOptions& options, bool writer) {
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used by one thread at a time under our own locks.
  const int flags = (writer ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(options.sqlite_path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return SqliteError(db.get(), rc, "open");
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), static_cast<int>(options.wait_timeout.count()));

  if (writer) {
    // WAL lets readers proceed while one writer commits, and the setting is
    // stored in the file, so the read connections opened next inherit it.
    auto mode = QueryOn(db.get(), "PRAGMA journal_mode=WAL", {});
    if (!mode.ok()) return std::move(mode).error();
    const auto* name = mode->empty() ? nullptr : std::get_if<std::string>(&(*mode)[0][0]);
    if (name == nullptr || *name != "wal") {
      return InternalError("sqlite: the database refused WAL journal mode");
    }
    GH_RETURN_IF_ERROR(ExecuteOn(
        db.get(),
        options.sqlite_synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
        {}));
  }
  // Foreign keys are off by default in SQLite, per connection.
  GH_RETURN_IF_ERROR(ExecuteOn(db.get(), "PRAGMA foreign_keys=ON", {}));
  return db;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const StoreOptions& options) {
  if (options.sqlite_path.empty()) {
    return InvalidArgument("sqlite_path is empty", "store: driver sqlite needs sqlite_path");
  }
  if (options.pool_size < 1 || options.pool_size > 64) {
    return InvalidArgument("pool_size must be between 1 and 64");
  }
  if (options.wait_timeout.count() < 0 || options.wait_timeout.count() > INT_MAX) {
    return InvalidArgument("wait_timeout out of range");
  }
  GH_RETURN_IF_ERROR(PreparePrivateFile(options.sqlite_path));

  auto writer = OpenConnection(options, /*writer=*/true);
  if (!writer.ok()) return std::move(writer).error();
  std::vector<DbPtr> readers;
  for (int i = 0; i < options.pool_size; ++i) {
    auto reader = OpenConnection(options, /*writer=*/false);
    if (!reader.ok()) return std::move(reader).error();
    readers.push_back(std::move(*reader));
  }
  return std::unique_ptr<Store>(
      new SqliteStore(std::move(*writer), std::move(readers), options.wait_timeout));
}

}  // namespace gatehouse::store
