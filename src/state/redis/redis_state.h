#pragma once

// The Redis state store: state shared by several Gatehouse instances.
//
// Every operation is one Redis command (Increment: one small Lua script), sent over
// a pipelined connection (redis_connection.h), so it is atomic on the server and
// costs one round trip shared with every other command in flight. Expiry is Redis'
// own (SET PX, PEXPIRE): the injected Clock plays no part, and instances agree on
// time through the server. A write, a Delete or a deny-list entry is visible to
// every instance as soon as its call returns Ok.
//
// Keys on the server are `prefix + key`. Needs Redis 6.2 or later (GETDEL).
//
// Timeouts and outages: a call fails with kUnavailable (a) at once while the
// connection is down, (b) after `call_timeout` without a reply. The client reconnects
// by itself with backoff; see docs/state.md. After kUnavailable on a write the
// outcome is unknown.
//
// Threading: see state.h. Synchronous calls block up to call_timeout; the Async forms
// complete on a client thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/secret.h"
#include "state/redis/redis_connection.h"
#include "state/script.h"
#include "state/state.h"

namespace gatehouse::state {

struct RedisStateOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string username;        // Redis 6 ACL user; empty: the default user.
  Secret password;             // Empty: no AUTH.
  std::string prefix = "gh:";  // At most 64 bytes.
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds call_timeout{250};
  // No reply bytes for this long while commands wait: the connection is dropped and
  // made again (a silent network partition is otherwise noticed only by TCP, hours
  // later).
  std::chrono::milliseconds stall_timeout{2000};
  int connections = 1;  // 1..16, each with its own client thread.
  std::size_t max_outstanding_per_connection = 100'000;
};

class RedisStateStore final : public StateStore, public ScriptRunner {
 public:
  // Summed over the connections; each field is read atomically, the set is not.
  struct Counters {
    std::uint64_t commands = 0;     // Commands written.
    std::uint64_t writes = 0;       // send() calls carrying them; < commands when pipelined.
    std::uint64_t connects = 0;     // Successful (re)connections.
    std::uint64_t timeouts = 0;     // Calls failed at the call timeout.
    std::uint64_t failed_fast = 0;  // Calls refused at once (down or overloaded).
    int connections_up = 0;
  };

  ~RedisStateStore() override;

  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override;
  Result<bool> SetIfAbsent(std::string_view key, std::string_view value,
                           std::chrono::milliseconds ttl) override;
  Result<bool> Delete(std::string_view key) override;
  Result<std::optional<std::string>> Take(std::string_view key) override;
  Result<std::int64_t> Increment(std::string_view key, std::int64_t delta,
                                 std::chrono::milliseconds ttl_if_new) override;
  Result<bool> Expire(std::string_view key, std::chrono::milliseconds ttl) override;
  Result<bool> Exists(std::string_view key) override;
  Result<std::optional<std::chrono::milliseconds>> Ttl(std::string_view key) override;
  void GetAsync(std::string_view key, GetCallback done) override;
  void ExistsAsync(std::string_view key, ExistsCallback done) override;
  ScriptRunner* script_runner() override { return this; }
  std::string_view driver_name() const override { return "redis"; }

  Result<ScriptReply> Eval(const RedisScript& script, std::span<const std::string> keys,
                           std::span<const std::string> args) override;
  void EvalAsync(const RedisScript& script, std::span<const std::string> keys,
                 std::span<const std::string> args, EvalCallback done) override;

  Counters counters() const;

 private:
  friend Result<std::unique_ptr<RedisStateStore>> OpenRedisState(const RedisStateOptions&);
  using Done = redis::Connection::Done;

  explicit RedisStateStore(const RedisStateOptions& options);

  std::string Key(std::string_view key) const;
  // The next connection that is up (round robin), or any when none is.
  redis::Connection& Pick();
  // Sends on the next connection that is up (round robin); fails fast when none is.
  void Send(std::string wire, Done done);
  void SendOn(redis::Connection& connection, std::string wire,
              redis::Connection::Clock::time_point deadline, Done done);
  // Sends and waits for the reply, at most call_timeout (the client thread completes
  // every command by its deadline; the wait has a margin in case it cannot).
  Result<redis::Reply> Call(std::string wire);
  Result<std::string> EncodeEval(const RedisScript& script, std::span<const std::string> keys,
                                 std::span<const std::string> args) const;

  const std::string prefix_;
  const std::chrono::milliseconds call_timeout_;
  std::vector<std::unique_ptr<redis::Connection>> connections_;
  std::atomic<std::size_t> next_{0};
};

// Connects and checks that the server answers (PING, after AUTH when a password is
// set). kInvalidArgument for bad options; kUnavailable when the first connection
// attempt fails (the detail says why, never with the password).
Result<std::unique_ptr<RedisStateStore>> OpenRedisState(const RedisStateOptions& options);

}  // namespace gatehouse::state
