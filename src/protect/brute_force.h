#pragma once

// The brute-force guard: failure counting, CAPTCHA threshold, progressive delay, account
// lockout and automatic IP blocks for password and second-factor checks. It holds all of
// its state in a StateStore (memory or Redis), so several instances share one view. The
// key layout and the reasoning are in docs/brute-force.md.
//
// How a caller uses it, for every password (or second-factor) check:
//
//   auto admission = guard.Begin({account_key, ip, Factor::kPassword, device_id, solved});
//   if (!admission.ok())            -> refuse (503): the store failed, fail closed.
//   if (!admission->allowed)        -> refuse: admission->refusal says why, retry_after when.
//   check the password (only now, and only once)
//   guard.RecordSuccess(std::move(*admission->attempt))   on a match,
//   guard.RecordFailure(std::move(*admission->attempt))   on a mismatch,
//   guard.Release(std::move(*admission->attempt))         when the password was NOT checked
//                                                          (an error before the check).
//
// Why a reservation before the check. Begin increments the failure counter first and
// decides on the value it got back; a failure then needs no further increment and a success
// or a release gives the reservation back. Every concurrent Begin therefore sees a distinct
// count, and of any number of parallel attempts at most `lock_after` get past Begin for one
// account before the lock, however many instances and threads serve them. Counting after
// the check instead would let every attempt that started before the lock-th failure was
// written check a password (50 parallel requests: 50 guesses).
//
// What the guard does NOT know or do:
//   - whether the account exists. `account_key` is an opaque lowercase-hex identifier the
//     caller derives from the normalised email (an HMAC), for unknown emails exactly as for
//     known ones, so the guard's answers cannot reveal which accounts exist.
//   - CAPTCHA proofs. The caller verifies the proof-of-work (pow_captcha.h) and passes
//     `captcha_solved`; the guard says when one is required.
//   - events, logs and HTTP. RecordFailure reports that a lock or an IP block started; the
//     caller emits `account_lockout` and friends.
//   - device cookies. The caller verifies one (device_cookie.h) and passes the device id.
//
// Errors: every method fails closed. A store error (kUnavailable, kResourceExhausted,
// kInternal, ...) is returned as it came; Begin then admits nothing (a reservation it made
// is given back on a best-effort basis), so the caller refuses the login. kInvalidArgument
// for an input that breaks the rules below; the error never echoes the input.
//
// Thread safety: every method may be called from any thread, concurrently. The methods are
// synchronous and make several store calls (on Redis, each a round trip of up to the call
// timeout): call them on the worker pool, never on an I/O thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "state/state.h"

