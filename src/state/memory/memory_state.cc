#include "state/memory/memory_state.h"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <utility>

#include "crypto/random.h"
#include "crypto/sodium_init.h"

namespace gatehouse::state {
namespace {

constexpr std::size_t kMaxShards = 4096;
// Slots a creation may sweep in its own shard when the cap is reached, before it
// gives up: enough to find garbage in a shard full of it, small enough to keep the
// shard lock short.
constexpr std::size_t kCapSweepSlots = 1024;

std::int64_t ToNs(std::chrono::milliseconds ttl) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
}

Error FullError() {
  return Error(ErrorCode::kResourceExhausted, "state store is full",
               "memory state store reached its entry cap");
}

// Counters are decimal int64 text, as on Redis (INCRBY), so a counter reads back the
// same through Get whichever store holds it.
std::optional<std::int64_t> ParseCounter(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::string FormatCounter(std::int64_t value) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, ptr);
}

}  // namespace

MemoryStateStore::MemoryStateStore(const Clock& clock, MemoryStateOptions options)
    : clock_(clock), options_(options) {
  const std::size_t shards = std::bit_ceil(std::clamp<std::size_t>(options.shards, 1, kMaxShards));
  shards_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
  shard_shift_ = 32;

  // A secret hash key per store: with a fixed hash function a client could choose keys
  // (user names, IPs, token ids) that all land in one shard and one probe run, turning
  // every lookup into a scan under the shard lock.
  crypto::EnsureSodiumInitialized();
  crypto::FillRandom(hash_key_);
}

MemoryStateStore::~MemoryStateStore() { SecureWipe(hash_key_, sizeof(hash_key_)); }

std::uint64_t MemoryStateStore::Hash(std::string_view key) const {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(key.data()), key.size(), hash_key_);
  std::uint64_t hash = 0;
  std::memcpy(&hash, out, sizeof(hash));
  return hash;
}

MemoryStateStore::Shard& MemoryStateStore::ShardFor(std::uint64_t hash) {
  // Bits 32.. pick the shard; the table uses the low bits for slots and 48..54 for
  // tags, so the three stay independent (hence at most 4096 shards).
  return *shards_[(hash >> shard_shift_) & (shards_.size() - 1)];
}

std::int64_t MemoryStateStore::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.SteadyNow().time_since_epoch())
      .count();
}

std::optional<std::size_t> MemoryStateStore::FindLive(Shard& shard, std::uint64_t hash,
                                                      std::string_view key, std::int64_t now_ns) {
  auto slot = shard.table.Find(hash, key);
  if (!slot) return std::nullopt;
  if (shard.table.at(*slot).expires_ns <= now_ns) {
    EraseEntry(shard, *slot);
    reclaimed_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return slot;
}

Status MemoryStateStore::ReserveEntry(Shard& shard, std::int64_t now_ns) {
  if (entries_.fetch_add(1, std::memory_order_relaxed) < options_.max_entries) return Ok();
  entries_.fetch_sub(1, std::memory_order_relaxed);

  // Full: garbage in this shard may be what fills the store. Reclaim some and retry
  // once; beyond that the caller hears "full" rather than waiting on a long sweep.
  const std::size_t reclaimed =
      shard.table.SweepExpired(now_ns, kCapSweepSlots, &shard.sweep_cursor);
  if (reclaimed > 0) {
    entries_.fetch_sub(reclaimed, std::memory_order_relaxed);
    reclaimed_.fetch_add(reclaimed, std::memory_order_relaxed);
    if (entries_.fetch_add(1, std::memory_order_relaxed) < options_.max_entries) return Ok();
    entries_.fetch_sub(1, std::memory_order_relaxed);
  }
  rejected_full_.fetch_add(1, std::memory_order_relaxed);
  return FullError();
}

void MemoryStateStore::EraseEntry(Shard& shard, std::size_t slot) {
  shard.table.Erase(slot);
  entries_.fetch_sub(1, std::memory_order_relaxed);
}

void MemoryStateStore::SweepAfterWrite(Shard& shard, std::int64_t now_ns) {
  if (options_.sweep_slots_per_write == 0) return;
  const std::size_t reclaimed =
      shard.table.SweepExpired(now_ns, options_.sweep_slots_per_write, &shard.sweep_cursor);
  if (reclaimed == 0) return;
  entries_.fetch_sub(reclaimed, std::memory_order_relaxed);
  reclaimed_.fetch_add(reclaimed, std::memory_order_relaxed);
}

Result<std::optional<std::string>> MemoryStateStore::Get(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  auto slot = FindLive(shard, hash, key, NowNs());
  if (!slot) return std::optional<std::string>();
  return std::optional<std::string>(shard.table.at(*slot).value());
}

Result<bool> MemoryStateStore::GetInto(std::string_view key, std::string& value) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  auto slot = FindLive(shard, hash, key, NowNs());
  if (!slot) return false;
  value.assign(shard.table.at(*slot).value());
  return true;
}

Status MemoryStateStore::Set(std::string_view key, std::string_view value,
                             std::chrono::milliseconds ttl) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  GH_RETURN_IF_ERROR(ValidateValue(value));
  GH_RETURN_IF_ERROR(ValidateTtl(ttl));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  const std::int64_t now = NowNs();
  const std::int64_t expires = now + ToNs(ttl);

  if (auto slot = FindLive(shard, hash, key, now)) {
    memory::Entry& entry = shard.table.at(*slot);
    if (entry.value_size == value.size()) {
      if (!value.empty()) std::memcpy(entry.mutable_value(), value.data(), value.size());
      entry.expires_ns = expires;
    } else {
      shard.table.Replace(*slot, memory::MakeEntry(hash, key, value, expires));
    }
  } else {
    GH_RETURN_IF_ERROR(ReserveEntry(shard, now));
    shard.table.Insert(memory::MakeEntry(hash, key, value, expires));
  }

  SweepAfterWrite(shard, now);
  return Ok();
}

