// The schema, version by version. Append new migrations at the end with the next
// version number; never edit or reorder one that has shipped, since databases in
// the field record it as applied. Prefer portable SQL in `statements`: BIGINT,
// DOUBLE PRECISION, TEXT, and for bytes BLOB (SQLite) / BYTEA (PostgreSQL) through
// the per-backend lists. Timestamps are BIGINT Unix seconds.

#include "store/migrations.h"

namespace gatehouse::store {

std::span<const Migration> BuiltinMigrations() {
  static const std::vector<Migration> kMigrations = {
      {
          .version = 1,
          .name = "gatehouse_meta",
          // Instance metadata (instance id, schema-independent settings).
          .statements = {"CREATE TABLE gatehouse_meta ("
                         " key TEXT PRIMARY KEY,"
                         " value TEXT NOT NULL,"
                         " updated_at BIGINT NOT NULL)"},
      },
  };
  return kMigrations;
}

}  // namespace gatehouse::store
