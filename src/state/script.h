#pragma once

// Server-side Lua scripts: the extension point for decisions that must read and
// write several keys in one atomic round trip (the sliding-window rate limiter).
// Only Redis runs them; StateStore::script_runner() returns nullptr elsewhere and
// the feature uses its in-process form instead.
//
// Thread safety: RedisScript is immutable and cheap to copy (shared text).
// ScriptRunner methods may be called from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace gatehouse::state {

// A Lua script, named on the wire by the SHA-1 of its text (what EVALSHA takes).
class RedisScript {
 public:
  explicit RedisScript(std::string source);

  const std::string& source() const { return data_->source; }
  // 40 lower-case hex digits.
  const std::string& sha1() const { return data_->sha1; }

 private:
  struct Data {
    std::string source;
    std::string sha1;
  };
  std::shared_ptr<const Data> data_;
};

// What a script returned, in RESP2 terms: Lua nil/false is kNil, a number kInteger,
// a string or status kString, a table kArray.
struct ScriptReply {
  enum class Kind : std::uint8_t { kNil, kInteger, kString, kArray };
  Kind kind = Kind::kNil;
  std::int64_t integer = 0;
  std::string string;
  std::vector<ScriptReply> elements;
};

class ScriptRunner {
 public:
  using EvalCallback = std::function<void(Result<ScriptReply>)>;

  virtual ~ScriptRunner() = default;

  // Runs `script` with KEYS = `keys` (each gets the store's namespace prefix, so a
  // script sees the same keys as the StateStore methods) and ARGV = `args`. Sent as
  // EVALSHA; when the server does not know the script (NOSCRIPT, e.g. after a
  // restart) the runner loads it with SCRIPT LOAD and retries once. Keys follow
  // the StateStore caps. A script error is kInternal with the server's text in
  // the detail. Blocks up to the call timeout, like the other synchronous calls.
  virtual Result<ScriptReply> Eval(const RedisScript& script, std::span<const std::string> keys,
                                   std::span<const std::string> args) = 0;

  // Non-blocking form; `done` follows the rules of StateStore::GetAsync.
  virtual void EvalAsync(const RedisScript& script, std::span<const std::string> keys,
                         std::span<const std::string> args, EvalCallback done) = 0;
};

}  // namespace gatehouse::state