Result<bool> MemoryStateStore::SetIfAbsent(std::string_view key, std::string_view value,
                                           std::chrono::milliseconds ttl) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  GH_RETURN_IF_ERROR(ValidateValue(value));
  GH_RETURN_IF_ERROR(ValidateTtl(ttl));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  const std::int64_t now = NowNs();
  if (FindLive(shard, hash, key, now)) return false;

  GH_RETURN_IF_ERROR(ReserveEntry(shard, now));
  shard.table.Insert(memory::MakeEntry(hash, key, value, now + ToNs(ttl)));
  SweepAfterWrite(shard, now);
  return true;
}

Result<bool> MemoryStateStore::Delete(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  const std::int64_t now = NowNs();
  auto slot = FindLive(shard, hash, key, now);
  if (slot) EraseEntry(shard, *slot);
  SweepAfterWrite(shard, now);
  return slot.has_value();
}

Result<std::optional<std::string>> MemoryStateStore::Take(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  const std::int64_t now = NowNs();
  auto slot = FindLive(shard, hash, key, now);
  if (!slot) return std::optional<std::string>();

  // Copy and erase under one lock hold: that is what makes a ticket single-use.
  std::optional<std::string> value(shard.table.at(*slot).value());
  EraseEntry(shard, *slot);
  SweepAfterWrite(shard, now);
  return value;
}

Result<std::int64_t> MemoryStateStore::Increment(std::string_view key, std::int64_t delta,
                                                 std::chrono::milliseconds ttl_if_new) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  GH_RETURN_IF_ERROR(ValidateTtl(ttl_if_new));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  const std::int64_t now = NowNs();

  if (auto slot = FindLive(shard, hash, key, now)) {
    memory::Entry& entry = shard.table.at(*slot);
    auto current = ParseCounter(entry.value());
    if (!current) {
      return Error(ErrorCode::kFailedPrecondition, "state value is not a counter",
                   "Increment on a value that is not a decimal int64");
    }
    std::int64_t next = 0;
    if (__builtin_add_overflow(*current, delta, &next)) {
      return Error(ErrorCode::kFailedPrecondition, "counter would overflow",
                   "Increment would overflow int64");
    }
    // The existing expiry is kept: a counting window must not extend itself.
    const std::string text = FormatCounter(next);
    shard.table.Replace(*slot, memory::MakeEntry(hash, key, text, entry.expires_ns));
    SweepAfterWrite(shard, now);
    return next;
  }

  GH_RETURN_IF_ERROR(ReserveEntry(shard, now));
  shard.table.Insert(memory::MakeEntry(hash, key, FormatCounter(delta), now + ToNs(ttl_if_new)));
  SweepAfterWrite(shard, now);
  return delta;
}

Result<bool> MemoryStateStore::Expire(std::string_view key, std::chrono::milliseconds ttl) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  GH_RETURN_IF_ERROR(ValidateTtl(ttl));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  const std::int64_t now = NowNs();
  auto slot = FindLive(shard, hash, key, now);
  if (slot) shard.table.at(*slot).expires_ns = now + ToNs(ttl);
  SweepAfterWrite(shard, now);
  return slot.has_value();
}

Result<bool> MemoryStateStore::Exists(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  return FindLive(shard, hash, key, NowNs()).has_value();
}

Result<std::optional<std::chrono::milliseconds>> MemoryStateStore::Ttl(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  const std::uint64_t hash = Hash(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard lock(shard.mutex);
  const std::int64_t now = NowNs();
  auto slot = FindLive(shard, hash, key, now);
  if (!slot) return std::optional<std::chrono::milliseconds>();
  // Rounded up, as Redis PTTL does not report 0 for a key that is still there.
  const std::int64_t left_ns = shard.table.at(*slot).expires_ns - now;
  return std::optional<std::chrono::milliseconds>(
      std::chrono::ceil<std::chrono::milliseconds>(std::chrono::nanoseconds(left_ns)));
}

void MemoryStateStore::GetAsync(std::string_view key, GetCallback done) { done(Get(key)); }

void MemoryStateStore::ExistsAsync(std::string_view key, ExistsCallback done) { done(Exists(key)); }

std::size_t MemoryStateStore::Sweep(std::size_t max_slots) {
  std::size_t reclaimed = 0;
  std::size_t budget = max_slots;
  // One pass over the shards at most: a budget larger than the store is not spent
  // going round again.
  for (std::size_t visited = 0; budget > 0 && visited < shards_.size(); ++visited) {
    Shard& shard = *shards_[sweep_shard_.fetch_add(1, std::memory_order_relaxed) % shards_.size()];
    std::lock_guard lock(shard.mutex);
    const std::size_t slots = std::min(budget, shard.table.capacity());
    const std::size_t erased = shard.table.SweepExpired(NowNs(), slots, &shard.sweep_cursor);
    budget -= slots;
    if (erased > 0) {
      entries_.fetch_sub(erased, std::memory_order_relaxed);
      reclaimed_.fetch_add(erased, std::memory_order_relaxed);
    }
    shard.table.MaybeShrink();
    reclaimed += erased;
  }
  return reclaimed;
}

MemoryStateStore::Counters MemoryStateStore::counters() const {
  Counters counters;
  counters.entries = entries_.load(std::memory_order_relaxed);
  counters.reclaimed = reclaimed_.load(std::memory_order_relaxed);
  counters.rejected_full = rejected_full_.load(std::memory_order_relaxed);
  return counters;
}

}  // namespace gatehouse::state
