// The brute-force guard on both state backends. Memory takes its expiry from a ManualClock,
// so every edge is checked to the millisecond; Redis keeps real time (its own TTLs), so the
// same bodies run with durations in units of 200 ms and a tolerance for scheduling.

#include "protect/brute_force.h"

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "state/memory/memory_state.h"
#include "state/redis/redis_state.h"
#include "state_test_support.h"

namespace gatehouse::protect {
namespace {

using std::chrono::milliseconds;

class MemoryGuardBackend {
 public:
  static constexpr std::string_view kName = "memory";

  Status Open() {
    state::MemoryStateOptions options;
    options.shards = 8;
    store_ = std::make_unique<state::MemoryStateStore>(clock_, options);
    return Ok();
  }
  state::StateStore& store() { return *store_; }

  // The time scale of the test durations, and how far real time may overshoot an intended
  // instant (none: the clock moves only when told).
  milliseconds Unit() const { return std::chrono::seconds(1); }
  milliseconds Slack() const { return milliseconds(0); }
  void Elapse(milliseconds d) { clock_.Advance(d); }

 private:
  ManualClock clock_;
  std::unique_ptr<state::MemoryStateStore> store_;
};

class RedisGuardBackend {
 public:
  static constexpr std::string_view kName = "redis";

  Status Open() {
    auto options = state::testing::RedisTestOptions();
    if (!options.ok()) return std::move(options).error();
    auto store = state::OpenRedisState(*options);
    if (!store.ok()) return std::move(store).error();
    store_ = std::move(*store);
    return Ok();
  }
  state::StateStore& store() { return *store_; }

  milliseconds Unit() const { return milliseconds(200); }
  milliseconds Slack() const { return milliseconds(80); }
  void Elapse(milliseconds d) { std::this_thread::sleep_for(d); }

 private:
  std::unique_ptr<state::RedisStateStore> store_;
};

// A 64-digit hex account key, as the caller's HMAC would give.
std::string AccountKey(int n) {
  char tail[17];
  std::snprintf(tail, sizeof(tail), "%016x", n);
  return std::string(48, 'a') + tail;
}

std::string Ip(int n) { return "192.0.2." + std::to_string(n); }

constexpr std::string_view kDeviceA = "0123456789abcdef0123456789abcdef";
constexpr std::string_view kDeviceB = "fedcba9876543210fedcba9876543210";

template <typename Backend>
class BruteForceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = backend_.Open();
    ASSERT_TRUE(opened.ok()) << opened.error().detail();
  }

  milliseconds U() const { return backend_.Unit(); }
  milliseconds Slack() const { return backend_.Slack(); }
  void Elapse(milliseconds d) { backend_.Elapse(d); }
  // Moves to just before an instant `d` after the last state change (still inside), or just
  // after it (already past), allowing for the backend's slack either way.
  void ElapseToJustBefore(milliseconds d) { Elapse(d - Slack() - milliseconds(1)); }
  void ElapseAcrossTheEdge() { Elapse(milliseconds(1) + 2 * Slack()); }

  // Durations in units, with progressive delays that tests can watch.
  BruteForceOptions Timed() const {
    BruteForceOptions o;
    o.captcha_after = 3;
    o.lock_after = 5;
    o.lock_duration = 5 * U();
    o.failure_window = 100 * U();
    o.delay_base = U();
    o.delay_cap = 4 * U();
    o.ip_window = 100 * U();
    o.ip_block_threshold = 20;
    o.ip_block_base = 5 * U();
    o.ip_block_cap = 20 * U();
    o.ip_block_memory = 200 * U();
    return o;
  }
  // The same with 1 ms delays, for tests about something else.
  BruteForceOptions Fast() const {
    BruteForceOptions o = Timed();
    o.delay_base = milliseconds(1);
    o.delay_cap = milliseconds(1);
    return o;
  }

  BruteForceGuard& Make(BruteForceOptions options) {
    auto guard = BruteForceGuard::Create(backend_.store(), options);
    EXPECT_TRUE(guard.ok()) << guard.error().detail();
    guard_ = std::move(*guard);
    return *guard_;
  }

  // The request views `account` and `ip`: they must outlive it.
  static AttemptRequest Request(const std::string& account, const std::string& ip,
                                bool captcha = true) {
    AttemptRequest r;
    r.account_key = account;
    r.ip = ip;
    r.captcha_solved = captcha;
    return r;
  }

  Admission Begin(const AttemptRequest& r) {
    auto admission = guard_->Begin(r);
    EXPECT_TRUE(admission.ok()) << admission.error().detail();
    return admission.ok() ? std::move(*admission) : Admission{};
  }

  // Begin, first waiting out a 1 ms delay (of Fast() options) left by the last failure.
  // Waiting before rather than after a failure keeps the time of a lock or block start
  // where the test can measure from it.
  Admission BeginPastDelay(const AttemptRequest& r) {
    Admission admission = Begin(r);
    if (admission.refusal == Refusal::kDelayed && admission.retry_after <= milliseconds(1)) {
      Elapse(admission.retry_after +
             (Slack() > milliseconds(0) ? milliseconds(2) : milliseconds(0)));
      admission = Begin(r);
    }
    return admission;
  }

