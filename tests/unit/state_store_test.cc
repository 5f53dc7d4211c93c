// The StateStore contract, run on both implementations (state_test_support.h).

#include <atomic>
#include <barrier>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "state/state.h"
#include "state_test_support.h"

namespace gatehouse::state {
namespace {

using std::chrono::milliseconds;
using testing::BackendNames;
using testing::MemoryBackend;
using testing::RedisBackend;

template <typename Backend>
class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = backend_.Open();
    ASSERT_TRUE(store.ok()) << store.error().message() << "\n" << store.error().detail();
    store_ = std::move(*store);
  }

  milliseconds Unit() const { return backend_.Unit(); }
  void Elapse(milliseconds d) { backend_.Elapse(d); }

  // Runs `body(i)` on `threads` threads released together, to make races likely.
  static void RunConcurrently(int threads, const std::function<void(int)>& body) {
    std::barrier start(threads);
    std::vector<std::thread> workers;
    for (int i = 0; i < threads; ++i) {
      workers.emplace_back([&, i] {
        start.arrive_and_wait();
        body(i);
      });
    }
    for (auto& worker : workers) worker.join();
  }

  Backend backend_;
  std::unique_ptr<StateStore> store_;
};

using Backends = ::testing::Types<MemoryBackend, RedisBackend>;
TYPED_TEST_SUITE(StateStoreTest, Backends, BackendNames);

const milliseconds kLong = std::chrono::minutes(10);

TYPED_TEST(StateStoreTest, GetOfMissingKeyIsEmpty) {
  auto value = this->store_->Get("missing");
  ASSERT_TRUE(value.ok()) << value.error().detail();
  EXPECT_FALSE(value->has_value());
}

TYPED_TEST(StateStoreTest, SetThenGetReturnsTheValue) {
  ASSERT_TRUE(this->store_->Set("k", "first", kLong).ok());
  EXPECT_EQ(this->store_->Get("k").value(), "first");

  // Overwrite with values of other sizes (memory reallocates the entry then).
  ASSERT_TRUE(this->store_->Set("k", "a much longer second value", kLong).ok());
  EXPECT_EQ(this->store_->Get("k").value(), "a much longer second value");
  ASSERT_TRUE(this->store_->Set("k", "3rd", kLong).ok());
  EXPECT_EQ(this->store_->Get("k").value(), "3rd");
}

TYPED_TEST(StateStoreTest, EmptyValueIsAValue) {
  ASSERT_TRUE(this->store_->Set("empty", "", kLong).ok());
  auto value = this->store_->Get("empty");
  ASSERT_TRUE(value.ok());
  ASSERT_TRUE(value->has_value());
  EXPECT_EQ(**value, "");
  EXPECT_TRUE(this->store_->Exists("empty").value());
}

TYPED_TEST(StateStoreTest, SetIfAbsentStoresOnlyTheFirstValue) {
  EXPECT_TRUE(this->store_->SetIfAbsent("once", "one", kLong).value());
  EXPECT_FALSE(this->store_->SetIfAbsent("once", "two", kLong).value());
  EXPECT_EQ(this->store_->Get("once").value(), "one");
}

TYPED_TEST(StateStoreTest, DeleteReportsWhetherTheKeyWasThere) {
  ASSERT_TRUE(this->store_->Set("gone", "x", kLong).ok());
  EXPECT_TRUE(this->store_->Delete("gone").value());
  EXPECT_FALSE(this->store_->Delete("gone").value());
  EXPECT_FALSE(this->store_->Get("gone").value().has_value());
}

TYPED_TEST(StateStoreTest, TakeReturnsTheValueOnce) {
  ASSERT_TRUE(this->store_->Set("ticket", "mfa-123", kLong).ok());
  EXPECT_EQ(this->store_->Take("ticket").value(), "mfa-123");
  EXPECT_FALSE(this->store_->Take("ticket").value().has_value());
  EXPECT_FALSE(this->store_->Exists("ticket").value());
}

TYPED_TEST(StateStoreTest, IncrementCountsFromZeroAndReadsBackAsText) {
  EXPECT_EQ(this->store_->Increment("count", 1, kLong).value(), 1);
  EXPECT_EQ(this->store_->Increment("count", 5, kLong).value(), 6);
  EXPECT_EQ(this->store_->Increment("count", -10, kLong).value(), -4);
  EXPECT_EQ(this->store_->Get("count").value(), "-4");

  // A counter written with Set is a counter too.
  ASSERT_TRUE(this->store_->Set("preset", "41", kLong).ok());
  EXPECT_EQ(this->store_->Increment("preset", 1, kLong).value(), 42);
}

TYPED_TEST(StateStoreTest, IncrementRefusesNonCountersAndOverflow) {
  ASSERT_TRUE(this->store_->Set("text", "abc", kLong).ok());
  auto text = this->store_->Increment("text", 1, kLong);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code(), ErrorCode::kFailedPrecondition);

  ASSERT_TRUE(this->store_->Set("big", "9223372036854775807", kLong).ok());
  auto overflow = this->store_->Increment("big", 1, kLong);
  ASSERT_FALSE(overflow.ok());
  EXPECT_EQ(overflow.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(this->store_->Get("big").value(), "9223372036854775807");
}

