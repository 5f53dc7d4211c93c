// `gatehouse serve`: loads and checks the configuration, opens the store, builds the
// routes and runs the HTTPS server until SIGTERM has drained it.

#include <atomic>
#include <iostream>
#include <memory>
#include <optional>

#include "audit/events.h"
#include "cli/app_routes.h"
#include "cli/auth_setup.h"
#include "cli/periodic_task.h"
#include "cli/protect_setup.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/profile.h"
#include "core/worker_pool.h"
#include "crypto/keyring.h"
#include "http/pipeline.h"
#include "http/router.h"
#include "http/server.h"
#include "state/state.h"
#include "store/migrations.h"
#include "store/store.h"

namespace gatehouse::cli {
namespace {

using log::Field;
using log::Level;

store::StoreOptions StoreOptionsFrom(const core::Config& config) {
  store::StoreOptions options;
  options.driver = std::string(core::StoreDriverName(config.store.driver));
  options.sqlite_path = config.store.sqlite_path.string();
  options.postgres_url = config.store.postgres_url.value;
  options.pool_size = static_cast<int>(config.store.postgres_pool_size);
  return options;
}

http::ServerOptions ServerOptionsFrom(const core::Config& config) {
  const core::ServerConfig& s = config.server;
  http::ServerOptions options;
  options.listen_address = s.listen;
  options.port = s.port;
  options.tls = s.tls;
  options.cert_file = s.cert_file.string();
  options.key_file = s.key_file.string();
  if (s.redirect_port != 0) options.redirect_port = s.redirect_port;
  options.public_host = s.public_host;
  options.io_threads = core::ResolveThreadCount(s.io_threads);
  options.max_header_bytes = s.max_header_bytes;
  options.max_body_bytes = s.max_body_bytes;
  options.read_timeout = s.read_timeout;
  options.idle_timeout = s.idle_timeout;
  options.tls_handshake_timeout = s.tls_handshake_timeout;
  options.drain_timeout = s.drain_timeout;
  options.max_connections = s.max_connections;
  options.handle_signals = true;
  // With the access log off, the server skips building the record at all.
  if (config.log.access_log == "off") return options;
  options.access_log = [](const http::AccessRecord& r) {
    log::Access({.time = std::chrono::system_clock::now() -
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             r.duration),
                 .request_id = r.request_id,
                 .method = r.method,
                 .path = r.path,
                 .status = r.status,
                 .bytes = r.bytes_sent,
                 .duration_ms = static_cast<double>(r.duration.count()) / 1000.0,
                 .client_ip = r.client_ip,
                 .user_agent = r.user_agent});
  };
  return options;
}

void ReportStartupError(std::string_view what, const Error& error) {
  log::Event(Level::kError, "startup_failed",
             {Field("step", what), Field("error", error.message()),
              Field("detail", error.detail())});
  log::Flush();
  std::cerr << "gatehouse: " << what << ": " << error.message();
  if (!error.detail().empty()) std::cerr << ": " << error.detail();
  std::cerr << "\n";
}

}  // namespace

