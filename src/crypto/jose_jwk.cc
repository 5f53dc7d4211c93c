#include "crypto/jose_jwk.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

namespace gatehouse::crypto {

Status SigningKeys::Add(SigningKey key) {
  std::string kid = key.kid();
  if (keys_.contains(kid)) {
    return Error(ErrorCode::kAlreadyExists, "duplicate key id", "kid already in the key set");
  }
  keys_.emplace(std::move(kid), std::move(key));
  return Ok();
}

Status SigningKeys::SetSigningKey(std::string_view kid) {
  const SigningKey* key = Find(kid);
  if (key == nullptr) return NotFound("unknown key id", "no key with that kid in the set");
  if (!key->can_sign()) {
    return Error(ErrorCode::kFailedPrecondition, "key cannot sign", "key is public only");
  }
  signing_kid_ = std::string(kid);
  return Ok();
}

const SigningKey* SigningKeys::Find(std::string_view kid) const {
  const auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : &it->second;
}

const SigningKey* SigningKeys::signing_key() const {
  return signing_kid_.empty() ? nullptr : Find(signing_kid_);
}

std::string SigningKeys::PublicJwks() const {
  // A stable order keeps the document byte-identical between calls and instances, so
  // caches and ETags behave.
  std::vector<const SigningKey*> published;
  for (const auto& [kid, key] : keys_) {
    if (key.is_asymmetric()) published.push_back(&key);
  }
  std::sort(published.begin(), published.end(), [this](const SigningKey* a, const SigningKey* b) {
    const bool a_signs = a->kid() == signing_kid_;
    const bool b_signs = b->kid() == signing_kid_;
    if (a_signs != b_signs) return a_signs;
    return a->kid() < b->kid();
  });

  boost::json::array keys;
  for (const SigningKey* key : published) {
    if (auto jwk = key->PublicJwk()) keys.emplace_back(std::move(*jwk));
  }
  boost::json::object document;
  document["keys"] = std::move(keys);
  return boost::json::serialize(document);
}

}  // namespace gatehouse::crypto
