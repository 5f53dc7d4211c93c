#include "protect/brute_force.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>
#include <vector>

#include "protect/client_ip.h"

namespace gatehouse::protect {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t kMinAccountKeySize = 16;
constexpr std::size_t kMaxAccountKeySize = 128;
constexpr std::size_t kDeviceIdSize = 32;

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string_view FactorTag(Factor factor) { return factor == Factor::kPassword ? "pw" : "2f"; }

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string key;
  for (std::string_view part : parts) key.append(part);
  return key;
}

// A counter reads back as decimal text; anything else was not written by this guard.
Result<std::int64_t> ParseCount(const std::optional<std::string>& value) {
  if (!value) return std::int64_t{0};
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc() || end != value->data() + value->size()) {
    return Internal("brute-force counter is not a number");
  }
  return n;
}

// Reservation values are 1-based ordinals. A value below 1 only appears after a give-back
// raced with the key's expiry (see GiveBack); it is read as 1, the most restrictive value
// that still makes sense for a fresh counter.
std::uint32_t Ordinal(std::int64_t value) {
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(value, 1, std::numeric_limits<std::uint32_t>::max()));
}

milliseconds AtLeastOneMs(milliseconds d) { return std::max(d, state::kMinTtl); }

Status CheckCount(std::uint32_t value, std::string_view name) {
  if (value < 1 || value > kMaxBruteForceCount) {
    return InvalidArgument("invalid brute-force settings",
                           std::string(name) + " must be 1.." +
                               std::to_string(kMaxBruteForceCount));
  }
  return Ok();
}

Status CheckDuration(milliseconds value, std::string_view name) {
  if (value < state::kMinTtl || value > state::kMaxTtl) {
    return InvalidArgument("invalid brute-force settings",
                           std::string(name) + " must be 1 ms to 366 days");
  }
  return Ok();
}

// base * 2^(n-1), capped, without overflowing: doubling stops as soon as the cap is reached.
milliseconds Doubling(milliseconds base, milliseconds cap, std::uint32_t n) {
  milliseconds d = base;
  for (std::uint32_t i = 1; i < n && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

}  // namespace

namespace brute_force_keys {
// Every key starts with "bf:" and names its factor where it counts failures; account keys
// and device ids are opaque hex, IPs canonical text (docs/brute-force.md).
std::string Account(Factor factor, std::string_view account_key) {
  return Join({"bf:", FactorTag(factor), ":acct:", account_key});
}
std::string AccountDelay(Factor factor, std::string_view account_key) {
  return Join({"bf:", FactorTag(factor), ":acct:", account_key, ":delay"});
}
std::string Device(Factor factor, std::string_view device_id, std::string_view account_key) {
  return Join({"bf:", FactorTag(factor), ":dev:", device_id, ":", account_key});
}
std::string DeviceDelay(Factor factor, std::string_view device_id, std::string_view account_key) {
  return Join({"bf:", FactorTag(factor), ":dev:", device_id, ":", account_key, ":delay"});
}
std::string IpFailures(Factor factor, std::string_view ip) {
  return Join({"bf:", FactorTag(factor), ":ip:", ip});
}
std::string IpBlock(std::string_view ip) { return Join({"bf:ipblock:", ip}); }
std::string IpBlockHistory(std::string_view ip) { return Join({"bf:ipblocks:", ip}); }
}  // namespace brute_force_keys

namespace keys = brute_force_keys;

std::string_view FactorName(Factor factor) {
  return factor == Factor::kPassword ? "password" : "second_factor";
}

std::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone:
      return "none";
    case Refusal::kIpBlocked:
      return "ip_blocked";
    case Refusal::kDelayed:
      return "delayed";
    case Refusal::kLocked:
      return "locked";
    case Refusal::kCaptchaRequired:
      return "captcha_required";
  }
  return "unknown";
}

