#pragma once

// The PostgreSQL backend of the durable store (what several instances share).
//
// A fixed pool of `pool_size` libpq connections guarded by a mutex and a condition
// variable. A caller waits at most StoreOptions::wait_timeout for a free
// connection, then gets kUnavailable: under overload the worker pool sheds load
// instead of queueing without bound. The first connection is made by
// OpenPostgresStore (so a wrong URL or password fails at start); the others are
// made on first use. A connection found broken (PQstatus) or left inside a
// transaction is dropped and replaced on its next use, so a database restart
// costs the calls in flight, not the process.
//
// Statements run through PQexecParams with text parameters (integers typed int8,
// doubles float8, text left for the server to infer) and binary bytea for blobs;
// results come back as text and are converted by column type. Each connection sets
// client_encoding UTF8, bytea_output hex and TimeZone UTC.
//
// Thread safety: the Store is thread-safe. Destroy it only after every caller has
// returned.

#include <memory>

#include "core/status.h"
#include "store/store.h"

namespace gatehouse::store {

// REQUIRES: options.driver == "postgres" (not checked here).
Result<std::unique_ptr<Store>> OpenPostgresStore(const StoreOptions& options);

}  // namespace gatehouse::store
