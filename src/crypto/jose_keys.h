#pragma once

// One JWS key: its `kid`, the single algorithm it may be used with, and its material.
//
// Algorithms (RFC 7518 section 3, RFC 8037 section 3.1):
//   HS256  HMAC-SHA256 under a secret of at least 32 bytes (RFC 7518 section 3.2 asks for
//          a key at least as long as the hash output).
//   ES256  ECDSA on P-256 with SHA-256; signatures are the 64-byte JOSE form R||S
//          (RFC 7518 section 3.4), not DER.
//   EdDSA  Ed25519 (RFC 8037); deterministic 64-byte signatures.
//   RS256  RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3), verification only and
//          only for keys imported from a JWK (an OpenID provider's JWKS): Gatehouse never
//          signs with RSA. The modulus must be 2048 to 8192 bits (section 3.3 asks for at
//          least 2048); the signature is exactly the modulus length.
// The algorithm belongs to the key, never to a token: a verifier takes the algorithm from
// the key a `kid` names and only checks that the token's `alg` agrees (RFC 8725 section
// 3.1). That is what stops the "HS256 signed with the public key" confusion.
//
// Key ids: 1 to 128 bytes from [A-Za-z0-9._-]. An asymmetric key given no kid gets its
// RFC 7638 JWK thumbprint (base64url of SHA-256 over the canonical public JWK). An HS256
// key must be given its kid: the thumbprint of a symmetric key is a hash of the secret
// (RFC 7638 section 7), and kids travel in every token.
//
// ES256 signatures are produced with a low S (S <= n/2). ECDSA signatures are malleable:
// (R, n-S) verifies as well as (R, S), so without a rule one token has two spellings.
// VerifySignature can insist on low S (the default for Gatehouse's own tokens); peers
// such as OpenSSL and node's jose do not normalise S, so tokens from them need it off.
//
// Thread safety: a SigningKey is immutable after construction; all const methods may be
// called concurrently. Moving is cheap; a moved-from key must not be used.
// Errors of the factories: kInvalidArgument "invalid signing key" with a detail naming the
// problem (never key bytes).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>
#include <boost/json/object.hpp>

#include "core/secret.h"
#include "core/status.h"
#include "crypto/hmac.h"

namespace gatehouse::crypto {

enum class JwsAlgorithm : std::uint8_t { kHs256, kEs256, kEdDsa, kRs256 };

// "HS256", "ES256", "EdDSA", "RS256": the registered names (RFC 7518 section 3.1, RFC 8037).
std::string_view JwsAlgorithmName(JwsAlgorithm alg);
// Exact, case-sensitive match of a registered name we support (RFC 7515 section 4.1.1
// makes `alg` case-sensitive); anything else, "none" included, is nullopt.
std::optional<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name);

inline constexpr std::size_t kMaxKidSize = 128;
inline constexpr std::size_t kMinHmacSecretSize = 32;

// True for 1 to kMaxKidSize bytes from [A-Za-z0-9._-]. No '/', no quote, no space: a kid
// may end up in a file name, a log line or a database key.
bool IsValidKid(std::string_view kid);

class SigningKey {
 public:
  // HS256 under `secret` (>= 32 bytes). `kid` is required (see above).
  static Result<SigningKey> FromHmacSecret(std::string kid, const Secret& secret);

  // Fresh keys from the CSPRNG, for setup. An empty kid means "use the thumbprint".
  static Result<SigningKey> GenerateEd25519(std::string kid = {});
  static Result<SigningKey> GenerateEs256(std::string kid = {});

