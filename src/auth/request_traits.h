#pragma once

// What the auth handlers read from a request besides its body: cookies, the bearer token,
// the device fingerprint and the Origin check. Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace gatehouse::auth {

// `__Host-` requires Secure, Path=/ and no Domain, so no subdomain or plain-HTTP page can
// set or overwrite it (RFC 6265bis section 4.1.3.2).
inline constexpr std::string_view kSessionCookie = "__Host-gh_session";
// Scoped to the refresh endpoint, so the refresh token is not sent with every request;
// `__Secure-` because `__Host-` forbids a Path other than "/".
inline constexpr std::string_view kRefreshCookie = "__Secure-gh_refresh";
inline constexpr std::string_view kRefreshPath = "/v1/auth/refresh";

// The value of cookie `name` in the request's Cookie headers, if present exactly once.
// A cookie given twice is treated as absent: a duplicate is how a cookie-tossing attack
// tries to shadow the real one.
std::optional<std::string> FindCookie(const http::Request& request, std::string_view name);

// The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1).
std::optional<std::string_view> BearerToken(const http::Request& request);

// Set-Cookie values. `value` must be cookie-safe (tokens are base64url).
std::string SessionCookie(std::string_view value, std::chrono::seconds max_age);
std::string RefreshCookie(std::string_view value, std::chrono::seconds max_age);
std::string ClearSessionCookie();
std::string ClearRefreshCookie();

// A hex SHA-256 over the configured request traits ("user_agent", "accept_language",
// "client_ip", "ip_prefix": the /24 of IPv4, /48 of IPv6), comma-separated.
std::string DeviceFingerprint(const http::Request& request, std::string_view traits);

// Whether an unsafe request authenticated by cookie comes from an allowed origin: the
// Origin header must be present and equal to one of `allowed` (comma-separated) or to
// `own_origin`. Browsers always send Origin on cross-site unsafe requests, so a missing
// one is refused too.
bool OriginAllowed(const http::Request& request, std::string_view allowed,
                   std::string_view own_origin);

bool IsUnsafeMethod(http::Method method);

}  // namespace gatehouse::auth
