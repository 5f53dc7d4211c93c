#pragma once

// Routes that belong to the service as a whole rather than to one room.

#include <functional>

#include "core/status.h"
#include "http/router.h"

namespace gatehouse::cli {

// GET /healthz answers 200 while the process serves. GET /readyz runs `ready` on the
// worker pool (it may touch the store) and answers 200 or a 503 problem.
void AddHealthRoutes(http::Router& router, std::function<Status()> ready);

// GET /assets/pow.js: the browser's proof-of-work solver (web/assets/pow.js), read once at
// start. kNotFound when the file is missing.
Status AddAssetRoutes(http::Router& router);

// Endpoints that exist only to exercise the pipeline from outside: a handler error
// carrying internal detail, a throwing handler, a slow offloaded handler and a strict
// JSON echo. Production refuses to start with them exposed.
void AddTestRoutes(http::Router& router, std::size_t max_body_bytes);

}  // namespace gatehouse::cli
