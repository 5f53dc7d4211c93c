#include "auth/api_key_cache.h"

#include <algorithm>
#include <cstring>

#include "crypto/constant_time.h"

namespace gatehouse::auth {

std::int64_t CachedApiKey::EndsAt() const {
  return grace_until ? std::min(expires_at, *grace_until) : expires_at;
}

ApiKeyCache::ApiKeyCache(std::size_t capacity, std::chrono::seconds ttl) : ttl_(ttl) {
  if (capacity == 0) return;
  known_.per_shard = std::max<std::size_t>(1, (capacity + kShards - 1) / kShards);
  unknown_.per_shard = std::max<std::size_t>(1, known_.per_shard / 4);
}

std::uint64_t ApiKeyCache::Slot(const crypto::Sha256Digest& hash) {
  // The hash is an HMAC output: its bytes are already uniform, and nobody without the
  // HMAC key can aim two keys at one slot.
  std::uint64_t slot = 0;
  std::memcpy(&slot, hash.data(), sizeof(slot));
  return slot;
}

void ApiKeyCache::Put(Map& map, const crypto::Sha256Digest& hash,
                      std::shared_ptr<const CachedApiKey> key,
                      std::chrono::steady_clock::time_point now) {
  if (map.per_shard == 0) return;
  const std::uint64_t slot = Slot(hash);
  Shard& shard = map.shards[hash[8] % kShards];
  std::lock_guard lock(shard.mu);
  if (shard.entries.size() >= map.per_shard && !shard.entries.contains(slot)) {
    shard.entries.erase(shard.entries.begin());
  }
  shard.entries.insert_or_assign(slot, Entry{hash, std::move(key), now});
}

std::optional<ApiKeyCache::Entry> ApiKeyCache::Get(
    const Map& map, const crypto::Sha256Digest& hash,
    std::chrono::steady_clock::time_point now) const {
  if (map.per_shard == 0) return std::nullopt;
  const Shard& shard = map.shards[hash[8] % kShards];
  std::lock_guard lock(shard.mu);
  const auto it = shard.entries.find(Slot(hash));
  if (it == shard.entries.end()) return std::nullopt;
  if (!crypto::ConstantTimeEquals(it->second.hash, hash)) return std::nullopt;
  if (now - it->second.stored_at >= ttl_) return std::nullopt;
  return it->second;
}

ApiKeyCache::Lookup ApiKeyCache::Find(const crypto::Sha256Digest& hash,
                                      std::chrono::steady_clock::time_point now) const {
  Lookup lookup;
  if (std::optional<Entry> known = Get(known_, hash, now)) {
    lookup.kind = Lookup::Kind::kKnown;
    lookup.key = std::move(known->key);
    return lookup;
  }
  if (Get(unknown_, hash, now)) lookup.kind = Lookup::Kind::kUnknown;
  return lookup;
}

void ApiKeyCache::RememberKnown(const crypto::Sha256Digest& hash,
                                std::shared_ptr<const CachedApiKey> key,
                                std::chrono::steady_clock::time_point now) {
  if (!key) return;
  Put(known_, hash, std::move(key), now);
}

void ApiKeyCache::RememberUnknown(const crypto::Sha256Digest& hash,
                                  std::chrono::steady_clock::time_point now) {
  Put(unknown_, hash, nullptr, now);
}

void ApiKeyCache::Forget(const crypto::Sha256Digest& hash) {
  for (Map* map : {&known_, &unknown_}) {
    if (map->per_shard == 0) continue;
    Shard& shard = map->shards[hash[8] % kShards];
    std::lock_guard lock(shard.mu);
    shard.entries.erase(Slot(hash));
  }
}

std::size_t ApiKeyCache::Size(const Map& map) {
  std::size_t total = 0;
  for (const Shard& shard : map.shards) {
    std::lock_guard lock(shard.mu);
    total += shard.entries.size();
  }
  return total;
}

std::size_t ApiKeyCache::known_size() const { return Size(known_); }
std::size_t ApiKeyCache::unknown_size() const { return Size(unknown_); }

}  // namespace gatehouse::auth
