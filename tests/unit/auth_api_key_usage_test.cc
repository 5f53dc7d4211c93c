#include "auth/api_key_usage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "auth/api_key_cache.h"

namespace gatehouse::auth {
namespace {

using std::chrono::seconds;
using Kind = ApiKeyCache::Lookup::Kind;

std::shared_ptr<const CachedApiKey> Key(std::string id) {
  auto key = std::make_shared<CachedApiKey>();
  key->id = std::move(id);
  key->owner_id = "acc_1";
  return key;
}

crypto::Sha256Digest Digest(std::uint8_t seed) {
  crypto::Sha256Digest d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return d;
}

const UsageSample* Find(const std::vector<UsageSample>& samples, std::string_view id) {
  auto it = std::find_if(samples.begin(), samples.end(),
                         [&](const UsageSample& s) { return s.delta.key_id == id; });
  return it == samples.end() ? nullptr : &*it;
}

TEST(ApiKeyUsage, AggregatesRequestsPerKeyUntilDrained) {
  ApiKeyUsage usage;
  auto a = Key("key_a");
  auto b = Key("key_b");
  for (int i = 0; i < 100; ++i) usage.Record(a, 1000 + i, "203.0.113.7");
  usage.Record(b, 1050, "2001:db8:85a3::7");

  std::vector<UsageSample> drained = usage.Drain();
  ASSERT_EQ(drained.size(), 2u);
  const UsageSample* sa = Find(drained, "key_a");
  ASSERT_NE(sa, nullptr);
  EXPECT_EQ(sa->delta.count, 100);
  EXPECT_EQ(sa->delta.last_used_at, 1099);
  EXPECT_EQ(sa->key, a);
  EXPECT_EQ(Find(drained, "key_b")->delta.count, 1);
  EXPECT_TRUE(usage.Drain().empty());  // Drained means gone.
}

TEST(ApiKeyUsage, AddressesLeaveOnlyAsTheirNetwork) {
  ApiKeyUsage usage;
  usage.Record(Key("key_a"), 1, "203.0.113.7");
  usage.Record(Key("key_b"), 1, "2001:db8:85a3::7");
  std::vector<UsageSample> drained = usage.Drain();
  EXPECT_EQ(Find(drained, "key_a")->delta.last_ip, "203.0.113.0/24");
  EXPECT_EQ(Find(drained, "key_b")->delta.last_ip, "2001:db8:85a3::/48");
}

TEST(ApiKeyUsage, KeepsTheNewestUseAndItsAddress) {
  ApiKeyUsage usage;
  auto a = Key("key_a");
  usage.Record(a, 2000, "198.51.100.1");
  usage.Record(a, 1999, "192.0.2.1");  // Late arrival of an older request.
  std::vector<UsageSample> drained = usage.Drain();
  EXPECT_EQ(drained[0].delta.count, 2);
  EXPECT_EQ(drained[0].delta.last_used_at, 2000);
  EXPECT_EQ(drained[0].delta.last_ip, "198.51.100.0/24");
}

TEST(ApiKeyUsage, RestoreMergesAFailedFlushBack) {
  ApiKeyUsage usage;
  auto a = Key("key_a");
  for (int i = 0; i < 5; ++i) usage.Record(a, 100, "203.0.113.7");
  std::vector<UsageSample> failed = usage.Drain();
  usage.Record(a, 90, "198.51.100.1");  // Arrived during the failed flush, older.

  usage.Restore(failed);

  std::vector<UsageSample> drained = usage.Drain();
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained[0].delta.count, 6);
  EXPECT_EQ(drained[0].delta.last_used_at, 100);
  EXPECT_EQ(drained[0].delta.last_ip, "203.0.113.0/24");
}

TEST(ApiKeyUsage, PendingShowsWhatIsNotFlushed) {
  ApiKeyUsage usage;
  usage.Record(Key("key_a"), 7, "203.0.113.7");
  ASSERT_TRUE(usage.Pending("key_a"));
  EXPECT_EQ(usage.Pending("key_a")->count, 1);
  EXPECT_FALSE(usage.Pending("key_b"));
  (void)usage.Drain();
  EXPECT_FALSE(usage.Pending("key_a"));
}

TEST(ApiKeyUsage, CountsEveryRequestFromManyThreads) {
  ApiKeyUsage usage;
  auto a = Key("key_a");
  std::vector<std::thread> threads;
  std::vector<UsageSample> collected;
  std::mutex mu;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) usage.Record(a, i, "203.0.113.7");
    });
  }
  // A flusher draining meanwhile must not lose any request either.
  threads.emplace_back([&] {
    for (int i = 0; i < 50; ++i) {
      std::vector<UsageSample> part = usage.Drain();
      std::lock_guard lock(mu);
      for (UsageSample& s : part) collected.push_back(std::move(s));
    }
  });
  for (std::thread& t : threads) t.join();
  for (UsageSample& s : usage.Drain()) collected.push_back(std::move(s));
  std::int64_t total = 0;
  for (const UsageSample& s : collected) total += s.delta.count;
  EXPECT_EQ(total, 20000);
}

