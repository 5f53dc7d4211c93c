#pragma once

// Schema migrations. The schema only ever moves forward: each Migration has a
// version, and the database records the versions applied in
//   schema_migrations(version BIGINT PRIMARY KEY, name TEXT, applied_at BIGINT)
// (applied_at in Unix seconds). Features add tables by appending to the list in
// store/migration_list.cc; an applied migration is never edited or removed.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace gatehouse::store {

struct Migration {
  std::int64_t version = 0;  // Strictly increasing along the list, starting at 1.
  std::string_view name;
  // Statements run in order, one per Execute, inside the migration's transaction.
  // `statements` serve both backends unless the backend has its own list below.
  std::vector<std::string_view> statements = {};
  std::vector<std::string_view> sqlite_statements = {};
  std::vector<std::string_view> postgres_statements = {};

  // The statements for a backend ("sqlite" or "postgres").
  const std::vector<std::string_view>& StatementsFor(std::string_view backend) const;
};

// The migrations this binary knows, in order (defined in migration_list.cc).
std::span<const Migration> BuiltinMigrations();

// Applies every migration in `migrations` that the database lacks, each in its own
// transaction together with its schema_migrations row, so a failure leaves the
// database at the last complete version. Running it again changes nothing.
// On PostgreSQL every step holds a transaction-level advisory lock, so instances
// starting together apply each migration exactly once.
// Errors: kFailedPrecondition when the database records a version this binary does
// not know (it was upgraded by a newer release: refuse to run an old binary against
// it rather than misread its data); kInternal when `migrations` is not strictly
// increasing or a statement fails (the detail names the migration).
// Thread safety: as Store; call once at start, before serving.
Status Migrate(Store& store, const Clock& clock, std::span<const Migration> migrations);
inline Status Migrate(Store& store, const Clock& clock) {
  return Migrate(store, clock, BuiltinMigrations());
}

// The highest version recorded in the database; 0 before the first migration.
Result<std::int64_t> SchemaVersion(Store& store);

}  // namespace gatehouse::store
