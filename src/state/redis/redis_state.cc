#include "state/redis/redis_state.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

namespace gatehouse::state {
namespace {

using redis::Reply;

// How much longer than the call timeout a synchronous caller waits for the client
// thread, which completes every command by its deadline; only a stuck client thread
// would use the margin.
constexpr std::chrono::milliseconds kWaitMargin{1000};
constexpr std::size_t kMaxPrefixSize = 64;
constexpr int kMaxConnections = 16;

// Counters are created with their TTL and keep it afterwards. `PTTL < 0` (no expiry)
// only holds right after INCRBY created the key (or for a key someone else wrote
// without a TTL, which thereby gets one), so a window never extends itself. One
// script, so the pair is atomic: no other client sees the key without its TTL.
const RedisScript& IncrementScript() {
  static const RedisScript script(
      "local value = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
      "if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
      "return value\n");
  return script;
}

Error Down(std::string detail) { return Unavailable("state store unavailable", std::move(detail)); }

Error ServerError(std::string_view command, const Reply& reply) {
  return Internal("redis " + std::string(command) + " failed: " + reply.string);
}

Error UnexpectedReply(std::string_view command) {
  return Internal("unexpected redis reply to " + std::string(command));
}

Result<std::optional<std::string>> ToOptionalString(Result<Reply> reply, std::string_view command) {
  if (!reply.ok()) return std::move(reply).error();
  switch (reply->kind) {
    case Reply::Kind::kNil:
      return std::optional<std::string>();
    case Reply::Kind::kString:
      return std::optional<std::string>(std::move(reply->string));
    case Reply::Kind::kError:
      return ServerError(command, *reply);
    default:
      return UnexpectedReply(command);
  }
}

// Integer replies that count keys (DEL, EXISTS) or report success (PEXPIRE).
Result<bool> ToPositive(Result<Reply> reply, std::string_view command) {
  if (!reply.ok()) return std::move(reply).error();
  if (reply->kind == Reply::Kind::kError) return ServerError(command, *reply);
  if (reply->kind != Reply::Kind::kInteger) return UnexpectedReply(command);
  return reply->integer > 0;
}

Result<ScriptReply> ToScriptReply(Result<Reply> reply) {
  if (!reply.ok()) return std::move(reply).error();
  if (reply->kind == Reply::Kind::kError) return ServerError("EVALSHA", *reply);
  auto convert = [](auto& self, Reply& from) -> ScriptReply {
    ScriptReply to;
    switch (from.kind) {
      case Reply::Kind::kInteger:
        to.kind = ScriptReply::Kind::kInteger;
        to.integer = from.integer;
        break;
      case Reply::Kind::kString:
      case Reply::Kind::kStatus:
      case Reply::Kind::kError:  // Only inside a table; kept as its text.
        to.kind = ScriptReply::Kind::kString;
        to.string = std::move(from.string);
        break;
      case Reply::Kind::kArray:
        to.kind = ScriptReply::Kind::kArray;
        to.elements.reserve(from.elements.size());
        for (Reply& element : from.elements) to.elements.push_back(self(self, element));
        break;
      case Reply::Kind::kNil:
        break;
    }
    return to;
  };
  return convert(convert, *reply);
}

// Runs `start` with a completion and waits for it. The client thread completes every
// command by its deadline, so the wait ends by then; the margin only guards against a
// client thread that cannot run.
template <typename T, typename Start>
Result<T> WaitFor(std::chrono::milliseconds timeout, Start&& start) {
  struct Slot {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<Result<T>> result;
  };
  auto slot = std::make_shared<Slot>();
  start([slot](Result<T> result) {
    std::lock_guard lock(slot->mutex);
    slot->result.emplace(std::move(result));
    slot->cv.notify_one();
  });
  std::unique_lock lock(slot->mutex);
  if (!slot->cv.wait_for(lock, timeout + kWaitMargin, [&] { return slot->result.has_value(); })) {
    return Down("redis client did not complete the call");
  }
  return std::move(*slot->result);
}

std::string Millis(std::chrono::milliseconds ttl) { return std::to_string(ttl.count()); }

}  // namespace

RedisStateStore::RedisStateStore(const RedisStateOptions& options)
    : prefix_(options.prefix), call_timeout_(options.call_timeout) {
  redis::Endpoint endpoint;
  endpoint.host = options.host;
  endpoint.port = options.port;
  endpoint.username = options.username;
  endpoint.password = options.password;
  endpoint.connect_timeout = options.connect_timeout;
  endpoint.stall_timeout = options.stall_timeout;
  endpoint.max_outstanding = options.max_outstanding_per_connection;
  for (int i = 0; i < options.connections; ++i) {
    connections_.push_back(std::make_unique<redis::Connection>(endpoint));
  }
}

RedisStateStore::~RedisStateStore() = default;

std::string RedisStateStore::Key(std::string_view key) const {
  std::string full;
  full.reserve(prefix_.size() + key.size());
  full.append(prefix_).append(key);
  return full;
}

void RedisStateStore::SendOn(redis::Connection& connection, std::string wire,
                             redis::Connection::Clock::time_point deadline, Done done) {
  connection.Submit(std::move(wire), deadline, std::move(done));
}

redis::Connection& RedisStateStore::Pick() {
  // Round robin over the connections that are up; when none is, the chosen one
  // refuses at once (and counts it).
  const std::size_t n = connections_.size();
  const std::size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
  for (std::size_t i = 0; i < n; ++i) {
    redis::Connection& candidate = *connections_[(start + i) % n];
    if (candidate.up()) return candidate;
  }
  return *connections_[start];
}

void RedisStateStore::Send(std::string wire, Done done) {
  SendOn(Pick(), std::move(wire), redis::Connection::Clock::now() + call_timeout_, std::move(done));
}

Result<Reply> RedisStateStore::Call(std::string wire) {
  return WaitFor<Reply>(call_timeout_, [&](Done done) { Send(std::move(wire), std::move(done)); });
}

Result<std::optional<std::string>> RedisStateStore::Get(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  std::string wire;
  redis::AppendCommand(wire, {"GET", Key(key)});
  return ToOptionalString(Call(std::move(wire)), "GET");
}

Status RedisStateStore::Set(std::string_view key, std::string_view value,
                            std::chrono::milliseconds ttl) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  GH_RETURN_IF_ERROR(ValidateValue(value));
  GH_RETURN_IF_ERROR(ValidateTtl(ttl));
  std::string wire;
  redis::AppendCommand(wire, {"SET", Key(key), value, "PX", Millis(ttl)});
  auto reply = Call(std::move(wire));
  if (!reply.ok()) return std::move(reply).error();
  if (reply->kind == Reply::Kind::kError) return ServerError("SET", *reply);
  if (reply->kind != Reply::Kind::kStatus) return UnexpectedReply("SET");
  return Ok();
}