  // One admitted attempt that fails.
  FailureOutcome Fail(const AttemptRequest& r) {
    Admission admission = BeginPastDelay(r);
    EXPECT_TRUE(admission.allowed) << RefusalName(admission.refusal);
    if (!admission.allowed) return {};
    auto outcome = guard_->RecordFailure(std::move(*admission.attempt));
    EXPECT_TRUE(outcome.ok()) << outcome.error().detail();
    if (!outcome.ok()) return {};
    return *outcome;
  }

  void Succeed(const AttemptRequest& r) {
    Admission admission = BeginPastDelay(r);
    ASSERT_TRUE(admission.allowed) << RefusalName(admission.refusal);
    ASSERT_TRUE(guard_->RecordSuccess(std::move(*admission.attempt)).ok());
  }

  // Fails until the lock starts; the last outcome.
  FailureOutcome FailUntilLocked(const AttemptRequest& r) {
    FailureOutcome last;
    for (std::uint32_t i = 0; i < guard_->options().lock_after; ++i) last = Fail(r);
    EXPECT_TRUE(last.lock_started);
    return last;
  }

  // Memory: exact. Redis: the TTL read back is at most `expected` and at least
  // `expected - slack`.
  void ExpectAbout(milliseconds actual, milliseconds expected) {
    if (Slack() == milliseconds(0)) {
      EXPECT_EQ(actual.count(), expected.count());
    } else {
      EXPECT_LE(actual.count(), expected.count());
      EXPECT_GE(actual.count(), (expected - Slack()).count());
    }
  }

  std::uint32_t Failures(const std::string& account, Factor factor = Factor::kPassword) {
    auto state = guard_->GetLockState(account, factor);
    EXPECT_TRUE(state.ok());
    return state.ok() ? state->failures : 0;
  }

  // Runs `body(i)` on `threads` threads released together.
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
  std::unique_ptr<BruteForceGuard> guard_;
};

struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    return std::string(T::kName);
  }
};

using Backends = ::testing::Types<MemoryGuardBackend, RedisGuardBackend>;
TYPED_TEST_SUITE(BruteForceTest, Backends, BackendNames);

TYPED_TEST(BruteForceTest, LockStartsAtTheLockAfterthFailureAndEndsExactlyAfterItsDuration) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(1);
  const std::string ip = Ip(1);
  const auto r = this->Request(account, ip);

  for (std::uint32_t k = 1; k < 5; ++k) {
    const FailureOutcome outcome = this->Fail(r);
    EXPECT_EQ(outcome.failures, k);
    EXPECT_FALSE(outcome.lock_started);
  }
  Admission fifth = this->BeginPastDelay(r);
  ASSERT_TRUE(fifth.allowed);
  EXPECT_EQ(fifth.attempt->ordinal(), 5u);
  auto locked = guard.RecordFailure(std::move(*fifth.attempt));
  ASSERT_TRUE(locked.ok());
  EXPECT_TRUE(locked->lock_started);
  EXPECT_EQ(locked->scope, LockScope::kAccount);
  EXPECT_EQ(locked->failures, 5u);
  EXPECT_EQ(locked->retry_after, 5 * this->U());
  EXPECT_EQ(guard.counters().locks_started, 1u);

  Admission refused = this->Begin(r);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.refusal, Refusal::kLocked);
  EXPECT_FALSE(refused.attempt.has_value());
  this->ExpectAbout(refused.retry_after, 5 * this->U());
  auto state = guard.GetLockState(account, Factor::kPassword);
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->locked);
  EXPECT_EQ(state->failures, 5u);
  this->ExpectAbout(state->lock_remaining, 5 * this->U());

  this->ElapseToJustBefore(5 * this->U());
  Admission last_moment = this->Begin(r);
  EXPECT_EQ(last_moment.refusal, Refusal::kLocked);
  EXPECT_LE(last_moment.retry_after, this->Slack() + milliseconds(1));
  if (this->Slack() == milliseconds(0)) {
    EXPECT_EQ(last_moment.retry_after, milliseconds(1));
  }

  this->ElapseAcrossTheEdge();
  Admission after = this->Begin(r);
  ASSERT_TRUE(after.allowed) << RefusalName(after.refusal);
  // The counter expired with the lock: a fresh start, no CAPTCHA from the account.
  EXPECT_EQ(after.attempt->ordinal(), 1u);
  EXPECT_FALSE(guard.GetLockState(account, Factor::kPassword)->locked);
  ASSERT_TRUE(guard.Release(std::move(*after.attempt)).ok());
}

TYPED_TEST(BruteForceTest, RefusalsWhileLockedDoNotExtendTheLock) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(2);
  const std::string ip = Ip(2);
  const auto r = this->Request(account, ip);
  this->FailUntilLocked(r);

  this->Elapse(2 * this->U());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(this->Begin(r).refusal, Refusal::kLocked);
  auto state = guard.GetLockState(account, Factor::kPassword);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->failures, 5u);
  this->ExpectAbout(state->lock_remaining, 3 * this->U());
  EXPECT_EQ(guard.counters().refused_locked, 10u);

  this->ElapseToJustBefore(3 * this->U());
  EXPECT_EQ(this->Begin(r).refusal, Refusal::kLocked);
  this->ElapseAcrossTheEdge();
  EXPECT_TRUE(this->Begin(r).allowed);
}

