#include "auth_support.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace gatehouse::itest {
namespace {

namespace json = boost::json;

std::string RandomHex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  RAND_bytes(raw.data(), static_cast<int>(raw.size()));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

}  // namespace

std::unique_ptr<Deployment> AuthDeployment() {
  auto deployment = StandardDeployment();
  deployment->Set("crypto", "argon2_memory_kib", std::int64_t{8192});
  deployment->Set("crypto", "argon2_iterations", std::int64_t{1});
  deployment->Set("server", "read_timeout_ms", std::int64_t{5000});
  // Every suite's client is 127.0.0.1: the product's per-address CAPTCHA and block
  // thresholds would tie unrelated tests together. The brute-force suites set their own.
  deployment->Set("brute_force", "captcha_after", std::int64_t{1000});
  deployment->Set("brute_force", "lock_after", std::int64_t{1000});
  deployment->Set("brute_force", "ip_block_threshold", std::int64_t{1000});
  deployment->Set("brute_force", "delay_base_ms", std::int64_t{1});
  return deployment;
}

std::string UniqueEmail(std::string_view tag) {
  return std::string(tag) + "-" + RandomHex(6) + "@example.org";
}

std::string StrongPassword() { return "Zq7!" + RandomHex(8); }

std::optional<Grant> GrantOf(const std::optional<HttpResponse>& response) {
  if (!response) {
    ADD_FAILURE() << "no answer";
    return std::nullopt;
  }
  if (response->status != 200) {
    ADD_FAILURE() << "expected a 200 grant, got " << response->status << ": " << response->body;
    return std::nullopt;
  }
  json::object body = JsonBody(*response);
  const json::value* access = body.if_contains("access_token");
  const json::value* refresh = body.if_contains("refresh_token");
  if (access == nullptr || !access->is_string() || refresh == nullptr || !refresh->is_string()) {
    ADD_FAILURE() << "grant without tokens: " << response->body;
    return std::nullopt;
  }
  return Grant{std::string(access->as_string()), std::string(refresh->as_string())};
}

namespace {

// One dot-separated part of a compact JWS, decoded as a JSON object.
json::object JwtPart(std::string_view part) {
  // base64url (RFC 4648 section 5) without padding: map to the standard alphabet, pad,
  // and let OpenSSL decode.
  std::string b64(part);
  for (char& c : b64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (b64.size() % 4 != 0) b64 += '=';
  std::string decoded(b64.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) {
    ADD_FAILURE() << "token part is not base64url";
    return {};
  }
  // EVP_DecodeBlock counts the padding as zero bytes; they are not part of the JSON.
  decoded.resize(static_cast<std::size_t>(n));
  while (!decoded.empty() && decoded.back() == '\0') decoded.pop_back();
  boost::system::error_code ec;
  json::value parsed = json::parse(decoded, ec);
  if (ec || !parsed.is_object()) {
    ADD_FAILURE() << "token part is not a JSON object";
    return {};
  }
  return parsed.as_object();
}

}  // namespace

json::object JwtHeader(std::string_view token) { return JwtPart(token.substr(0, token.find('.'))); }

json::object JwtPayload(std::string_view token) {
  const std::size_t first = token.find('.');
  if (first == std::string_view::npos) {
    ADD_FAILURE() << "not a compact JWS";
    return {};
  }
  const std::size_t second = token.find('.', first + 1);
  return JwtPart(token.substr(first + 1, second - first - 1));
}

json::object JsonBody(const HttpResponse& response) {
  boost::system::error_code ec;
  json::value parsed = json::parse(response.body, ec);
  if (ec || !parsed.is_object()) {
    ADD_FAILURE() << "body is not a JSON object: " << response.body;
    return {};
  }
  return parsed.as_object();
}

std::vector<std::string> ViolationCodes(const HttpResponse& response) {
  std::vector<std::string> codes;
  json::object body = JsonBody(response);
  const json::value* violations = body.if_contains("violations");
  if (violations == nullptr || !violations->is_array()) {
    ADD_FAILURE() << "no violations array: " << response.body;
    return codes;
  }
  for (const json::value& v : violations->as_array()) {
    const json::value* code = v.is_object() ? v.as_object().if_contains("code") : nullptr;
    codes.push_back(code != nullptr && code->is_string() ? std::string(code->as_string())
                                                         : "(no code)");
  }
  return codes;
}

AuthClient::AuthClient(std::uint16_t port, std::string user_agent)
    : port_(port), user_agent_(std::move(user_agent)) {}

std::string AuthClient::OwnOrigin() const { return "https://localhost:" + std::to_string(port_); }

std::optional<HttpResponse> AuthClient::Send(std::string_view method, std::string_view target,
                                             std::vector<std::string> headers,
                                             std::string_view body) {
  headers.insert(headers.begin(), "User-Agent: " + user_agent_);
  std::string error;
  auto response = Exchange(Connection::Kind::kTls, port_, RawRequest(method, target, headers, body),
                           Millis(5000), &error);
  EXPECT_TRUE(response.has_value()) << method << " " << target << ": " << error;
  return response;
}

std::optional<HttpResponse> AuthClient::PostJson(std::string_view target, const json::object& body,
                                                 std::vector<std::string> headers) {
  headers.push_back("Content-Type: application/json");
  return Send("POST", target, std::move(headers), json::serialize(body));
}

std::optional<HttpResponse> AuthClient::Register(std::string_view email,
                                                 std::string_view password) {
  return PostJson("/v1/auth/register", {{"email", email}, {"password", password}});
}

std::optional<HttpResponse> AuthClient::Login(std::string_view email, std::string_view password) {
  return PostJson("/v1/auth/login", {{"email", email}, {"password", password}});
}

std::optional<Grant> AuthClient::RegisterAndLogin(std::string_view email,
                                                  std::string_view password) {
  auto registered = Register(email, password);
  if (!registered || registered->status != 201) {
    ADD_FAILURE() << "register failed: "
                  << (registered ? std::to_string(registered->status) + " " + registered->body
                                 : "no answer");
    return std::nullopt;
  }
  return GrantOf(Login(email, password));
}

std::optional<HttpResponse> AuthClient::Refresh(std::string_view refresh_token) {
  return PostJson("/v1/auth/refresh", {{"refresh_token", refresh_token}});
}

std::optional<HttpResponse> AuthClient::Verify(std::string_view access_token) {
  return Send("GET", "/v1/auth/verify", {BearerHeader(access_token)});
}

int AuthClient::VerifyStatus(std::string_view access_token) {
  auto response = Verify(access_token);
  return response ? response->status : 0;
}

std::optional<HttpResponse> AuthClient::Logout(std::string_view access_token) {
  return Send("POST", "/v1/auth/logout", {BearerHeader(access_token)});
}

std::string BearerHeader(std::string_view token) {
  return "Authorization: Bearer " + std::string(token);
}

std::string SessionCookieHeader(std::string_view token) {
  return "Cookie: __Host-gh_session=" + std::string(token);
}

}  // namespace gatehouse::itest
