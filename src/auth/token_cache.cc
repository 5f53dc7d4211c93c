#include "auth/token_cache.h"

#include <sodium.h>

#include <cstring>

#include "crypto/constant_time.h"
#include "crypto/random.h"

namespace gatehouse::auth {

VerifiedTokenCache::VerifiedTokenCache(std::size_t capacity)
    : per_shard_(capacity == 0 ? 0 : (capacity + kShards - 1) / kShards) {
  crypto::FillRandom(std::span<std::uint8_t>(key_.data(), key_.size()));
}

std::uint64_t VerifiedTokenCache::Hash(std::string_view token) const {
  // Only the tail is hashed: in a JWS it is part of the signature, 192 bits or more that
  // already differ between any two tokens this cache can hold (every entry was verified),
  // so hashing more bought nothing but cost a share of a verification hit. Correctness
  // never rests on the hash: a hit is confirmed by comparing the whole token. A client
  // that sends forgeries sharing a real token's tail only lands on that token's entry,
  // fails the comparison and is verified (and refused) as usual; lookups never insert, so
  // it cannot grow a chain. Two cached tokens on one digest (a 64-bit collision) only
  // cost the older one its entry.
  const std::string_view tail =
      token.size() > kHashedTailBytes ? token.substr(token.size() - kHashedTailBytes) : token;
  unsigned char out[crypto_shorthash_siphash24_BYTES];
  crypto_shorthash_siphash24(out, reinterpret_cast<const unsigned char*>(tail.data()), tail.size(),
                             key_.data());
  std::uint64_t d;
  std::memcpy(&d, out, sizeof(d));
  return d;
}

std::shared_ptr<const AccessClaims> VerifiedTokenCache::Find(std::string_view token,
                                                             std::int64_t now) const {
  if (per_shard_ == 0 || token.size() > kMaxTokenBytes) return nullptr;
  const std::uint64_t d = Hash(token);
  const Shard& shard = shards_[ShardOf(d)];
  std::shared_ptr<const AccessClaims> claims;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(d);
    if (it == shard.entries.end()) return nullptr;
    if (!crypto::ConstantTimeEquals(std::string_view(it->second.token), token)) return nullptr;
    claims = it->second.claims;
  }
  if (now < claims->valid_from || now >= claims->valid_until) return nullptr;
  return claims;
}

void VerifiedTokenCache::Insert(std::string_view token,
                                std::shared_ptr<const AccessClaims> claims) {
  if (per_shard_ == 0 || token.size() > kMaxTokenBytes || !claims) return;
  const std::uint64_t d = Hash(token);
  Shard& shard = shards_[ShardOf(d)];
  std::lock_guard lock(shard.mu);
  if (shard.entries.size() >= per_shard_ && !shard.entries.contains(d)) shard.entries.clear();
  shard.entries.insert_or_assign(d, Entry{std::string(token), std::move(claims)});
}

std::size_t VerifiedTokenCache::size() const {
  std::size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    total += shard.entries.size();
  }
  return total;
}

}  // namespace gatehouse::auth
