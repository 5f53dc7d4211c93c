#pragma once

// Brute-force defence around password login (docs/brute-force.md): the guard's attempt
// reservation before the password is checked, the proof-of-work CAPTCHA once failures
// pile up, the signed device cookie that lets a known device try while its account is
// locked, and the events and registry rows when a lock or an IP block starts.
//
// Every answer it gives to a refused or failed login is the same 401 problem as a wrong
// password, apart from the retry time and the CAPTCHA request, and unknown accounts are
// counted exactly like real ones: nothing tells an attacker whether an account exists.
//
// Thread safety: all members may be called from any worker thread at once.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "audit/events.h"
#include "core/clock.h"
#include "core/status.h"
#include "crypto/hmac.h"
#include "http/message.h"
#include "protect/brute_force.h"
#include "protect/device_cookie.h"
#include "protect/ip_rules.h"
#include "protect/pow_captcha.h"
#include "protect/protect_repository.h"

namespace gatehouse::auth {

inline constexpr std::string_view kDeviceCookie = "__Host-gh_device";

struct LoginGuardParts {
  protect::BruteForceGuard* guard = nullptr;
  const protect::PowCaptcha* captcha = nullptr;
  const protect::DeviceCookies* devices = nullptr;
  protect::ProtectRepository* registry = nullptr;  // May be null: no registry rows.
  const protect::IpRules* lists = nullptr;         // May be null: nobody is exempt.
  audit::EventSink* events = nullptr;
  const Clock* clock = nullptr;
  // Told about every IP block this process starts (the gate's fast path uses it).
  std::function<void(std::chrono::milliseconds)> on_ip_block;
  std::chrono::seconds device_cookie_max_age{180 * 24 * 3600};
};

// What a login handler does with one attempt.
class LoginGuard {
 public:
  // `account_key_secret`: at least 32 bytes, only for this purpose (from the key ring).
  LoginGuard(LoginGuardParts parts, const Secret& account_key_secret);

  // The opaque key the guard counts an email under: the keyed hash of its normalised form
  // (of the lower-cased text when it is not a valid address), so "A@x.org" and "a@x.org"
  // are one account, and an unknown address is counted like a known one.
  std::string AccountKey(std::string_view email) const;

  struct Begun {
    std::optional<protect::Attempt> attempt;  // Set: go on and check the password.
    std::optional<http::Response> refusal;    // Set: answer this.
    std::string account_key;
  };
  // Reads the device cookie and the optional `captcha` member of the body ({"challenge",
  // "solution"}), and reserves an attempt. Errors are store failures (fail closed).
  Result<Begun> Begin(const http::Request& req, std::string_view email,
                      const std::optional<std::pair<std::string, std::string>>& captcha) const;

  // After a successful password check: resets the counters and returns the Set-Cookie
  // value of the (renewed) device cookie.
  Result<std::string> Succeeded(protect::Attempt attempt, std::string_view account_key) const;

  // After a wrong password (or unknown account): records it, emits `account_lockout` or
  // `ip_block` when one starts, and returns the 401 answer.
  Result<http::Response> Failed(const http::Request& req, protect::Attempt attempt,
                                std::string_view email, std::string_view account_key,
                                const Error& failure) const;

  // Gives the reservation back when the attempt ended for another reason (a store error).
  void Abandoned(protect::Attempt attempt) const;

  // The password was right but a second factor is still due: resets the password counters
  // and issues no device cookie yet (a device becomes known only by a complete sign-in).
  Status PasswordAccepted(protect::Attempt attempt) const;

  // The Set-Cookie value of a fresh device cookie for the account.
  Result<std::string> DeviceCookie(std::string_view account_key) const;

  // Second-factor checks (TOTP, SMS and backup codes), on the account's second-factor
  // counter. Never on a device counter: whoever has the password can collect device
  // cookies at will, and each would bring its own allowance of code guesses. No CAPTCHA
  // either: only a password-holder gets this far, and the lock bounds the guesses.
  // A refusal is 429 "too many wrong codes" with Retry-After (the caller proved the
  // password, so there is nothing to hide about the lock).
  Result<Begun> BeginSecondFactor(const http::Request& req, std::string_view account_key) const;
  // After a wrong code: records it, emits `account_lockout` (scope second_factor) when the
  // lock starts, and returns the 401 answer for `failure`.
  Result<http::Response> SecondFactorFailed(const http::Request& req, protect::Attempt attempt,
                                            std::string_view email, std::string_view account_key,
                                            const Error& failure) const;
  Status SecondFactorSucceeded(protect::Attempt attempt) const;

  // A fresh challenge bound to the client address, as JSON members for an answer.
  protect::PowChallenge IssueChallenge(const http::Request& req) const;

 private:
  http::Response FailureAnswer(const http::Request& req, const Error& failure,
                               std::chrono::milliseconds retry_after, bool captcha) const;
  Result<http::Response> Record(const http::Request& req, protect::Attempt attempt,
                                std::string_view email, std::string_view account_key,
                                const Error& failure, bool offer_captcha) const;
  bool Exempt(std::string_view ip) const;

  LoginGuardParts parts_;
  crypto::HmacSha256Keyed account_key_;
};

}  // namespace gatehouse::auth
