#pragma once

// The durable store: a small, portable, parameterised SQL interface with two
// real backends, SQLite (embedded default) and PostgreSQL (shared by several
// instances). Features add tables through migrations (store/migrations.h) and
// write their queries against this interface; they never see a backend type.
//
// SQL and parameters.
//   Statements are written once, with PostgreSQL-style placeholders `$1, $2, ...`
//   (SQLite accepts the same spelling). Every value that did not come from the
//   source code reaches the database ONLY as a bound parameter; never build SQL by
//   concatenating or formatting input, not even "trusted" input. A placeholder may
//   repeat and appear in any order; every placeholder needs a parameter, and every
//   parameter must be used (SQLite checks the latter always, PostgreSQL only for
//   text and NULL, so run tests on SQLite too).
//   One call runs exactly one statement: text holding a second statement is
//   refused, so a parameter bug can never turn into stacked queries.
//
// Values and types.
//   Value is NULL (std::monostate), a 64-bit integer, a double, UTF-8 text or a
//   Blob of bytes. Text must be valid UTF-8 without NUL bytes (PostgreSQL cannot
//   store NUL in text); anything else is binary and belongs in a Blob. Text that
//   breaks this rule is refused with kInvalidArgument before reaching SQL.
//   Integer literals need a type: write `int64_t{5}`, since a plain `5` converts
//   equally well to int64_t and double. PostgreSQL sees integer parameters as
//   BIGINT and doubles as DOUBLE PRECISION (text as "whatever fits here"), so a
//   function that wants INTEGER needs a cast: `pg_terminate_backend($1::INTEGER)`.
//   Column types that read back the same on both backends: BIGINT (int64),
//   DOUBLE PRECISION (double), TEXT (string), BLOB on SQLite / BYTEA on
//   PostgreSQL (Blob). PostgreSQL booleans read back as 0/1; NUMERIC and any other
//   type read back as text, so cast aggregates such as SUM() to BIGINT.
//
// Errors (ErrorCode, and what a caller may do):
//   kAlreadyExists  a unique or primary key constraint was violated; no retry.
//   kUnavailable    the connection was lost, the database is busy or locked, no
//                   pooled connection was free within the wait timeout, or the
//                   transaction lost a serialisation conflict; retry with backoff.
//   kInvalidArgument  a text parameter is not valid UTF-8 or holds NUL.
//   kInternal       anything else (SQL errors are bugs); no retry.
//   The client message is a generic sentence; the detail holds the backend's own
//   message and error code for the log. Neither ever holds parameter values,
//   since they may be personal data or secrets.
//
// Threading.
//   Every call blocks until the database answers. Run them on the worker pool,
//   never on an I/O thread. A Store is thread-safe: any number of threads may call
//   it at once. A Transaction belongs to the thread running the callback.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/secret.h"
#include "core/status.h"

namespace gatehouse::store {

// Bytes, kept apart from text so that binary data is never mistaken for (or
// validated as) a string.
using Blob = std::vector<std::uint8_t>;

using Value = std::variant<std::monostate /* NULL */, std::int64_t, double, std::string, Blob>;

// The parameters of one statement: element i binds placeholder $(i+1).
using Params = std::vector<Value>;

using Row = std::vector<Value>;

// The result of a query: column names in select order and the rows, each with one
// Value per column.
struct Rows {
  std::vector<std::string> columns;
  std::vector<Row> rows;

  bool empty() const { return rows.empty(); }
  std::size_t size() const { return rows.size(); }
  const Row& operator[](std::size_t i) const { return rows[i]; }
  auto begin() const { return rows.begin(); }
  auto end() const { return rows.end(); }
};

inline bool IsNull(const Value& v) { return std::holds_alternative<std::monostate>(v); }

// One open transaction on one connection. Only valid inside the callback given to
// Store::InTransaction; the store commits or rolls it back when the callback
// returns. After a statement fails, the transaction is spoiled on PostgreSQL (every
// later statement fails too), so return the error rather than carrying on.
class Transaction {
 public:
  virtual ~Transaction() = default;

  // Runs a statement and returns its rows (also for INSERT ... RETURNING).
  virtual Result<Rows> Query(std::string_view sql, const Params& params = {}) = 0;
  // Runs a statement and returns the number of rows it inserted, updated or
  // deleted (0 for statements that change no rows, such as DDL).
  virtual Result<std::int64_t> Execute(std::string_view sql, const Params& params = {}) = 0;
  // "sqlite" or "postgres", for the rare statement that must differ.
  virtual std::string_view backend_name() const = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Each of these runs as its own (autocommit) transaction.
  virtual Result<Rows> Query(std::string_view sql, const Params& params = {}) = 0;
  virtual Result<std::int64_t> Execute(std::string_view sql, const Params& params = {}) = 0;

  // Runs `body` inside one transaction on one connection: commits when it returns
  // Ok, rolls back when it returns an error (which is then returned unchanged) or
  // throws (the exception propagates after the rollback). A failed commit is
  // returned as an error and nothing is applied.
  // REQUIRES: `body` uses only the Transaction it is given, never this Store:
  // a nested call from the same thread is refused with kInternal instead of
  // deadlocking on the connection the transaction holds.
  virtual Status InTransaction(const std::function<Status(Transaction&)>& body) = 0;

  // Checks that the database answers; kUnavailable when it does not.
  virtual Status Ping() = 0;

  // "sqlite" or "postgres".
  virtual std::string_view backend_name() const = 0;
};

struct StoreOptions {
  std::string driver;  // "sqlite" or "postgres".

  // SQLite: path of the database file. Its directory must exist; the file is
  // created with mode 0600 (and an existing file is narrowed to 0600), since it
  // holds password hashes and personal data.
  std::string sqlite_path;

  // PostgreSQL: libpq connection URL (postgresql://user:password@host:port/db?...).
  // Its text never appears in an error or a log line.
  Secret postgres_url;

  // Connections kept: PostgreSQL pool size; on SQLite the number of read-only
  // connections beside the single writer.
  int pool_size = 4;

  // How long a call waits for a free connection (or the SQLite writer, or a SQLite
  // lock held by another process) before it fails with kUnavailable.
  std::chrono::milliseconds wait_timeout{5000};

  // SQLite `synchronous=FULL`: every commit is fsync'd, so a committed change
  // survives power loss and OS crashes, not only a crash of this process. With
  // NORMAL in WAL mode the most recent commits (a revoked token, an audit event,
  // a lockout) can silently vanish after a power cut. Turn it off only for
  // throwaway data.
  bool sqlite_synchronous_full = true;
};

// Opens the store the options name and checks that it answers. Errors:
// kInvalidArgument for an unknown driver or missing path/URL, kFailedPrecondition
// when the SQLite directory does not exist (the detail names it), kUnavailable
// when PostgreSQL cannot be reached.
Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options);

}  // namespace gatehouse::store
