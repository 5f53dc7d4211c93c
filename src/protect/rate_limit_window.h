#pragma once

// The sliding log shared by the memory limiter and (as a Redis sorted set) the Redis
// script; docs/rate-limiting.md explains the choice.
//
// Time is integer milliseconds; the window at `now` is (now - W, now]. A Log holds the
// timestamps of the ALLOWED requests still inside the window, oldest first; a request is
// allowed when fewer than `limit` are held. This is the exact sliding log: no false
// refusals and no false allows. Approximations with fixed memory (counters per
// sub-window) were measured and rejected: under sustained overload a client's requests
// arrive faster than any slot frees, so every early-freed slot is taken at once and shows
// up as a wrong decision (about 4% of all decisions on the accuracy trace).
//
// Memory follows use: a key holds one 32-bit offset per request allowed in the last window
// (at most `limit`), four of them inline, more on the heap; the heap block shrinks again
// when the key calms down.
//
// The offsets sit in a ring: requests leaving the window advance its start instead of
// moving the ones that stay. A busy key holds thousands of entries (a client at 90,000
// requests/s under a 100 ms window holds 9,000), and moving them all on every request
// cost more than the rest of the decision.
//
// The limit and window are given per call, not stored as policy: when the configuration
// changes, the new values apply at once to the requests already logged.
//
// Thread safety: none; callers serialise access to one Log.

#include <array>
#include <cstdint>
#include <memory>

namespace gatehouse::protect::window {

struct Outcome {
  bool allowed = false;
  std::uint32_t remaining = 0;
  std::int64_t reset_ms = 0;
  std::int64_t retry_after_ms = 0;  // 0 when allowed.
};

class Log {
 public:
  Log() = default;
  Log(Log&&) noexcept = default;
  Log& operator=(Log&&) noexcept = default;

  // Decides one request at `now_ms` and, when it is allowed, records it.
  // REQUIRES: 1 <= limit <= 65535, 1 <= window_ms <= 2^31; `now_ms` never decreases
  // between calls on one Log (a smaller value is treated as the last one seen).
  Outcome Decide(std::int64_t now_ms, std::uint32_t limit, std::uint32_t window_ms);

  // The first instant at which nothing logged counts any more (INT64_MIN when empty).
  std::int64_t ExpiresAt() const;

  std::uint32_t size() const { return size_; }
  // Heap bytes held beyond the object itself.
  std::size_t heap_bytes() const { return capacity_ > kInline ? capacity_ * 4u : 0; }

 private:
  static constexpr std::uint32_t kInline = 4;

  std::uint32_t* data() { return capacity_ > kInline ? heap_.get() : inline_.data(); }
  const std::uint32_t* data() const { return capacity_ > kInline ? heap_.get() : inline_.data(); }
  // The ring slot of the i-th oldest entry. REQUIRES: i < capacity_.
  std::uint32_t Slot(std::uint32_t i) const {
    const std::uint32_t slot = head_ + i;
    return slot >= capacity_ ? slot - capacity_ : slot;
  }
  // The time of the i-th oldest entry. REQUIRES: i < size_.
  std::int64_t At(std::uint32_t i) const { return base_ + data()[Slot(i)]; }
  // Moves the entries, oldest first, to the start of a buffer of `capacity` slots.
  void Reserve(std::uint32_t capacity);
  // Makes the oldest entry's offset 0, so offsets stay far from 32-bit overflow.
  void Rebase();

  // Timestamps are `base_ + offset`; base_ is at or before the oldest held (or the last
  // time seen), and offsets stay below 2^31: the log is rebased before they would not.
  std::int64_t base_ = 0;
  std::uint32_t window_ms_ = 0;  // Of the last allowed request, for ExpiresAt.
  std::uint16_t size_ = 0;
  std::uint16_t capacity_ = kInline;
  std::uint16_t head_ = 0;  // Ring slot of the oldest entry.
  std::array<std::uint32_t, kInline> inline_{};
  std::unique_ptr<std::uint32_t[]> heap_;
};

}  // namespace gatehouse::protect::window
