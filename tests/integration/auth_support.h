#pragma once

// Helpers for the account, token and session suites (auth_*_test.cc): a deployment tuned
// for them, fresh credentials per test, and a small client for the /v1/auth and /v1/me
// routes that speaks raw HTTP/1.1 over TLS, so every header (User-Agent, Origin, Cookie)
// is exactly what the test sets.
//
// Not thread-safe: a thread that sends requests uses its own AuthClient.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "harness.h"

namespace gatehouse::itest {

// StandardDeployment() with argon2 made cheap (8 MiB, 1 pass: every register and login
// hashes) and a read timeout long enough for bursts of concurrent TLS clients.
std::unique_ptr<Deployment> AuthDeployment();

// "<tag>-<random hex>@example.org": unique per call, so tests sharing a server never meet.
std::string UniqueEmail(std::string_view tag);
// A random password that meets the default policy (upper, lower, digit, symbol, 20 bytes)
// and is on no blocklist.
std::string StrongPassword();

// The tokens of a 200 login or refresh answer.
struct Grant {
  std::string access_token;
  std::string refresh_token;
};
// Parses `response` as a grant; nullopt (and the test fails) unless it is a 200 with both
// tokens as strings.
std::optional<Grant> GrantOf(const std::optional<HttpResponse>& response);

// The decoded JOSE header of a compact JWS (its first part); empty (and the test fails)
// when it does not decode to a JSON object.
boost::json::object JwtHeader(std::string_view token);
// The decoded claims of a compact JWS (its second part), likewise.
boost::json::object JwtPayload(std::string_view token);

// The body as a JSON object; an empty object (and the test fails) if it is not one.
boost::json::object JsonBody(const HttpResponse& response);
// The `code` of every entry of a problem's `violations` array, in order.
std::vector<std::string> ViolationCodes(const HttpResponse& response);

class AuthClient {
 public:
  // Talks TLS to 127.0.0.1:`port` and sends `user_agent` on every request; the device
  // fingerprint of a session is made from it (and Accept-Language, sent only if set).
  explicit AuthClient(std::uint16_t port, std::string user_agent = "gatehouse-it/1.0");

  void set_user_agent(std::string user_agent) { user_agent_ = std::move(user_agent); }
  std::uint16_t port() const { return port_; }
  // "https://localhost:<port>": the origin the server calls its own.
  std::string OwnOrigin() const;

  // One request on a new connection; nullopt (and the test fails) when no answer came.
  // `headers` are extra header lines without CRLF.
  std::optional<HttpResponse> Send(std::string_view method, std::string_view target,
                                   std::vector<std::string> headers = {},
                                   std::string_view body = {});
  std::optional<HttpResponse> PostJson(std::string_view target, const boost::json::object& body,
                                       std::vector<std::string> headers = {});

  std::optional<HttpResponse> Register(std::string_view email, std::string_view password);
  std::optional<HttpResponse> Login(std::string_view email, std::string_view password);
  // Registers and logs in; nullopt (and the test fails) unless both succeed.
  std::optional<Grant> RegisterAndLogin(std::string_view email, std::string_view password);
  std::optional<HttpResponse> Refresh(std::string_view refresh_token);
  // GET /v1/auth/verify with `Authorization: Bearer <token>`.
  std::optional<HttpResponse> Verify(std::string_view access_token);
  // Status of Verify(), 0 when no answer came.
  int VerifyStatus(std::string_view access_token);
  std::optional<HttpResponse> Logout(std::string_view access_token);

 private:
  std::uint16_t port_;
  std::string user_agent_;
};

// "Authorization: Bearer <token>" and "Cookie: __Host-gh_session=<token>" header lines.
std::string BearerHeader(std::string_view token);
std::string SessionCookieHeader(std::string_view token);

}  // namespace gatehouse::itest