TYPED_TEST(BruteForceTest, ProgressiveDelayDoublesUpToItsCapAndEndsExactly) {
  auto& guard = this->Make(this->Timed());
  const std::string account = AccountKey(3);
  const std::string ip = Ip(3);
  const auto r = this->Request(account, ip);

  // After failure k the wait is U * 2^(k-1), capped at 4U: U, 2U, 4U, 4U.
  const milliseconds expected[] = {this->U(), 2 * this->U(), 4 * this->U(), 4 * this->U()};
  for (int k = 1; k <= 4; ++k) {
    Admission admitted = this->Begin(r);
    ASSERT_TRUE(admitted.allowed) << "attempt " << k << ": " << RefusalName(admitted.refusal);
    auto outcome = guard.RecordFailure(std::move(*admitted.attempt));
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(outcome->retry_after, expected[k - 1]) << k;

    Admission early = this->Begin(r);
    EXPECT_EQ(early.refusal, Refusal::kDelayed) << k;
    this->ExpectAbout(early.retry_after, expected[k - 1]);
    this->ElapseToJustBefore(expected[k - 1]);
    EXPECT_EQ(this->Begin(r).refusal, Refusal::kDelayed) << k;
    this->ElapseAcrossTheEdge();
  }
  // Refusals during the delays counted nothing: the fifth attempt is the fifth failure.
  EXPECT_EQ(guard.counters().refused_delayed, 8u);
  Admission fifth = this->Begin(r);
  ASSERT_TRUE(fifth.allowed);
  EXPECT_EQ(fifth.attempt->ordinal(), 5u);
  auto locked = guard.RecordFailure(std::move(*fifth.attempt));
  ASSERT_TRUE(locked.ok());
  EXPECT_TRUE(locked->lock_started);
  // A lock, not a delay, follows the last failure.
  EXPECT_EQ(this->Begin(r).refusal, Refusal::kLocked);
}

TYPED_TEST(BruteForceTest, CaptchaIsRequiredAfterThreeAccountFailures) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(4);
  const std::string ip = Ip(4);
  for (int k = 1; k <= 3; ++k) {
    Admission admitted = this->Begin(this->Request(account, ip, /*captcha=*/false));
    ASSERT_TRUE(admitted.allowed) << k;
    EXPECT_FALSE(admitted.captcha_required) << k;
    ASSERT_TRUE(guard.RecordFailure(std::move(*admitted.attempt)).ok());
    this->Elapse(milliseconds(3));
  }

  Admission without = this->Begin(this->Request(account, ip, /*captcha=*/false));
  EXPECT_FALSE(without.allowed);
  EXPECT_EQ(without.refusal, Refusal::kCaptchaRequired);
  EXPECT_TRUE(without.captcha_required);
  EXPECT_EQ(without.retry_after, milliseconds(0));
  // Refused for the CAPTCHA: not a failure, and nothing else changed either.
  EXPECT_EQ(this->Failures(account), 3u);
  EXPECT_EQ(guard.counters().refused_captcha, 1u);

  Admission with = this->Begin(this->Request(account, ip, /*captcha=*/true));
  ASSERT_TRUE(with.allowed);
  EXPECT_TRUE(with.captcha_required);
  EXPECT_EQ(with.attempt->ordinal(), 4u);
}

TYPED_TEST(BruteForceTest, CaptchaIsRequiredAfterThreeFailuresFromOneIpAcrossAccounts) {
  this->Make(this->Fast());
  const std::string ip = Ip(5);
  for (int n = 0; n < 3; ++n) this->Fail(this->Request(AccountKey(100 + n), ip, false));

  // A fresh account from the same address needs one; from another address it does not.
  const std::string fresh = AccountKey(200);
  Admission same_ip = this->Begin(this->Request(fresh, ip, false));
  EXPECT_EQ(same_ip.refusal, Refusal::kCaptchaRequired);
  const std::string other_ip = Ip(6);
  Admission elsewhere = this->Begin(this->Request(fresh, other_ip, false));
  EXPECT_TRUE(elsewhere.allowed);
  EXPECT_FALSE(elsewhere.captcha_required);
}

TYPED_TEST(BruteForceTest, UnknownAndKnownAccountsAreTreatedAlike) {
  auto& guard = this->Make(this->Fast());
  // The guard sees only opaque keys: one for a registered address, one for an address no
  // account has. The same sequence must give the same answers.
  struct Step {
    bool allowed;
    Refusal refusal;
    bool captcha;
    std::uint32_t failures;
    bool lock_started;
  };
  auto run = [&](const std::string& account, const std::string& ip) {
    std::vector<Step> steps;
    for (int i = 0; i < 8; ++i) {
      const bool solve = i % 2 == 0;
      Admission admission = this->Begin(this->Request(account, ip, solve));
      Step step{admission.allowed, admission.refusal, admission.captcha_required, 0, false};
      if (admission.allowed) {
        auto outcome = guard.RecordFailure(std::move(*admission.attempt));
        EXPECT_TRUE(outcome.ok());
        step.failures = outcome->failures;
        step.lock_started = outcome->lock_started;
        this->Elapse(milliseconds(3));
      }
      steps.push_back(step);
    }
    return steps;
  };
  const std::string known = AccountKey(7);
  const std::string unknown = AccountKey(8);
  const auto a = run(known, Ip(7));
  const auto b = run(unknown, Ip(8));
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].allowed, b[i].allowed) << i;
    EXPECT_EQ(a[i].refusal, b[i].refusal) << i;
    EXPECT_EQ(a[i].captcha, b[i].captcha) << i;
    EXPECT_EQ(a[i].failures, b[i].failures) << i;
    EXPECT_EQ(a[i].lock_started, b[i].lock_started) << i;
  }
  // And both ended locked.
  EXPECT_TRUE(guard.GetLockState(known, Factor::kPassword)->locked);
  EXPECT_TRUE(guard.GetLockState(unknown, Factor::kPassword)->locked);
}

