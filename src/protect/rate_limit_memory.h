#pragma once

// The in-process rate limiter: the embedded default for one instance, and the local
// fallback of the Redis limiter.
//
// Layout. `shards` hash maps (a power of two), each behind its own mutex. A key is not
// stored as text: (class, subject) is reduced to a 128-bit keyed SipHash (a random key per
// limiter), which picks the shard and identifies the entry. Clients therefore cannot aim
// keys at one shard or one hash chain, and two keys collide with probability 2^-128 per
// pair. An entry is the fingerprint plus a window::Log (the exact sliding log: 48 bytes,
// with up to four timestamps inline and 4 bytes per further request allowed in the last
// window on the heap); docs/rate-limiting.md has measured figures.
//
// Time comes from the injected Clock's SteadyNow(), so a wall-clock step neither frees
// nor fills a window and tests move a ManualClock.
//
// Reclaiming. A window whose every request has left is dead. Dead entries are reused in
// place when their key returns, erased by every call that creates a key (a few buckets of
// its shard), and by Sweep(), which a periodic timer should call with a budget.
//
// Bound. At most `max_keys` entries (dead but unswept included). A call that would create
// a key beyond its shard's share first sweeps that shard; if nothing frees it fails with
// kResourceExhausted, and the caller refuses the request. It never evicts a live window:
// dropping one would hand its client a fresh quota.
//
// Thread safety: every method may be called from any thread; each call holds one shard
// mutex for a bounded, I/O-free stretch, so it may run inline on an I/O thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/clock.h"
#include "protect/rate_limit.h"

namespace gatehouse::protect {

struct MemoryRateLimiterOptions {
  std::size_t shards = 64;  // Rounded up to a power of two in [1, 4096].
  std::size_t max_keys = 2'000'000;
  // Hash buckets of the shard examined by each call that creates a key.
  std::size_t sweep_per_insert = 2;
};

class MemoryRateLimiter final : public RateLimiter {
 public:
  // A snapshot; each field is read atomically, the set is not.
  struct Counters {
    std::size_t keys = 0;  // Entries held, dead but unswept included.
    std::uint64_t allowed = 0;
    std::uint64_t refused = 0;
    std::uint64_t reclaimed = 0;      // Dead entries erased.
    std::uint64_t rejected_full = 0;  // Calls failed at the key cap.
  };

  // `clock` is not owned and must outlive the limiter.
  explicit MemoryRateLimiter(const Clock& clock, MemoryRateLimiterOptions options = {});
  ~MemoryRateLimiter() override;

  MemoryRateLimiter(const MemoryRateLimiter&) = delete;
  MemoryRateLimiter& operator=(const MemoryRateLimiter&) = delete;

  Result<Decision> Check(const RateLimitClass& cls, std::string_view subject) override;

  // Erases dead entries, examining at most `max_buckets` hash buckets round-robin over the
  // shards; returns how many it erased.
  std::size_t Sweep(std::size_t max_buckets);

  Counters counters() const;

 private:
  struct Shard;

  std::int64_t NowMs() const;

  const Clock& clock_;
  const MemoryRateLimiterOptions options_;
  // Unique per limiter in this process, so a thread's memo of fingerprints (each made with
  // one limiter's key) never answers for another limiter.
  const std::uint64_t id_;
  std::size_t per_shard_cap_ = 0;
  unsigned char hash_key_[16];
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::size_t> sweep_shard_{0};
  std::atomic<std::uint64_t> rejected_full_{0};
};

}  // namespace gatehouse::protect
