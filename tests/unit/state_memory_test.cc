// Behaviour only the in-memory store has: reclaiming expired entries, the entry cap,
// the hash table under many keys, and the factory.

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "state/memory/memory_state.h"
#include "state/state.h"

namespace gatehouse::state {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string KeyOf(int i) { return "rl:auth:ip:198.51.100." + std::to_string(i); }

TEST(MemoryStateTest, SweepReclaimsExpiredEntries) {
  ManualClock clock;
  MemoryStateOptions options;
  options.sweep_slots_per_write = 0;  // Only Sweep() reclaims here.
  MemoryStateStore store(clock, options);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store.Set(KeyOf(i), "1", seconds(1)).ok());
  ASSERT_TRUE(store.Set("keeper", "1", seconds(60)).ok());

  clock.Advance(seconds(2));
  EXPECT_EQ(store.counters().entries, 1001u);  // Expired but not yet reclaimed.

  std::size_t reclaimed = 0;
  for (int pass = 0; pass < 1000 && store.counters().entries > 1; ++pass) {
    reclaimed += store.Sweep(256);
  }
  EXPECT_EQ(reclaimed, 1000u);
  EXPECT_EQ(store.counters().entries, 1u);
  EXPECT_EQ(store.counters().reclaimed, 1000u);
  EXPECT_EQ(store.Get("keeper").value(), "1");
}

TEST(MemoryStateTest, SweepSpendsOnlyItsBudget) {
  ManualClock clock;
  MemoryStateOptions options;
  options.shards = 1;
  options.sweep_slots_per_write = 0;
  MemoryStateStore store(clock, options);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store.Set(KeyOf(i), "1", seconds(1)).ok());
  clock.Advance(seconds(2));
  // 16 slots examined at most, so at most 16 entries freed in one call.
  const std::size_t freed = store.Sweep(16);
  EXPECT_GT(freed, 0u);
  EXPECT_LE(freed, 16u);
}

TEST(MemoryStateTest, WritesReclaimExpiredEntriesWithoutASweep) {
  ManualClock clock;
  MemoryStateOptions options;
  options.shards = 4;
  MemoryStateStore store(clock, options);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store.Set(KeyOf(i), "1", seconds(1)).ok());
  clock.Advance(seconds(2));
  // Fresh writes to other keys sweep a few slots each: the old keys go without ever
  // being read again.
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(store.Set("fresh" + std::to_string(i), "1", seconds(60)).ok());
  }
  EXPECT_GT(store.counters().reclaimed, 900u);
  EXPECT_LT(store.counters().entries, 2100u);
}

TEST(MemoryStateTest, ReadingAnExpiredEntryReclaimsIt) {
  ManualClock clock;
  MemoryStateOptions options;
  options.sweep_slots_per_write = 0;
  MemoryStateStore store(clock, options);
  ASSERT_TRUE(store.Set("k", "v", seconds(1)).ok());
  clock.Advance(seconds(1));  // Expiry is inclusive: at the deadline the entry is gone.
  EXPECT_FALSE(store.Exists("k").value());
  EXPECT_EQ(store.counters().entries, 0u);
  EXPECT_EQ(store.counters().reclaimed, 1u);
}

TEST(MemoryStateTest, FullStoreRefusesNewKeysButServesExistingOnes) {
  ManualClock clock;
  MemoryStateOptions options;
  options.max_entries = 10;
  MemoryStateStore store(clock, options);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.Set(KeyOf(i), "1", seconds(60)).ok());

  // Every way of creating a key is refused; nothing is evicted to make room.
  auto set = store.Set("new", "v", seconds(60));
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code(), ErrorCode::kResourceExhausted);
  auto once = store.SetIfAbsent("new", "v", seconds(60));
  ASSERT_FALSE(once.ok());
  EXPECT_EQ(once.error().code(), ErrorCode::kResourceExhausted);
  auto count = store.Increment("new", 1, seconds(60));
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(store.counters().rejected_full, 3u);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(store.Exists(KeyOf(i)).value()) << i;

  // Existing keys still change.
  EXPECT_TRUE(store.Set(KeyOf(0), "overwritten", seconds(60)).ok());
  EXPECT_EQ(store.Increment(KeyOf(1), 1, seconds(60)).value(), 2);
  EXPECT_TRUE(store.Expire(KeyOf(2), seconds(120)).value());

  // Room made by a delete is usable at once.
  EXPECT_TRUE(store.Delete(KeyOf(3)).value());
  EXPECT_TRUE(store.Set("new", "v", seconds(60)).ok());
  EXPECT_EQ(store.counters().entries, 10u);
}