TYPED_TEST(StateStoreTest, EntriesExpireAfterTheirTtl) {
  const milliseconds unit = this->Unit();
  ASSERT_TRUE(this->store_->Set("short", "v", 2 * unit).ok());
  this->Elapse(unit);
  EXPECT_EQ(this->store_->Get("short").value(), "v");

  this->Elapse(unit + unit / 2);
  EXPECT_FALSE(this->store_->Get("short").value().has_value());
  EXPECT_FALSE(this->store_->Exists("short").value());
  EXPECT_FALSE(this->store_->Take("short").value().has_value());
  EXPECT_FALSE(this->store_->Ttl("short").value().has_value());
  // The key is free again.
  EXPECT_TRUE(this->store_->SetIfAbsent("short", "w", kLong).value());
}

TYPED_TEST(StateStoreTest, IncrementDoesNotExtendItsWindow) {
  const milliseconds unit = this->Unit();
  // Four units of window, one elapsed: a machine stalled for up to three more (Redis runs
  // on real time) still finds the window open.
  EXPECT_EQ(this->store_->Increment("window", 1, 4 * unit).value(), 1);
  this->Elapse(unit);
  // A later increment with a long TTL must not push the window's end out.
  EXPECT_EQ(this->store_->Increment("window", 1, kLong).value(), 2);
  auto left = this->store_->Ttl("window");
  ASSERT_TRUE(left.ok());
  ASSERT_TRUE(left->has_value());
  EXPECT_LE(**left, 3 * unit);

  this->Elapse(3 * unit + unit / 2);
  EXPECT_FALSE(this->store_->Exists("window").value());
  EXPECT_EQ(this->store_->Increment("window", 1, 2 * unit).value(), 1);
}

TYPED_TEST(StateStoreTest, ExpireGivesAFreshTtl) {
  const milliseconds unit = this->Unit();
  EXPECT_FALSE(this->store_->Expire("absent", unit).value());
  EXPECT_FALSE(this->store_->Exists("absent").value());

  ASSERT_TRUE(this->store_->Set("session", "s", 2 * unit).ok());
  this->Elapse(unit);
  EXPECT_TRUE(this->store_->Touch("session", 3 * unit).value());
  this->Elapse(unit + unit / 2);  // Past the first TTL, within the second.
  EXPECT_EQ(this->store_->Get("session").value(), "s");
}

TYPED_TEST(StateStoreTest, SetReplacesTheTtl) {
  const milliseconds unit = this->Unit();
  ASSERT_TRUE(this->store_->Set("k", "old", kLong).ok());
  ASSERT_TRUE(this->store_->Set("k", "new", 2 * unit).ok());
  auto left = this->store_->Ttl("k");
  ASSERT_TRUE(left.ok());
  ASSERT_TRUE(left->has_value());
  EXPECT_LE(**left, 2 * unit);
  EXPECT_GT(**left, milliseconds(0));
}

TYPED_TEST(StateStoreTest, TtlReportsTheTimeLeft) {
  EXPECT_FALSE(this->store_->Ttl("absent").value().has_value());
  ASSERT_TRUE(this->store_->Set("k", "v", kLong).ok());
  auto left = this->store_->Ttl("k");
  ASSERT_TRUE(left.ok());
  ASSERT_TRUE(left->has_value());
  EXPECT_LE(**left, kLong);
  EXPECT_GT(**left, kLong - std::chrono::seconds(5));
}

TYPED_TEST(StateStoreTest, BinaryKeysAndValuesRoundTrip) {
  static constexpr char kKey[] = "k\0ey\xff\r\n";
  static constexpr char kValue[] = "\0\x01\x02\xff\r\n$3\r\nSET\0";
  const std::string key(kKey, sizeof(kKey) - 1);  // Without the terminating NUL.
  const std::string value(kValue, sizeof(kValue) - 1);
  ASSERT_TRUE(this->store_->Set(key, value, kLong).ok());
  EXPECT_EQ(this->store_->Get(key).value(), value);
  // A key that differs only after the NUL is another key.
  EXPECT_FALSE(this->store_->Exists(std::string("k\0ez", 4)).value());
  EXPECT_FALSE(this->store_->Exists("k").value());
  EXPECT_EQ(this->store_->Take(key).value(), value);
}