Result<bool> RedisStateStore::SetIfAbsent(std::string_view key, std::string_view value,
                                          std::chrono::milliseconds ttl) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  GH_RETURN_IF_ERROR(ValidateValue(value));
  GH_RETURN_IF_ERROR(ValidateTtl(ttl));
  std::string wire;
  redis::AppendCommand(wire, {"SET", Key(key), value, "PX", Millis(ttl), "NX"});
  auto reply = Call(std::move(wire));
  if (!reply.ok()) return std::move(reply).error();
  switch (reply->kind) {
    case Reply::Kind::kStatus:
      return true;
    case Reply::Kind::kNil:  // NX: the key was there.
      return false;
    case Reply::Kind::kError:
      return ServerError("SET NX", *reply);
    default:
      return UnexpectedReply("SET NX");
  }
}

Result<bool> RedisStateStore::Delete(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  std::string wire;
  redis::AppendCommand(wire, {"DEL", Key(key)});
  return ToPositive(Call(std::move(wire)), "DEL");
}

Result<std::optional<std::string>> RedisStateStore::Take(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  // GETDEL is one command, so two takers can never both read the value.
  std::string wire;
  redis::AppendCommand(wire, {"GETDEL", Key(key)});
  return ToOptionalString(Call(std::move(wire)), "GETDEL");
}

