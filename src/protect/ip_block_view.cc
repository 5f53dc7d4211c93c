#include "protect/ip_block_view.h"

#include <charconv>

namespace gatehouse::protect {

StateIpBlockView::StateIpBlockView(BruteForceGuard& guard, state::StateStore& state,
                                   const Clock& clock, bool shared)
    : guard_(guard), state_(state), clock_(clock), shared_(shared) {}

std::int64_t StateIpBlockView::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock_.SteadyNow().time_since_epoch())
      .count();
}

void StateIpBlockView::NoteBlock(std::chrono::milliseconds duration) {
  const std::int64_t until = NowMs() + duration.count();
  std::int64_t seen = horizon_ms_.load(std::memory_order_relaxed);
  while (seen < until &&
         !horizon_ms_.compare_exchange_weak(seen, until, std::memory_order_relaxed)) {
  }
}

std::optional<IpBlockView::Answer> StateIpBlockView::BlockedHere(std::string_view ip) const {
  if (shared_) return std::nullopt;
  if (NowMs() >= horizon_ms_.load(std::memory_order_relaxed)) {
    return Answer(std::optional<std::chrono::milliseconds>());
  }
  return Answer(guard_.IsIpBlocked(ip));
}

void StateIpBlockView::BlockedAsync(std::string_view ip,
                                    std::function<void(Answer)> done) const {
  // The value is "<block number>:<end, Unix ms>" (brute_force.cc), so one GET answers both
  // whether and how long.
  state_.GetAsync(brute_force_keys::IpBlock(ip), [this, done = std::move(done)](
                                                     Result<std::optional<std::string>> got) {
    if (!got.ok()) return done(Answer(std::move(got).error()));
    if (!got->has_value()) return done(Answer(std::optional<std::chrono::milliseconds>()));
    const std::string& value = **got;
    const std::size_t colon = value.find(':');
    std::int64_t until_ms = 0;
    if (colon != std::string::npos) {
      std::from_chars(value.data() + colon + 1, value.data() + value.size(), until_ms);
    }
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    clock_.Now().time_since_epoch())
                                    .count();
    // An entry without a readable end is still a block: a second is the least to wait.
    const std::int64_t left = until_ms > now_ms ? until_ms - now_ms : 1000;
    done(Answer(std::optional<std::chrono::milliseconds>(left)));
  });
}

}  // namespace gatehouse::protect
