#include "protect/rate_limit_window.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace gatehouse::protect::window {

namespace {

// Offsets are rebased once they pass this, far below where 32 bits would overflow: a log
// holds at most a 24-hour window (kMaxWindow), 8.64e7 ms.
constexpr std::int64_t kRebaseAfterMs = std::int64_t{1} << 31;

}  // namespace

void Log::Reserve(std::uint32_t capacity) {
  capacity = std::max(capacity, kInline);
  if (capacity == capacity_) return;
  // Unrolled from the ring into a fresh buffer, oldest first. The inline array can be both
  // source and target (growing out of it or shrinking into it), so go through a copy.
  std::array<std::uint32_t, kInline> small{};
  std::unique_ptr<std::uint32_t[]> fresh;
  std::uint32_t* target = small.data();
  if (capacity > kInline) {
    fresh = std::make_unique<std::uint32_t[]>(capacity);
    target = fresh.get();
  }
  const std::uint32_t* source = data();
  for (std::uint32_t i = 0; i < size_; ++i) target[i] = source[Slot(i)];
  if (capacity > kInline) {
    heap_ = std::move(fresh);
  } else {
    inline_ = small;
    heap_.reset();
  }
  capacity_ = static_cast<std::uint16_t>(capacity);
  head_ = 0;
}

void Log::Rebase() {
  if (size_ == 0) return;
  std::uint32_t* d = data();
  const std::uint32_t shift = d[head_];
  for (std::uint32_t i = 0; i < size_; ++i) d[Slot(i)] -= shift;
  base_ += shift;
}

Outcome Log::Decide(std::int64_t now, std::uint32_t limit, std::uint32_t window_ms) {
  const std::int64_t window = window_ms;
  // A clock that seems to step back is held at the last time seen, so the order of the
  // log (and the offsets' sign) is kept.
  if (size_ > 0) now = std::max(now, At(size_ - 1u));

  // Drop what has left (a request at or before now - window) by moving the ring's start
  // past it. Offsets are compared as they are stored, against the cutoff less base_.
  const std::int64_t cutoff = now - window - base_;
  if (size_ > 0 && cutoff >= 0) {
    const std::uint32_t* const d = data();
    std::uint32_t gone = 0;
    std::uint32_t slot = head_;
    while (gone < size_ && d[slot] <= cutoff) {
      ++gone;
      if (++slot == capacity_) slot = 0;
    }
    if (gone > 0) {
      head_ = static_cast<std::uint16_t>(slot);
      size_ = static_cast<std::uint16_t>(size_ - gone);
      // A key that has calmed down gives its heap block back.
      if (capacity_ > kInline && size_ < capacity_ / 4)
        Reserve(std::max<std::uint32_t>(size_ * 2, kInline));
    }
  }
  if (size_ == 0) {
    base_ = now;
    head_ = 0;
  } else if (now - base_ >= kRebaseAfterMs) {
    // Once per 2^31 ms (about 25 days) of a key that never goes idle.
    Rebase();
  }

  Outcome out;
  if (size_ >= limit) {
    // The (size - limit + 1)-th oldest must leave before a slot frees; with a lowered limit
    // that is not the oldest.
    out.retry_after_ms = At(size_ - limit) + window - now;
    out.reset_ms = out.retry_after_ms;
    return out;
  }

  if (size_ == capacity_) {
    // Double, but never beyond what the limit can ever hold.
    Reserve(std::min<std::uint32_t>(
        {capacity_ * 2u, std::max<std::uint32_t>(limit, size_ + 1u), 65535u}));
  }
  std::uint32_t* const d = data();
  d[Slot(size_)] = static_cast<std::uint32_t>(now - base_);
  ++size_;
  window_ms_ = window_ms;

  out.allowed = true;
  out.remaining = limit - size_;
  out.reset_ms = base_ + d[head_] + window - now;
  return out;
}

std::int64_t Log::ExpiresAt() const {
  if (size_ == 0) return std::numeric_limits<std::int64_t>::min();
  return At(size_ - 1u) + window_ms_;
}

}  // namespace gatehouse::protect::window
