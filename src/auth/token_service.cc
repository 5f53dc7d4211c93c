#include "auth/token_service.h"

#include <algorithm>
#include <memory>

#include <boost/json.hpp>

#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

// A kid for an HMAC secret: a keyed hash of a fixed label, truncated. It names the key
// stably across restarts; since the secret has at least 256 bits, the kid gives an
// attacker nothing to test guesses against.
std::string HmacKid(const Secret& secret) {
  crypto::Sha256Digest digest =
      crypto::HmacSha256(secret.bytes(), std::string_view("gatehouse token kid"));
  return "hs-" + crypto::HexEncode(std::span<const std::uint8_t>(digest.data(), 8));
}

std::int64_t UnixSeconds(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch())
      .count();
}

}  // namespace

Result<crypto::SigningKeys> BuildSigningKeys(const core::TokensConfig& config) {
  crypto::SigningKeys keys;
  std::string signing_kid;

  if (config.algorithm == core::TokenAlgorithm::kHs256) {
    if (!config.hmac_secret.present()) {
      return Error(ErrorCode::kFailedPrecondition, "token signing secret missing",
                   "tokens.hmac_secret is not set");
    }
    signing_kid = HmacKid(config.hmac_secret.value);
    auto key = crypto::SigningKey::FromHmacSecret(signing_kid, config.hmac_secret.value);
    if (!key.ok()) return std::move(key).error().WithContext("tokens.hmac_secret");
    GH_RETURN_IF_ERROR(keys.Add(std::move(*key)));
  } else {
    auto key = crypto::SigningKey::FromPrivateKeyPem(config.signing_key.value);
    if (!key.ok()) return std::move(key).error().WithContext("tokens.signing_key");
    const bool want_ed = config.algorithm == core::TokenAlgorithm::kEdDsa;
    if ((key->alg() == crypto::JwsAlgorithm::kEdDsa) != want_ed) {
      return InvalidArgument("token signing key does not match tokens.algorithm",
                             "tokens.signing_key is not a " +
                                 std::string(core::TokenAlgorithmName(config.algorithm)) +
                                 " key");
    }
    signing_kid = key->kid();
    GH_RETURN_IF_ERROR(keys.Add(std::move(*key)));
  }

  // The previous key verifies the tokens it signed until they expire.
  if (config.previous_hmac_secret.present()) {
    auto key = crypto::SigningKey::FromHmacSecret(HmacKid(config.previous_hmac_secret.value),
                                                  config.previous_hmac_secret.value);
    if (!key.ok()) return std::move(key).error().WithContext("tokens.previous_hmac_secret");
    GH_RETURN_IF_ERROR(keys.Add(std::move(*key)));
  }
  if (!config.previous_public_key_file.empty()) {
    auto key = crypto::SigningKey::LoadPublicKeyPemFile(config.previous_public_key_file.string());
    if (!key.ok()) return std::move(key).error().WithContext("tokens.previous_public_key_file");
    GH_RETURN_IF_ERROR(keys.Add(std::move(*key)));
  }
  GH_RETURN_IF_ERROR(keys.SetSigningKey(signing_kid));
  return keys;
}

TokenService::TokenService(crypto::SigningKeys keys, TokenSettings settings, const Clock& clock)
    : keys_(std::move(keys)),
      settings_(std::move(settings)),
      policy_(crypto::JwtPolicy::AccessToken(settings_.issuer, settings_.audience)),
      jwks_(keys_.PublicJwks()),
      clock_(clock),
      cache_(std::make_unique<VerifiedTokenCache>(settings_.cache_entries)) {
  policy_.claims.leeway = settings_.leeway;
  policy_.claims.required_claims = {"exp", "iat", "nbf", "sub", "jti", "sid"};
}

Result<IssuedToken> TokenService::IssueAccess(std::string_view account_id,
                                              std::string_view session_id,
                                              const std::vector<std::string>& amr) const {
  const crypto::SigningKey* key = keys_.signing_key();
  if (key == nullptr) return Internal("no signing key");

  IssuedToken issued;
  issued.jti = crypto::RandomToken(16);
  const std::int64_t now = UnixSeconds(clock_);
  issued.expires_at = now + settings_.access_ttl.count();

  boost::json::object header;
  header["typ"] = crypto::kAccessTokenTyp;
  boost::json::object claims;
  claims["iss"] = settings_.issuer;
  claims["sub"] = account_id;
  claims["aud"] = settings_.audience;
  claims["exp"] = issued.expires_at;
  claims["nbf"] = now;
  claims["iat"] = now;
  claims["jti"] = issued.jti;
  claims["sid"] = session_id;
  boost::json::array methods;
  for (const std::string& m : amr) methods.emplace_back(m);
  claims["amr"] = std::move(methods);

  auto token = crypto::SignJws(header, claims, *key);
  if (!token.ok()) return std::move(token).error();
  issued.token = std::move(*token);
  return issued;
}

Result<crypto::TokenClaims> TokenService::VerifyAccess(std::string_view token) const {
  return crypto::VerifyJwt(token, keys_, policy_, clock_);
}

Result<std::shared_ptr<const AccessClaims>> TokenService::VerifyAccessCached(
    std::string_view token) const {
  const std::int64_t now = UnixSeconds(clock_);
  if (auto hit = cache_->Find(token, now)) return hit;
  auto verified = VerifyAccess(token);
  if (!verified.ok()) return std::move(verified).error();
  // The window the verifier itself would accept (crypto/jose_jwt.cc, ValidateClaims),
  // so that a cached token is refused at the same instant a fresh check would refuse it.
  const std::int64_t leeway = policy_.claims.leeway.count();
  auto claims = std::make_shared<AccessClaims>();
  claims->sub = std::move(verified->sub);
  claims->sid = std::move(verified->sid);
  claims->jti = std::move(verified->jti);
  claims->amr = std::move(verified->amr);
  claims->exp = verified->exp.value_or(0);
  claims->valid_from = std::max(verified->nbf.value_or(0), verified->iat.value_or(0)) - leeway;
  claims->valid_until = claims->exp + leeway;
  cache_->Insert(token, claims);
  return std::shared_ptr<const AccessClaims>(std::move(claims));
}

}  // namespace gatehouse::auth