TEST(ApiKeyCache, RemembersKnownAndUnknownHashesForTheTtl) {
  ApiKeyCache cache(64, seconds(60));
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  cache.RememberKnown(Digest(1), Key("key_a"), t0);
  cache.RememberUnknown(Digest(2), t0);

  EXPECT_EQ(cache.Find(Digest(1), t0 + seconds(59)).kind, Kind::kKnown);
  EXPECT_EQ(cache.Find(Digest(1), t0).key->id, "key_a");
  EXPECT_EQ(cache.Find(Digest(2), t0 + seconds(59)).kind, Kind::kUnknown);
  EXPECT_EQ(cache.Find(Digest(3), t0).kind, Kind::kMiss);
  EXPECT_EQ(cache.Find(Digest(1), t0 + seconds(60)).kind, Kind::kMiss);
  EXPECT_EQ(cache.Find(Digest(2), t0 + seconds(60)).kind, Kind::kMiss);
}

TEST(ApiKeyCache, AHitNeedsTheWholeHash) {
  ApiKeyCache cache(64, seconds(60));
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  cache.RememberKnown(Digest(1), Key("key_a"), t0);
  crypto::Sha256Digest near = Digest(1);
  near[31] ^= 1;  // Same slot and shard, different hash.
  EXPECT_EQ(cache.Find(near, t0).kind, Kind::kMiss);
}

TEST(ApiKeyCache, UnknownFloodsCannotEvictKnownKeys) {
  ApiKeyCache cache(16, seconds(60));
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  for (std::uint8_t i = 0; i < 8; ++i) cache.RememberKnown(Digest(i), Key("k"), t0);
  const std::size_t known = cache.known_size();
  for (int i = 0; i < 10000; ++i) {
    crypto::Sha256Digest d{};
    for (std::size_t j = 0; j < d.size(); ++j) d[j] = static_cast<std::uint8_t>(i * 7 + j * i);
    d[0] = static_cast<std::uint8_t>(i);
    d[1] = static_cast<std::uint8_t>(i >> 8);
    cache.RememberUnknown(d, t0);
  }
  EXPECT_EQ(cache.known_size(), known);
  EXPECT_LE(cache.unknown_size(), 16u);  // A quarter of 16 per shard: one each.
}

TEST(ApiKeyCache, StaysWithinItsCapacity) {
  ApiKeyCache cache(32, seconds(60));
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  for (int i = 0; i < 5000; ++i) {
    crypto::Sha256Digest d{};
    d[0] = static_cast<std::uint8_t>(i);
    d[1] = static_cast<std::uint8_t>(i >> 8);
    d[8] = static_cast<std::uint8_t>(i * 13);
    cache.RememberKnown(d, Key("k"), t0);
  }
  EXPECT_LE(cache.known_size(), 32u);
}

TEST(ApiKeyCache, ZeroCapacityKeepsNothing) {
  ApiKeyCache cache(0, seconds(60));
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  cache.RememberKnown(Digest(1), Key("key_a"), t0);
  EXPECT_EQ(cache.Find(Digest(1), t0).kind, Kind::kMiss);
}

TEST(ApiKeyCache, ForgetDropsAnEntry) {
  ApiKeyCache cache(64, seconds(60));
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  cache.RememberKnown(Digest(1), Key("key_a"), t0);
  cache.Forget(Digest(1));
  EXPECT_EQ(cache.Find(Digest(1), t0).kind, Kind::kMiss);
}

}  // namespace
}  // namespace gatehouse::auth
