#pragma once

// Second factors (docs/mfa.md): TOTP enrolment and verification with replay refusal, backup
// codes, optional SMS codes, and the single-use tickets that carry a login from the
// password step to the second factor.
//
// What lives where:
//   durable (store, MfaRepository)  TOTP secrets and phone numbers (encrypted), backup code
//                                   hashes.
//   short-lived (state store)       tickets       mfa:ticket:<sha256 hex>        ticket_ttl
//                                   used steps    mfa:totp:<account>:<step>      2(w+1) periods
//                                   SMS codes     mfa:sms:<login|enrol>:<account> sms_code_ttl
//                                   SMS per number mfa:smsrate:<keyed hash>      window
//   Tickets and codes are kept only as hashes (a ticket's SHA-256, a code's keyed HMAC), so
//   a Redis dump reveals nothing that could be replayed.
//
// What this service does NOT do: count failures. The HTTP routes wrap every code check in
// the brute-force guard's second-factor counter (auth/login_guard.h), as they do for
// passwords. Failures here are reported as kUnauthenticated ("invalid code"), which the
// routes record as failures; every other error releases the attempt.
//
// Events: `mfa_change` (enabled, disabled, backup codes replaced), `backup_code_use` (one per
// spent code, with the count left), `login_failure` for a wrong or replayed code. None
// carries a code, a secret, a ticket or an unmasked phone number.
//
// Blocking: every call touches the store or the state; SMS sending waits up to
// sms_answer_wait for the sender's outcome. Run them on the worker pool.
// Thread safety: all members may be called concurrently.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/events.h"
#include "auth/account_repository.h"
#include "auth/auth_service.h"
#include "auth/mfa_repository.h"
#include "auth/sms_sender.h"
#include "auth/totp.h"
#include "core/clock.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/hmac.h"
#include "state/state.h"

namespace gatehouse::auth {

struct MfaSettings {
  std::string issuer = "Gatehouse";  // Shown by authenticator apps; no ':' (the URI label).
  TotpParams totp;
  unsigned backup_code_count = 10;  // 1..100.
  std::chrono::seconds ticket_ttl{300};
  std::chrono::seconds sms_code_ttl{300};
  // Texts sent to one number within the window, enrolment and login codes together.
  unsigned sms_per_number_limit = 3;
  std::chrono::seconds sms_per_number_window{900};
  // The message; ${code} (required) and ${issuer} are replaced.
  std::string sms_message = "Your ${issuer} code is ${code}";
  // How long a request waits for the sender's outcome before answering "queued". Only one
  // request waits at a time; while one does, others answer "queued" at once.
  std::chrono::milliseconds sms_answer_wait{10000};
};

// kInvalidArgument naming the problem (TOTP params, issuer, counts, TTLs, message).
Status ValidateMfaSettings(const MfaSettings& settings);

enum class SecondFactorMethod : std::uint8_t { kTotp, kSms, kBackupCode };
// "totp", "sms", "backup_code": the names in `methods` and in events.
std::string_view SecondFactorMethodName(SecondFactorMethod method);
std::optional<SecondFactorMethod> ParseSecondFactorMethod(std::string_view name);
// The token's `amr` after the password and this method (RFC 8176 section 2): "pwd" and "mfa"
// always; "otp" for TOTP, "sms" for SMS; backup codes have no registered value, so they are
// named by the private value "backup_code" (RFC 8176 allows values beyond the registry).
// The session's amr after `first_factor` ("pwd", "fed") and a second factor.
std::vector<std::string> AmrFor(SecondFactorMethod method, std::string_view first_factor = "pwd");

// What a submitted code looks like, before any check. Only these shapes are checked at all.
enum class CodeShape : std::uint8_t { kDigits, kBackupCode };
// Spaces and '-' are ignored; `digits` digits (the TOTP length, or 6 for SMS) is kDigits,
// 16 base32 characters (any case) is kBackupCode; anything else nullopt. `normalised` gets
// the code without separators (lower case for backup codes).
std::optional<CodeShape> ClassifyCode(std::string_view code, unsigned totp_digits,
                                      std::string* normalised);

struct MfaOverview {
  bool totp_active = false;
  bool totp_pending = false;
  bool sms_active = false;
  bool sms_pending = false;
  std::string phone_masked;  // Of the (pending or active) SMS number; empty without one.
  std::int64_t backup_codes_left = 0;
  std::vector<std::string> methods;  // What a login would offer now.
};

struct TotpEnrolment {
  Secret secret_base32;  // For typing into an app by hand.
  Secret otpauth_uri;
  std::string qr_svg;                // The URI as an SVG picture.
  std::vector<std::uint8_t> qr_png;  // The same as PNG bytes.
};

struct SmsDispatch {
  enum class State : std::uint8_t {
    kSent,         // The provider accepted the message.
    kQueued,       // Still being tried when the answer wait ran out; the code is valid.
    kRateLimited,  // Too many texts to this number; `retry_after` says when.
  };
  State state = State::kSent;
  std::string phone_masked;
  std::chrono::seconds expires_in{0};
  std::chrono::seconds retry_after{0};
};

// A ticket that is still valid, with the account it was issued for.
struct TicketHolder {
  std::string account_id;
  std::string first_factor;  // The amr value of what the account proved before the ticket.
  std::string email;         // The account's normalised email (for the brute-force account key).
};

struct SecondFactorPass {
  std::string account_id;
  SecondFactorMethod method = SecondFactorMethod::kTotp;
  std::vector<std::string> amr;
  std::int64_t backup_codes_left = -1;  // Set when a backup code was spent.
};

class MfaService final : public SecondFactorGate {
 public:
  // Every reference must outlive the service. `sms` may be null: SMS is then unavailable.
  // `code_key` (at least 32 bytes, from the key ring) keys the hashes of SMS codes and of
  // phone numbers in state keys.
  MfaService(MfaRepository& factors, AccountRepository& accounts, state::StateStore& state,
             audit::EventSink& events, const Clock& clock, MfaSettings settings,
             const Secret& code_key, SmsSender* sms);

