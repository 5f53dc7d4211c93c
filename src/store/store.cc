#include "store/store.h"

#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse::store {

Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options) {
  if (options.driver == "sqlite") return OpenSqliteStore(options);
  if (options.driver == "postgres") return OpenPostgresStore(options);
  // The driver name comes from configuration, not from a client: safe to echo.
  return InvalidArgument("unknown store driver (use \"sqlite\" or \"postgres\")",
                         "store: driver \"" + options.driver + "\" is not known");
}

}  // namespace gatehouse::store
