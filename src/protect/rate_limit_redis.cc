#include "protect/rate_limit_redis.h"

#include <array>
#include <string>

#include "core/log.h"

namespace gatehouse::protect {
namespace {

// The sliding log of rate_limit_window.cc as a sorted set: members are the allowed
// requests, scored by their time in ms. KEYS[1] the log; ARGV limit, window (ms), now (ms
// since the epoch, or -1: the server's TIME). Returns {allowed, remaining, reset_ms,
// retry_after_ms}.
// A member is "time:n" with n the number held before it was added: requests allowed in the
// same millisecond get distinct members, since n grows with each of them.
constexpr const char* kScript = R"lua(
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A request at or before now - window has left the window (now - window, now].
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local held = redis.call('ZCARD', key)
if held >= limit then
  -- The (held - limit + 1)-th oldest must leave before a slot frees.
  local nth = redis.call('ZRANGE', key, held - limit, held - limit, 'WITHSCORES')
  local retry = tonumber(nth[2]) + window - now
  if retry < 1 then retry = 1 end
  return {0, 0, retry, retry}
end

redis.call('ZADD', key, now, now .. ':' .. held)
redis.call('PEXPIRE', key, window)
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local reset = tonumber(oldest[2]) + window - now
if reset < 0 then reset = 0 end
return {1, limit - held - 1, reset, 0}
)lua";

std::chrono::milliseconds Ms(std::int64_t ms) { return std::chrono::milliseconds(ms); }

bool IsUnavailable(const Error& error) {
  return error.code() == ErrorCode::kUnavailable || error.code() == ErrorCode::kDeadlineExceeded;
}

Result<Decision> ParseReply(const RateLimitClass& cls, const state::ScriptReply& reply) {
  using Kind = state::ScriptReply::Kind;
  if (reply.kind != Kind::kArray || reply.elements.size() != 4) {
    return Internal("rate limit script: unexpected reply shape");
  }
  for (const auto& e : reply.elements) {
    if (e.kind != Kind::kInteger || e.integer < 0) {
      return Internal("rate limit script: unexpected reply element");
    }
  }
  Decision d;
  d.allowed = reply.elements[0].integer == 1;
  d.limit = cls.limit;
  d.remaining = static_cast<std::uint32_t>(reply.elements[1].integer);
  d.reset = Ms(reply.elements[2].integer);
  d.retry_after = Ms(reply.elements[3].integer);
  if (!d.allowed && d.retry_after.count() <= 0) {
    return Internal("rate limit script: refusal without a wait");
  }
  return d;
}

}  // namespace

const state::RedisScript& RateLimitScript() {
  static const state::RedisScript script{std::string(kScript)};
  return script;
}

RedisRateLimiter::RedisRateLimiter(state::ScriptRunner& runner, const Clock& clock,
                                   RedisRateLimiterOptions options)
    : runner_(runner),
      clock_(clock),
      options_(std::move(options)),
      fallback_(clock, options_.fallback) {}

namespace {

struct ScriptArgs {
  std::array<std::string, 1> keys;
  std::array<std::string, 3> args;
};

ScriptArgs BuildArgs(const RateLimitClass& cls, std::string_view subject, std::int64_t now_ms) {
  ScriptArgs a;
  // "name:subject" is unambiguous: class names cannot hold ':'.
  a.keys[0].reserve(3 + cls.name.size() + 1 + subject.size());
  a.keys[0].append("rl:").append(cls.name).append(":").append(subject);
  a.args[0] = std::to_string(cls.limit);
  a.args[1] = std::to_string(cls.window.count());
  a.args[2] = std::to_string(now_ms);
  return a;
}

}  // namespace

Result<Decision> RedisRateLimiter::Check(const RateLimitClass& cls, std::string_view subject) {
  GH_RETURN_IF_ERROR(ValidateClass(cls));
  GH_RETURN_IF_ERROR(ValidateSubject(subject));

  const std::int64_t now =
      options_.time_source == RedisTimeSource::kServer
          ? -1
          : std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
                .count();
  const ScriptArgs a = BuildArgs(cls, subject, now);
  return Finish(cls, subject, runner_.Eval(RateLimitScript(), a.keys, a.args));
}

void RedisRateLimiter::CheckAsync(const RateLimitClass& cls, std::string_view subject,
                                  CheckCallback done) {
  if (auto s = ValidateClass(cls); !s.ok()) return done(std::move(s).error());
  if (auto s = ValidateSubject(subject); !s.ok()) return done(std::move(s).error());

  const std::int64_t now =
      options_.time_source == RedisTimeSource::kServer
          ? -1
          : std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
                .count();
  const ScriptArgs a = BuildArgs(cls, subject, now);
  // The callback may run later on the client thread: it keeps its own copies of the class
  // and subject, which the caller's may not outlive.
  runner_.EvalAsync(
      RateLimitScript(), a.keys, a.args,
      [this, cls, subject = std::string(subject), done = std::move(done)](
          Result<state::ScriptReply> reply) { done(Finish(cls, subject, std::move(reply))); });
}