namespace gatehouse::protect {

// Which secret is being guessed. Each factor has its own counters, delays and locks: a
// user who keeps mistyping a TOTP code is not locked out of password checks, and a password
// success does not clear second-factor failures.
enum class Factor : std::uint8_t { kPassword, kSecondFactor };

// "password" or "second_factor" (stable: metric labels).
std::string_view FactorName(Factor factor);

struct BruteForceOptions {
  // Failures (recorded or in flight) on an account, a device or an IP after which an attempt
  // needs a solved CAPTCHA. 1..kMaxBruteForceCount.
  std::uint32_t captcha_after = 3;
  // The lock_after-th failure on an account (or a device) locks it for lock_duration.
  // 1..kMaxBruteForceCount.
  std::uint32_t lock_after = 5;
  std::chrono::milliseconds lock_duration = std::chrono::minutes(15);
  // Failures are counted in a fixed window that opens at the first failure and lasts this
  // long; a counter that never reaches lock_after is forgotten when it ends.
  std::chrono::milliseconds failure_window = std::chrono::hours(1);
  // After failure k (1 <= k < lock_after) the next attempt on the same counter is refused
  // for min(delay_base * 2^(k-1), delay_cap).
  std::chrono::milliseconds delay_base = std::chrono::seconds(1);
  std::chrono::milliseconds delay_cap = std::chrono::seconds(30);
  // Failures from one IP (per factor, across accounts) counted in a fixed window of
  // ip_window; the ip_block_threshold-th blocks the IP.
  std::chrono::milliseconds ip_window = std::chrono::minutes(15);
  std::uint32_t ip_block_threshold = 20;  // 1..kMaxBruteForceCount.
  // The n-th block within ip_block_memory of the previous one lasts
  // min(ip_block_base * 2^(n-1), ip_block_cap).
  std::chrono::milliseconds ip_block_base = std::chrono::minutes(15);
  std::chrono::milliseconds ip_block_cap = std::chrono::hours(24);
  std::chrono::milliseconds ip_block_memory = std::chrono::hours(24 * 7);
};

inline constexpr std::uint32_t kMaxBruteForceCount = 1000;

// kInvalidArgument naming the broken rule: counts within 1..kMaxBruteForceCount, every
// duration a valid state TTL (1 ms .. 366 days), delay_base <= delay_cap,
// ip_block_base <= ip_block_cap.
Status ValidateBruteForceOptions(const BruteForceOptions& options);

// Input rules, checked by every method (kInvalidArgument otherwise):
//   account_key  16..128 lowercase hex characters. Anything else is refused so that an email
//                address passed by mistake never becomes a key in clear.
//   ip           canonical text of protect::ToString(IpAddress) (client_ip.h): one spelling
//                per address, so "::ffff:192.0.2.1" cannot dodge a block on 192.0.2.1.
//   device_id    32 lowercase hex characters (what DeviceCookies::Verify returns).
Status ValidateAccountKey(std::string_view account_key);
Status ValidateIp(std::string_view ip);
Status ValidateDeviceId(std::string_view device_id);

struct AttemptRequest {
  std::string_view account_key;
  std::string_view ip;
  Factor factor = Factor::kPassword;
  // The id from a device cookie that verified for this account: the attempt is counted on
  // that device's own counter instead of the account's, so a device that signed in before
  // can still try while an attacker keeps the account locked. nullopt: no (valid) cookie.
  std::optional<std::string_view> device_id;
  // The caller verified a proof-of-work solution bound to this account (or IP) for this
  // request.
  bool captcha_solved = false;
  // The IP is on the operator's allow list (ip_rules.h kAllow): its failures still count
  // towards the CAPTCHA threshold, but it is never blocked automatically and an existing
  // block is ignored.
  bool ip_block_exempt = false;
};

// Why Begin refused; stable names for metric labels via RefusalName.
enum class Refusal : std::uint8_t {
  kNone,             // Admitted.
  kIpBlocked,        // The IP is blocked (or about to be: the threshold is reserved).
  kDelayed,          // The progressive delay after the last failure has not passed.
  kLocked,           // The account (or the device) is locked.
  kCaptchaRequired,  // Enough failures that a solved CAPTCHA is needed, and none was given.
};

std::string_view RefusalName(Refusal refusal);

// Whether a lock applies to the account counter or to one device's counter.
enum class LockScope : std::uint8_t { kAccount, kDevice };

// One admitted attempt: a reservation on the account's (or device's) counter and on the
// IP's counter. Settle it exactly once with RecordSuccess, RecordFailure or Release; one
// that is never settled stays counted as a failure until its counters expire (the safe
// direction). Move-only; a moved-from or settled Attempt is refused by the Record methods.
class Attempt {
 public:
  Attempt(Attempt&& other) noexcept;
  Attempt& operator=(Attempt&& other) noexcept;
  Attempt(const Attempt&) = delete;
  Attempt& operator=(const Attempt&) = delete;

  Factor factor() const { return factor_; }
  LockScope scope() const { return device_id_.empty() ? LockScope::kAccount : LockScope::kDevice; }
  // This attempt's number on its counter (1 = the first since the counter was last reset),
  // counting failures and attempts still in flight.
  std::uint32_t ordinal() const { return ordinal_; }

 private:
  friend class BruteForceGuard;
  Attempt() = default;

  bool live_ = false;
  Factor factor_ = Factor::kPassword;
  std::string account_key_;
  std::string ip_;
  std::string device_id_;  // Empty: the account counter.
  std::uint32_t ordinal_ = 0;
  std::uint32_t ip_ordinal_ = 0;
  bool ip_block_exempt_ = false;
};

struct Admission {
  bool allowed = false;
  Refusal refusal = Refusal::kNone;
  // When refused for kIpBlocked, kDelayed or kLocked: the wait after which this refusal
  // ends, at least 1 ms (an estimate while another attempt is still in flight; see
  // docs/brute-force.md). 0 when allowed or for kCaptchaRequired.
  std::chrono::milliseconds retry_after{0};
  // The attempt needs (kCaptchaRequired) or needed (admitted with captcha_solved) a CAPTCHA.
  bool captcha_required = false;
  // Set exactly when allowed.
  std::optional<Attempt> attempt;
};

struct FailureOutcome {
  // This failure's number on its counter (Attempt::ordinal).
  std::uint32_t failures = 0;
  // This failure locked the account (scope kAccount: emit `account_lockout`) or the device
  // (kDevice) for lock_duration.
  bool lock_started = false;
  LockScope scope = LockScope::kAccount;
  // The wait before the next attempt on the same counter: the delay, or lock_duration.
  std::chrono::milliseconds retry_after{0};
  // This failure blocked the IP, for ip_block_duration; it is the ip_block_count-th block
  // remembered for the IP (1 = the first within ip_block_memory).
  bool ip_block_started = false;
  std::chrono::milliseconds ip_block_duration{0};
  std::uint32_t ip_block_count = 0;
};

struct LockState {
  // Failures on the counter, attempts in flight included.
  std::uint32_t failures = 0;
  bool locked = false;
  // Time left of the lock (when locked) and of the progressive delay (0 when none).
  std::chrono::milliseconds lock_remaining{0};
  std::chrono::milliseconds delay_remaining{0};
};

class BruteForceGuard {
 public:
  // Monotonic counts for metrics; each field is read atomically, the set is not.
  struct Counters {
    std::uint64_t admitted = 0;
    std::uint64_t refused_ip_blocked = 0;
    std::uint64_t refused_delayed = 0;
    std::uint64_t refused_locked = 0;
    std::uint64_t refused_captcha = 0;
    std::uint64_t failures = 0;
    std::uint64_t successes = 0;
    std::uint64_t released = 0;
    std::uint64_t locks_started = 0;
    std::uint64_t ip_blocks_started = 0;
    std::uint64_t store_errors = 0;
  };