TYPED_TEST(BruteForceTest, FiftyParallelAttemptsGetExactlyLockAfterReservations) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(9);
  const std::string ip = Ip(9);
  constexpr int kThreads = 50;

  // Every thread reserves before any records its failure: the hardest case, where all 50
  // requests are in flight at once.
  std::vector<std::optional<Attempt>> attempts(kThreads);
  std::vector<Refusal> refusals(kThreads, Refusal::kNone);
  std::atomic<int> errors{0};
  std::barrier reserved(kThreads);
  std::atomic<int> locks{0};
  this->RunConcurrently(kThreads, [&](int i) {
    auto admission = guard.Begin(this->Request(account, ip));
    if (!admission.ok()) {
      ++errors;
    } else {
      refusals[i] = admission->refusal;
      attempts[i] = std::move(admission->attempt);
    }
    reserved.arrive_and_wait();
    if (attempts[i]) {
      auto outcome = guard.RecordFailure(std::move(*attempts[i]));
      if (!outcome.ok()) ++errors;
      if (outcome.ok() && outcome->lock_started) ++locks;
    }
  });

  EXPECT_EQ(errors.load(), 0);
  int admitted = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (refusals[i] == Refusal::kNone) {
      ++admitted;
    } else {
      EXPECT_EQ(refusals[i], Refusal::kLocked);
    }
  }
  EXPECT_EQ(admitted, 5);
  EXPECT_EQ(locks.load(), 1);
  EXPECT_EQ(guard.counters().admitted, 5u);
  // The refused reservations were all given back, and the lock holds.
  EXPECT_EQ(this->Failures(account), 5u);
  EXPECT_EQ(this->Begin(this->Request(account, ip)).refusal, Refusal::kLocked);
}

TYPED_TEST(BruteForceTest, FiftyParallelAttemptsFromOneIpGetExactlyTheIpThreshold) {
  auto& guard = this->Make(this->Fast());
  const std::string ip = Ip(10);
  constexpr int kThreads = 50;
  std::vector<std::string> accounts;
  for (int i = 0; i < kThreads; ++i) accounts.push_back(AccountKey(1000 + i));

  std::vector<std::optional<Attempt>> attempts(kThreads);
  std::vector<Refusal> refusals(kThreads, Refusal::kNone);
  std::atomic<int> errors{0};
  std::atomic<int> blocks{0};
  std::barrier reserved(kThreads);
  this->RunConcurrently(kThreads, [&](int i) {
    auto admission = guard.Begin(this->Request(accounts[i], ip));
    if (!admission.ok()) {
      ++errors;
    } else {
      refusals[i] = admission->refusal;
      attempts[i] = std::move(admission->attempt);
    }
    reserved.arrive_and_wait();
    if (attempts[i]) {
      auto outcome = guard.RecordFailure(std::move(*attempts[i]));
      if (!outcome.ok()) ++errors;
      if (outcome.ok() && outcome->ip_block_started) ++blocks;
    }
  });

  EXPECT_EQ(errors.load(), 0);
  int admitted = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (refusals[i] == Refusal::kNone) {
      ++admitted;
    } else {
      EXPECT_EQ(refusals[i], Refusal::kIpBlocked);
    }
  }
  EXPECT_EQ(admitted, 20);
  EXPECT_EQ(blocks.load(), 1);
  auto blocked = guard.IsIpBlocked(ip);
  ASSERT_TRUE(blocked.ok());
  ASSERT_TRUE(blocked->has_value());
  this->ExpectAbout(**blocked, 5 * this->U());
}

TYPED_TEST(BruteForceTest, KnownDeviceKeepsTryingWhileTheAccountIsLocked) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(11);
  const std::string attacker_ip = Ip(11);
  const std::string owner_ip = Ip(12);
  this->FailUntilLocked(this->Request(account, attacker_ip));
  const auto lock_before = guard.GetLockState(account, Factor::kPassword);
  ASSERT_TRUE(lock_before->locked);

  auto owner = this->Request(account, owner_ip);
  owner.device_id = kDeviceA;
  // The owner's device has its own counter: its failures start at 1, do not touch the
  // account's, and lock only the device, with the same rules.
  for (std::uint32_t k = 1; k < 5; ++k) {
    const FailureOutcome outcome = this->Fail(owner);
    EXPECT_EQ(outcome.failures, k);
    EXPECT_EQ(outcome.scope, LockScope::kDevice);
  }
  EXPECT_EQ(this->Failures(account), 5u);
  const FailureOutcome device_lock = this->Fail(owner);
  EXPECT_TRUE(device_lock.lock_started);
  EXPECT_EQ(device_lock.scope, LockScope::kDevice);
  EXPECT_EQ(this->Begin(owner).refusal, Refusal::kLocked);

  // Another known device of the same account is not affected.
  auto other = this->Request(account, owner_ip);
  other.device_id = kDeviceB;
  Admission second = this->Begin(other);
  ASSERT_TRUE(second.allowed);
  EXPECT_EQ(second.attempt->ordinal(), 1u);
  EXPECT_EQ(second.attempt->scope(), LockScope::kDevice);
}

