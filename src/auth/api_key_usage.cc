#include "auth/api_key_usage.h"

#include <functional>

#include "core/mask.h"

namespace gatehouse::auth {

ApiKeyUsage::Shard& ApiKeyUsage::ShardFor(std::string_view key_id) {
  return shards_[std::hash<std::string_view>{}(key_id) % kShards];
}

const ApiKeyUsage::Shard& ApiKeyUsage::ShardFor(std::string_view key_id) const {
  return shards_[std::hash<std::string_view>{}(key_id) % kShards];
}

void ApiKeyUsage::Record(const std::shared_ptr<const CachedApiKey>& key, std::int64_t now,
                         std::string_view client_ip) {
  const std::string_view key_id = key->id;
  Shard& shard = ShardFor(key_id);
  std::lock_guard lock(shard.mu);
  auto it = shard.tallies.find(key_id);
  if (it == shard.tallies.end()) it = shard.tallies.emplace(std::string(key_id), Tally{}).first;
  Tally& tally = it->second;
  // The snapshot may be newer than the one seen first (a reload after the cache ttl).
  if (tally.key != key) tally.key = key;
  ++tally.count;
  if (now >= tally.last_used_at) {
    tally.last_used_at = now;
    // The address is masked at the flush, not here: the same client usually sends every
    // request, and comparing is cheaper than masking.
    if (tally.ip_masked || tally.last_ip != client_ip) {
      tally.last_ip.assign(client_ip);
      tally.ip_masked = false;
    }
  }
}

UsageDelta ApiKeyUsage::ToDelta(const std::string& key_id, const Tally& tally) {
  UsageDelta delta;
  delta.key_id = key_id;
  delta.count = tally.count;
  delta.last_used_at = tally.last_used_at;
  delta.last_ip = tally.ip_masked ? tally.last_ip : core::MaskIp(tally.last_ip);
  return delta;
}

std::vector<UsageSample> ApiKeyUsage::Drain() {
  std::vector<UsageSample> out;
  for (Shard& shard : shards_) {
    TallyMap taken;
    {
      std::lock_guard lock(shard.mu);
      taken.swap(shard.tallies);
    }
    // Masking runs outside the lock, so requests are not held up by it.
    for (const auto& [key_id, tally] : taken) out.push_back({ToDelta(key_id, tally), tally.key});
  }
  return out;
}

void ApiKeyUsage::Restore(const std::vector<UsageSample>& samples) {
  for (const auto& [delta, key] : samples) {
    Shard& shard = ShardFor(delta.key_id);
    std::lock_guard lock(shard.mu);
    auto [it, fresh] = shard.tallies.try_emplace(delta.key_id);
    Tally& tally = it->second;
    if (!tally.key) tally.key = key;
    tally.count += delta.count;
    if (fresh || delta.last_used_at > tally.last_used_at) {
      tally.last_used_at = delta.last_used_at;
      tally.last_ip = delta.last_ip;
      tally.ip_masked = true;
    }
  }
}

std::optional<UsageDelta> ApiKeyUsage::Pending(std::string_view key_id) const {
  const Shard& shard = ShardFor(key_id);
  Tally copy;
  {
    std::lock_guard lock(shard.mu);
    const auto it = shard.tallies.find(key_id);
    if (it == shard.tallies.end()) return std::nullopt;
    copy = it->second;
  }
  return ToDelta(std::string(key_id), copy);
}

}  // namespace gatehouse::auth
