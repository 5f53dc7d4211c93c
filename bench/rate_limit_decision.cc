// The in-process rate-limit decision alone: MemoryRateLimiter::Check timed by Google
// Benchmark, on one and on two threads sharing one limiter (bench/protect.sh runs it).
//
//   hot_key   one subject on every call: one client address behind a large NAT, or a
//             scripted flood from one address. Every call takes the same shard mutex.
//   1M_keys   1,000,000 subjects, visited in a scattered order, each already holding a
//             window: the steady state of a busy server, where almost every lookup misses
//             the CPU caches.
//
// Each comes with a class that keeps its keys allowed and one that keeps them refused,
// since the two paths differ (an allowed request is appended to the key's log, a refused
// one only reads it). The `allowed` column is the share of decisions that were allowed.
//
//   hot_key/allowed  api_key 1000 per 60 s, with the clock moved 61 ms on top of real time at
//                    every reading (PacedClock): the key's steady state just under its limit,
//                    about 984 requests held, each decision dropping the oldest and appending
//                    one. A real clock alone cannot show that path: the loop runs millions of
//                    times per second, far past any limit, so the key would be refused.
//   hot_key/refused  auth 5 per 60 s on the real clock: full after five calls.
//   1M_keys/allowed  default 100 per 60 s, real clock, one request held per key before
//                    timing; a run adds a few more, far below 100.
//   1M_keys/refused  auth 5 per 60 s, real clock, every key full before timing.
//
// Subjects are formatted before timing, so the figures are the decision alone (hash, shard
// lock, lookup, log update, counters, clock reading). Any Google Benchmark flag is accepted,
// e.g. --benchmark_filter=hot_key or --benchmark_min_time=1.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/clock.h"
#include "protect/rate_limit.h"
#include "protect/rate_limit_memory.h"

namespace {

using gatehouse::Clock;
using gatehouse::SystemClock;
using gatehouse::protect::MemoryRateLimiter;
using gatehouse::protect::RateLimitClass;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::size_t kKeys = 1'000'000;
// Visiting order over the million keys: a prime stride, so consecutive calls land far apart
// and each thread walks every key before it repeats one.
constexpr std::size_t kStride = 7919;

const RateLimitClass kApiKey{"api_key", 1000, seconds(60)};
const RateLimitClass kAuth{"auth", 5, seconds(60)};
const RateLimitClass kDefault{"default", 100, seconds(60)};
// 60 s / 61 ms keeps about 984 requests in api_key's window of 1000: always allowed, and every
// decision drops the oldest request as it appends a new one.
constexpr milliseconds kPace{61};

// Real time plus `step` at every reading. The limiter reads the clock once per decision, so
// consecutive decisions on a key are `step` apart whatever the speed of the loop. The
// reading itself costs what the real clock costs, plus one atomic increment.
class PacedClock final : public Clock {
 public:
  explicit PacedClock(std::chrono::nanoseconds step) : step_(step) {}

  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now() +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(Advance());
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now() + Advance();
  }

 private:
  std::chrono::nanoseconds Advance() const {
    return step_ * ticks_.fetch_add(1, std::memory_order_relaxed);
  }

  const std::chrono::nanoseconds step_;
  mutable std::atomic<std::int64_t> ticks_{0};
};

std::string Ipv4Subject(std::uint32_t n) {
  // A multiplicative mix (odd constant: a bijection on 32 bits) spreads consecutive n over
  // the whole address space, so the subjects look like real client addresses.
  const std::uint32_t a = n * 2654435761u;
  char text[32];
  std::snprintf(text, sizeof(text), "ip:%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
                a & 255);
  return text;
}

const std::vector<std::string>& Subjects() {
  static const std::vector<std::string> subjects = [] {
    std::vector<std::string> s;
    s.reserve(kKeys);
    for (std::size_t i = 0; i < kKeys; ++i) s.push_back(Ipv4Subject(static_cast<std::uint32_t>(i)));
    return s;
  }();
  return subjects;
}

// A limiter holding every subject of Subjects() with `requests` requests each.
std::unique_ptr<MemoryRateLimiter> FilledLimiter(const RateLimitClass& cls, int requests) {
  auto limiter = std::make_unique<MemoryRateLimiter>(SystemClock::Instance());
  for (int r = 0; r < requests; ++r) {
    for (const std::string& subject : Subjects()) {
      if (!limiter->Check(cls, subject).ok()) {
        std::fprintf(stderr, "rate_limit_decision: filling the limiter failed\n");
        std::exit(1);
      }
    }
  }
  return limiter;
}

// Counts decisions and allowed ones; an error aborts the run, since it would time a path
// no request takes.
struct Tally {
  std::int64_t allowed = 0;

  void Add(const gatehouse::Result<gatehouse::protect::Decision>& d, benchmark::State& state) {
    if (!d.ok()) {
      state.SkipWithError("Check returned an error");
      return;
    }
    allowed += d->allowed ? 1 : 0;
  }

  void Report(benchmark::State& state) const {
    state.counters["allowed"] = benchmark::Counter(static_cast<double>(allowed),
                                                   benchmark::Counter::kAvgIterations);
    state.SetItemsProcessed(state.iterations());
  }
};

void HotKey(benchmark::State& state, MemoryRateLimiter& limiter, const RateLimitClass& cls) {
  const std::string subject = "ip:203.0.113.9";
  Tally tally;
  for (auto _ : state) {
    auto d = limiter.Check(cls, subject);
    tally.Add(d, state);
    benchmark::DoNotOptimize(d);
  }
  tally.Report(state);
}

void ManyKeys(benchmark::State& state, MemoryRateLimiter& limiter, const RateLimitClass& cls) {
  const std::vector<std::string>& subjects = Subjects();
  // The threads start half the key space apart, so they do not walk in step.
  std::size_t i = (static_cast<std::size_t>(state.thread_index()) * kKeys / 2) % kKeys;
  Tally tally;
  for (auto _ : state) {
    auto d = limiter.Check(cls, subjects[i]);
    tally.Add(d, state);
    benchmark::DoNotOptimize(d);
    i += kStride;
    if (i >= kKeys) i -= kKeys;
  }
  tally.Report(state);
}

// Each row has its own limiter, built on first use (outside the timed loop; both threads of a
// two-thread row share it).
void HotAllowed(benchmark::State& state) {
  static PacedClock clock(kPace);
  static MemoryRateLimiter limiter(clock);
  HotKey(state, limiter, kApiKey);
}

void HotRefused(benchmark::State& state) {
  static MemoryRateLimiter limiter(SystemClock::Instance());
  HotKey(state, limiter, kAuth);
}

void ManyAllowed(benchmark::State& state) {
  static const auto limiter = FilledLimiter(kDefault, 1);
  ManyKeys(state, *limiter, kDefault);
}

void ManyRefused(benchmark::State& state) {
  static const auto limiter = FilledLimiter(kAuth, 5);
  ManyKeys(state, *limiter, kAuth);
}

void Register(const char* name, void (*fn)(benchmark::State&)) {
  // Real time: with two threads, items per second is then the combined decision rate.
  benchmark::RegisterBenchmark(name, fn)->Threads(1)->Threads(2)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  Register("hot_key/allowed:api_key_1000_per_60s_paced_61ms", HotAllowed);
  Register("hot_key/refused:auth_5_per_60s", HotRefused);
  Register("1M_keys/allowed:default_100_per_60s", ManyAllowed);
  Register("1M_keys/refused:auth_5_per_60s_full", ManyRefused);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