TYPED_TEST(BruteForceTest, SuccessResetsTheAccountAndTheDeviceAndClearsTheDelay) {
  auto& guard = this->Make(this->Timed());
  const std::string account = AccountKey(13);
  const std::string ip = Ip(13);
  const auto plain = this->Request(account, ip);
  auto device = this->Request(account, ip);
  device.device_id = kDeviceA;

  // One account failure (its delay now runs) and one device failure (likewise).
  Admission a = this->Begin(plain);
  ASSERT_TRUE(a.allowed);
  ASSERT_TRUE(guard.RecordFailure(std::move(*a.attempt)).ok());
  Admission d = this->Begin(device);
  ASSERT_TRUE(d.allowed);
  ASSERT_TRUE(guard.RecordFailure(std::move(*d.attempt)).ok());
  EXPECT_EQ(this->Begin(plain).refusal, Refusal::kDelayed);
  EXPECT_EQ(this->Begin(device).refusal, Refusal::kDelayed);

  // The device's delay ends first here (both are U); then it signs in.
  this->Elapse(this->U() + 2 * this->Slack() + milliseconds(1));
  Admission ok = this->Begin(device);
  ASSERT_TRUE(ok.allowed);
  // Put the account back into a delay before the success, to see it cleared.
  Admission a2 = this->Begin(plain);
  ASSERT_TRUE(a2.allowed);
  ASSERT_TRUE(guard.RecordFailure(std::move(*a2.attempt)).ok());
  ASSERT_EQ(this->Begin(plain).refusal, Refusal::kDelayed);
  ASSERT_TRUE(guard.RecordSuccess(std::move(*ok.attempt)).ok());

  auto state = guard.GetLockState(account, Factor::kPassword);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->failures, 0u);
  EXPECT_EQ(state->delay_remaining, milliseconds(0));
  Admission again = this->Begin(plain);
  ASSERT_TRUE(again.allowed) << RefusalName(again.refusal);
  EXPECT_EQ(again.attempt->ordinal(), 1u);
  Admission device_again = this->Begin(device);
  ASSERT_TRUE(device_again.allowed);
  EXPECT_EQ(device_again.attempt->ordinal(), 1u);
  EXPECT_EQ(guard.counters().successes, 1u);
}

TYPED_TEST(BruteForceTest, SuccessEndsALockButNotTheIpRecord) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(14);
  const std::string ip = Ip(14);
  // Three failures from the IP on other accounts, then a success: the IP still needs a
  // CAPTCHA (an attacker's own account must not launder the address).
  for (int n = 0; n < 3; ++n) this->Fail(this->Request(AccountKey(300 + n), ip));
  this->Succeed(this->Request(account, ip));
  EXPECT_EQ(this->Begin(this->Request(AccountKey(400), ip, false)).refusal,
            Refusal::kCaptchaRequired);

  // A device success unlocks the account too.
  const std::string locked = AccountKey(15);
  const std::string attacker = Ip(15);
  this->FailUntilLocked(this->Request(locked, attacker));
  auto device = this->Request(locked, Ip(16));
  device.device_id = kDeviceA;
  this->Succeed(device);
  EXPECT_FALSE(guard.GetLockState(locked, Factor::kPassword)->locked);
  EXPECT_TRUE(this->Begin(this->Request(locked, Ip(16))).allowed);
}

TYPED_TEST(BruteForceTest, FactorsHaveSeparateCounters) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(17);
  const std::string ip = Ip(17);
  this->FailUntilLocked(this->Request(account, ip));

  auto totp = this->Request(account, ip);
  totp.factor = Factor::kSecondFactor;
  Admission second = this->Begin(totp);
  ASSERT_TRUE(second.allowed) << RefusalName(second.refusal);
  EXPECT_EQ(second.attempt->ordinal(), 1u);
  EXPECT_EQ(second.attempt->factor(), Factor::kSecondFactor);
  // A second-factor success leaves the password lock alone.
  ASSERT_TRUE(guard.RecordSuccess(std::move(*second.attempt)).ok());
  EXPECT_TRUE(guard.GetLockState(account, Factor::kPassword)->locked);
  EXPECT_EQ(this->Failures(account, Factor::kSecondFactor), 0u);
}

TYPED_TEST(BruteForceTest, ReleaseGivesTheReservationsBackAndSettlingTwiceIsRefused) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(18);
  const std::string ip = Ip(18);
  Admission admission = this->Begin(this->Request(account, ip));
  ASSERT_TRUE(admission.allowed);
  EXPECT_EQ(this->Failures(account), 1u);  // In flight counts.
  Attempt attempt = std::move(*admission.attempt);
  ASSERT_TRUE(guard.Release(std::move(attempt)).ok());
  EXPECT_EQ(this->Failures(account), 0u);

  // `attempt` was moved from: every settle refuses it and changes nothing.
  auto again = guard.RecordFailure(std::move(attempt));  // NOLINT(bugprone-use-after-move)
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(guard.RecordSuccess(std::move(attempt)).ok());  // NOLINT
  EXPECT_FALSE(guard.Release(std::move(attempt)).ok());        // NOLINT
  EXPECT_EQ(this->Failures(account), 0u);
  EXPECT_EQ(guard.counters().released, 1u);
}

