// Redis-backed rate-limit decisions per second through Gatehouse's own path: the state store
// opened by state::OpenState (driver "redis"), RedisRateLimiter::CheckAsync, pipelined with a
// bounded number of decisions in flight. bench/protect.sh runs it next to `redis-benchmark`
// sending EVALSHA of the same script with the same keys and arguments to the same server.
//
//   rate_limit_redis script       the Lua text, byte for byte (for SCRIPT LOAD)
//   rate_limit_redis sha1         its SHA-1, as EVALSHA names it
//   rate_limit_redis command      the redis-benchmark command line equivalent of one decision:
//                                 EVALSHA <sha1> 1 <key with __rand_int__> <limit> <window> -1
//   rate_limit_redis run PORT PASSWORD_FILE CONNECTIONS IN_FLIGHT DECISIONS KEYS
//       DECISIONS decisions of class `default` (100 per 60 s, the server's clock), each on a
//       subject drawn at random from KEYS (`ip:` and 12 digits, as redis-benchmark's -r
//       writes __rand_int__), over CONNECTIONS connections to 127.0.0.1:PORT with at most
//       IN_FLIGHT decisions outstanding: each completion starts the next decision. The
//       password is read from PASSWORD_FILE, never from the command line. Prints one line:
//       decisions_per_s D decisions N seconds S allowed A refused R commands C writes W
//       Any error or degraded decision (Redis unreachable, a timeout) fails the run: it
//       would time something other than a decision made by Redis.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/secret.h"
#include "protect/rate_limit.h"
#include "protect/rate_limit_redis.h"
#include "state/redis/redis_state.h"
#include "state/state.h"

namespace {

using gatehouse::Result;
using gatehouse::Secret;
using gatehouse::SystemClock;
using gatehouse::protect::Decision;
using gatehouse::protect::FailurePolicy;
using gatehouse::protect::RateLimitClass;
using gatehouse::protect::RedisRateLimiter;
using gatehouse::protect::RateLimitScript;

// Fail closed rather than fall back: a decision the local fallback made must not be counted
// as one Redis made (the run checks `degraded` and stops on the first).
const RateLimitClass kClass{"default", 100, std::chrono::seconds(60), FailurePolicy::kFailClosed};
// The store's default key prefix; the limiter's keys are `<prefix>rl:<class>:<subject>`.
constexpr char kPrefix[] = "gh:";

// splitmix64, for the random key of each decision.
std::uint64_t Mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Drives the decisions: Issue starts one if any are left, and each completion issues the next,
// so IN_FLIGHT stay outstanding until the end.
class Driver {
 public:
  Driver(RedisRateLimiter& limiter, std::uint64_t decisions, std::uint64_t keys)
      : limiter_(limiter), total_(decisions), keys_(keys) {}

  void Issue() {
    if (stop_.load(std::memory_order_relaxed)) return;
    // Counted before it takes a number, so the outstanding count cannot reach zero while a
    // decision is being started.
    in_flight_.fetch_add(1, std::memory_order_acq_rel);
    const std::uint64_t n = issued_.fetch_add(1, std::memory_order_acq_rel);
    if (n >= total_) return Leave();
    char subject[32];
    std::snprintf(subject, sizeof(subject), "ip:%012llu",
                  static_cast<unsigned long long>(Mix(n) % keys_));
    limiter_.CheckAsync(kClass, subject, [this](Result<Decision> d) { Done(d); });
  }

  // Blocks until nothing is outstanding and nothing more will be issued.
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return finished_; });
  }

  std::chrono::steady_clock::time_point end() const { return end_; }
  std::uint64_t completed() const { return completed_.load(); }
  std::uint64_t allowed() const { return allowed_.load(); }
  std::uint64_t refused() const { return refused_.load(); }
  std::uint64_t failed() const { return failed_.load(); }

 private:
  void Done(const Result<Decision>& d) {
    if (!d.ok() || d->degraded) {
      // Stop issuing: a failure may complete on this very thread inside CheckAsync, and
      // issuing again from here would recurse once per remaining decision.
      failed_.fetch_add(1, std::memory_order_relaxed);
      stop_.store(true, std::memory_order_relaxed);
    } else {
      (d->allowed ? allowed_ : refused_).fetch_add(1, std::memory_order_relaxed);
      completed_.fetch_add(1, std::memory_order_relaxed);
      Issue();
    }
    // Issue() above counted its successor before this one leaves.
    Leave();
  }

  // One outstanding decision (or one that found nothing left to start) is over. Zero
  // outstanding once nothing more will start is the end.
  void Leave() {
    if (in_flight_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (!stop_.load() && issued_.load() < total_) return;
    std::lock_guard lock(mu_);
    if (finished_) return;
    end_ = std::chrono::steady_clock::now();
    finished_ = true;
    cv_.notify_all();
  }

  RedisRateLimiter& limiter_;
  const std::uint64_t total_;
  const std::uint64_t keys_;
  std::atomic<std::uint64_t> issued_{0};
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> allowed_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;  // Guarded by mu_.
  std::chrono::steady_clock::time_point end_;
};