  // One PEM block: "PRIVATE KEY" (unencrypted PKCS#8, RFC 5958) or "PUBLIC KEY"
  // (SubjectPublicKeyInfo, RFC 5280). The key type decides the algorithm: Ed25519 ->
  // EdDSA, EC on P-256 -> ES256; anything else (RSA, other curves, legacy "EC PRIVATE
  // KEY" blocks, several blocks) is refused. A public key only verifies.
  static Result<SigningKey> FromPrivateKeyPem(const Secret& pem, std::string kid = {});
  static Result<SigningKey> FromPublicKeyPem(std::string_view pem, std::string kid = {});
  // The same, reading the PEM from a file. Errors: also kNotFound when it cannot be read.
  static Result<SigningKey> LoadPrivateKeyPemFile(const std::string& path, std::string kid = {});
  static Result<SigningKey> LoadPublicKeyPemFile(const std::string& path, std::string kid = {});

  // A public key from a JWK (RFC 7517 section 4) of a key set someone else publishes:
  // kty "RSA" (n, e; RS256), "EC" with crv "P-256" (x, y; ES256) or "OKP" with crv
  // "Ed25519" (x; EdDSA). Members are canonical base64url; `alg`, when present, must name
  // the algorithm the key type implies and `use`, when present, must be "sig". Private
  // members (d, p, q, ...) are ignored: only the public part is read. A JWK without a
  // kid gets its RFC 7638 thumbprint. The key only verifies.
  // Errors: kInvalidArgument "invalid signing key" naming the problem, kty "oct"
  // included (a symmetric key never comes from a published set).
  static Result<SigningKey> FromPublicJwk(const boost::json::object& jwk);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  const std::string& kid() const { return kid_; }
  JwsAlgorithm alg() const { return alg_; }
  // False for a key loaded from a public key: it can only verify.
  bool can_sign() const { return can_sign_; }
  // False for HS256, whose key is never published.
  bool is_asymmetric() const { return alg_ != JwsAlgorithm::kHs256; }

  // The public JWK: kty, crv, x (and y for EC), kid, alg, use "sig" (RFC 7517 section 4,
  // RFC 7518 section 6.2, RFC 8037 section 2). nullopt for HS256.
  std::optional<boost::json::object> PublicJwk() const;
  // RFC 7638 thumbprint of the public JWK, base64url. nullopt for HS256.
  std::optional<std::string> Thumbprint() const;

  // PEM texts for setup to write to files. PrivateKeyPem is PKCS#8 and key material:
  // write it with mode 0600. Errors: kFailedPrecondition for HS256 or a public-only key.
  Result<Secret> PrivateKeyPem() const;
  Result<std::string> PublicKeyPem() const;

  // The JWS signature of `signing_input` (RFC 7515 section 5.1 step 5): 32 bytes for
  // HS256, 64 for ES256 (R||S, low S) and EdDSA. RS256 keys never sign.
  // Errors: kFailedPrecondition for a public-only key; kInternal if OpenSSL fails.
  Result<std::vector<std::uint8_t>> Sign(std::string_view signing_input) const;

  // Checks `signature` over `signing_input`. A signature of the wrong length fails before
  // any cryptography (a DER-encoded ECDSA signature is the wrong length).
  // Errors: kUnauthenticated "invalid token" with detail "signature length",
  // "ecdsa signature has high s" or "signature mismatch".
  Status VerifySignature(std::string_view signing_input, std::span<const std::uint8_t> signature,
                         bool ecdsa_low_s_only = true) const;

 private:
  struct PkeyFree {
    void operator()(EVP_PKEY* pkey) const;
  };
  using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

  SigningKey(std::string kid, JwsAlgorithm alg);
  static Result<SigningKey> FromPkey(PkeyPtr pkey, bool is_private, std::string kid);
  // The one signature length of this key's algorithm (the modulus size for RS256).
  std::size_t SignatureSize() const;
  // An RSA public member (OSSL_PKEY_PARAM_RSA_N or _E) as JWK base64url.
  std::optional<std::string> RsaMember(const char* param) const;

  std::string kid_;
  JwsAlgorithm alg_;
  bool can_sign_ = false;
  std::optional<HmacSha256Keyed> hmac_;  // HS256 only.
  PkeyPtr pkey_;                         // ES256 and EdDSA only.
};

}  // namespace gatehouse::crypto
