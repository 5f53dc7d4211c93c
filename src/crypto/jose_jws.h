#pragma once

// JWS Compact Serialization (RFC 7515 section 7.1), strictly.
//
// VerifyJws runs these checks in this order and stops at the first failure; each failure
// is kUnauthenticated "invalid token" with the quoted detail (jose_error.h):
//  1. At most kMaxJwsSize bytes, before anything is decoded ("token too large"); not
//     empty ("token empty").
//  2. Exactly three parts separated by '.' ("token does not have three parts"), none of
//     them empty ("empty header", "empty payload", "empty signature"). An empty
//     signature is what alg "none" and signature-stripping attacks send.
//  3. The header is canonical base64url (encoding.h: no padding, no '+' or '/', no
//     whitespace, zero unused bits; "header is not canonical base64url") of a JSON object
//     with no repeated member names (jose_json.h; "header is not valid JSON", "header is
//     not a JSON object", "header repeats a member name").
//  4. Header parameters:
//     - `alg` present and a string ("alg missing"); "none" in any casing is refused by name
//       ("alg none", RFC 8725 section 3.2); other names we do not support ("alg not
//       supported").
//     - `jwk`, `jku`, `x5u`, `x5c` refused ("header carries key material (jwk)", ...):
//       they would let the token choose the key that verifies it (RFC 8725 section 3.10);
//       keys come only from the configured set.
//     - `crit` refused ("crit header present"): we implement no extension, and RFC 7515
//       section 4.1.11 requires refusing a token whose critical extensions are not
//       understood. `b64` (RFC 7797) is refused for the same reason ("b64 header present").
//     - `zip`, `enc`, `p2c`, `p2s` refused without acting on them ("zip header present",
//       ...): they belong to JWE; honouring them would mean decompressing or running a
//       password KDF with attacker-chosen cost before authenticating anything.
//     - `typ`, when present, is a string ("typ not a string"); when
//       JwsVerifyOptions::expected_typ is set it must be present and match ("typ missing",
//       "typ mismatch"), compared case-insensitively with an optional "application/"
//       prefix (RFC 7515 section 4.1.9). This keeps other JWTs (an ID token, say) from
//       passing as access tokens (RFC 8725 section 3.11, RFC 9068 section 2.1).
//     - `kid` (required with a key set) is a string ("kid missing", "kid not a string"),
//       valid per IsValidKid ("kid malformed", checked before any lookup), and names a
//       key ("unknown kid"); with a single key, a kid if present must be that key's
//       ("kid does not match the key").
//     - `alg` equals the algorithm of the key ("alg mismatch for kid"): the key decides
//       the algorithm, so an HS256 token "signed" with a public key never reaches HMAC.
//  5. The signature is canonical base64url ("signature is not canonical base64url"), of
//     the algorithm's length and valid (SigningKey::VerifySignature details).
//  6. Only now, with the content authenticated, the payload: canonical base64url
//     ("payload is not canonical base64url") of a JSON object without repeated names
//     ("payload is not a JSON object", ...).
// Unknown header parameters are otherwise ignored (RFC 7515 section 4).
//
// Claims (exp, aud, ...) are not looked at here: see jose_jwt.h.
// Thread safety: pure functions over immutable keys; call concurrently.

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/status.h"
#include "crypto/jose_jwk.h"
#include "crypto/jose_keys.h"

namespace gatehouse::crypto {

inline constexpr std::size_t kMaxJwsSize = 8 * 1024;

struct JwsVerifyOptions {
  // When not empty, the `typ` the token must carry, e.g. "at+jwt".
  std::string expected_typ;
  // Refuse ES256 signatures whose S is in the high half (see jose_keys.h). Our own signer
  // always produces low S; turn this off only for tokens from other signers, and then key
  // replay caches and deny lists by `jti`, not by token text.
  bool ecdsa_low_s_only = true;
};

struct VerifiedJws {
  JwsAlgorithm alg;
  std::string kid;  // Empty when verified against a single key and the token had none.
  boost::json::object header;
  boost::json::object payload;
};

// Verifies with the key the token's kid names in `keys`.
Result<VerifiedJws> VerifyJws(std::string_view token, const SigningKeys& keys,
                              const JwsVerifyOptions& options = {});
// Verifies with one given key (a token's kid is optional but must match when present).
Result<VerifiedJws> VerifyJws(std::string_view token, const SigningKey& key,
                              const JwsVerifyOptions& options = {});

// Produces compact JWS: the header is {"alg":<key's alg>,"kid":<key's kid>} followed by
// `header_fields` (e.g. {"typ":"at+jwt"}); the payload is `payload` serialised.
// Errors: kInvalidArgument when header_fields holds alg, kid or a parameter the verifier
// refuses (jwk, jku, x5u, x5c, crit, b64, zip, enc, p2c, p2s), or when the token would
// exceed kMaxJwsSize; kFailedPrecondition for a public-only key; kInternal from OpenSSL.
Result<std::string> SignJws(const boost::json::object& header_fields,
                            const boost::json::object& payload, const SigningKey& key);

}  // namespace gatehouse::crypto
