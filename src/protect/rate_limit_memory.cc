#include "protect/rate_limit_memory.h"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "core/recent_memo.h"
#include "core/secret.h"
#include "crypto/random.h"
#include "crypto/sodium_init.h"
#include "protect/rate_limit_window.h"

namespace gatehouse::protect {
namespace {

constexpr std::size_t kMaxShards = 4096;
// Buckets a full shard examines before refusing to create a key.
constexpr std::size_t kSweepWhenFull = 1024;

struct Fingerprint {
  std::uint64_t lo;
  std::uint64_t hi;
  bool operator==(const Fingerprint&) const = default;
};

// The fingerprint is already a keyed hash; its high half indexes the map (the low half
// picked the shard). noexcept keeps libstdc++ from caching the hash in every node.
struct FingerprintHash {
  std::size_t operator()(const Fingerprint& f) const noexcept { return f.hi; }
};

std::chrono::milliseconds Ms(std::int64_t ms) { return std::chrono::milliseconds(ms); }

std::atomic<std::uint64_t> next_limiter_id{1};

Error InvalidInput(const RateLimitClass& cls, std::string_view subject) {
  if (Status s = ValidateClass(cls); !s.ok()) return std::move(s).error();
  return ValidateSubject(subject).error();
}

// Where a memo input is looked for: its first and last 8 bytes and its size, mixed. Inputs
// here are a limiter id, a class name and a subject that differ mostly at their end (an
// address, an account id), and this costs a few instructions where a hash of every byte
// costs a hundred.
struct EndsIndex {
  std::uint64_t operator()(std::string_view input) const {
    std::uint64_t head = 0;
    std::uint64_t tail = 0;
    if (input.size() >= 8) {
      std::memcpy(&head, input.data(), 8);
      std::memcpy(&tail, input.data() + input.size() - 8, 8);
    } else {
      std::memcpy(&head, input.data(), input.size());
    }
    const std::uint64_t mixed =
        (head ^ (tail * 0x9e3779b97f4a7c15u) ^ input.size()) * 0xc2b2ae3d27d4eb4fu;
    return mixed >> 40;
  }
};

}  // namespace

struct MemoryRateLimiter::Shard {
  std::mutex mu;
  std::unordered_map<Fingerprint, window::Log, FingerprintHash> map;
  std::size_t cursor = 0;  // Next hash bucket Sweep examines.
  // Written only under `mu`, read by counters() without it: a plain load and store then
  // suffice, where a shared counter bumped by every decision would be a locked instruction
  // and a cache line passed between the I/O threads' cores.
  std::atomic<std::size_t> size{0};
  std::atomic<std::uint64_t> reclaimed{0};
  std::atomic<std::uint64_t> allowed{0};
  std::atomic<std::uint64_t> refused{0};

  // REQUIRES: `mu` held.
  static void Add(std::atomic<std::uint64_t>& counter, std::uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  // Erases dead entries in up to `max_buckets` buckets from the cursor on.
  // REQUIRES: `mu` held.
  std::size_t SweepLocked(std::int64_t now_ms, std::size_t max_buckets) {
    const std::size_t buckets = map.bucket_count();
    if (map.empty() || buckets == 0) return 0;
    std::size_t erased = 0;
    Fingerprint dead[16];
    for (std::size_t i = 0; i < std::min(max_buckets, buckets); ++i) {
      const std::size_t b = cursor++ % buckets;
      std::size_t n = 0;
      for (auto it = map.begin(b); it != map.end(b) && n < std::size(dead); ++it) {
        if (it->second.ExpiresAt() <= now_ms) dead[n++] = it->first;
      }
      for (std::size_t j = 0; j < n; ++j) erased += map.erase(dead[j]);
    }
    cursor %= buckets;
    size.store(map.size(), std::memory_order_relaxed);
    Add(reclaimed, erased);
    return erased;
  }
};

MemoryRateLimiter::MemoryRateLimiter(const Clock& clock, MemoryRateLimiterOptions options)
    : clock_(clock), options_(options), id_(next_limiter_id.fetch_add(1)) {
  const std::size_t shards = std::bit_ceil(std::clamp<std::size_t>(options.shards, 1, kMaxShards));
  shards_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
  per_shard_cap_ = std::max<std::size_t>(1, (options.max_keys + shards - 1) / shards);

  // A secret key per limiter: with a fixed hash, a client choosing subjects (addresses,
  // user names) could pile them into one shard and one hash chain, and worse, find two
  // subjects with the same fingerprint and so share (or exhaust) another's window.
  crypto::EnsureSodiumInitialized();
  crypto::FillRandom(std::span<std::uint8_t>(hash_key_, sizeof(hash_key_)));
}

MemoryRateLimiter::~MemoryRateLimiter() { SecureWipe(hash_key_, sizeof(hash_key_)); }

std::int64_t MemoryRateLimiter::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock_.SteadyNow().time_since_epoch())
      .count();
}

