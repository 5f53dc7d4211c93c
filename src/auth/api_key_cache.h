#pragma once

// What this process remembers of API keys it looked up in the store, so that a key seen
// again is answered from memory: forward auth sees the same key on every request of a
// service, and the database must not be asked each time.
//
// Keyed by the key's keyed hash (auth/api_key_service.h: ApiKeyHasher), never by the key:
// the map holds nothing that would let a reader of memory use a key. A hit is confirmed
// by comparing the whole 32-byte hash in constant time.
//
// Two maps, so that a flood of made-up keys cannot push real ones out:
//   known    keys the store has, with the snapshot needed to answer (owner, scopes, end,
//            revocation and rate limit as of the lookup);
//   unknown  hashes the store does not have. A key is random, so a hash the store lacked
//            never becomes a key later; these entries can only save lookups.
// Entries are trusted for `ttl` after the lookup and then looked up again. The cache is
// not what makes a revocation take effect: the caller checks the shared state on every
// request (docs/api-keys.md), and the ttl bounds how stale anything else can be.
//
// Bounded: each map holds at most its capacity over kShards shards; a full shard drops
// one arbitrary entry to make room (a drop only costs a lookup).
//
// Thread safety: every method may be called from any thread.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/api_key_repository.h"
#include "crypto/digest_types.h"
#include "protect/rate_limit.h"

namespace gatehouse::auth {

// The snapshot of one key that a request is answered from. Immutable once cached.
struct CachedApiKey {
  std::string id;
  std::string prefix;
  OwnerKind owner_kind = OwnerKind::kUser;
  std::string owner_id;
  std::string scopes;  // Space-separated, as sent in X-Auth-Scopes.
  std::int64_t expires_at = 0;
  std::optional<std::int64_t> grace_until;
  bool revoked = false;
  // The key's own limit under the api_key class; nullopt: the class default.
  std::optional<protect::RateLimitClass> rate_limit;

  std::int64_t EndsAt() const;
};

class ApiKeyCache {
 public:
  static constexpr std::size_t kShards = 16;

  // `capacity` entries of known keys, a quarter as many unknown hashes (at least one per
  // shard each); 0 turns the cache off (every lookup misses, nothing is kept).
  ApiKeyCache(std::size_t capacity, std::chrono::seconds ttl);

  struct Lookup {
    enum class Kind : std::uint8_t { kMiss, kKnown, kUnknown };
    Kind kind = Kind::kMiss;
    std::shared_ptr<const CachedApiKey> key;  // kKnown only.
  };
  // What the cache holds for `hash` at `now` (a steady-clock time).
  Lookup Find(const crypto::Sha256Digest& hash, std::chrono::steady_clock::time_point now) const;

  void RememberKnown(const crypto::Sha256Digest& hash, std::shared_ptr<const CachedApiKey> key,
                     std::chrono::steady_clock::time_point now);
  void RememberUnknown(const crypto::Sha256Digest& hash, std::chrono::steady_clock::time_point now);
  // Drops what is held for `hash` (a key this process just changed).
  void Forget(const crypto::Sha256Digest& hash);

  std::size_t known_size() const;
  std::size_t unknown_size() const;

 private:
  struct Entry {
    crypto::Sha256Digest hash;
    std::shared_ptr<const CachedApiKey> key;  // Null in the unknown map.
    std::chrono::steady_clock::time_point stored_at;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::uint64_t, Entry> entries;
  };
  struct Map {
    std::size_t per_shard = 0;
    std::array<Shard, kShards> shards;
  };

  static std::uint64_t Slot(const crypto::Sha256Digest& hash);
  static void Put(Map& map, const crypto::Sha256Digest& hash,
                  std::shared_ptr<const CachedApiKey> key,
                  std::chrono::steady_clock::time_point now);
  std::optional<Entry> Get(const Map& map, const crypto::Sha256Digest& hash,
                           std::chrono::steady_clock::time_point now) const;
  static std::size_t Size(const Map& map);

  std::chrono::seconds ttl_;
  Map known_;
  Map unknown_;
};

}  // namespace gatehouse::auth