Status ValidateBruteForceOptions(const BruteForceOptions& o) {
  GH_RETURN_IF_ERROR(CheckCount(o.captcha_after, "captcha_after"));
  GH_RETURN_IF_ERROR(CheckCount(o.lock_after, "lock_after"));
  GH_RETURN_IF_ERROR(CheckCount(o.ip_block_threshold, "ip_block_threshold"));
  GH_RETURN_IF_ERROR(CheckDuration(o.lock_duration, "lock_duration"));
  GH_RETURN_IF_ERROR(CheckDuration(o.failure_window, "failure_window"));
  GH_RETURN_IF_ERROR(CheckDuration(o.delay_base, "delay_base"));
  GH_RETURN_IF_ERROR(CheckDuration(o.delay_cap, "delay_cap"));
  GH_RETURN_IF_ERROR(CheckDuration(o.ip_window, "ip_window"));
  GH_RETURN_IF_ERROR(CheckDuration(o.ip_block_base, "ip_block_base"));
  GH_RETURN_IF_ERROR(CheckDuration(o.ip_block_cap, "ip_block_cap"));
  GH_RETURN_IF_ERROR(CheckDuration(o.ip_block_memory, "ip_block_memory"));
  // Refused rather than swapped: a cap below its base is a typo whose intent is unknown.
  if (o.delay_cap < o.delay_base) {
    return InvalidArgument("invalid brute-force settings", "delay_cap is below delay_base");
  }
  if (o.ip_block_cap < o.ip_block_base) {
    return InvalidArgument("invalid brute-force settings", "ip_block_cap is below ip_block_base");
  }
  return Ok();
}

Status ValidateAccountKey(std::string_view account_key) {
  // Only opaque hex passes: an email address or a user name handed over by mistake would
  // otherwise be written into state keys in clear (and listed by any Redis operator).
  if (account_key.size() < kMinAccountKeySize || account_key.size() > kMaxAccountKeySize ||
      !IsLowerHex(account_key)) {
    return InvalidArgument("invalid request", "account key must be 16..128 lowercase hex digits");
  }
  return Ok();
}

Status ValidateIp(std::string_view ip) {
  // Canonical text only, so that one address has one key: a block on 192.0.2.1 must not be
  // dodged by the same client as ::ffff:192.0.2.1 or 2001:DB8::1 versus 2001:db8::1.
  const auto address = ParseIp(ip);
  if (!address || ToString(*address) != ip) {
    return InvalidArgument("invalid request", "client address is not a canonical IP address");
  }
  return Ok();
}

Status ValidateDeviceId(std::string_view device_id) {
  if (device_id.size() != kDeviceIdSize || !IsLowerHex(device_id)) {
    return InvalidArgument("invalid request", "device id must be 32 lowercase hex digits");
  }
  return Ok();
}

// ---------------------------------------------------------------------------------------
// Attempt

Attempt::Attempt(Attempt&& other) noexcept
    : live_(std::exchange(other.live_, false)),
      factor_(other.factor_),
      account_key_(std::move(other.account_key_)),
      ip_(std::move(other.ip_)),
      device_id_(std::move(other.device_id_)),
      ordinal_(other.ordinal_),
      ip_ordinal_(other.ip_ordinal_),
      ip_block_exempt_(other.ip_block_exempt_) {}

Attempt& Attempt::operator=(Attempt&& other) noexcept {
  if (this != &other) {
    live_ = std::exchange(other.live_, false);
    factor_ = other.factor_;
    account_key_ = std::move(other.account_key_);
    ip_ = std::move(other.ip_);
    device_id_ = std::move(other.device_id_);
    ordinal_ = other.ordinal_;
    ip_ordinal_ = other.ip_ordinal_;
    ip_block_exempt_ = other.ip_block_exempt_;
  }
  return *this;
}

namespace {

// The counter an attempt reserves on: the device's own when it came with a device cookie.
std::string SubjectKey(Factor factor, const std::string& account, const std::string& device) {
  return device.empty() ? keys::Account(factor, account) : keys::Device(factor, device, account);
}

std::string SubjectDelayKey(Factor factor, const std::string& account, const std::string& device) {
  return device.empty() ? keys::AccountDelay(factor, account)
                        : keys::DeviceDelay(factor, device, account);
}

Error SettledError() {
  return Error(ErrorCode::kFailedPrecondition, "internal error",
               "brute-force attempt already settled or moved from");
}

}  // namespace

// ---------------------------------------------------------------------------------------
// BruteForceGuard

Result<std::unique_ptr<BruteForceGuard>> BruteForceGuard::Create(state::StateStore& store,
                                                                 BruteForceOptions options) {
  GH_RETURN_IF_ERROR(ValidateBruteForceOptions(options));
  return std::unique_ptr<BruteForceGuard>(new BruteForceGuard(store, options));
}