Result<Decision> MemoryRateLimiter::Check(const RateLimitClass& cls, std::string_view subject) {
  // The sizes and bounds first: the key text below is built on the stack. The name's
  // alphabet is checked only when its text is not found in the memo, which holds
  // nothing that failed the check.
  if (cls.name.empty() || cls.name.size() > kMaxClassNameSize || !IsValidClassBounds(cls) ||
      !IsValidSubject(subject)) {
    return InvalidInput(cls, subject);
  }

  // "name:subject" is unambiguous for valid names, which cannot hold ':'. The memo's input
  // is that text after this limiter's id (each limiter hashes with its own key) and the
  // name's length: so a hit means this very name, which passed the check when it was
  // remembered ("a:b" + "c" and "a" + "b:c" make the same text).
  const std::uint64_t prefix = id_ * (kMaxClassNameSize + 1) + cls.name.size();
  unsigned char text[sizeof(prefix) + kMaxClassNameSize + 1 + kMaxSubjectSize];
  std::memcpy(text, &prefix, sizeof(prefix));
  unsigned char* const key_text = text + sizeof(prefix);
  std::memcpy(key_text, cls.name.data(), cls.name.size());
  key_text[cls.name.size()] = ':';
  std::memcpy(key_text + cls.name.size() + 1, subject.data(), subject.size());
  const std::size_t key_size = cls.name.size() + 1 + subject.size();
  const std::string_view memo_input(reinterpret_cast<const char*>(text), sizeof(prefix) + key_size);

  // Most decisions are for a client seen a moment ago (a keep-alive connection, a busy
  // address), so each thread remembers recent fingerprints instead of hashing again.
  thread_local RecentMemo<Fingerprint, 64, 64, EndsIndex> memo;
  Fingerprint fp;
  if (const Fingerprint* known = memo.Find(memo_input)) {
    fp = *known;
  } else {
    if (!IsValidClassName(cls.name)) return InvalidInput(cls, subject);
    unsigned char digest[crypto_shorthash_siphashx24_BYTES];
    crypto_shorthash_siphashx24(digest, key_text, key_size, hash_key_);
    std::memcpy(&fp.lo, digest, 8);
    std::memcpy(&fp.hi, digest + 8, 8);
    memo.Remember(memo_input, fp);
  }

  Shard& shard = *shards_[fp.lo & (shards_.size() - 1)];
  const std::int64_t now = NowMs();
  window::Outcome outcome;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.map.find(fp);
    if (it == shard.map.end()) {
      shard.SweepLocked(now, options_.sweep_per_insert);
      if (shard.map.size() >= per_shard_cap_) shard.SweepLocked(now, kSweepWhenFull);
      if (shard.map.size() >= per_shard_cap_) {
        rejected_full_.fetch_add(1, std::memory_order_relaxed);
        return Error(ErrorCode::kResourceExhausted, "rate limiter is full",
                     "memory rate limiter key cap reached");
      }
      it = shard.map.try_emplace(fp).first;
      shard.size.store(shard.map.size(), std::memory_order_relaxed);
    }
    // A dead window is simply decided afresh: Decide drops what has left the window.
    outcome = it->second.Decide(now, cls.limit, static_cast<std::uint32_t>(cls.window.count()));
    Shard::Add(outcome.allowed ? shard.allowed : shard.refused, 1);
    // A refusal of a brand-new entry cannot happen (an empty window has room), so no
    // empty entry is ever left behind by a refusal.
  }

  Decision d;
  d.allowed = outcome.allowed;
  d.limit = cls.limit;
  d.remaining = outcome.remaining;
  d.reset = Ms(outcome.reset_ms);
  d.retry_after = Ms(outcome.retry_after_ms);
  return d;
}

std::size_t MemoryRateLimiter::Sweep(std::size_t max_buckets) {
  const std::int64_t now = NowMs();
  std::size_t erased = 0;
  // Spread the budget over a few shards per call, round-robin, so one call holds each
  // shard lock only briefly.
  const std::size_t per_shard = std::max<std::size_t>(64, max_buckets / 8);
  std::size_t budget = max_buckets;
  for (std::size_t i = 0; i < shards_.size() && budget > 0; ++i) {
    Shard& shard =
        *shards_[sweep_shard_.fetch_add(1, std::memory_order_relaxed) & (shards_.size() - 1)];
    const std::size_t take = std::min(per_shard, budget);
    std::lock_guard lock(shard.mu);
    erased += shard.SweepLocked(now, take);
    budget -= take;
  }
  return erased;
}

MemoryRateLimiter::Counters MemoryRateLimiter::counters() const {
  Counters c;
  for (const auto& shard : shards_) {
    c.keys += shard->size.load(std::memory_order_relaxed);
    c.reclaimed += shard->reclaimed.load(std::memory_order_relaxed);
    c.allowed += shard->allowed.load(std::memory_order_relaxed);
    c.refused += shard->refused.load(std::memory_order_relaxed);
  }
  c.rejected_full = rejected_full_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace gatehouse::protect
