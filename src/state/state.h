#pragma once

// Short-lived shared state: small values that expire on their own. It holds what
// the security features must remember for minutes or days and then forget: the
// deny list of revoked access tokens (by jti), refresh-token rotation markers,
// session last-activity, login failure counters and lockouts, rate-limit windows
// and one-time values (CAPTCHA challenges, MFA tickets, OIDC `state`).
//
// Two real implementations behind this interface (docs/state.md):
//   memory  in-process, sharded, bounded; the embedded default for one instance.
//   redis   a Redis server shared by several instances (state/redis/).
// Features are written against StateStore and never see which one they have.
//
// Keys and values are byte strings (NUL and non-UTF-8 bytes are fine). Caps, checked
// before anything else and refused with kInvalidArgument (never truncated, since a
// truncated key could alias another key):
//   key    1..kMaxKeySize bytes (an empty key is always a bug)
//   value  0..kMaxValueSize bytes
//   ttl    kMinTtl..kMaxTtl; every entry expires, there are no permanent keys
//
// Every operation is atomic on its key. Nothing is atomic across keys.
//
// Errors (ErrorCode, and what the caller may do):
//   kInvalidArgument    a cap above was broken; fix the caller.
//   kFailedPrecondition Increment on a value that is not a decimal int64, or an
//                       increment that would overflow; no retry.
//   kResourceExhausted  memory: the entry cap is reached and the operation would
//                       create a key (see docs/state.md for why it fails closed
//                       rather than evicting); retry after expired entries go.
//   kUnavailable        redis: the server is down, unreachable, or did not answer
//                       within the call timeout. For a write, the outcome is then
//                       UNKNOWN (it may have been applied); retry with backoff.
//   kInternal           an unexpected reply; no retry.
// Security decisions built on this store must fail closed on any error: a deny-list
// check that fails must treat the token as revoked (or the request as refused), not
// as valid.
//
// Threading. Every method may be called from any thread, concurrently.
//   memory  never blocks on I/O; each call holds one shard mutex for a bounded time,
//           so it may run inline on an I/O thread.
//   redis   the synchronous methods block up to the call timeout (250 ms by
//           default): call them on the worker pool, never on an I/O thread. An I/O
//           thread uses GetAsync/ExistsAsync, which never block.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/secret.h"
#include "core/status.h"

namespace gatehouse {
class Clock;
}  // namespace gatehouse

namespace gatehouse::state {

inline constexpr std::size_t kMaxKeySize = 512;
inline constexpr std::size_t kMaxValueSize = 64 * 1024;
inline constexpr std::chrono::milliseconds kMinTtl{1};
// A year and a day: longer than anything short-lived state should hold (refresh
// tokens live 7 days), and far from any overflow of a millisecond count.
inline constexpr std::chrono::milliseconds kMaxTtl = std::chrono::hours(24 * 366);

class ScriptRunner;

class StateStore {
 public:
  using GetCallback = std::function<void(Result<std::optional<std::string>>)>;
  using ExistsCallback = std::function<void(Result<bool>)>;

  virtual ~StateStore() = default;

  // The value of `key`, or nullopt when it is absent or expired.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;

  // Get into a caller's buffer, which keeps its capacity from call to call: true and
  // `value` set when present, false (and `value` unchanged) when absent or expired.
  virtual Result<bool> GetInto(std::string_view key, std::string& value) {
    auto got = Get(key);
    if (!got.ok()) return std::move(got).error();
    if (!*got) return false;
    value = std::move(**got);
    return true;
  }

  // Stores `value` under `key` with a fresh `ttl`, replacing any value and TTL.
  virtual Status Set(std::string_view key, std::string_view value,
                     std::chrono::milliseconds ttl) = 0;

  // Stores `value` only if `key` is absent; true when it did. Exactly one of any
  // number of concurrent callers wins (one-time values, locks, "seen" markers).
  virtual Result<bool> SetIfAbsent(std::string_view key, std::string_view value,
                                   std::chrono::milliseconds ttl) = 0;

