#include "state/state.h"

#include <utility>

#include "core/clock.h"
#include "state/memory/memory_state.h"
#include "state/redis/redis_state.h"

namespace gatehouse::state {

Status ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgument("invalid state key", "state key is empty");
  if (key.size() > kMaxKeySize) {
    return InvalidArgument("invalid state key",
                           "state key longer than " + std::to_string(kMaxKeySize) + " bytes");
  }
  return Ok();
}

Status ValidateValue(std::string_view value) {
  if (value.size() > kMaxValueSize) {
    return InvalidArgument("invalid state value",
                           "state value longer than " + std::to_string(kMaxValueSize) + " bytes");
  }
  return Ok();
}

Status ValidateTtl(std::chrono::milliseconds ttl) {
  // Refused, not clamped: a TTL of zero or less is a caller bug (Redis would reject
  // it too), and a clamped TTL would keep a lockout or deny entry shorter or longer
  // than the caller decided.
  if (ttl < kMinTtl || ttl > kMaxTtl) {
    return InvalidArgument("invalid state TTL",
                           "state TTL " + std::to_string(ttl.count()) + " ms out of range");
  }
  return Ok();
}

Result<std::unique_ptr<StateStore>> OpenState(const StateOptions& options, const Clock& clock) {
  if (options.driver == "memory") {
    MemoryStateOptions memory;
    memory.shards = options.memory_shards;
    memory.max_entries = options.memory_max_entries;
    return std::unique_ptr<StateStore>(std::make_unique<MemoryStateStore>(clock, memory));
  }
  if (options.driver == "redis") {
    RedisStateOptions redis;
    redis.host = options.redis_host;
    redis.port = options.redis_port;
    redis.username = options.redis_username;
    redis.password = options.redis_password;
    redis.prefix = options.redis_prefix;
    redis.connect_timeout = options.redis_connect_timeout;
    redis.call_timeout = options.redis_call_timeout;
    redis.connections = options.redis_connections;
    auto store = OpenRedisState(redis);
    if (!store.ok()) return std::move(store).error();
    return std::unique_ptr<StateStore>(std::move(*store));
  }
  return InvalidArgument("invalid state configuration",
                         "unknown state driver '" + options.driver + "'");
}

}  // namespace gatehouse::state