TEST(MemoryStateTest, FullStoreReclaimsExpiredEntriesBeforeRefusing) {
  ManualClock clock;
  MemoryStateOptions options;
  options.shards = 1;
  options.max_entries = 10;
  options.sweep_slots_per_write = 0;
  MemoryStateStore store(clock, options);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.Set(KeyOf(i), "1", seconds(1)).ok());
  clock.Advance(seconds(2));
  EXPECT_TRUE(store.Set("new", "v", seconds(60)).ok());
  EXPECT_EQ(store.counters().rejected_full, 0u);
  EXPECT_EQ(store.counters().entries, 1u);
}

TEST(MemoryStateTest, ManyKeysSurviveGrowthDeletionAndShrinking) {
  ManualClock clock;
  MemoryStateOptions options;
  options.shards = 1;  // One table, so growth and backward-shift deletion get exercised.
  options.sweep_slots_per_write = 0;
  MemoryStateStore store(clock, options);
  constexpr int kKeys = 20000;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(store.Set(KeyOf(i), std::to_string(i), seconds(60)).ok());
  }
  for (int i = 0; i < kKeys; i += 2) ASSERT_TRUE(store.Delete(KeyOf(i)).value()) << i;
  for (int i = 0; i < kKeys; ++i) {
    auto value = store.Get(KeyOf(i));
    ASSERT_TRUE(value.ok());
    if (i % 2 == 0) {
      EXPECT_FALSE(value->has_value()) << i;
    } else {
      EXPECT_EQ(*value, std::to_string(i)) << i;
    }
  }

  // Keep a few, expire the rest, sweep: the table shrinks and still finds the few.
  for (int i = 1; i < 100; i += 2) ASSERT_TRUE(store.Expire(KeyOf(i), seconds(600)).ok());
  clock.Advance(seconds(120));
  while (store.Sweep(1 << 20) > 0) {
  }
  EXPECT_EQ(store.counters().entries, 50u);
  for (int i = 1; i < 100; i += 2) EXPECT_TRUE(store.Exists(KeyOf(i)).value()) << i;
}

TEST(MemoryStateTest, ShardCountIsAPowerOfTwoWithinLimits) {
  ManualClock clock;
  EXPECT_EQ(MemoryStateStore(clock, {.shards = 5}).shard_count(), 8u);
  EXPECT_EQ(MemoryStateStore(clock, {.shards = 0}).shard_count(), 1u);
  EXPECT_EQ(MemoryStateStore(clock, {.shards = 1u << 20}).shard_count(), 4096u);
  EXPECT_EQ(MemoryStateStore(clock).shard_count(), 64u);
}

TEST(MemoryStateTest, EntryExpiresExactlyAtItsTtl) {
  ManualClock clock;
  MemoryStateStore store(clock);
  ASSERT_TRUE(store.Set("k", "v", milliseconds(1500)).ok());
  clock.Advance(milliseconds(1499));
  EXPECT_TRUE(store.Exists("k").value());
  clock.Advance(milliseconds(1));
  EXPECT_FALSE(store.Exists("k").value());
}

TEST(OpenStateTest, OpensMemoryAndRefusesUnknownDrivers) {
  ManualClock clock;
  StateOptions options;
  options.driver = "memory";
  auto memory = OpenState(options, clock);
  ASSERT_TRUE(memory.ok());
  EXPECT_EQ((*memory)->driver_name(), "memory");
  EXPECT_EQ((*memory)->script_runner(), nullptr);

  options.driver = "memcached";
  auto unknown = OpenState(options, clock);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gatehouse::state