Result<std::int64_t> RedisStateStore::Increment(std::string_view key, std::int64_t delta,
                                                std::chrono::milliseconds ttl_if_new) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  GH_RETURN_IF_ERROR(ValidateTtl(ttl_if_new));
  const std::string keys[] = {std::string(key)};
  const std::string args[] = {std::to_string(delta), Millis(ttl_if_new)};
  auto reply = Eval(IncrementScript(), keys, args);
  if (!reply.ok()) {
    const Error& error = reply.error();
    // INCRBY refuses a value that is not an int64 and a sum that would overflow.
    if (error.code() == ErrorCode::kInternal &&
        (error.detail().find("not an integer") != std::string::npos ||
         error.detail().find("overflow") != std::string::npos)) {
      return Error(ErrorCode::kFailedPrecondition, "state value is not a counter", error.detail());
    }
    return std::move(reply).error();
  }
  if (reply->kind != ScriptReply::Kind::kInteger) return UnexpectedReply("INCRBY script");
  return reply->integer;
}

Result<bool> RedisStateStore::Expire(std::string_view key, std::chrono::milliseconds ttl) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  GH_RETURN_IF_ERROR(ValidateTtl(ttl));
  std::string wire;
  redis::AppendCommand(wire, {"PEXPIRE", Key(key), Millis(ttl)});
  return ToPositive(Call(std::move(wire)), "PEXPIRE");
}

Result<bool> RedisStateStore::Exists(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  std::string wire;
  redis::AppendCommand(wire, {"EXISTS", Key(key)});
  return ToPositive(Call(std::move(wire)), "EXISTS");
}

Result<std::optional<std::chrono::milliseconds>> RedisStateStore::Ttl(std::string_view key) {
  GH_RETURN_IF_ERROR(ValidateKey(key));
  std::string wire;
  redis::AppendCommand(wire, {"PTTL", Key(key)});
  auto reply = Call(std::move(wire));
  if (!reply.ok()) return std::move(reply).error();
  if (reply->kind == Reply::Kind::kError) return ServerError("PTTL", *reply);
  if (reply->kind != Reply::Kind::kInteger) return UnexpectedReply("PTTL");
  if (reply->integer == -2) return std::optional<std::chrono::milliseconds>();
  if (reply->integer < 0) {
    return Error(ErrorCode::kFailedPrecondition, "state key has no expiry",
                 "redis key without TTL (not written through the state store)");
  }
  return std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(reply->integer));
}

void RedisStateStore::GetAsync(std::string_view key, GetCallback done) {
  if (auto valid = ValidateKey(key); !valid.ok()) return done(std::move(valid).error());
  std::string wire;
  redis::AppendCommand(wire, {"GET", Key(key)});
  Send(std::move(wire), [done = std::move(done)](Result<Reply> reply) {
    done(ToOptionalString(std::move(reply), "GET"));
  });
}

void RedisStateStore::ExistsAsync(std::string_view key, ExistsCallback done) {
  if (auto valid = ValidateKey(key); !valid.ok()) return done(std::move(valid).error());
  std::string wire;
  redis::AppendCommand(wire, {"EXISTS", Key(key)});
  Send(std::move(wire), [done = std::move(done)](Result<Reply> reply) {
    done(ToPositive(std::move(reply), "EXISTS"));
  });
}