BruteForceGuard::Counters BruteForceGuard::counters() const {
  Counters c;
  c.admitted = admitted_.load(std::memory_order_relaxed);
  c.refused_ip_blocked = refused_ip_blocked_.load(std::memory_order_relaxed);
  c.refused_delayed = refused_delayed_.load(std::memory_order_relaxed);
  c.refused_locked = refused_locked_.load(std::memory_order_relaxed);
  c.refused_captcha = refused_captcha_.load(std::memory_order_relaxed);
  c.failures = failures_.load(std::memory_order_relaxed);
  c.successes = successes_.load(std::memory_order_relaxed);
  c.released = released_.load(std::memory_order_relaxed);
  c.locks_started = locks_started_.load(std::memory_order_relaxed);
  c.ip_blocks_started = ip_blocks_started_.load(std::memory_order_relaxed);
  c.store_errors = store_errors_.load(std::memory_order_relaxed);
  return c;
}

template <typename T>
Result<T> BruteForceGuard::StoreError(Error error) {
  store_errors_.fetch_add(1, std::memory_order_relaxed);
  return std::move(error.WithContext("brute-force guard"));
}

milliseconds BruteForceGuard::DelayAfter(std::uint32_t failures) const {
  return Doubling(options_.delay_base, options_.delay_cap, failures);
}

milliseconds BruteForceGuard::IpBlockDuration(std::uint32_t block) const {
  return Doubling(options_.ip_block_base, options_.ip_block_cap, block);
}

Status BruteForceGuard::GiveBack(const std::string& key) {
  // Increment keeps the key's TTL, so giving back never extends a window or a lock. If the
  // key expired since the reservation, the decrement creates it at -1; the 1 ms TTL makes
  // that stray value vanish at once instead of granting extra attempts for a whole window.
  auto left = store_.Increment(key, -1, state::kMinTtl);
  if (!left.ok()) return std::move(left).error();
  return Ok();
}