TYPED_TEST(BruteForceTest, IpBlockStartsAtTheThresholdDoublesOnRepeatAndIsCapped) {
  auto& guard = this->Make(this->Fast());
  const std::string ip = Ip(19);
  int next_account = 2000;
  // Twenty failures on twenty accounts block the address; returns the blocking outcome.
  auto block_once = [&]() {
    FailureOutcome last;
    for (int n = 0; n < 20; ++n) {
      last = this->Fail(this->Request(AccountKey(next_account++), ip));
      if (n < 19) {
        EXPECT_FALSE(last.ip_block_started) << n;
      }
    }
    EXPECT_TRUE(last.ip_block_started);
    return last;
  };

  const FailureOutcome first = block_once();
  EXPECT_EQ(first.ip_block_count, 1u);
  EXPECT_EQ(first.ip_block_duration, 5 * this->U());
  // Blocked for every account and both factors.
  const std::string other_account = AccountKey(9999);
  auto totp = this->Request(other_account, ip);
  totp.factor = Factor::kSecondFactor;
  Admission refused = this->Begin(totp);
  EXPECT_EQ(refused.refusal, Refusal::kIpBlocked);
  this->ExpectAbout(refused.retry_after, 5 * this->U());
  this->ElapseToJustBefore(5 * this->U());
  ASSERT_TRUE(guard.IsIpBlocked(ip)->has_value());
  this->ElapseAcrossTheEdge();
  EXPECT_FALSE(guard.IsIpBlocked(ip)->has_value());

  // The repeats: 10U, 20U, then the 20U cap. Their ends are not awaited (the first block
  // showed expiry); the test removes each block key as its expiry would.
  const milliseconds expected[] = {10 * this->U(), 20 * this->U(), 20 * this->U()};
  for (std::uint32_t repeat = 2; repeat <= 4; ++repeat) {
    const FailureOutcome again = block_once();
    EXPECT_EQ(again.ip_block_count, repeat);
    EXPECT_EQ(again.ip_block_duration, expected[repeat - 2]);
    auto left = guard.IsIpBlocked(ip);
    ASSERT_TRUE(left.ok());
    ASSERT_TRUE(left->has_value());
    this->ExpectAbout(**left, expected[repeat - 2]);
    ASSERT_TRUE(this->backend_.store().Delete(brute_force_keys::IpBlock(ip)).ok());
  }
  EXPECT_EQ(guard.counters().ip_blocks_started, 4u);
}

TYPED_TEST(BruteForceTest, IpBlockHistoryIsForgottenAfterItsMemory) {
  BruteForceOptions options = this->Fast();
  options.ip_block_memory = 8 * this->U();
  auto& guard = this->Make(options);
  const std::string ip = Ip(20);
  int next_account = 3000;
  auto block_once = [&]() {
    FailureOutcome last;
    for (int n = 0; n < 20; ++n) last = this->Fail(this->Request(AccountKey(next_account++), ip));
    EXPECT_TRUE(last.ip_block_started);
    return last;
  };

  EXPECT_EQ(block_once().ip_block_count, 1u);
  this->Elapse(8 * this->U() + 2 * this->Slack() + milliseconds(1));
  ASSERT_FALSE(guard.IsIpBlocked(ip)->has_value());
  const FailureOutcome fresh = block_once();
  EXPECT_EQ(fresh.ip_block_count, 1u);
  EXPECT_EQ(fresh.ip_block_duration, 5 * this->U());
}

TYPED_TEST(BruteForceTest, LiftIpBlockEndsItAndForgetsTheHistory) {
  auto& guard = this->Make(this->Fast());
  const std::string ip = Ip(21);
  int next_account = 4000;
  auto block_once = [&]() {
    FailureOutcome last;
    for (int n = 0; n < 20; ++n) last = this->Fail(this->Request(AccountKey(next_account++), ip));
    EXPECT_TRUE(last.ip_block_started);
    return last;
  };
  block_once();
  auto lifted = guard.LiftIpBlock(ip);
  ASSERT_TRUE(lifted.ok());
  EXPECT_TRUE(*lifted);
  EXPECT_FALSE(guard.IsIpBlocked(ip)->has_value());
  // Not even a CAPTCHA: the address's failures are forgotten too.
  Admission back = this->Begin(this->Request(AccountKey(4999), ip, false));
  ASSERT_TRUE(back.allowed);
  ASSERT_TRUE(guard.Release(std::move(*back.attempt)).ok());
  EXPECT_EQ(block_once().ip_block_count, 1u);

  ASSERT_TRUE(guard.LiftIpBlock(ip).ok());
  EXPECT_FALSE(guard.LiftIpBlock(ip).value());
}

