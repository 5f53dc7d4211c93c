#include "store/postgres/postgres_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <condition_variable>
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

// Built-in type OIDs (src/include/catalog/pg_type.dat); stable across releases.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;

struct ResultClearer {
  void operator()(PGresult* res) const { PQclear(res); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;

std::string OneLine(std::string_view text) {
  std::string out(text);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

bool IsConnectionState(std::string_view sqlstate) {
  // Class 08: connection exception, except 08P01 (protocol violation), which is
  // what a statement with more placeholders than parameters gets: a bug, and the
  // connection stays usable. 57P01-57P03: the server is shutting down or not yet
  // accepting connections.
  if (sqlstate == "08P01") return false;
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

Error ResultError(PGconn* conn, const PGresult* res) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string sqlstate = state != nullptr ? state : "";

  // Only the primary message is used. The DETAIL field quotes row values (for a
  // unique violation "Key (email)=(...) already exists"), and in class 22 (data
  // exception) even the primary message quotes the rejected input; both may be
  // personal data, so neither reaches the detail.
  std::string text;
  if (sqlstate.starts_with("22")) {
    text = "data exception";
  } else if (primary != nullptr) {
    text = primary;
  } else {
    text = OneLine(PQerrorMessage(conn));
  }
  std::string detail =
      "postgres " + (sqlstate.empty() ? std::string("error") : sqlstate) + ": " + text;

  if (PQstatus(conn) != CONNECTION_OK || IsConnectionState(sqlstate)) {
    return UnavailableError(std::move(detail));
  }
  if (sqlstate == "23505") return AlreadyExistsError(std::move(detail));
  // Serialisation failure and deadlock: the transaction lost a race and may be
  // retried as a whole.
  if (sqlstate == "40001" || sqlstate == "40P01") return UnavailableError(std::move(detail));
  return InternalError(std::move(detail));
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  // Shortest text that reads back as the same double.
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

// Runs one statement with PQexecParams. Only the statement text and parameter
// values travel separately: the server never parses a parameter as SQL.
Result<ResultPtr> Exec(PGconn* conn, std::string_view sql, const Params& params) {
  GH_RETURN_IF_ERROR(internal::ValidateParams(params));
  if (params.size() > 65535) return InternalError("postgres: more than 65535 parameters");

  const std::size_t n = params.size();
  std::vector<Oid> types(n, 0);
  std::vector<const char*> values(n, nullptr);
  std::vector<int> lengths(n, 0);
  std::vector<int> formats(n, 0);
  std::vector<std::string> text;
  text.reserve(n);  // Keeps the c_str() pointers below stable.
  static const char kEmpty[] = "";

  for (std::size_t i = 0; i < n; ++i) {
    const Value& v = params[i];
    if (const auto* iv = std::get_if<std::int64_t>(&v)) {
      types[i] = kInt8Oid;
      values[i] = text.emplace_back(std::to_string(*iv)).c_str();
    } else if (const auto* dv = std::get_if<double>(&v)) {
      types[i] = kFloat8Oid;
      values[i] = text.emplace_back(FormatDouble(*dv)).c_str();
    } else if (const auto* sv = std::get_if<std::string>(&v)) {
      // Type left open (0) so the server infers it from the context, as SQLite
      // does; ValidateParams guarantees no NUL, so c_str() holds the whole value.
      values[i] = sv->c_str();
    } else if (const auto* bv = std::get_if<Blob>(&v)) {
      if (bv->size() > static_cast<std::size_t>(INT_MAX)) {
        return InternalError("postgres: blob parameter too large");
      }
      types[i] = kByteaOid;
      formats[i] = 1;  // Binary: the bytes go as they are, NULs included.
      values[i] = bv->empty() ? kEmpty : reinterpret_cast<const char*>(bv->data());
      lengths[i] = static_cast<int>(bv->size());
    }
    // std::monostate: a null value pointer is SQL NULL.
  }

  const std::string statement(sql);  // libpq needs NUL-terminated text.
  ResultPtr res(PQexecParams(conn, statement.c_str(), static_cast<int>(n), types.data(),
                             values.data(), lengths.data(), formats.data(), /*resultFormat=*/0));
  if (res == nullptr) return ResultError(conn, nullptr);
  const auto status = PQresultStatus(res.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return ResultError(conn, res.get());
  return res;
}

Result<Blob> DecodeByteaHex(std::string_view text) {
  if (!text.starts_with("\\x") || text.size() % 2 != 0) {
    return InternalError("postgres: bytea column not in hex output format");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Blob out;
  out.reserve((text.size() - 2) / 2);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return InternalError("postgres: malformed bytea hex text");
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

Result<Value> ConvertText(Oid type, std::string_view text) {
  switch (type) {
    case kBoolOid:
      return Value(std::int64_t{text == "t" ? 1 : 0});
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid: {
      std::int64_t v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || end != text.data() + text.size()) {
        return InternalError("postgres: cannot read integer column");
      }
      return Value(v);
    }
    case kFloat4Oid:
    case kFloat8Oid: {
      // from_chars reads "Infinity", "-Infinity" and "NaN" as PostgreSQL writes them.
      double v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || end != text.data() + text.size()) {
        return InternalError("postgres: cannot read floating-point column");
      }
      return Value(v);
    }
    case kByteaOid: {
      auto blob = DecodeByteaHex(text);
      if (!blob.ok()) return std::move(blob).error();
      return Value(std::move(*blob));
    }
    default:
      return Value(std::string(text));
  }
}

Result<Rows> ToRows(const PGresult* res) {
  Rows rows;
  const int fields = PQnfields(res);
  const int tuples = PQntuples(res);
  for (int c = 0; c < fields; ++c) rows.columns.emplace_back(PQfname(res, c));
  rows.rows.reserve(static_cast<std::size_t>(tuples));
  for (int r = 0; r < tuples; ++r) {
    Row row;
    row.reserve(static_cast<std::size_t>(fields));
    for (int c = 0; c < fields; ++c) {
      if (PQgetisnull(res, r, c) != 0) {
        row.emplace_back(std::monostate{});
        continue;
      }
      auto value = ConvertText(PQftype(res, c),
                               std::string_view(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
      if (!value.ok()) return std::move(value).error();
      row.push_back(std::move(*value));
    }
    rows.rows.push_back(std::move(row));
  }
  return rows;
}

Result<Rows> QueryOn(PGconn* conn, std::string_view sql, const Params& params) {
  auto res = Exec(conn, sql, params);
  if (!res.ok()) return std::move(res).error();
  return ToRows(res->get());
}

Result<std::int64_t> ExecuteOn(PGconn* conn, std::string_view sql, const Params& params) {
  auto res = Exec(conn, sql, params);
  if (!res.ok()) return std::move(res).error();
  const std::string_view count = PQcmdTuples(res->get());  // Empty for DDL and the like.
  std::int64_t affected = 0;
  if (!count.empty()) {
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), affected);
    if (ec != std::errc() || end != count.data() + count.size()) {
      return InternalError("postgres: unreadable affected-row count");
    }
  }
  return affected;
}

Result<ConnPtr> Connect(const Secret& url, std::chrono::milliseconds wait_timeout) {
  // Defaults come before the URL so that settings in the URL win.
  const std::string timeout = std::to_string(
      std::max<long long>(2, std::chrono::ceil<std::chrono::seconds>(wait_timeout).count()));
  std::string conninfo(url.reveal());  // libpq needs NUL-terminated text.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "gatehouse", conninfo.c_str(), nullptr};
  ConnPtr conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  SecureWipe(conninfo);

  if (conn == nullptr) return UnavailableError("postgres connect: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    // libpq's message names host, port and user, never the password.
    return UnavailableError("postgres connect: " + OneLine(PQerrorMessage(conn.get())));
  }

  // Server notices ("relation already exists, skipping") would otherwise go to
  // stderr, outside the structured log.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);

  // Fixed session settings the value conversion relies on.
  ResultPtr res(PQexec(conn.get(),
                       "SET client_encoding = 'UTF8'; SET bytea_output = 'hex';"
                       " SET TimeZone = 'UTC'"));
  if (res == nullptr || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    return ResultError(conn.get(), res.get());
  }
  return conn;
}

using PostgresTransaction = internal::TrackingTransaction<PGconn*, QueryOn, ExecuteOn>;

class PostgresStore final : public Store {
 public:
  PostgresStore(Secret url, int pool_size, std::chrono::milliseconds wait_timeout)
      : url_(std::move(url)), wait_timeout_(wait_timeout) {
    idle_.resize(static_cast<std::size_t>(pool_size));  // Empty slots, connected on use.
  }

  Result<Rows> Query(std::string_view sql, const Params& params) override {
    if (TransactionScope::Active(this)) return internal::NestedCallError();
    auto lease = Acquire();
    if (!lease.ok()) return std::move(lease).error();
    return QueryOn(lease->get(), sql, params);
  }

  Result<std::int64_t> Execute(std::string_view sql, const Params& params) override {
    if (TransactionScope::Active(this)) return internal::NestedCallError();
    auto lease = Acquire();
    if (!lease.ok()) return std::move(lease).error();
    return ExecuteOn(lease->get(), sql, params);
  }

  Status InTransaction(const std::function<Status(Transaction&)>& body) override {
    if (TransactionScope::Active(this)) return internal::NestedCallError();
    auto lease = Acquire();
    if (!lease.ok()) return std::move(lease).error();
    PGconn* conn = lease->get();
    GH_RETURN_IF_ERROR(ExecuteOn(conn, "BEGIN", {}));

    // Rolls back on every path that does not commit, an exception from `body`
    // included. If even that fails, Release() drops the connection because it is
    // not idle, so no later caller inherits the open transaction.
    struct RollbackGuard {
      PGconn* conn;
      ~RollbackGuard() {
        if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
          PQclear(PQexec(conn, "ROLLBACK"));
        }
      }
    } guard{conn};

    PostgresTransaction tx(conn, "postgres");
    Status result = [&] {
      TransactionScope scope(this);
      return body(tx);
    }();
    if (!result.ok()) return result;
    if (tx.had_failure()) {
      return InternalError("transaction callback returned Ok after a failed statement");
    }

    auto commit = Exec(conn, "COMMIT", {});
    if (!commit.ok()) return std::move(commit).error();
    // COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK.
    if (std::string_view(PQcmdStatus(commit->get())) != "COMMIT") {
      return InternalError("postgres: COMMIT was turned into a rollback");
    }
    return Ok();
  }

  Status Ping() override {
    if (TransactionScope::Active(this)) return internal::NestedCallError();
    auto rows = Query("SELECT 1", {});
    if (!rows.ok()) return std::move(rows).error();
    return Ok();
  }

  std::string_view backend_name() const override { return "postgres"; }

 private:
  // A checked-out connection; gives it back to the pool when it goes away.
  class Lease {
   public:
    Lease(PostgresStore* store, ConnPtr conn) : store_(store), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept
        : store_(std::exchange(other.store_, nullptr)), conn_(std::move(other.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (store_ != nullptr) store_->Release(std::move(conn_));
    }
    PGconn* get() const { return conn_.get(); }

   private:
    PostgresStore* store_;
    ConnPtr conn_;
  };

  Result<Lease> Acquire() {
    ConnPtr conn;
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, wait_timeout_, [&] { return !idle_.empty(); })) {
        return UnavailableError("postgres: no pooled connection free within the wait timeout");
      }
      // Prefer a live connection over an empty slot that needs a connect.
      auto it =
          std::find_if(idle_.begin(), idle_.end(), [](const ConnPtr& c) { return c != nullptr; });
      if (it == idle_.end()) it = idle_.begin();
      conn = std::move(*it);
      idle_.erase(it);
    }

    // Outside the lock: a reconnect may take a while.
    if (conn != nullptr && PQstatus(conn.get()) == CONNECTION_OK &&
        PQtransactionStatus(conn.get()) == PQTRANS_IDLE) {
      return Lease(this, std::move(conn));
    }
    conn.reset();
    auto fresh = Connect(url_, wait_timeout_);
    if (!fresh.ok()) {
      Release(nullptr);
      return std::move(fresh).error();
    }
    return Lease(this, std::move(*fresh));
  }

  void Release(ConnPtr conn) {
    // A broken connection, or one still inside a transaction, is closed now and
    // replaced on the next Acquire().
    if (conn != nullptr && (PQstatus(conn.get()) != CONNECTION_OK ||
                            PQtransactionStatus(conn.get()) != PQTRANS_IDLE)) {
      conn.reset();
    }
    {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(conn));
    }
    cv_.notify_one();
  }

  const Secret url_;
  const std::chrono::milliseconds wait_timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ConnPtr> idle_;  // Guarded by mu_; a null entry is a slot to connect.
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const StoreOptions& options) {
  if (options.postgres_url.empty()) {
    return InvalidArgument("postgres_url is empty", "store: driver postgres needs postgres_url");
  }
  if (options.pool_size < 1 || options.pool_size > 64) {
    return InvalidArgument("pool_size must be between 1 and 64");
  }
  if (options.wait_timeout.count() < 0) return InvalidArgument("wait_timeout out of range");

  // Parse first: libpq's parse errors quote pieces of the URL, which may include
  // the password, so they are replaced by a fixed sentence.
  {
    std::string conninfo(options.postgres_url.reveal());
    char* parse_error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &parse_error);
    SecureWipe(conninfo);
    if (parse_error != nullptr) PQfreemem(parse_error);
    if (parsed == nullptr) {
      return InvalidArgument("postgres_url is not a valid connection URL",
                             "postgres: postgres_url does not parse (text withheld)");
    }
    PQconninfoFree(parsed);
  }

  auto store = std::make_unique<PostgresStore>(options.postgres_url, options.pool_size,
                                               options.wait_timeout);
  // Fail at start, not on the first request, when the database is unreachable or
  // the credentials are wrong.
  GH_RETURN_IF_ERROR(store->Ping());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace gatehouse::store
