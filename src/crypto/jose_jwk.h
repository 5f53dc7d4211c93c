#pragma once

// The set of JWS keys a deployment holds: one signing key and any number of older keys
// that still verify until the tokens they signed have expired (rotation: add the new key,
// make it the signing key, drop the old one after the longest token lifetime).
//
// Lookup is by `kid` in a hash map. A token's kid is untrusted: callers check it with
// IsValidKid (jose_keys.h) before Find, and an unknown kid is a failed verification,
// never a reason to fetch a key from somewhere (RFC 8725 section 3.10).
//
// Thread safety: build the set on one thread; afterwards all const methods may be called
// concurrently. To rotate at run time, build a new set and publish it (e.g. through a
// std::shared_ptr<const SigningKeys> swapped atomically); a set is never mutated while
// it is being read.

#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"
#include "crypto/jose_keys.h"

namespace gatehouse::crypto {

class SigningKeys {
 public:
  SigningKeys() = default;
  SigningKeys(SigningKeys&&) noexcept = default;
  SigningKeys& operator=(SigningKeys&&) noexcept = default;

  // Adds a key. Errors: kAlreadyExists when its kid is taken (two keys under one kid
  // would make the choice of key depend on insertion order).
  Status Add(SigningKey key);

  // Makes the key under `kid` the one new tokens are signed with.
  // Errors: kNotFound for an unknown kid; kFailedPrecondition for a public-only key.
  Status SetSigningKey(std::string_view kid);

  // The key under `kid`, or nullptr. The pointer is valid until the set is modified.
  const SigningKey* Find(std::string_view kid) const;
  // The signing key, or nullptr when none was chosen.
  const SigningKey* signing_key() const;

  std::size_t size() const { return keys_.size(); }

  // The JWK Set document (RFC 7517 section 5) of the asymmetric keys, signing key first,
  // the others ordered by kid: {"keys":[{kty,crv,x,[y],kid,alg,use:"sig"},...]}. HS256
  // keys are never included. Safe to serve publicly (e.g. at /.well-known/jwks.json).
  std::string PublicJwks() const;

 private:
  struct KidHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view kid) const {
      return std::hash<std::string_view>()(kid);
    }
  };

  std::unordered_map<std::string, SigningKey, KidHash, std::equal_to<>> keys_;
  std::string signing_kid_;
};

}  // namespace gatehouse::crypto