  const MfaSettings& settings() const { return settings_; }
  bool sms_available() const { return sms_ != nullptr; }

  // SecondFactorGate: a ticket when the account has an active factor (bound to the
  // device fingerprint of `ctx`).
  Result<std::optional<SecondFactorChallenge>> ChallengeFor(const Account& account,
                                                            const RequestContext& ctx,
                                                            std::string_view first_factor) override;

  Result<MfaOverview> Overview(std::string_view account_id);

  // The account's normalised email (the routes key brute-force counters by it).
  // kUnauthenticated when the account is gone.
  Result<std::string> AccountEmail(std::string_view account_id);

  // ---- TOTP ----
  // A new pending secret (replacing an unconfirmed one). kFailedPrecondition when TOTP is
  // already active; kNotFound when the account is gone.
  Result<TotpEnrolment> BeginTotp(std::string_view account_id, const RequestContext& ctx);
  // Activates the pending secret with a current code. Returns fresh backup codes when the
  // account had none (shown once), else an empty list. kFailedPrecondition without a pending
  // secret; kUnauthenticated for a wrong or replayed code.
  Result<std::vector<std::string>> ConfirmTotp(std::string_view account_id, std::string_view code,
                                               const RequestContext& ctx);
  // Checks a current code of the active secret (to disable it). kFailedPrecondition when
  // TOTP is not active; kUnauthenticated for a wrong or replayed code.
  Status CheckTotp(std::string_view account_id, std::string_view code, const RequestContext& ctx);
  // kNotFound when TOTP is not enabled (pending or active). The last factor takes the
  // backup codes with it.
  Status DisableTotp(std::string_view account_id, const RequestContext& ctx);

  // ---- backup codes ----
  // A fresh set replacing the old one, shown once. kFailedPrecondition without an active
  // factor (backup codes stand in for one).
  Result<std::vector<std::string>> RegenerateBackupCodes(std::string_view account_id,
                                                         const RequestContext& ctx);

  // ---- SMS ----
  // Stores `phone` (E.164, checked by the caller) as pending and texts it a code.
  // kNotFound when SMS is not available; kFailedPrecondition when SMS is already active;
  // kUnavailable when the text could not be delivered (or the sender queue is full).
  Result<SmsDispatch> BeginSms(std::string_view account_id, std::string_view phone,
                               const RequestContext& ctx);
  // Activates the pending number with the code texted to it; backup codes as ConfirmTotp.
  Result<std::vector<std::string>> ConfirmSms(std::string_view account_id, std::string_view code,
                                              const RequestContext& ctx);
  Status DisableSms(std::string_view account_id, const RequestContext& ctx);

  // ---- login ----
  // The holder of a valid ticket presented from the device it was issued to.
  // kUnauthenticated ("invalid or expired ticket") otherwise.
  Result<TicketHolder> PeekTicket(std::string_view ticket, const RequestContext& ctx);
  // Texts a login code to the ticket holder's verified number.
  // kFailedPrecondition when the account has no active SMS factor; errors as BeginSms.
  Result<SmsDispatch> SendLoginCode(std::string_view ticket, const RequestContext& ctx);
  // Checks `code` (TOTP, SMS or backup code; `method` narrows it) for the ticket's account
  // and, when it is right, spends the ticket. kUnauthenticated for a wrong code (the ticket
  // stays usable until it expires) and for a ticket that is unknown, expired, from another
  // device or already spent. kInvalidArgument for a code of no known shape.
  Result<SecondFactorPass> Redeem(std::string_view ticket, std::string_view code,
                                  std::optional<SecondFactorMethod> method,
                                  const RequestContext& ctx);

  // The key of a ticket in the state store (exposed for tests).
  static std::string TicketKey(std::string_view ticket);

 private:
  Result<std::vector<std::string>> ActiveMethods(std::string_view account_id);
  // True when `code` is the current code of `secret` and its step was not used before by
  // this account (the step is then marked used).
  Result<bool> AcceptTotp(std::string_view account_id, const Secret& secret, std::string_view code,
                          const RequestContext& ctx);
  Result<SmsDispatch> Dispatch(std::string_view purpose, std::string_view account_id,
                               std::string_view phone);
  // True when `code` is the unexpired code texted for `purpose`; it is then spent.
  Result<bool> AcceptSmsCode(std::string_view purpose, std::string_view account_id,
                             std::string_view code);
  Result<std::vector<std::string>> IssueBackupCodes(std::string_view account_id);
  Result<std::vector<std::string>> BackupCodesIfNone(std::string_view account_id);
  Status ForgetBackupCodesIfNoFactor(std::string_view account_id);
  std::string CodeHash(std::string_view purpose, std::string_view account_id,
                       std::string_view code) const;
  void Emit(audit::EventType type, audit::Severity severity, const RequestContext& ctx,
            std::string_view account_id, std::string_view reason,
            std::vector<std::pair<std::string, std::string>> attributes = {});

  MfaRepository& factors_;
  AccountRepository& accounts_;
  state::StateStore& state_;
  audit::EventSink& events_;
  const Clock& clock_;
  MfaSettings settings_;
  crypto::HmacSha256Keyed code_key_;
  SmsSender* sms_;
  std::atomic<int> sms_waiters_{0};  // Request workers waiting for a delivery outcome.
};

}  // namespace gatehouse::auth
