#pragma once

// The account and session use cases behind the HTTP routes: register, log in, refresh,
// log out, change the password, authenticate a request, list and revoke sessions. Every
// outcome that matters to security is reported to the event sink.
//
// Blocking: most calls hash passwords or touch the store; run them on the worker pool.
// AuthenticateFromMemory() touches only the shared state (see auth/live_sessions.h).
// Thread-safe: no mutable state of its own beyond what its parts guard.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/events.h"
#include "auth/account_repository.h"
#include "auth/live_sessions.h"
#include "auth/password_policy.h"
#include "auth/session_repository.h"
#include "auth/token_service.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/password.h"

namespace gatehouse::auth {

struct AuthSettings {
  PasswordPolicy password_policy;
  crypto::Argon2Params argon2;
  std::chrono::seconds refresh_ttl{7 * 24 * 3600};
  std::chrono::seconds refresh_grace{10};
  std::chrono::seconds absolute_timeout{8 * 3600};
  unsigned max_sessions = 5;
  core::SessionLimitPolicy limit_policy = core::SessionLimitPolicy::kEvictOldest;
};

// Who is asking, for events and session binding.
struct RequestContext {
  std::string request_id;
  std::string client_ip;
  std::string user_agent;
  std::string fingerprint;
};

// An authenticated caller.
struct Principal {
  std::string account_id;
  std::string session_id;
  std::string jti;
  std::int64_t token_expires_at = 0;
  std::vector<std::string> amr;
  bool via_cookie = false;
};

// What login and refresh hand out.
struct TokenGrant {
  IssuedToken access;
  Secret refresh_token;
  std::string session_id;
  std::string account_id;
};

// A password that breaks the policy: every violated rule, for the 400 answer.
struct PolicyFailure {
  std::vector<PolicyViolation> violations;
};

// The password was right but the account has a second factor: no session yet, only a
// single-use ticket that POST /v1/auth/mfa/verify exchanges, with a code, for the grant.
struct SecondFactorChallenge {
  Secret ticket;
  std::vector<std::string> methods;  // "totp", "sms", "backup_code".
  std::chrono::seconds expires_in{0};
};

// What a password login ends with: exactly one of the two is set.
struct LoginOutcome {
  std::optional<TokenGrant> grant;
  std::optional<SecondFactorChallenge> challenge;
};

// Decides whether an account needs a second factor after its password, and issues the
// ticket when it does (auth/mfa_service.h). The auth service knows only this interface.
class SecondFactorGate {
 public:
  virtual ~SecondFactorGate() = default;
  // nullopt: the account has no active second factor, sign it in now. `first_factor` is
  // the RFC 8176 amr value of what the account proved already ("pwd", or "fed" for an
  // OpenID provider); the session's amr starts with it.
  virtual Result<std::optional<SecondFactorChallenge>> ChallengeFor(
      const Account& account, const RequestContext& ctx, std::string_view first_factor) = 0;
};

class AuthService {
 public:
  // Every reference must outlive the service.
  AuthService(AccountRepository& accounts, SessionRepository& sessions, LiveSessions& live,
              const TokenService& tokens, const PasswordBlocklist& blocklist,
              audit::EventSink& events, const Clock& clock, AuthSettings settings);

  // Precomputes the hash that unknown-email logins are verified against.
  Status Init();

  // Second factors: with a gate, an account that has one gets a challenge from Login
  // instead of a grant. Not owned; must outlive the service. Set before serving.
  void set_second_factors(SecondFactorGate* gate) { second_factors_ = gate; }

  struct Registered {
    std::string account_id;
    std::string email;  // Normalised.
  };
  // kInvalidArgument for a bad email; `policy_failure` filled (and kInvalidArgument) for a
  // password breaking the policy; kAlreadyExists for a taken email.
  Result<Registered> Register(std::string_view email, std::string_view password,
                              std::optional<std::string> display_name,
                              std::optional<std::string> phone, const RequestContext& ctx,
                              PolicyFailure* policy_failure);

