#pragma once

// The SQLite backend of the durable store (the embedded default).
//
// Layout: one writer connection, serialised by a mutex with a bounded wait, plus
// `pool_size` read-only connections. WAL journal mode lets the readers run beside
// the writer. Store::Query goes to a reader unless the statement writes (INSERT ...
// RETURNING, for example), then to the writer; Execute and InTransaction always
// use the writer, and transactions start with BEGIN IMMEDIATE so that two writers
// never deadlock upgrading a read lock.
//
// Every connection runs with foreign keys on and a busy timeout equal to
// StoreOptions::wait_timeout (which also covers other processes holding the file).
// The file is created with mode 0600 before SQLite opens it; SQLite gives the -wal
// and -shm files the same mode.
//
// Thread safety: the Store is thread-safe. Destroy it only after every caller has
// returned.

#include <memory>

#include "core/status.h"
#include "store/store.h"

namespace gatehouse::store {

// REQUIRES: options.driver == "sqlite" (not checked here).
Result<std::unique_ptr<Store>> OpenSqliteStore(const StoreOptions& options);

}  // namespace gatehouse::store
