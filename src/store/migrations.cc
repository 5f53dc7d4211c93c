#include "store/migrations.h"

#include <algorithm>
#include <chrono>
#include <string>

namespace gatehouse::store {
namespace {

// Key of the PostgreSQL advisory lock that serialises migrations between
// instances ("gatehous" in ASCII). Every release must keep the same value.
constexpr std::int64_t kMigrationLockKey = 0x67617465686F7573;

Status CheckOrdered(std::span<const Migration> migrations) {
  std::int64_t previous = 0;
  for (const Migration& m : migrations) {
    if (m.version <= previous) {
      return Internal("migration list out of order at version " + std::to_string(m.version));
    }
    previous = m.version;
  }
  return Ok();
}

// Runs first in every migration transaction. The advisory lock is released by
// COMMIT or ROLLBACK, so a crashed instance cannot leave it held.
Status LockAndPrepare(Transaction& tx) {
  if (tx.backend_name() == "postgres") {
    GH_RETURN_IF_ERROR(tx.Query("SELECT pg_advisory_xact_lock($1)", {kMigrationLockKey}));
  }
  GH_RETURN_IF_ERROR(
      tx.Execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version BIGINT PRIMARY KEY,"
                 " name TEXT NOT NULL,"
                 " applied_at BIGINT NOT NULL)"));
  return Ok();
}

Status RefuseUnknownVersions(Transaction& tx, std::span<const Migration> migrations) {
  auto rows = tx.Query("SELECT version FROM schema_migrations ORDER BY version");
  if (!rows.ok()) return std::move(rows).error();
  const std::int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  for (const Row& row : *rows) {
    const auto* version = std::get_if<std::int64_t>(&row[0]);
    if (version == nullptr) return Internal("schema_migrations.version is not an integer");
    const bool known = std::any_of(migrations.begin(), migrations.end(),
                                   [&](const Migration& m) { return m.version == *version; });
    if (known) continue;
    // Running an older binary against a newer schema could misread or corrupt
    // data the newer release wrote, so refuse to start instead.
    return Error(ErrorCode::kFailedPrecondition, "database schema is newer than this release",
                 "store: database has migration " + std::to_string(*version) +
                     ", this binary knows versions up to " + std::to_string(latest));
  }
  return Ok();
}

Status ApplyOne(Transaction& tx, const Migration& m, const Clock& clock) {
  GH_RETURN_IF_ERROR(LockAndPrepare(tx));
  auto applied = tx.Query("SELECT 1 FROM schema_migrations WHERE version = $1", {m.version});
  if (!applied.ok()) return std::move(applied).error();
  if (!applied->empty()) return Ok();  // Another instance got here first, or a rerun.

  for (std::string_view statement : m.StatementsFor(tx.backend_name())) {
    GH_RETURN_IF_ERROR(tx.Execute(statement));
  }
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  GH_RETURN_IF_ERROR(
      tx.Execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                 {m.version, std::string(m.name), now}));
  return Ok();
}

}  // namespace

const std::vector<std::string_view>& Migration::StatementsFor(std::string_view backend) const {
  if (backend == "sqlite" && !sqlite_statements.empty()) return sqlite_statements;
  if (backend == "postgres" && !postgres_statements.empty()) return postgres_statements;
  return statements;
}

Status Migrate(Store& store, const Clock& clock, std::span<const Migration> migrations) {
  GH_RETURN_IF_ERROR(CheckOrdered(migrations));

  // Check the recorded versions before touching anything.
  GH_RETURN_IF_ERROR(store.InTransaction([&](Transaction& tx) -> Status {
    GH_RETURN_IF_ERROR(LockAndPrepare(tx));
    return RefuseUnknownVersions(tx, migrations);
  }));

  // One transaction per migration: a failure keeps every earlier one applied.
  for (const Migration& m : migrations) {
    Status status =
        store.InTransaction([&](Transaction& tx) -> Status { return ApplyOne(tx, m, clock); });
    if (!status.ok()) {
      Error error = std::move(status).error();
      error.WithContext("migration " + std::to_string(m.version) + " (" + std::string(m.name) +
                        ")");
      return error;
    }
  }
  return Ok();
}

Result<std::int64_t> SchemaVersion(Store& store) {
  const std::string_view exists_sql =
      store.backend_name() == "postgres"
          ? "SELECT COUNT(*) FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
          : "SELECT COUNT(*) FROM sqlite_master"
            " WHERE type = 'table' AND name = 'schema_migrations'";
  auto exists = store.Query(exists_sql);
  if (!exists.ok()) return std::move(exists).error();
  if (exists->empty() || (*exists)[0][0] == Value(std::int64_t{0})) return std::int64_t{0};

  auto rows = store.Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!rows.ok()) return std::move(rows).error();
  const auto* version = rows->empty() ? nullptr : std::get_if<std::int64_t>(&(*rows)[0][0]);
  if (version == nullptr) return Internal("schema_migrations: unreadable version");
  return *version;
}

}  // namespace gatehouse::store