void BruteForceGuard::GiveBackQuietly(const Attempt& attempt, bool subject, bool ip) {
  // Best effort: a reservation that cannot be given back stays counted as a failure until
  // its window ends, which errs on the side of refusing.
  if (subject) {
    const std::string key =
        SubjectKey(attempt.factor_, attempt.account_key_, attempt.device_id_);
    if (!GiveBack(key).ok()) store_errors_.fetch_add(1, std::memory_order_relaxed);
  }
  if (ip) {
    if (!GiveBack(keys::IpFailures(attempt.factor_, attempt.ip_)).ok()) {
      store_errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

Result<Admission> BruteForceGuard::Refuse(Refusal refusal, milliseconds retry_after) {
  switch (refusal) {
    case Refusal::kIpBlocked:
      refused_ip_blocked_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kDelayed:
      refused_delayed_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kLocked:
      refused_locked_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kCaptchaRequired:
      refused_captcha_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kNone:
      break;
  }
  Admission admission;
  admission.refusal = refusal;
  admission.retry_after = refusal == Refusal::kCaptchaRequired ? milliseconds(0)
                                                               : AtLeastOneMs(retry_after);
  admission.captcha_required = refusal == Refusal::kCaptchaRequired;
  return admission;
}

Result<Admission> BruteForceGuard::Begin(const AttemptRequest& request) {
  GH_RETURN_IF_ERROR(ValidateAccountKey(request.account_key));
  GH_RETURN_IF_ERROR(ValidateIp(request.ip));
  if (request.device_id) GH_RETURN_IF_ERROR(ValidateDeviceId(*request.device_id));

  Attempt attempt;
  attempt.factor_ = request.factor;
  attempt.account_key_ = std::string(request.account_key);
  attempt.ip_ = std::string(request.ip);
  attempt.device_id_ = request.device_id ? std::string(*request.device_id) : std::string();
  attempt.ip_block_exempt_ = request.ip_block_exempt;
  const std::string subject_key =
      SubjectKey(attempt.factor_, attempt.account_key_, attempt.device_id_);
  const std::string ip_key = keys::IpFailures(attempt.factor_, attempt.ip_);

  // 1. A blocked IP checks nothing, whatever account it names.
  if (!request.ip_block_exempt) {
    auto blocked = store_.Ttl(keys::IpBlock(attempt.ip_));
    if (!blocked.ok()) return StoreError<Admission>(std::move(blocked).error());
    if (blocked->has_value()) return Refuse(Refusal::kIpBlocked, **blocked);
  }

  // 2. The progressive delay: read only, so a client retrying early does not push it out.
  auto delay =
      store_.Ttl(SubjectDelayKey(attempt.factor_, attempt.account_key_, attempt.device_id_));
  if (!delay.ok()) return StoreError<Admission>(std::move(delay).error());
  if (delay->has_value()) {
    // A failure that raced the lock_after-th one can set its delay after the lock began;
    // the lock and its real end are the honest answer then, not "wait a second".
    auto count = store_.Get(subject_key);
    if (!count.ok()) return StoreError<Admission>(std::move(count).error());
    auto failures = ParseCount(*count);
    if (!failures.ok()) return StoreError<Admission>(std::move(failures).error());
    if (*failures >= static_cast<std::int64_t>(options_.lock_after)) {
      auto left = store_.Ttl(subject_key);
      if (!left.ok()) return StoreError<Admission>(std::move(left).error());
      if (left->has_value()) return Refuse(Refusal::kLocked, **left);
    }
    return Refuse(Refusal::kDelayed, **delay);
  }

  // 3. Reserve on the account (or device) counter. The increment is the atomic decision:
  // of any number of racing attempts exactly those that drew 1..lock_after go on. A value
  // beyond lock_after means locked (or the last free attempts are in flight); it is given
  // back, and Increment never touches the TTL, so refusals do not extend the lock.
  auto reserved = store_.Increment(subject_key, 1, options_.failure_window);
  if (!reserved.ok()) return StoreError<Admission>(std::move(reserved).error());
  if (*reserved > static_cast<std::int64_t>(options_.lock_after)) {
    if (auto s = GiveBack(subject_key); !s.ok()) return StoreError<Admission>(std::move(s).error());
    auto left = store_.Ttl(subject_key);
    if (!left.ok()) return StoreError<Admission>(std::move(left).error());
    // While the lock_after-th attempt is still in flight the TTL is the failure window's;
    // the lock it may start lasts lock_duration from now, so that is the honest bound.
    const milliseconds wait =
        left->has_value() ? std::min(**left, options_.lock_duration) : state::kMinTtl;
    return Refuse(Refusal::kLocked, wait);
  }
  attempt.ordinal_ = Ordinal(*reserved);

  // 4. Reserve on the IP's counter, the same way, so parallel attempts across many
  // accounts cannot get more than ip_block_threshold checks from one address either.
  auto ip_reserved = store_.Increment(ip_key, 1, options_.ip_window);
  if (!ip_reserved.ok()) {
    GiveBackQuietly(attempt, /*subject=*/true, /*ip=*/false);
    return StoreError<Admission>(std::move(ip_reserved).error());
  }
  attempt.ip_ordinal_ = Ordinal(*ip_reserved);
  if (!request.ip_block_exempt &&
      *ip_reserved > static_cast<std::int64_t>(options_.ip_block_threshold)) {
    GiveBackQuietly(attempt, /*subject=*/true, /*ip=*/true);
    auto left = store_.Ttl(keys::IpBlock(attempt.ip_));
    if (!left.ok()) return StoreError<Admission>(std::move(left).error());
    // No block yet: the threshold-th failure is in flight and its block will last at least
    // ip_block_base.
    return Refuse(Refusal::kIpBlocked, left->value_or(options_.ip_block_base));
  }

  // 5. CAPTCHA: counted on the same reservations, so attempts in flight count as failures
  // (the conservative reading under a burst).
  const bool captcha_required = attempt.ordinal_ - 1 >= options_.captcha_after ||
                                attempt.ip_ordinal_ - 1 >= options_.captcha_after;
  if (captcha_required && !request.captcha_solved) {
    GiveBackQuietly(attempt, /*subject=*/true, /*ip=*/true);
    return Refuse(Refusal::kCaptchaRequired, milliseconds(0));
  }

  admitted_.fetch_add(1, std::memory_order_relaxed);
  attempt.live_ = true;
  Admission admission;
  admission.allowed = true;
  admission.captcha_required = captcha_required;
  admission.attempt.emplace(std::move(attempt));
  return admission;
}

Status BruteForceGuard::RecordSuccess(Attempt attempt) {
  if (!attempt.live_) return SettledError();
  attempt.live_ = false;
  successes_.fetch_add(1, std::memory_order_relaxed);

  // The secret was right: this account's record for the factor starts over (and the
  // device's, when the attempt came through one). Deleting the counter also ends a lock and
  // wipes reservations of other attempts in flight; their give-backs then meet an absent
  // key (see GiveBack).
  std::vector<std::string> reset = {keys::Account(attempt.factor_, attempt.account_key_),
                                    keys::AccountDelay(attempt.factor_, attempt.account_key_)};
  if (!attempt.device_id_.empty()) {
    reset.push_back(keys::Device(attempt.factor_, attempt.device_id_, attempt.account_key_));
    reset.push_back(keys::DeviceDelay(attempt.factor_, attempt.device_id_, attempt.account_key_));
  }
  for (const std::string& key : reset) {
    auto deleted = store_.Delete(key);
    if (!deleted.ok()) return StoreError<void>(std::move(deleted).error());
  }

  // A success is not an IP failure: only the reservation goes back.
  if (auto s = GiveBack(keys::IpFailures(attempt.factor_, attempt.ip_)); !s.ok()) {
    return StoreError<void>(std::move(s).error());
  }
  return Ok();
}

Status BruteForceGuard::Release(Attempt attempt) {
  if (!attempt.live_) return SettledError();
  attempt.live_ = false;
  released_.fetch_add(1, std::memory_order_relaxed);
  const std::string subject_key =
      SubjectKey(attempt.factor_, attempt.account_key_, attempt.device_id_);
  if (auto s = GiveBack(subject_key); !s.ok()) return StoreError<void>(std::move(s).error());
  if (auto s = GiveBack(keys::IpFailures(attempt.factor_, attempt.ip_)); !s.ok()) {
    return StoreError<void>(std::move(s).error());
  }
  return Ok();
}

Result<FailureOutcome> BruteForceGuard::RecordFailure(Attempt attempt) {
  if (!attempt.live_) return SettledError();
  attempt.live_ = false;
  failures_.fetch_add(1, std::memory_order_relaxed);

  FailureOutcome outcome;
  outcome.failures = attempt.ordinal_;
  outcome.scope = attempt.scope();

  // The reservation already counts this failure. Which rule applies follows from its
  // ordinal, fixed when it was reserved, so exactly one failure per lock cycle is the
  // lock_after-th however the racing attempts finish.
  if (attempt.ordinal_ >= options_.lock_after) {
    // The lock IS the counter at lock_after with lock_duration left: Begin refuses every
    // reservation above lock_after until the TTL ends, and expiry resets the counter.
    const std::string key =
        SubjectKey(attempt.factor_, attempt.account_key_, attempt.device_id_);
    auto locked = store_.Expire(key, options_.lock_duration);
    if (!locked.ok()) return StoreError<FailureOutcome>(std::move(locked).error());
    // False: a success deleted the counter meanwhile (the secret was right after all), or
    // its window ended just now; either way there is nothing left to lock.
    if (*locked) {
      outcome.lock_started = true;
      outcome.retry_after = options_.lock_duration;
      locks_started_.fetch_add(1, std::memory_order_relaxed);
    }
  } else {
    const milliseconds delay = DelayAfter(attempt.ordinal_);
    auto s = store_.Set(SubjectDelayKey(attempt.factor_, attempt.account_key_, attempt.device_id_),
                        "1", delay);
    if (!s.ok()) return StoreError<FailureOutcome>(std::move(s).error());
    outcome.retry_after = delay;
  }

  if (!attempt.ip_block_exempt_ && attempt.ip_ordinal_ == options_.ip_block_threshold) {
    return StartIpBlock(attempt, outcome);
  }
  return outcome;
}

Result<FailureOutcome> BruteForceGuard::StartIpBlock(const Attempt& attempt,
                                                     FailureOutcome outcome) {
  // The history counts blocks; it is remembered for ip_block_memory after the latest one,
  // so a returning attacker gets twice the previous block.
  const std::string history_key = keys::IpBlockHistory(attempt.ip_);
  auto count = store_.Increment(history_key, 1, options_.ip_block_memory);
  if (!count.ok()) return StoreError<FailureOutcome>(std::move(count).error());
  auto kept = store_.Expire(history_key, options_.ip_block_memory);
  if (!kept.ok()) return StoreError<FailureOutcome>(std::move(kept).error());

  const std::uint32_t block = Ordinal(*count);
  const milliseconds duration = IpBlockDuration(block);
  auto s = store_.Set(keys::IpBlock(attempt.ip_), std::to_string(block), duration);
  if (!s.ok()) return StoreError<FailureOutcome>(std::move(s).error());

  // Counting starts over after the block. Deleted only once the block is in place: if this
  // step is never reached, the counter above the threshold keeps the IP refused instead.
  auto deleted = store_.Delete(keys::IpFailures(attempt.factor_, attempt.ip_));
  if (!deleted.ok()) return StoreError<FailureOutcome>(std::move(deleted).error());

  ip_blocks_started_.fetch_add(1, std::memory_order_relaxed);
  outcome.ip_block_started = true;
  outcome.ip_block_duration = duration;
  outcome.ip_block_count = block;
  return outcome;
}

Result<std::optional<milliseconds>> BruteForceGuard::IsIpBlocked(std::string_view ip) {
  GH_RETURN_IF_ERROR(ValidateIp(ip));
  auto left = store_.Ttl(keys::IpBlock(ip));
  if (!left.ok()) return StoreError<std::optional<milliseconds>>(std::move(left).error());
  return *left;
}

Result<bool> BruteForceGuard::LiftIpBlock(std::string_view ip) {
  GH_RETURN_IF_ERROR(ValidateIp(ip));
  auto was_blocked = store_.Delete(keys::IpBlock(ip));
  if (!was_blocked.ok()) return StoreError<bool>(std::move(was_blocked).error());
  for (const std::string& key : {keys::IpBlockHistory(ip), keys::IpFailures(Factor::kPassword, ip),
                                 keys::IpFailures(Factor::kSecondFactor, ip)}) {
    auto deleted = store_.Delete(key);
    if (!deleted.ok()) return StoreError<bool>(std::move(deleted).error());
  }
  return *was_blocked;
}

Result<bool> BruteForceGuard::LiftAccountLock(std::string_view account_key) {
  GH_RETURN_IF_ERROR(ValidateAccountKey(account_key));
  bool was_locked = false;
  for (Factor factor : {Factor::kPassword, Factor::kSecondFactor}) {
    const std::string key = keys::Account(factor, account_key);
    auto value = store_.Take(key);
    if (!value.ok()) return StoreError<bool>(std::move(value).error());
    auto count = ParseCount(*value);
    if (count.ok() && *count >= static_cast<std::int64_t>(options_.lock_after)) was_locked = true;
    auto deleted = store_.Delete(keys::AccountDelay(factor, account_key));
    if (!deleted.ok()) return StoreError<bool>(std::move(deleted).error());
  }
  return was_locked;
}

Result<LockState> BruteForceGuard::GetLockState(std::string_view account_key, Factor factor) {
  GH_RETURN_IF_ERROR(ValidateAccountKey(account_key));
  const std::string key = keys::Account(factor, account_key);
  auto value = store_.Get(key);
  if (!value.ok()) return StoreError<LockState>(std::move(value).error());
  auto count = ParseCount(*value);
  if (!count.ok()) return StoreError<LockState>(std::move(count).error());

  LockState state;
  state.failures = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(*count, 0, std::numeric_limits<std::uint32_t>::max()));
  state.locked = state.failures >= options_.lock_after;
  if (state.locked) {
    auto left = store_.Ttl(key);
    if (!left.ok()) return StoreError<LockState>(std::move(left).error());
    // Absent: the lock ended between the two reads.
    state.locked = left->has_value();
    state.lock_remaining = left->value_or(milliseconds(0));
  }
  auto delay = store_.Ttl(keys::AccountDelay(factor, account_key));
  if (!delay.ok()) return StoreError<LockState>(std::move(delay).error());
  state.delay_remaining = delay->value_or(milliseconds(0));
  return state;
}

}  // namespace gatehouse::protect