Result<Decision> RedisRateLimiter::Finish(const RateLimitClass& cls, std::string_view subject,
                                          Result<state::ScriptReply> reply) {
  if (!reply.ok()) {
    if (IsUnavailable(reply.error())) {
      NoteUnavailable(reply.error());
      return ApplyPolicy(cls, subject);
    }
    errors_.fetch_add(1, std::memory_order_relaxed);
    return std::move(reply).error();
  }
  NoteAvailable();

  auto decision = ParseReply(cls, *reply);
  if (!decision.ok()) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return decision;
  }
  (decision->allowed ? allowed_ : refused_).fetch_add(1, std::memory_order_relaxed);
  return decision;
}

Result<Decision> RedisRateLimiter::ApplyPolicy(const RateLimitClass& cls,
                                               std::string_view subject) {
  switch (cls.on_unavailable) {
    case FailurePolicy::kFallbackLocal: {
      // Each instance now enforces the limit on its own share of the traffic: with N
      // instances a client may get up to N times the limit until Redis returns.
      fallback_local_.fetch_add(1, std::memory_order_relaxed);
      auto decision = fallback_.Check(cls, subject);
      if (decision.ok()) decision->degraded = true;
      return decision;
    }
    case FailurePolicy::kFailOpen: {
      fail_open_.fetch_add(1, std::memory_order_relaxed);
      Decision d;
      d.allowed = true;
      d.limit = cls.limit;
      // Nothing is counted while open; advertise the full quota for a whole window.
      d.remaining = cls.limit - 1;
      d.reset = cls.window;
      d.degraded = true;
      return d;
    }
    case FailurePolicy::kFailClosed: {
      // Protection over availability (an operator's choice for login and registration on
      // a hostile network): refuse, and ask for a retry soon, since the outage may be short.
      fail_closed_.fetch_add(1, std::memory_order_relaxed);
      Decision d;
      d.allowed = false;
      d.limit = cls.limit;
      d.remaining = 0;
      d.reset = std::chrono::seconds(1);
      d.retry_after = std::chrono::seconds(1);
      d.degraded = true;
      return d;
    }
  }
  return Internal("rate limit: unknown failure policy");
}

void RedisRateLimiter::NoteUnavailable(const Error& cause) {
  // Only the call that flips the flag logs: one line per outage, not one per request.
  if (!available_.exchange(false, std::memory_order_relaxed)) return;
  went_down_.fetch_add(1, std::memory_order_relaxed);
  log::Event(log::Level::kError, "rate_limit_redis_down",
             {{"reason", cause.detail().empty() ? cause.message() : cause.detail()},
              {"action", "class failure policies apply"}});
  if (options_.on_availability_change) options_.on_availability_change(false);
}

void RedisRateLimiter::NoteAvailable() {
  if (available_.load(std::memory_order_relaxed)) return;
  if (available_.exchange(true, std::memory_order_relaxed)) return;
  came_up_.fetch_add(1, std::memory_order_relaxed);
  log::Event(log::Level::kInfo, "rate_limit_redis_up", {{"action", "windows shared again"}});
  if (options_.on_availability_change) options_.on_availability_change(true);
}

RedisRateLimiter::Counters RedisRateLimiter::counters() const {
  Counters c;
  c.allowed = allowed_.load(std::memory_order_relaxed);
  c.refused = refused_.load(std::memory_order_relaxed);
  c.fallback_local = fallback_local_.load(std::memory_order_relaxed);
  c.fail_open = fail_open_.load(std::memory_order_relaxed);
  c.fail_closed = fail_closed_.load(std::memory_order_relaxed);
  c.on_unavailable = c.fallback_local + c.fail_open + c.fail_closed;
  c.errors = errors_.load(std::memory_order_relaxed);
  c.went_down = went_down_.load(std::memory_order_relaxed);
  c.came_up = came_up_.load(std::memory_order_relaxed);
  return c;
}

std::unique_ptr<RateLimiter> MakeRateLimiter(state::StateStore& store, const Clock& clock,
                                             const MemoryRateLimiterOptions& memory,
                                             RedisRateLimiterOptions redis) {
  if (state::ScriptRunner* runner = store.script_runner(); runner != nullptr) {
    return std::make_unique<RedisRateLimiter>(*runner, clock, std::move(redis));
  }
  return std::make_unique<MemoryRateLimiter>(clock, memory);
}

}  // namespace gatehouse::protect
