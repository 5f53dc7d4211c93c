#pragma once

// The Redis rate limiter: one window per (class, subject) shared by every instance.
//
// Each decision is ONE Lua script run (EVALSHA through the state store's ScriptRunner, so
// one round trip, pipelined with every other command in flight): the exact sliding log of
// rate_limit_window.h kept as a sorted set of the allowed requests' times. It drops what
// has left the window, counts, and only when the request is allowed adds it and sets the
// key's TTL to one window, so idle keys vanish on their own. Keys are
// `<store prefix>rl:<class>:<subject>`.
//
// Time. By default the script reads the server's clock (TIME): all instances then agree
// on one timeline whatever their own clocks say. Redis 7 replicates a script's effects,
// not the script, so a clock read inside a writing script is allowed (Redis 5 and 6 do
// so by default too). RedisTimeSource::kClient passes this instance's wall clock instead;
// tests use it to move time exactly; across instances it is only as exact as their clocks
// agree (a request logged by a clock running ahead is counted that much too long).
//
// Unavailable Redis (the runner reports kUnavailable: down, reconnecting, overloaded or
// past the call timeout): the class's FailurePolicy decides and the Decision says
// `degraded`. kFallbackLocal counts in a MemoryRateLimiter of this instance; kFailOpen
// allows; kFailClosed refuses with Retry-After 1 s. The switch to and from Redis is
// logged once each way (events `rate_limit_redis_down`, `rate_limit_redis_up`) and
// reported to `on_availability_change`, never per request. Local windows are not merged
// back into Redis on recovery; they expire on their own.
// Other errors (a script error, a key of the wrong type) are returned to the caller, who
// refuses the request.
//
// Thread safety: every method may be called from any thread. Check blocks up to the
// store's call timeout (use it on the worker pool); CheckAsync never blocks.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/clock.h"
#include "protect/rate_limit.h"
#include "protect/rate_limit_memory.h"
#include "state/script.h"
#include "state/state.h"

namespace gatehouse::protect {

enum class RedisTimeSource : std::uint8_t { kServer, kClient };

struct RedisRateLimiterOptions {
  RedisTimeSource time_source = RedisTimeSource::kServer;
  // For FailurePolicy::kFallbackLocal.
  MemoryRateLimiterOptions fallback;
  // Called once per switch (false: Redis became unavailable; true: it answers again), on
  // the thread whose call noticed it. Must be quick and must not call the limiter.
  std::function<void(bool available)> on_availability_change;
};

// The Lua script, for benchmarks that run it through redis-benchmark.
const state::RedisScript& RateLimitScript();

class RedisRateLimiter final : public RateLimiter {
 public:
  // A snapshot; each field is read atomically, the set is not.
  struct Counters {
    std::uint64_t allowed = 0;         // Decided by Redis.
    std::uint64_t refused = 0;         // Decided by Redis.
    std::uint64_t on_unavailable = 0;  // Decided by a FailurePolicy (sum of the next three).
    std::uint64_t fallback_local = 0;
    std::uint64_t fail_open = 0;
    std::uint64_t fail_closed = 0;
    std::uint64_t errors = 0;     // Other errors returned to the caller.
    std::uint64_t went_down = 0;  // Switches to unavailable.
    std::uint64_t came_up = 0;    // Switches back.
  };

  // `runner` (the Redis state store) and `clock` are not owned and must outlive this.
  RedisRateLimiter(state::ScriptRunner& runner, const Clock& clock,
                   RedisRateLimiterOptions options = {});

  Result<Decision> Check(const RateLimitClass& cls, std::string_view subject) override;
  void CheckAsync(const RateLimitClass& cls, std::string_view subject, CheckCallback done) override;

  // Whether the last call reached Redis (true until a call finds it unavailable).
  bool redis_available() const { return available_.load(std::memory_order_relaxed); }
  Counters counters() const;
  // The local windows used under kFallbackLocal.
  MemoryRateLimiter& fallback() { return fallback_; }

 private:
  Result<Decision> Finish(const RateLimitClass& cls, std::string_view subject,
                          Result<state::ScriptReply> reply);
  Result<Decision> ApplyPolicy(const RateLimitClass& cls, std::string_view subject);
  void NoteAvailable();
  void NoteUnavailable(const Error& cause);

  state::ScriptRunner& runner_;
  const Clock& clock_;
  const RedisRateLimiterOptions options_;
  MemoryRateLimiter fallback_;
  std::atomic<bool> available_{true};
  std::atomic<std::uint64_t> allowed_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> fallback_local_{0};
  std::atomic<std::uint64_t> fail_open_{0};
  std::atomic<std::uint64_t> fail_closed_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> went_down_{0};
  std::atomic<std::uint64_t> came_up_{0};
};

// Chosen by configuration: a Redis limiter when `store` runs scripts (the Redis state
// store), otherwise a MemoryRateLimiter. `store` and `clock` must outlive the result.
std::unique_ptr<RateLimiter> MakeRateLimiter(state::StateStore& store, const Clock& clock,
                                             const MemoryRateLimiterOptions& memory = {},
                                             RedisRateLimiterOptions redis = {});

}  // namespace gatehouse::protect