Result<std::string> RedisStateStore::EncodeEval(const RedisScript& script,
                                                std::span<const std::string> keys,
                                                std::span<const std::string> args) const {
  std::vector<std::string> full_keys;
  full_keys.reserve(keys.size());
  for (const std::string& key : keys) {
    GH_RETURN_IF_ERROR(ValidateKey(key));
    full_keys.push_back(Key(key));
  }
  for (const std::string& arg : args) GH_RETURN_IF_ERROR(ValidateValue(arg));

  const std::string key_count = std::to_string(keys.size());
  std::vector<std::string_view> parts;
  parts.reserve(3 + keys.size() + args.size());
  parts.insert(parts.end(), {"EVALSHA", script.sha1(), key_count});
  parts.insert(parts.end(), full_keys.begin(), full_keys.end());
  parts.insert(parts.end(), args.begin(), args.end());
  std::string wire;
  redis::AppendCommand(wire, parts);
  return wire;
}

Result<ScriptReply> RedisStateStore::Eval(const RedisScript& script,
                                          std::span<const std::string> keys,
                                          std::span<const std::string> args) {
  return WaitFor<ScriptReply>(
      call_timeout_, [&](EvalCallback done) { EvalAsync(script, keys, args, std::move(done)); });
}

void RedisStateStore::EvalAsync(const RedisScript& script, std::span<const std::string> keys,
                                std::span<const std::string> args, EvalCallback done) {
  auto wire = EncodeEval(script, keys, args);
  if (!wire.ok()) return done(std::move(wire).error());

  // Pick the connection here: a NOSCRIPT retry must follow its SCRIPT LOAD on the
  // same connection, where replies keep request order.
  redis::Connection* connection = &Pick();
  const auto deadline = redis::Connection::Clock::now() + call_timeout_;

  std::string first = *wire;
  SendOn(*connection, std::move(first), deadline,
         [connection, script, retry = std::move(*wire), deadline,
          done = std::move(done)](Result<Reply> reply) mutable {
           const bool unknown = reply.ok() && reply->kind == Reply::Kind::kError &&
                                reply->string.starts_with("NOSCRIPT");
           if (!unknown) return done(ToScriptReply(std::move(reply)));
           // The server lost its script cache (restart, SCRIPT FLUSH): load the
           // script and retry once, pipelined on the same connection. A failed load
           // shows up as the retry's own NOSCRIPT error.
           std::string load;
           redis::AppendCommand(load, {"SCRIPT", "LOAD", script.source()});
           connection->Submit(std::move(load), deadline, [](Result<Reply>) {});
           connection->Submit(std::move(retry), deadline,
                              [done = std::move(done)](Result<Reply> again) {
                                done(ToScriptReply(std::move(again)));
                              });
         });
}

RedisStateStore::Counters RedisStateStore::counters() const {
  Counters total;
  for (const auto& connection : connections_) {
    const auto c = connection->counters();
    total.commands += c.commands;
    total.writes += c.writes;
    total.connects += c.connects;
    total.timeouts += c.timeouts;
    total.failed_fast += c.failed_fast;
    total.connections_up += c.up ? 1 : 0;
  }
  return total;
}

Result<std::unique_ptr<RedisStateStore>> OpenRedisState(const RedisStateOptions& options) {
  auto invalid = [](std::string detail) {
    return InvalidArgument("invalid state configuration", std::move(detail));
  };
  if (options.host.empty()) return invalid("redis host is empty");
  if (options.port == 0) return invalid("redis port is 0");
  if (options.prefix.size() > kMaxPrefixSize) return invalid("redis key prefix over 64 bytes");
  if (options.connections < 1 || options.connections > kMaxConnections) {
    return invalid("redis connections must be 1..16");
  }
  if (options.connect_timeout.count() <= 0 || options.call_timeout.count() <= 0 ||
      options.stall_timeout.count() <= 0) {
    return invalid("redis timeouts must be positive");
  }
  if (options.max_outstanding_per_connection == 0) return invalid("redis queue bound is 0");

  std::unique_ptr<RedisStateStore> store(new RedisStateStore(options));
  // A wrong host, port or password is found at start, not at the first login.
  for (const auto& connection : store->connections_) {
    GH_RETURN_IF_ERROR(connection->WaitFirstAttempt());
  }
  return store;
}

}  // namespace gatehouse::state