bool ParseCount(const char* text, std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || v < min || v > max) return false;
  out = v;
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: rate_limit_redis script | sha1 | command\n"
               "       rate_limit_redis run PORT PASSWORD_FILE CONNECTIONS IN_FLIGHT DECISIONS "
               "KEYS\n");
  return 2;
}

int Run(int argc, char** argv) {
  std::uint64_t port, connections, in_flight, decisions, keys;
  if (argc != 8 || !ParseCount(argv[2], 1, 65535, port) ||
      !ParseCount(argv[4], 1, 16, connections) || !ParseCount(argv[5], 1, 100'000, in_flight) ||
      !ParseCount(argv[6], 1, 1'000'000'000, decisions) ||
      !ParseCount(argv[7], 1, 1'000'000'000'000, keys)) {
    return Usage();
  }

  gatehouse::state::StateOptions options;
  options.driver = "redis";
  options.redis_port = static_cast<std::uint16_t>(port);
  options.redis_prefix = kPrefix;
  options.redis_connections = static_cast<int>(connections);
  {
    std::ifstream in(argv[3]);
    std::string password((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
      password.pop_back();
    }
    if (password.empty()) {
      std::fprintf(stderr, "rate_limit_redis: no password in the password file\n");
      return 1;
    }
    options.redis_password = Secret(password);
    gatehouse::SecureWipe(password);
  }

  auto store = gatehouse::state::OpenState(options, SystemClock::Instance());
  if (!store.ok()) {
    std::fprintf(stderr, "rate_limit_redis: cannot open the redis state store: %s (%s)\n",
                 store.error().message().c_str(), store.error().detail().c_str());
    return 1;
  }
  auto* redis = dynamic_cast<gatehouse::state::RedisStateStore*>(store->get());
  gatehouse::state::ScriptRunner* runner = (*store)->script_runner();
  if (redis == nullptr || runner == nullptr) {
    std::fprintf(stderr, "rate_limit_redis: the store opened is not the redis store\n");
    return 1;
  }
  RedisRateLimiter limiter(*runner, SystemClock::Instance());

  Driver driver(limiter, decisions, keys);
  const auto before = redis->counters();
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < in_flight; ++i) driver.Issue();
  driver.Wait();
  const double seconds = std::chrono::duration<double>(driver.end() - start).count();
  const auto after = redis->counters();

  if (driver.failed() > 0 || driver.completed() != decisions) {
    const auto c = limiter.counters();
    std::fprintf(stderr,
                 "rate_limit_redis: %llu of %llu decisions done; %llu failed (errors %llu, "
                 "redis unavailable %llu, timeouts %llu)\n",
                 static_cast<unsigned long long>(driver.completed()),
                 static_cast<unsigned long long>(decisions),
                 static_cast<unsigned long long>(driver.failed()),
                 static_cast<unsigned long long>(c.errors),
                 static_cast<unsigned long long>(c.on_unavailable),
                 static_cast<unsigned long long>(after.timeouts - before.timeouts));
    return 1;
  }
  std::printf("decisions_per_s %.0f decisions %llu seconds %.3f allowed %llu refused %llu "
              "commands %llu writes %llu\n",
              decisions / seconds, static_cast<unsigned long long>(decisions), seconds,
              static_cast<unsigned long long>(driver.allowed()),
              static_cast<unsigned long long>(driver.refused()),
              static_cast<unsigned long long>(after.commands - before.commands),
              static_cast<unsigned long long>(after.writes - before.writes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string_view mode = argv[1];
  if (mode == "script" && argc == 2) {
    const std::string& source = RateLimitScript().source();
    std::fwrite(source.data(), 1, source.size(), stdout);
    return 0;
  }
  if (mode == "sha1" && argc == 2) {
    std::printf("%s\n", RateLimitScript().sha1().c_str());
    return 0;
  }
  if (mode == "command" && argc == 2) {
    // What RedisRateLimiter sends for one decision of kClass with the server's clock (now -1),
    // with the subject's 12 digits left to redis-benchmark.
    std::printf("EVALSHA %s 1 %srl:%s:ip:__rand_int__ %u %lld -1\n",
                RateLimitScript().sha1().c_str(), kPrefix, kClass.name.c_str(), kClass.limit,
                static_cast<long long>(kClass.window.count()));
    return 0;
  }
  if (mode == "run") return Run(argc, argv);
  return Usage();
}
