#include "auth/oidc_id_token.h"

#include <boost/json.hpp>

#include "crypto/constant_time.h"
#include "crypto/jose_error.h"
#include "crypto/jose_jws.h"
#include "crypto/jose_jwt.h"

namespace gatehouse::auth {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxSubject = 255;
constexpr std::size_t kMaxEmail = 320;
constexpr std::size_t kMaxName = 200;

Error Invalid(std::string detail) {
  return Error(ErrorCode::kUnauthenticated, "invalid token", std::move(detail));
}

// An optional string claim, cut to nothing when it is not a string or too long: these are
// informational and never decide anything on their own.
std::string OptionalText(const json::object& claims, std::string_view name, std::size_t max) {
  const json::value* v = claims.if_contains(name);
  if (v == nullptr || !v->is_string() || v->as_string().size() > max) return {};
  return std::string(v->as_string());
}

}  // namespace

Result<IdTokenClaims> VerifyIdToken(std::string_view token, const crypto::SigningKeys& keys,
                                    const IdTokenExpectations& expect, const Clock& clock) {
  // Providers do not normalise ECDSA signatures; the token is never used as a key (the
  // nonce is single use), so the second spelling of a signature gains nothing.
  crypto::JwsVerifyOptions jws;
  jws.ecdsa_low_s_only = false;
  auto verified = crypto::VerifyJws(token, keys, jws);
  if (!verified.ok()) return std::move(verified).error();

  crypto::ClaimsPolicy policy;
  policy.issuer = expect.issuer;
  policy.audience = expect.client_id;
  policy.leeway = expect.leeway;
  policy.required_claims = {"exp", "iat", "sub", "nonce"};
  auto claims = crypto::ValidateClaims(std::move(verified->payload), policy, clock);
  if (!claims.ok()) return std::move(claims).error();

  // Core 3.1.3.7 items 4 and 5.
  const json::value* azp = claims->raw.if_contains("azp");
  if (claims->aud.size() > 1 && azp == nullptr) return Invalid("azp missing with several aud");
  if (azp != nullptr && (!azp->is_string() || azp->as_string() != expect.client_id)) {
    return Invalid("azp mismatch");
  }

  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
  if (*claims->iat < now - expect.max_age.count() - expect.leeway.count()) {
    return Invalid("iat too old");
  }

  const json::value& nonce = claims->raw.at("nonce");
  if (!nonce.is_string()) return Invalid("nonce is not a string");
  // Constant time: the nonce is the secret binding this token to one sign-in.
  if (expect.nonce.empty() ||
      !crypto::ConstantTimeEquals(std::string_view(nonce.as_string()), expect.nonce)) {
    return Invalid("nonce mismatch");
  }

  if (claims->sub.empty() || claims->sub.size() > kMaxSubject) return Invalid("sub length");

  IdTokenClaims out;
  out.sub = claims->sub;
  out.exp = *claims->exp;
  ReadProfileClaims(claims->raw, out);
  return out;
}

void ReadProfileClaims(const json::object& claims, IdTokenClaims& out) {
  out.email = OptionalText(claims, "email", kMaxEmail);
  out.name = OptionalText(claims, "name", kMaxName);
  out.email_verified = false;
  if (const json::value* verified_email = claims.if_contains("email_verified")) {
    out.email_verified = (verified_email->is_bool() && verified_email->as_bool()) ||
                         (verified_email->is_string() && verified_email->as_string() == "true");
  }
}

}  // namespace gatehouse::auth
