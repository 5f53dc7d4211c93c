#include "cli/app_routes.h"

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <stdexcept>
#include <thread>

#include <boost/json.hpp>

#include "http/json_body.h"

namespace gatehouse::cli {

using http::Method;
using http::Request;
using http::Response;
using http::RouteParams;

void AddHealthRoutes(http::Router& router, std::function<Status()> ready) {
  router.Add(Method::kGet, "/healthz", [](Request&, const RouteParams&) -> Result<Response> {
    return Response::Json(200, R"({"status":"ok"})");
  });

  router.Add(
      Method::kGet, "/readyz",
      [ready = std::move(ready)](Request&, const RouteParams&) -> Result<Response> {
        Status status = ready();
        if (!status.ok()) {
          // Readiness failures are always "unavailable" to the client: a load balancer
          // only needs to know to send traffic elsewhere.
          return Error(ErrorCode::kUnavailable, "not ready", status.error().detail());
        }
        return Response::Json(200, R"({"status":"ready"})");
      },
      http::RouteOptions{.offload = true});
}

void AddTestRoutes(http::Router& router, std::size_t max_body_bytes) {
  router.Add(Method::kGet, "/test/error", [](Request&, const RouteParams&) -> Result<Response> {
    return Internal(
        "query failed: SELECT secret_column FROM users; database /var/lib/gatehouse/db");
  });

  router.Add(Method::kGet, "/test/throw", [](Request&, const RouteParams&) -> Result<Response> {
    throw std::runtime_error("handler failure at /var/lib/gatehouse/internal.cc:42");
  });

  router.Add(
      Method::kGet, "/test/slow",
      [](Request& req, const RouteParams&) -> Result<Response> {
        // ms=N, bounded so the endpoint cannot pin a worker for long.
        constexpr std::string_view kKey = "ms=";
        int ms = 100;
        if (req.query.starts_with(kKey)) {
          const char* begin = req.query.data() + kKey.size();
          const char* end = req.query.data() + req.query.size();
          auto [ptr, ec] = std::from_chars(begin, end, ms);
          if (ec != std::errc() || ptr != end || ms < 0 || ms > 10000) {
            return InvalidArgument("ms must be an integer from 0 to 10000");
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return Response::Json(200, R"({"status":"done"})");
      },
      http::RouteOptions{.offload = true});

  router.Add(
      Method::kPost, "/test/echo",
      [max_body_bytes](Request& req, const RouteParams&) -> Result<Response> {
        http::JsonLimits limits;
        limits.max_body_bytes = max_body_bytes;
        auto body = http::ParseJsonObject(req, limits);
        if (!body.ok()) return std::move(body).error();
        GH_RETURN_IF_ERROR(http::JsonFields()
                               .Required("name", http::JsonType::kString)
                               .Optional("count", http::JsonType::kInteger)
                               .Check(*body));
        return Response::Json(200, boost::json::serialize(*body));
      },
      http::RouteOptions{.offload = true});
}

Status AddAssetRoutes(http::Router& router) {
  const std::filesystem::path file = std::filesystem::path(GATEHOUSE_WEB_DIR) / "assets/pow.js";
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error(ErrorCode::kNotFound, "web asset missing", file.string());
  auto script = std::make_shared<const std::string>(std::istreambuf_iterator<char>(in),
                                                    std::istreambuf_iterator<char>());
  router.Add(http::Method::kGet, "/assets/pow.js",
             [script](http::Request&, const http::RouteParams&) -> Result<http::Response> {
               http::Response response;
               response.status = 200;
               response.content_type = "text/javascript; charset=utf-8";
               response.body = *script;
               response.AddHeader("Cache-Control", "public, max-age=3600");
               return response;
             });
  return Ok();
}

}  // namespace gatehouse::cli
