#pragma once

// The in-process state store: the embedded default for a single instance.
//
// Layout. `shards` independent hash tables (a power of two, default 64), each behind
// its own mutex; a key's shard comes from a keyed SipHash-2-4 of the key (a random key
// per store), so a client cannot aim many keys at one shard or one probe run. Every
// call locks exactly one shard for a bounded, I/O-free stretch, which is why it may
// run inline on an I/O thread. The one long stretch is a shard doubling its slot
// array (about 1 ms for a shard of 16k entries, once per doubling).
//
// Expiry. Time comes from the injected Clock's SteadyNow(): a wall-clock step does not
// expire or revive anything, and tests move a ManualClock instead of sleeping.
// Expired entries are invisible at once and reclaimed (a) on access, (b) by every
// write, which also sweeps `sweep_slots_per_write` slots of its shard, and (c) by
// Sweep(), which a background timer may call with a budget.
//
// Bound. At most `max_entries` entries exist at once (expired but unreclaimed ones
// count). An operation that would create a key beyond the cap first sweeps part of its
// shard, and then fails with kResourceExhausted. It never evicts: dropping an entry
// could silently revive a revoked token, reset a lockout counter or re-enable a
// consumed one-time value, whereas a refused write is visible to its caller, who can
// fail the request closed. Operations on existing keys (overwrite, Increment, Delete,
// Take, Expire) keep working at the cap, so a full store still records revocations
// of tokens already on the deny list and still counts failures.
//
// Thread safety: every method may be called from any thread, concurrently.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "state/memory/entry_table.h"
#include "state/state.h"

namespace gatehouse::state {

struct MemoryStateOptions {
  std::size_t shards = 64;  // Rounded up to a power of two in [1, 4096].
  std::size_t max_entries = 1'000'000;
  std::size_t sweep_slots_per_write = 4;
};

class MemoryStateStore final : public StateStore {
 public:
  // A snapshot; each field is read atomically, the set is not.
  struct Counters {
    std::size_t entries = 0;          // Held now, including expired not yet reclaimed.
    std::uint64_t reclaimed = 0;      // Expired entries freed (on access or by sweeps).
    std::uint64_t rejected_full = 0;  // Creations refused at the cap.
  };

  // `clock` is not owned and must outlive the store.
  MemoryStateStore(const Clock& clock, MemoryStateOptions options = {});
  ~MemoryStateStore() override;

  MemoryStateStore(const MemoryStateStore&) = delete;
  MemoryStateStore& operator=(const MemoryStateStore&) = delete;

  Result<std::optional<std::string>> Get(std::string_view key) override;
  Result<bool> GetInto(std::string_view key, std::string& value) override;
  Status Set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override;
  Result<bool> SetIfAbsent(std::string_view key, std::string_view value,
                           std::chrono::milliseconds ttl) override;
  Result<bool> Delete(std::string_view key) override;
  Result<std::optional<std::string>> Take(std::string_view key) override;
  Result<std::int64_t> Increment(std::string_view key, std::int64_t delta,
                                 std::chrono::milliseconds ttl_if_new) override;
  Result<bool> Expire(std::string_view key, std::chrono::milliseconds ttl) override;
  Result<bool> Exists(std::string_view key) override;
  Result<std::optional<std::chrono::milliseconds>> Ttl(std::string_view key) override;
  // Complete on the calling thread before returning.
  void GetAsync(std::string_view key, GetCallback done) override;
  void ExistsAsync(std::string_view key, ExistsCallback done) override;
  std::string_view driver_name() const override { return "memory"; }

  // Examines up to `max_slots` slots, continuing round-robin over the shards from
  // where the last call stopped, and frees the expired entries found; returns how
  // many. Locks one shard at a time. Meant for a periodic timer on the worker pool.
  std::size_t Sweep(std::size_t max_slots) override;

  Counters counters() const;
  std::size_t shard_count() const { return shards_.size(); }

 private:
  struct alignas(64) Shard {
    std::mutex mutex;
    memory::EntryTable table;
    std::size_t sweep_cursor = 0;
  };
  std::uint64_t Hash(std::string_view key) const;
  Shard& ShardFor(std::uint64_t hash);
  std::int64_t NowNs() const;
  // The live entry's slot, reclaiming it first if it has expired. REQUIRES: shard locked.
  std::optional<std::size_t> FindLive(Shard& shard, std::uint64_t hash, std::string_view key,
                                      std::int64_t now_ns);
  // Reserves room for one more entry under the cap. REQUIRES: shard locked.
  Status ReserveEntry(Shard& shard, std::int64_t now_ns);
  void EraseEntry(Shard& shard, std::size_t slot);
  void SweepAfterWrite(Shard& shard, std::int64_t now_ns);

  const Clock& clock_;
  const MemoryStateOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  unsigned shard_shift_;  // hash >> shard_shift_ picks the shard.
  unsigned char hash_key_[16];
  std::atomic<std::size_t> entries_{0};
  std::atomic<std::uint64_t> reclaimed_{0};
  std::atomic<std::uint64_t> rejected_full_{0};
  std::atomic<std::size_t> sweep_shard_{0};
};

}  // namespace gatehouse::state
