#include "protect/rate_limit_window.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace gatehouse::protect::window {

void Log::Reserve(std::uint32_t capacity) {
  capacity = std::max(capacity, kInline);
  if (capacity == capacity_) return;
  std::unique_ptr<std::uint32_t[]> fresh;
  std::uint32_t* target = inline_.data();
  if (capacity > kInline) {
    fresh = std::make_unique<std::uint32_t[]>(capacity);
    target = fresh.get();
  }
  if (target != data()) std::memmove(target, data(), size_ * sizeof(std::uint32_t));
  heap_ = std::move(fresh);
  capacity_ = static_cast<std::uint16_t>(capacity);
}

Outcome Log::Decide(std::int64_t now, std::uint32_t limit, std::uint32_t window_ms) {
  const std::int64_t window = window_ms;
  // A clock that seems to step back is held at the last time seen, so the order of the
  // log (and the offsets' sign) is kept.
  if (size_ > 0) now = std::max(now, base_ + data()[size_ - 1]);
  const std::int64_t cutoff = now - window;  // A request at or before this has left.

  // Drop what has left and rebase on the oldest that stays, so offsets stay below the
  // window (32 bits) however long the key lives.
  std::uint32_t* d = data();
  std::uint32_t gone = 0;
  while (gone < size_ && base_ + d[gone] <= cutoff) ++gone;
  if (gone > 0) {
    const std::uint32_t shift = gone < size_ ? d[gone] : 0;
    for (std::uint32_t i = gone; i < size_; ++i) d[i - gone] = d[i] - shift;
    size_ = static_cast<std::uint16_t>(size_ - gone);
    base_ = size_ > 0 ? base_ + shift : now;
    // A key that has calmed down gives its heap block back.
    if (capacity_ > kInline && size_ < capacity_ / 4)
      Reserve(std::max<std::uint32_t>(size_ * 2, kInline));
  }
  if (size_ == 0) base_ = now;
  d = data();

  Outcome out;
  if (size_ >= limit) {
    // The (size - limit + 1)-th oldest must leave before a slot frees; with a lowered limit
    // that is not the oldest.
    out.retry_after_ms = base_ + d[size_ - limit] + window - now;
    out.reset_ms = out.retry_after_ms;
    return out;
  }

  if (size_ == capacity_) {
    // Double, but never beyond what the limit can ever hold.
    Reserve(std::min<std::uint32_t>(
        {capacity_ * 2u, std::max<std::uint32_t>(limit, size_ + 1u), 65535u}));
    d = data();
  }
  d[size_++] = static_cast<std::uint32_t>(now - base_);
  window_ms_ = window_ms;

  out.allowed = true;
  out.remaining = limit - size_;
  out.reset_ms = base_ + d[0] + window - now;
  return out;
}

std::int64_t Log::ExpiresAt() const {
  if (size_ == 0) return std::numeric_limits<std::int64_t>::min();
  return base_ + data()[size_ - 1] + window_ms_;
}

}  // namespace gatehouse::protect::window
