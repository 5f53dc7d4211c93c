#pragma once

// The gate's view of automatic IP blocks (request_gate.h step 3), read from the state the
// brute-force guard writes (brute_force.h).
//
// The hot path. With the memory state only this process can start a block, so the view
// remembers the end of the latest block it was told about (NoteBlock) and, past it, answers
// "not blocked" without touching the state at all: a deployment without active blocks pays
// one clock read per request. With Redis any instance may block an address, so every
// request asks Redis (asynchronously, pipelined with the rate-limit decision's traffic).
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <chrono>

#include "core/clock.h"
#include "protect/brute_force.h"
#include "protect/request_gate.h"
#include "state/state.h"

namespace gatehouse::protect {

class StateIpBlockView final : public IpBlockView {
 public:
  // `shared`: the state is shared with other instances (Redis). Every reference must
  // outlive the view.
  StateIpBlockView(BruteForceGuard& guard, state::StateStore& state, const Clock& clock,
                   bool shared);

  std::optional<Answer> BlockedHere(std::string_view ip) const override;
  void BlockedAsync(std::string_view ip, std::function<void(Answer)> done) const override;

  // A block of `duration` started now in this process.
  void NoteBlock(std::chrono::milliseconds duration);

 private:
  std::int64_t NowMs() const;

  BruteForceGuard& guard_;
  state::StateStore& state_;
  const Clock& clock_;
  const bool shared_;
  std::atomic<std::int64_t> horizon_ms_{0};
};

}  // namespace gatehouse::protect
