#pragma once

// Usage of API keys gathered in memory between flushes: for each key used since the last
// flush, how many requests it made, when the last one came and from where. A request costs
// one short critical section on one of kShards mutexes; the store sees one batched write
// per flush interval (auth/api_key_service.h: FlushUsage), never one per request.
//
// The client address is kept as given until the flush, which masks it (core::MaskIp: the
// /24 or /48 network): the store and every view only ever see the network.
//
// Bounded by the number of keys in use: only keys that authenticated are recorded.
//
// Thread safety: every method may be called from any thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <memory>

#include "auth/api_key_cache.h"
#include "auth/api_key_repository.h"

namespace gatehouse::auth {

// One key's gathered usage, with the key it belongs to (for events).
struct UsageSample {
  UsageDelta delta;
  std::shared_ptr<const CachedApiKey> key;
};

class ApiKeyUsage {
 public:
  static constexpr std::size_t kShards = 16;

  // One authenticated request of `key` at `now` (Unix seconds) from `client_ip`.
  void Record(const std::shared_ptr<const CachedApiKey>& key, std::int64_t now,
              std::string_view client_ip);

  // Takes everything gathered so far (addresses masked) and starts afresh.
  std::vector<UsageSample> Drain();

  // Puts back samples a failed flush could not write, merged with what arrived meanwhile,
  // so no request goes uncounted. Takes masked addresses, as Drain returns them.
  void Restore(const std::vector<UsageSample>& samples);

  // What is gathered for `key_id` and not flushed yet (masked), for listings that should
  // include this instance's latest requests.
  std::optional<UsageDelta> Pending(std::string_view key_id) const;

 private:
  struct Tally {
    std::int64_t count = 0;
    std::int64_t last_used_at = 0;
    std::string last_ip;
    bool ip_masked = false;
    std::shared_ptr<const CachedApiKey> key;
  };
  // Lookups by string_view, so a request does not allocate a copy of the id.
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  using TallyMap = std::unordered_map<std::string, Tally, IdHash, std::equal_to<>>;
  struct Shard {
    mutable std::mutex mu;
    TallyMap tallies;
  };

  Shard& ShardFor(std::string_view key_id);
  const Shard& ShardFor(std::string_view key_id) const;
  static UsageDelta ToDelta(const std::string& key_id, const Tally& tally);

  std::array<Shard, kShards> shards_;
};

}  // namespace gatehouse::auth