TYPED_TEST(BruteForceTest, LiftAccountLockUnlocksBothFactors) {
  auto& guard = this->Make(this->Fast());
  const std::string account = AccountKey(22);
  const std::string ip = Ip(22);
  this->FailUntilLocked(this->Request(account, ip));
  auto totp = this->Request(account, Ip(23));
  totp.factor = Factor::kSecondFactor;
  this->FailUntilLocked(totp);

  auto lifted = guard.LiftAccountLock(account);
  ASSERT_TRUE(lifted.ok());
  EXPECT_TRUE(*lifted);
  EXPECT_FALSE(guard.GetLockState(account, Factor::kPassword)->locked);
  EXPECT_FALSE(guard.GetLockState(account, Factor::kSecondFactor)->locked);
  Admission back = this->Begin(this->Request(account, ip));
  ASSERT_TRUE(back.allowed);
  EXPECT_EQ(back.attempt->ordinal(), 1u);
  ASSERT_TRUE(guard.Release(std::move(*back.attempt)).ok());
  EXPECT_FALSE(guard.LiftAccountLock(account).value());
}

TYPED_TEST(BruteForceTest, AllowListedIpIsNeverBlockedButStillNeedsACaptcha) {
  auto& guard = this->Make(this->Fast());
  const std::string ip = Ip(24);
  for (int n = 0; n < 25; ++n) {
    const std::string account = AccountKey(5000 + n);
    auto r = this->Request(account, ip);
    r.ip_block_exempt = true;
    const FailureOutcome outcome = this->Fail(r);
    EXPECT_FALSE(outcome.ip_block_started) << n;
  }
  EXPECT_FALSE(guard.IsIpBlocked(ip)->has_value());
  const std::string account = AccountKey(5999);
  auto r = this->Request(account, ip, false);
  r.ip_block_exempt = true;
  EXPECT_EQ(this->Begin(r).refusal, Refusal::kCaptchaRequired);
}

TYPED_TEST(BruteForceTest, KeysHoldNoEmailAndFollowTheDocumentedLayout) {
  this->Make(this->Fast());
  const std::string account = AccountKey(25);
  const std::string ip = Ip(25);
  this->Fail(this->Request(account, ip));
  auto& store = this->backend_.store();
  EXPECT_TRUE(store.Exists("bf:pw:acct:" + account).value());
  EXPECT_TRUE(store.Exists("bf:pw:ip:" + ip).value());
  EXPECT_EQ(brute_force_keys::Device(Factor::kSecondFactor, kDeviceA, account),
            "bf:2f:dev:" + std::string(kDeviceA) + ":" + account);
  EXPECT_EQ(brute_force_keys::IpBlock(ip), "bf:ipblock:" + ip);
}

// ---------------------------------------------------------------------------------------
// Inputs, options and failures of the store (memory only: no time involved, or a failure
// only the memory store can be made to show).

TEST(BruteForceGuard, RefusesInputsThatCouldPutPersonalDataInKeys) {
  ManualClock clock;
  state::MemoryStateStore store(clock);
  auto guard = BruteForceGuard::Create(store, {});
  ASSERT_TRUE(guard.ok());
  const std::string good_account = AccountKey(1);
  struct Case {
    std::string account;
    std::string ip;
    std::optional<std::string> device;
  };
  const std::vector<Case> cases = {
      {"alice@example.org", "192.0.2.1", std::nullopt},
      {std::string(64, 'A'), "192.0.2.1", std::nullopt},   // Upper-case hex.
      {std::string(15, 'a'), "192.0.2.1", std::nullopt},   // Too short.
      {std::string(129, 'a'), "192.0.2.1", std::nullopt},  // Too long.
      {good_account, "::ffff:192.0.2.1", std::nullopt},    // Not canonical.
      {good_account, "2001:DB8::1", std::nullopt},         // Not canonical.
      {good_account, "192.0.2.01", std::nullopt},          // Not an address.
      {good_account, "", std::nullopt},
      {good_account, "192.0.2.1", std::string(32, 'G')},
      {good_account, "192.0.2.1", std::string(31, 'a')},
      {good_account, "192.0.2.1", std::string(32, 'A')},
  };
  for (const Case& c : cases) {
    AttemptRequest r;
    r.account_key = c.account;
    r.ip = c.ip;
    if (c.device) r.device_id = *c.device;
    auto admission = (*guard)->Begin(r);
    ASSERT_FALSE(admission.ok()) << c.account << " " << c.ip;
    EXPECT_EQ(admission.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(admission.error().detail().find(c.account), std::string::npos);
  }
  EXPECT_FALSE((*guard)->IsIpBlocked("::ffff:192.0.2.1").ok());
  EXPECT_FALSE((*guard)->LiftAccountLock("alice@example.org").ok());
  EXPECT_TRUE((*guard)->IsIpBlocked("2001:db8::1").ok());
}

TEST(BruteForceGuard, ValidatesItsOptions) {
  using Mutate = std::function<void(BruteForceOptions&)>;
  const std::vector<std::pair<std::string, Mutate>> bad = {
      {"captcha_after", [](auto& o) { o.captcha_after = 0; }},
      {"lock_after", [](auto& o) { o.lock_after = 0; }},
      {"lock_after", [](auto& o) { o.lock_after = kMaxBruteForceCount + 1; }},
      {"ip_block_threshold", [](auto& o) { o.ip_block_threshold = 0; }},
      {"lock_duration", [](auto& o) { o.lock_duration = milliseconds(0); }},
      {"failure_window", [](auto& o) { o.failure_window = milliseconds(-1); }},
      {"delay_base", [](auto& o) { o.delay_base = milliseconds(0); }},
      {"ip_window", [](auto& o) { o.ip_window = state::kMaxTtl + milliseconds(1); }},
      {"ip_block_memory", [](auto& o) { o.ip_block_memory = milliseconds(0); }},
      {"delay_cap", [](auto& o) { o.delay_cap = o.delay_base - milliseconds(1); }},
      {"ip_block_cap", [](auto& o) { o.ip_block_cap = o.ip_block_base - milliseconds(1); }},
  };
  EXPECT_TRUE(ValidateBruteForceOptions({}).ok());
  for (const auto& [name, mutate] : bad) {
    BruteForceOptions o;
    mutate(o);
    Status s = ValidateBruteForceOptions(o);
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().detail().find(name), std::string::npos) << s.error().detail();
  }
  ManualClock clock;
  state::MemoryStateStore store(clock);
  BruteForceOptions zero;
  zero.lock_after = 0;
  EXPECT_FALSE(BruteForceGuard::Create(store, zero).ok());
}