  // The same kUnauthenticated answer, at the same cost, for an unknown email and a wrong
  // password. kFailedPrecondition when the session limit refuses a new session. An account
  // with a second factor gets a challenge and no session (see SecondFactorGate).
  Result<LoginOutcome> Login(std::string_view email, std::string_view password,
                             const RequestContext& ctx);

  // Signs in an account whose password and second factor were both checked: the session
  // limit, a session carrying `amr` (RFC 8176 values), `login_success` naming `method`.
  // kUnauthenticated when the account is gone.
  Result<TokenGrant> CompleteLogin(std::string_view account_id, std::vector<std::string> amr,
                                   std::string_view method, const RequestContext& ctx);

  // Checks the signed-in caller's password again (disabling a second factor, changing the
  // password). kPermissionDenied when it is wrong; emits `login_failure` then.
  Status VerifyCurrentPassword(const Principal& principal, std::string_view password,
                               const RequestContext& ctx);

  Result<TokenGrant> Refresh(const Secret& refresh_token, const RequestContext& ctx);

  // Verifies an access token and its session: signature and claims, deny list, session
  // alive (idle and absolute timeouts), device fingerprint. A fingerprint mismatch ends
  // the session and reports suspicious activity.
  Result<Principal> Authenticate(std::string_view token, bool via_cookie,
                                 const RequestContext& ctx);
  // The same check for an I/O thread: nullopt, and nothing changed, where the answer needs
  // the store (a fingerprint mismatch ends the session there); Authenticate on the worker
  // pool then gives it.
  std::optional<Result<Principal>> AuthenticateFromMemory(std::string_view token,
                                                          bool via_cookie,
                                                          const RequestContext& ctx);

  // Ends the caller's session and denies its access token until it expires.
  Status Logout(const Principal& principal, const RequestContext& ctx);

  Status ChangePassword(const Principal& principal, std::string_view current_password,
                        std::string_view new_password, const RequestContext& ctx,
                        PolicyFailure* policy_failure);

  // A session for an account whose owner another party has authenticated (an OpenID
  // provider): the same session limit, tokens and `login_success` event as a password
  // login, with `amr` as given and `method` ("oidc") and `provider` in the event.
  // An account with a second factor gets a challenge instead, whose ticket remembers `amr`'s
  // first value as the first factor.
  Result<LoginOutcome> SignInExternal(const Account& account, std::vector<std::string> amr,
                                      std::string_view method, std::string_view provider,
                                      const RequestContext& ctx);

  Result<std::vector<SessionRecord>> ListSessions(const Principal& principal);
  // kNotFound when the session is not one of the caller's active sessions.
  Status RevokeSession(const Principal& principal, std::string_view session_id);
  Result<std::size_t> RevokeOtherSessions(const Principal& principal);

  // For an instance whose shared state lives in its own memory, at start: puts every
  // session the database holds as active back into the live state, with its idle clock at
  // its last recorded activity (see auth/live_sessions.h). Returns how many came back.
  Result<std::size_t> RestoreLiveSessions();
  // Writes the session activity recorded since the last call to the database, in one
  // transaction. Run it periodically and once at shutdown, off the request path.
  Status FlushSessionActivity();

 private:
  Result<TokenGrant> StartSession(const Account& account, std::vector<std::string> amr,
                                  const RequestContext& ctx);
  Status EnforceSessionLimit(const Account& account, const RequestContext& ctx);
  Status EndSession(std::string_view session_id, std::string_view reason);
  std::optional<Result<Principal>> AuthenticateImpl(std::string_view token, bool via_cookie,
                                                    const RequestContext& ctx, bool may_block);
  void Emit(audit::EventType type, audit::Severity severity, const RequestContext& ctx,
            std::string_view account_id, std::string_view reason,
            std::vector<std::pair<std::string, std::string>> attributes = {});

  AccountRepository& accounts_;
  SessionRepository& sessions_;
  LiveSessions& live_;
  const TokenService& tokens_;
  const PasswordBlocklist& blocklist_;
  audit::EventSink& events_;
  const Clock& clock_;
  AuthSettings settings_;
  std::string dummy_hash_;
  SecondFactorGate* second_factors_ = nullptr;
};

}  // namespace gatehouse::auth
