#include "auth/oidc_flow.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "core/strict_json.h"
#include "crypto/constant_time.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

namespace json = boost::json;

constexpr std::size_t kRandomBytes = 32;
constexpr std::size_t kMaxReturnTo = 2048;
constexpr std::string_view kPurpose = "oidc-flow";

std::string FlowKey(std::string_view state) {
  return "oidc:flow:" + crypto::HexEncode(crypto::Sha256(state));
}

std::string BindingHash(std::string_view cookie) {
  return crypto::HexEncode(crypto::Sha256(cookie));
}

Error Refused(std::string detail) {
  return Error(ErrorCode::kPermissionDenied, "sign-in could not be completed", std::move(detail));
}

// Lower-cased scheme://host[:port] of an absolute URL, or empty.
std::string OriginOf(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || parsed->host().empty()) return {};
  std::string origin(parsed->scheme());
  origin += "://";
  origin += parsed->encoded_host();
  // The default port is the same origin written two ways (RFC 6454 section 4).
  const boost::urls::scheme scheme = parsed->scheme_id();
  const bool default_port = (scheme == boost::urls::scheme::https && parsed->port() == "443") ||
                            (scheme == boost::urls::scheme::http && parsed->port() == "80");
  if (parsed->has_port() && !default_port) {
    origin += ':';
    origin += parsed->port();
  }
  for (char& ch : origin) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return origin;
}

}  // namespace

std::string PkceChallenge(std::string_view verifier) {
  return crypto::Base64UrlEncode(crypto::Sha256(verifier));
}

Result<StartedFlow> FlowStore::Begin(const FlowStart& start) {
  StartedFlow flow;
  flow.state = crypto::RandomToken(kRandomBytes);
  flow.binding = Secret(crypto::RandomToken(kRandomBytes));
  flow.nonce = crypto::RandomToken(kRandomBytes);
  // 32 random bytes make a 43-character verifier, the shortest RFC 7636 section 4.1 allows,
  // with the 256 bits of entropy it recommends.
  const Secret verifier(crypto::RandomToken(kRandomBytes));
  flow.code_challenge = PkceChallenge(verifier.reveal());

  json::object record{{"p", start.provider},     {"r", start.return_to},
                      {"l", start.link_account}, {"b", BindingHash(flow.binding.reveal())},
                      {"v", verifier.reveal()},  {"n", flow.nonce}};
  std::string plain = json::serialize(record);
  const std::string key = FlowKey(flow.state);
  auto sealed = keys_.Encrypt(kPurpose, plain, key);
  SecureWipe(plain);
  if (!sealed.ok()) return std::move(sealed).error();
  GH_RETURN_IF_ERROR(
      state_.Set(key, *sealed, std::chrono::duration_cast<std::chrono::milliseconds>(ttl_)));
  return flow;
}

Result<FlowRecord> FlowStore::Take(std::string_view provider, std::string_view state,
                                   std::string_view cookie) {
  if (state.empty() || state.size() > 128) return Refused("state unknown");
  const std::string key = FlowKey(state);
  // Taken before anything else is checked: a state is spent by its first callback, so a
  // replay or a swapped state cannot be tried twice.
  auto taken = state_.Take(key);
  if (!taken.ok()) return std::move(taken).error();
  if (!taken->has_value()) return Refused("state unknown");

  auto opened = keys_.Decrypt(kPurpose, **taken, key);
  if (!opened.ok()) return Refused("flow record does not open");
  core::StrictJsonOutcome parsed = core::ParseStrictJson(opened->reveal(), 4);
  if (parsed.failure != core::JsonFailure::kNone || !parsed.value.is_object()) {
    return Refused("flow record unreadable");
  }
  const json::object& record = parsed.value.as_object();
  auto text = [&](const char* name) -> std::string_view {
    const json::value* v = record.if_contains(name);
    return v != nullptr && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
  };

  if (cookie.empty()) return Refused("pre-auth cookie missing");
  // Constant time: the stored hash is compared with the hash of what the browser sent.
  if (!crypto::ConstantTimeEquals(BindingHash(cookie), text("b"))) {
    return Refused("pre-auth cookie mismatch");
  }
  if (text("p") != provider) return Refused("provider mismatch");

  FlowRecord out;
  out.provider = std::string(text("p"));
  out.return_to = std::string(text("r"));
  out.link_account = std::string(text("l"));
  out.verifier = Secret(text("v"));
  out.nonce = Secret(text("n"));
  return out;
}

ReturnToPolicy::ReturnToPolicy(std::string_view own_origin, std::string_view origins) {
  origins_.push_back(OriginOf(own_origin));
  std::size_t start = 0;
  while (start < origins.size()) {
    std::size_t end = origins.find(',', start);
    if (end == std::string_view::npos) end = origins.size();
    std::string_view item = origins.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (std::string origin = OriginOf(item); !origin.empty()) origins_.push_back(origin);
    start = end + 1;
  }
}

Status ReturnToPolicy::Check(std::string_view return_to) const {
  const Error refused = InvalidArgument("return_to not allowed");
  if (return_to.empty() || return_to.size() > kMaxReturnTo) return refused;
  for (unsigned char ch : return_to) {
    // Browsers drop tabs and newlines and treat '\' as '/', which turns "/\evil" into a
    // link to another host; none of them has a place in a return address. The fragment is
    // the sign-in's own (it can carry a second-factor ticket).
    if (ch < 0x21 || ch > 0x7e || ch == '\\' || ch == '#') return refused;
  }
  if (return_to[0] == '/') {
    // "//host/..." is a network-path reference: another origin.
    if (return_to.size() > 1 && return_to[1] == '/') return refused;
    return Ok();
  }
  const std::string origin = OriginOf(return_to);
  if (origin.empty() || origin.rfind("https://", 0) != 0) return refused;
  for (const std::string& allowed : origins_) {
    if (origin == allowed) return Ok();
  }
  return refused;
}

}  // namespace gatehouse::auth
