// What one million live rate-limit keys cost in memory (goal in ../shared/DESIGN.md: under
// 150 MiB), measured in a fresh process so nothing else has touched the heap.
//
// The keys look like a busy server's: 70 % IPv4 client addresses spread over the whole
// address space, 15 % IPv6 /64 prefixes, 10 % accounts, 5 % API keys, each under the class
// a route would check for it (addresses: `default`, one in four `auth`; accounts: `protected`;
// API keys: `api_key`). Requests per key, drawn per key: 60 % one, 25 % two to four, 12 %
// five to twelve, 3 % thirteen to forty (a client near or over its limit; requests over the
// limit are refused and hold nothing). They are sent in rounds, one request per key per
// round, so the keys' logs grow side by side as on a server. The real clock is used: the fill
// takes seconds and the windows a minute, so every key is live when measured.
//
// Reported: growth of VmRSS (/proc/self/status) and of the heap in use (mallinfo2: what the
// allocator has handed out, small blocks and mmapped ones), per key and in total, and the
// limiter's own count of keys held (it has no byte count of its own).
//
//   rate_limit_memory [keys]     (default 1000000)

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "protect/rate_limit.h"
#include "protect/rate_limit_memory.h"

namespace {

using gatehouse::SystemClock;
using gatehouse::protect::MemoryRateLimiter;
using gatehouse::protect::MemoryRateLimiterOptions;
using gatehouse::protect::RateLimitClass;
using std::chrono::seconds;

const RateLimitClass kDefault{"default", 100, seconds(60)};
const RateLimitClass kAuth{"auth", 5, seconds(60)};
const RateLimitClass kProtected{"protected", 50, seconds(60)};
const RateLimitClass kApiKey{"api_key", 1000, seconds(60)};

// splitmix64: a bijection, so distinct inputs give distinct outputs.
std::uint64_t Mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct Key {
  const RateLimitClass* cls;
  char subject[64];
  int requests;
};

// Key number n: its subject, class and request count, all derived from n. Subjects of one
// kind embed a bijective mix of n, so no two keys are equal.
Key MakeKey(std::uint64_t n) {
  Key k{};
  const std::uint64_t h = Mix(n);
  // 32 bits from n alone: a bijection on 32 bits (odd multiplier), as n < 2^32.
  const std::uint32_t a = static_cast<std::uint32_t>(n) * 2654435761u;
  const unsigned kind = static_cast<unsigned>(n % 20);
  if (kind < 14) {
    k.cls = (h >> 40) % 4 == 0 ? &kAuth : &kDefault;
    std::snprintf(k.subject, sizeof(k.subject), "ip:%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
                  (a >> 8) & 255, a & 255);
  } else if (kind < 17) {
    k.cls = (h >> 40) % 4 == 0 ? &kAuth : &kDefault;
    std::snprintf(k.subject, sizeof(k.subject), "ip:2001:db8:%x:%x::/64", a >> 16, a & 0xffff);
  } else if (kind < 19) {
    k.cls = &kProtected;
    std::snprintf(k.subject, sizeof(k.subject), "user:acc_%016llx",
                  static_cast<unsigned long long>(Mix(n ^ 0x5eed)));
  } else {
    k.cls = &kApiKey;
    std::snprintf(k.subject, sizeof(k.subject), "key:gh_live_%08x", a);
  }

  const unsigned draw = static_cast<unsigned>(h % 100);
  const unsigned spread = static_cast<unsigned>((h >> 8) % 1000);
  if (draw < 60) {
    k.requests = 1;
  } else if (draw < 85) {
    k.requests = 2 + static_cast<int>(spread % 3);
  } else if (draw < 97) {
    k.requests = 5 + static_cast<int>(spread % 8);
  } else {
    k.requests = 13 + static_cast<int>(spread % 28);
  }
  return k;
}

long RssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

std::size_t HeapBytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
}

constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

int main(int argc, char** argv) {
  const long long keys_arg = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
  if (keys_arg < 1 || keys_arg > 4'000'000) {
    std::fprintf(stderr, "usage: rate_limit_memory [keys in 1..4000000]\n");
    return 2;
  }
  const std::uint64_t keys = static_cast<std::uint64_t>(keys_arg);

  const long rss_before = RssKiB();
  const std::size_t heap_before = HeapBytes();
  // The production defaults, except a cap that leaves room for the largest run.
  MemoryRateLimiterOptions options;
  options.max_keys = 2 * keys + 1000;
  auto limiter = std::make_unique<MemoryRateLimiter>(SystemClock::Instance(), options);

  // Rounds: round r sends one request for every key drawn to send more than r.
  int max_requests = 0;
  for (std::uint64_t n = 0; n < keys; ++n) {
    max_requests = std::max(max_requests, MakeKey(n).requests);
  }
  std::uint64_t decisions = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < max_requests; ++round) {
    for (std::uint64_t n = 0; n < keys; ++n) {
      const Key k = MakeKey(n);
      if (k.requests <= round) continue;
      if (!limiter->Check(*k.cls, std::string_view(k.subject)).ok()) {
        std::fprintf(stderr, "rate_limit_memory: Check failed at key %llu\n",
                     static_cast<unsigned long long>(n));
        return 1;
      }
      ++decisions;
    }
  }
  const double fill_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const long rss_after = RssKiB();
  const std::size_t heap_after = HeapBytes();
  const auto c = limiter->counters();
  if (c.keys != keys) {
    std::fprintf(stderr, "rate_limit_memory: the limiter holds %zu keys, expected %llu\n",
                 c.keys, static_cast<unsigned long long>(keys));
    return 1;
  }

  const double rss_bytes = (rss_after - rss_before) * 1024.0;
  const double heap_bytes = static_cast<double>(heap_after - heap_before);
  std::printf("keys %llu (limiter counts %zu live), decisions %llu (%.2f per key; %llu allowed,"
              " %llu refused), fill %.2f s\n",
              static_cast<unsigned long long>(keys), c.keys,
              static_cast<unsigned long long>(decisions), static_cast<double>(decisions) / keys,
              static_cast<unsigned long long>(c.allowed),
              static_cast<unsigned long long>(c.refused), fill_s);
  std::printf("rss_mib %.1f rss_bytes_per_key %.1f heap_mib %.1f heap_bytes_per_key %.1f\n",
              rss_bytes / kMiB, rss_bytes / keys, heap_bytes / kMiB, heap_bytes / keys);
  return 0;
}