TEST(BruteForceGuard, DefaultsMatchTheProductRules) {
  const BruteForceOptions o;
  EXPECT_EQ(o.captcha_after, 3u);
  EXPECT_EQ(o.lock_after, 5u);
  EXPECT_EQ(o.lock_duration, std::chrono::minutes(15));
  EXPECT_EQ(o.delay_base, std::chrono::seconds(1));
  EXPECT_EQ(o.delay_cap, std::chrono::seconds(30));
  EXPECT_EQ(o.ip_window, std::chrono::minutes(15));
  EXPECT_EQ(o.ip_block_threshold, 20u);
  EXPECT_EQ(o.ip_block_base, std::chrono::minutes(15));
  EXPECT_EQ(o.ip_block_cap, std::chrono::hours(24));
  EXPECT_EQ(o.ip_block_memory, std::chrono::hours(24 * 7));
}

TEST(BruteForceGuard, DefaultDelaysAreOneTwoFourEightSecondsThenTheLock) {
  ManualClock clock;
  state::MemoryStateStore store(clock);
  auto guard = BruteForceGuard::Create(store, {});
  ASSERT_TRUE(guard.ok());
  const std::string account = AccountKey(1);
  const std::string ip = "203.0.113.5";
  AttemptRequest r;
  r.account_key = account;
  r.ip = ip;
  r.captcha_solved = true;
  const std::chrono::seconds expected[] = {std::chrono::seconds(1), std::chrono::seconds(2),
                                           std::chrono::seconds(4), std::chrono::seconds(8)};
  for (const auto wait : expected) {
    auto admission = (*guard)->Begin(r);
    ASSERT_TRUE(admission.ok() && admission->allowed);
    auto outcome = (*guard)->RecordFailure(std::move(*admission->attempt));
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(outcome->retry_after, wait);
    clock.Advance(wait);
  }
  auto admission = (*guard)->Begin(r);
  ASSERT_TRUE(admission.ok() && admission->allowed);
  auto outcome = (*guard)->RecordFailure(std::move(*admission->attempt));
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->lock_started);
  EXPECT_EQ(outcome->retry_after, std::chrono::minutes(15));
}

TEST(BruteForceGuard, StoreFailureFailsClosed) {
  ManualClock clock;
  state::MemoryStateOptions options;
  options.shards = 1;
  options.max_entries = 1;
  state::MemoryStateStore store(clock, options);
  auto guard = BruteForceGuard::Create(store, {});
  ASSERT_TRUE(guard.ok());
  const std::string account = AccountKey(1);
  AttemptRequest r;
  r.account_key = account;
  r.ip = "198.51.100.7";
  r.captcha_solved = true;

  // The account counter fits, the IP counter does not: no admission, and the account
  // reservation was given back.
  auto admission = (*guard)->Begin(r);
  ASSERT_FALSE(admission.ok());
  EXPECT_EQ(admission.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ((*guard)->GetLockState(account, Factor::kPassword)->failures, 0u);
  EXPECT_GE((*guard)->counters().store_errors, 1u);
  EXPECT_EQ((*guard)->counters().admitted, 0u);
}

TEST(BruteForceGuardRedis, ServerDownFailsClosed) {
  auto options = state::testing::RedisTestOptions();
  ASSERT_TRUE(options.ok());
  options->call_timeout = milliseconds(300);
  auto store = state::OpenRedisState(*options);
  ASSERT_TRUE(store.ok());
  auto guard = BruteForceGuard::Create(**store, {});
  ASSERT_TRUE(guard.ok());
  const std::string account = AccountKey(1);
  AttemptRequest r;
  r.account_key = account;
  r.ip = "198.51.100.8";
  r.captcha_solved = true;

  ASSERT_TRUE(state::testing::RedisTestServer::Get().Halt().ok());
  Result<Admission> during = Error(ErrorCode::kInternal, "not yet");
  for (int i = 0; i < 20; ++i) {
    during = (*guard)->Begin(r);
    if (!during.ok()) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(state::testing::RedisTestServer::Get().Restart().ok());
  ASSERT_FALSE(during.ok());
  EXPECT_EQ(during.error().code(), ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace gatehouse::protect