  // `store` is not owned and must outlive the guard. Errors: ValidateBruteForceOptions.
  static Result<std::unique_ptr<BruteForceGuard>> Create(state::StateStore& store,
                                                         BruteForceOptions options);

  BruteForceGuard(const BruteForceGuard&) = delete;
  BruteForceGuard& operator=(const BruteForceGuard&) = delete;

  // Decides whether one attempt may check its secret, in this order: IP blocked, delay,
  // lock, IP threshold, CAPTCHA. A refusal changes no counter and no TTL: hammering a
  // locked account does not extend its lock, and a refused attempt is not a failure.
  Result<Admission> Begin(const AttemptRequest& request);

  // The secret matched: resets the failure counter and delay of the account for this
  // factor and, for a device attempt, of that device too, and gives back the IP reservation
  // (IP counters are never reset by a success: one account the attacker controls must not
  // wipe the IP's record).
  Status RecordSuccess(Attempt attempt);

  // The secret did not match: the reservation becomes a failure. Starts the delay, or the
  // lock at the lock_after-th failure, and the IP block at the ip_block_threshold-th IP
  // failure; the outcome says which began.
  Result<FailureOutcome> RecordFailure(Attempt attempt);

  // The secret was not checked (the caller failed before): gives both reservations back.
  Status Release(Attempt attempt);

  // The time left of the IP's block, or nullopt when it is not blocked.
  Result<std::optional<std::chrono::milliseconds>> IsIpBlocked(std::string_view ip);

  // Admin: ends the IP's block and forgets its failure counts and block history (the next
  // block is a first block again). True when a block was in force.
  Result<bool> LiftIpBlock(std::string_view ip);

  // Admin: ends the account's locks and delays and forgets its failures, for both factors.
  // Device counters are not reachable by account and expire on their own. True when a lock
  // was in force for either factor.
  Result<bool> LiftAccountLock(std::string_view account_key);

  // The account counter's state for one factor (never a device's).
  Result<LockState> GetLockState(std::string_view account_key, Factor factor);

  const BruteForceOptions& options() const { return options_; }
  Counters counters() const;

 private:
  BruteForceGuard(state::StateStore& store, BruteForceOptions options)
      : store_(store), options_(options) {}

  // Gives back one reservation on `key` (Increment by -1, which keeps the TTL).
  Status GiveBack(const std::string& key);
  // Gives back the reservations of an attempt that will not count, best effort.
  void GiveBackQuietly(const Attempt& attempt, bool subject, bool ip);
  Result<Admission> Refuse(Refusal refusal, std::chrono::milliseconds retry_after);
  template <typename T>
  Result<T> StoreError(Error error);
  Result<FailureOutcome> StartIpBlock(const Attempt& attempt, FailureOutcome outcome);

  std::chrono::milliseconds DelayAfter(std::uint32_t failures) const;
  std::chrono::milliseconds IpBlockDuration(std::uint32_t block) const;

  state::StateStore& store_;
  const BruteForceOptions options_;

  std::atomic<std::uint64_t> admitted_{0};
  std::atomic<std::uint64_t> refused_ip_blocked_{0};
  std::atomic<std::uint64_t> refused_delayed_{0};
  std::atomic<std::uint64_t> refused_locked_{0};
  std::atomic<std::uint64_t> refused_captcha_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> successes_{0};
  std::atomic<std::uint64_t> released_{0};
  std::atomic<std::uint64_t> locks_started_{0};
  std::atomic<std::uint64_t> ip_blocks_started_{0};
  std::atomic<std::uint64_t> store_errors_{0};
};

// The state keys, exposed for docs/brute-force.md, admin tooling and tests. `factor` is
// "pw" or "2f".
namespace brute_force_keys {
std::string Account(Factor factor, std::string_view account_key);
std::string AccountDelay(Factor factor, std::string_view account_key);
std::string Device(Factor factor, std::string_view device_id, std::string_view account_key);
std::string DeviceDelay(Factor factor, std::string_view device_id, std::string_view account_key);
std::string IpFailures(Factor factor, std::string_view ip);
std::string IpBlock(std::string_view ip);
std::string IpBlockHistory(std::string_view ip);
}  // namespace brute_force_keys

}  // namespace gatehouse::protect