  // Removes `key`; true when it was present.
  virtual Result<bool> Delete(std::string_view key) = 0;

  // Gets and removes `key` in one step: of any number of concurrent callers, at
  // most one receives the value (single-use tickets, OIDC state, MFA tickets).
  virtual Result<std::optional<std::string>> Take(std::string_view key) = 0;

  // Adds `delta` to the decimal int64 counter at `key` and returns the new value.
  // An absent key counts as 0 and is created with `ttl_if_new`; an existing key
  // keeps its TTL, so a fixed window never extends itself. The value reads back
  // through Get as decimal text ("5").
  virtual Result<std::int64_t> Increment(std::string_view key, std::int64_t delta,
                                         std::chrono::milliseconds ttl_if_new) = 0;

  // Gives an existing `key` a fresh `ttl` (session activity); false when absent.
  virtual Result<bool> Expire(std::string_view key, std::chrono::milliseconds ttl) = 0;
  Result<bool> Touch(std::string_view key, std::chrono::milliseconds ttl) {
    return Expire(key, ttl);
  }

  virtual Result<bool> Exists(std::string_view key) = 0;

  // The time `key` has left, or nullopt when absent. kFailedPrecondition for a key
  // without expiry (only possible on Redis, for keys written by something else).
  virtual Result<std::optional<std::chrono::milliseconds>> Ttl(std::string_view key) = 0;

  // Non-blocking forms of Get and Exists for the request hot path (the deny-list
  // check). `done` is called exactly once: on the calling thread before the call
  // returns (memory, and any error found before sending), or later on the Redis
  // client thread.
  // REQUIRES: `done` is quick and never blocks, and never calls a synchronous
  // method of this store (on Redis it would wait for the thread it runs on, and
  // time out). To continue with blocking work, post to the worker pool.
  virtual void GetAsync(std::string_view key, GetCallback done) = 0;
  virtual void ExistsAsync(std::string_view key, ExistsCallback done) = 0;

  // Lua scripts on the server (one round trip per rate-limit decision), or nullptr
  // when this store has none (memory: the rate limiter uses its in-process form).
  virtual ScriptRunner* script_runner() { return nullptr; }

  // Reclaims expired entries, visiting at most `max_slots` slots; returns how many were
  // reclaimed. Stores whose server expires entries itself (Redis) do nothing. A periodic
  // background task calls it so memory stays bounded without traffic.
  virtual std::size_t Sweep(std::size_t max_slots) { return 0; }

  // "memory" or "redis".
  virtual std::string_view driver_name() const = 0;
};

struct StateOptions {
  std::string driver = "memory";  // "memory" or "redis".

  // memory: shards (a power of two) and the cap on entries, live or expired but
  // not yet reclaimed.
  std::size_t memory_shards = 64;
  std::size_t memory_max_entries = 1'000'000;

  // redis
  std::string redis_host = "127.0.0.1";
  std::uint16_t redis_port = 6379;
  std::string redis_username;  // Empty: `AUTH password` (the default user).
  Secret redis_password;       // Empty: no AUTH.
  // Prepended to every key on the server, so several deployments or other users
  // can share one Redis. At most 64 bytes.
  std::string redis_prefix = "gh:";
  std::chrono::milliseconds redis_connect_timeout{1000};
  std::chrono::milliseconds redis_call_timeout{250};
  // Connections, each served by its own client thread.
  int redis_connections = 1;
};

// Opens the store the options name. Redis: checks that the server answers and
// accepts the password; kUnavailable when it does not, kInvalidArgument for bad
// options. `clock` drives expiry in memory (not owned; must outlive the store);
// Redis keeps time with its own TTLs.
Result<std::unique_ptr<StateStore>> OpenState(const StateOptions& options, const Clock& clock);

// The cap checks shared by the implementations; the error names the broken cap,
// never the key or value.
Status ValidateKey(std::string_view key);
Status ValidateValue(std::string_view value);
Status ValidateTtl(std::chrono::milliseconds ttl);

}  // namespace gatehouse::state