int RunServe(const char* config_path) {
  // Configuration first: production refuses insecure settings before anything binds.
  auto loaded = core::LoadAndValidate(config_path, core::ProcessEnvironment());
  if (!loaded.ok()) {
    std::cerr << "gatehouse: refusing to start: " << config_path << ": "
              << loaded.error().message() << "\n";
    for (const std::string& problem : core::ConfigProblems(loaded.error())) {
      std::cerr << "  " << problem << "\n";
    }
    return kExitUsage;
  }
  const core::Config& config = *loaded;

  if (Status s = log::Init(log::OptionsFromConfig(config)); !s.ok()) {
    std::cerr << "gatehouse: logging: " << s.error().message() << ": " << s.error().detail()
              << "\n";
    return kExitUsage;
  }
  for (const std::string& warning : config.warnings) {
    log::Event(Level::kWarn, "config_warning", {Field("problem", warning)});
  }

  // Key material: the master key ring every encrypted field derives its key from.
  // Accounts hold personal data, so there is no running without it.
  if (!config.crypto.master_key.present()) {
    ReportStartupError("crypto.master_key",
                       Error(ErrorCode::kFailedPrecondition, "master key missing",
                             "set crypto.master_key_file or GATEHOUSE_CRYPTO_MASTER_KEY_FILE"));
    return kExitUsage;
  }
  auto parsed_keys = crypto::KeyRing::Parse(config.crypto.master_key.value);
  if (!parsed_keys.ok()) {
    ReportStartupError("crypto.master_key", parsed_keys.error());
    return kExitUsage;
  }
  const crypto::KeyRing keyring = std::move(parsed_keys).value();

  // The durable store, migrated to this binary's schema.
  auto opened = store::OpenStore(StoreOptionsFrom(config));
  if (!opened.ok()) {
    ReportStartupError("store", opened.error());
    return kExitFailure;
  }
  std::unique_ptr<store::Store> store = std::move(opened).value();
  if (Status s = store::Migrate(*store, SystemClock::Instance()); !s.ok()) {
    ReportStartupError("store migrations", s.error());
    return kExitFailure;
  }

  // Short-lived shared state: deny lists, live sessions, one-time values.
  auto opened_state = OpenConfiguredState(config, SystemClock::Instance());
  if (!opened_state.ok()) {
    ReportStartupError("state", opened_state.error());
    return kExitFailure;
  }
  std::unique_ptr<state::StateStore> state = std::move(opened_state).value();
  // Expired entries are reclaimed on writes too; this keeps memory bounded when idle.
  PeriodicTask sweeper(std::chrono::milliseconds(100), [&state] { state->Sweep(4096); });

  // Routes, then the worker pool and the pipeline every request goes through.
  http::Router router;
  AddHealthRoutes(router, [&store]() -> Status { return store->Ping(); });
  audit::LogEventSink events;
  auto protect_parts = SetUpProtect(config, keyring, *store, *state, events,
                                    SystemClock::Instance());
  if (!protect_parts.ok()) {
    ReportStartupError("protect", protect_parts.error());
    return kExitUsage;
  }
  auto auth_parts =
      SetUpAuth(config, *store, keyring, *state, events, SystemClock::Instance(),
                **protect_parts, router);
  if (!auth_parts.ok()) {
    ReportStartupError("auth", auth_parts.error());
    return kExitUsage;
  }
  if (Status s = AddAssetRoutes(router); !s.ok()) {
    ReportStartupError("web assets", s.error());
    return kExitFailure;
  }
  if (config.server.expose_test_endpoints) {
    AddTestRoutes(router, config.server.max_body_bytes);
  }
  if (Status s = router.status(); !s.ok()) {
    ReportStartupError("routes", s.error());
    return kExitFailure;
  }

  WorkerPool pool(core::ResolveThreadCount(config.server.worker_threads),
                  config.server.worker_queue);
  http::PipelineOptions pipeline_options;
  pipeline_options.verbose_errors = config.server.verbose_errors;
  pipeline_options.on_handler_exception = [](std::string_view type) {
    log::RateLimited("handler_exception", Level::kError, "handler_exception",
                     {Field("exception_type", type)});
  };
  pipeline_options.gate = &(*protect_parts)->gate();
  http::Pipeline pipeline(router, pool, pipeline_options);

  auto created = http::Server::Create(ServerOptionsFrom(config), pipeline);
  if (!created.ok()) {
    ReportStartupError("server", created.error());
    return kExitUsage;
  }
  std::unique_ptr<http::Server> server = std::move(created).value();
  // The admin listener: its own port (loopback by default), the same pipeline rules.
  http::Router admin_router;
  std::unique_ptr<http::Pipeline> admin_pipeline;
  std::unique_ptr<http::Server> admin_server;
  if (config.admin.enabled) {
    if (!config.admin.token.present()) {
      ReportStartupError("admin", Error(ErrorCode::kFailedPrecondition, "admin token missing",
                                        "set admin.token_file or GATEHOUSE_ADMIN_TOKEN_FILE"));
      return kExitUsage;
    }
    AddHealthRoutes(admin_router, [&store]() -> Status { return store->Ping(); });
    (*protect_parts)->AddAdminRoutes(admin_router, config.admin.token.value);
    (*auth_parts)->AddAdminRoutes(admin_router, config.admin.token.value);
    if (Status s = admin_router.status(); !s.ok()) {
      ReportStartupError("admin routes", s.error());
      return kExitFailure;
    }
    admin_pipeline = std::make_unique<http::Pipeline>(admin_router, pool, pipeline_options);
    http::ServerOptions admin_options = ServerOptionsFrom(config);
    admin_options.listen_address = config.admin.listen;
    admin_options.port = static_cast<std::uint16_t>(config.admin.port);
    admin_options.redirect_port.reset();
    admin_options.io_threads = 1;
    admin_options.handle_signals = false;
    auto admin_created = http::Server::Create(std::move(admin_options), *admin_pipeline);
    if (!admin_created.ok()) {
      ReportStartupError("admin server", admin_created.error());
      return kExitUsage;
    }
    admin_server = std::move(admin_created).value();
    if (Status s = admin_server->Start(); !s.ok()) {
      ReportStartupError("admin listen", s.error());
      return kExitFailure;
    }
    log::Event(Level::kInfo, "admin_listening",
               {Field("address", config.admin.listen), Field("port", admin_server->port())});
  }
  // The public listener opens last: once it answers, everything else is up (the admin
  // listener too), which is what readiness checks and orchestrators go by.
  if (Status s = server->Start(); !s.ok()) {
    ReportStartupError("listen", s.error());
    return kExitFailure;
  }
  log::Event(Level::kInfo, "listening",
             {Field("profile", core::ProfileName(config.profile)),
              Field("address", config.server.listen), Field("port", server->port()),
              Field("tls", config.server.tls), Field("redirect_port", server->redirect_port()),
              Field("store", store->backend_name())});

  // SIGTERM drains in-flight requests; Wait returns once every I/O thread has ended.
  server->Wait();
  if (admin_server) {
    admin_server->Drain();
    admin_server->Wait();
  }
  pool.Shutdown();
  sweeper.Stop();
  log::Event(Level::kInfo, "stopped", {});
  log::Flush();
  return kExitOk;
}

}  // namespace gatehouse::cli