TYPED_TEST(StateStoreTest, LargestKeyAndValueAreAccepted) {
  const std::string key(kMaxKeySize, 'k');
  std::string value(kMaxValueSize, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(this->store_->Set(key, value, kLong).ok());
  EXPECT_EQ(this->store_->Get(key).value(), value);
}

TYPED_TEST(StateStoreTest, OversizedOrEmptyInputIsRejected) {
  const std::string long_key(kMaxKeySize + 1, 'k');
  const std::string long_value(kMaxValueSize + 1, 'v');
  auto expect_invalid = [](const auto& result, const char* what) {
    ASSERT_FALSE(result.ok()) << what;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << what;
  };
  StateStore& s = *this->store_;
  for (const std::string& bad : {long_key, std::string()}) {
    expect_invalid(s.Get(bad), "Get");
    expect_invalid(s.Set(bad, "v", kLong), "Set");
    expect_invalid(s.SetIfAbsent(bad, "v", kLong), "SetIfAbsent");
    expect_invalid(s.Delete(bad), "Delete");
    expect_invalid(s.Take(bad), "Take");
    expect_invalid(s.Increment(bad, 1, kLong), "Increment");
    expect_invalid(s.Expire(bad, kLong), "Expire");
    expect_invalid(s.Exists(bad), "Exists");
    expect_invalid(s.Ttl(bad), "Ttl");
    std::optional<Result<std::optional<std::string>>> async;
    s.GetAsync(bad, [&](Result<std::optional<std::string>> r) { async.emplace(std::move(r)); });
    ASSERT_TRUE(async.has_value());  // Refused before anything is sent: at once.
    expect_invalid(*async, "GetAsync");
  }
  expect_invalid(s.Set("k", long_value, kLong), "Set value");
  expect_invalid(s.SetIfAbsent("k", long_value, kLong), "SetIfAbsent value");
  for (milliseconds ttl : {milliseconds(0), milliseconds(-5), kMaxTtl + milliseconds(1)}) {
    expect_invalid(s.Set("k", "v", ttl), "Set ttl");
    expect_invalid(s.SetIfAbsent("k", "v", ttl), "SetIfAbsent ttl");
    expect_invalid(s.Increment("k", 1, ttl), "Increment ttl");
    expect_invalid(s.Expire("k", ttl), "Expire ttl");
  }
  // Nothing was stored on the way.
  EXPECT_FALSE(s.Exists("k").value());
}

TYPED_TEST(StateStoreTest, AsyncGetAndExistsComplete) {
  ASSERT_TRUE(this->store_->Set("hot", "jti", kLong).ok());
  std::promise<Result<std::optional<std::string>>> got;
  std::promise<Result<bool>> exists;
  std::promise<Result<bool>> missing;
  this->store_->GetAsync("hot", [&](auto r) { got.set_value(std::move(r)); });
  this->store_->ExistsAsync("hot", [&](auto r) { exists.set_value(std::move(r)); });
  this->store_->ExistsAsync("cold", [&](auto r) { missing.set_value(std::move(r)); });
  EXPECT_EQ(got.get_future().get().value(), "jti");
  EXPECT_TRUE(exists.get_future().get().value());
  EXPECT_FALSE(missing.get_future().get().value());
}

TYPED_TEST(StateStoreTest, TakeHasOneWinnerAmongConcurrentTakers) {
  constexpr int kThreads = 16;
  for (int round = 0; round < 10; ++round) {
    const std::string key = "ticket" + std::to_string(round);
    ASSERT_TRUE(this->store_->Set(key, "secret-ticket", kLong).ok());
    std::atomic<int> winners{0};
    std::atomic<int> errors{0};
    this->RunConcurrently(kThreads, [&](int) {
      auto taken = this->store_->Take(key);
      if (!taken.ok())
        ++errors;
      else if (taken->has_value() && **taken == "secret-ticket")
        ++winners;
    });
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(winners.load(), 1) << "round " << round;
  }
}

TYPED_TEST(StateStoreTest, SetIfAbsentHasOneWinnerAmongConcurrentWriters) {
  constexpr int kThreads = 16;
  for (int round = 0; round < 10; ++round) {
    const std::string key = "lock" + std::to_string(round);
    std::atomic<int> winners{0};
    std::atomic<int> errors{0};
    std::atomic<int> winner_id{-1};
    this->RunConcurrently(kThreads, [&](int i) {
      auto set = this->store_->SetIfAbsent(key, std::to_string(i), kLong);
      if (!set.ok())
        ++errors;
      else if (*set) {
        ++winners;
        winner_id = i;
      }
    });
    EXPECT_EQ(errors.load(), 0);
    ASSERT_EQ(winners.load(), 1) << "round " << round;
    EXPECT_EQ(this->store_->Get(key).value(), std::to_string(winner_id.load()));
  }
}

TYPED_TEST(StateStoreTest, ConcurrentIncrementsAreExact) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 1000;
  std::atomic<int> errors{0};
  this->RunConcurrently(kThreads, [&](int) {
    for (int i = 0; i < kPerThread; ++i) {
      if (!this->store_->Increment("hits", 1, kLong).ok()) ++errors;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(this->store_->Get("hits").value(), std::to_string(kThreads * kPerThread));
}

}  // namespace
}  // namespace gatehouse::state
