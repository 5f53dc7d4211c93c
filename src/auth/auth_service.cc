#include "auth/auth_service.h"

#include <algorithm>

#include "auth/email.h"
#include "core/mask.h"
#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

using audit::EventType;
using audit::Severity;

Error InvalidCredentials() {
  // One answer for an unknown email and a wrong password, so accounts cannot be
  // enumerated through login.
  return Error(ErrorCode::kUnauthenticated, "invalid email or password");
}

Error SessionEnded(std::string detail) {
  return Error(ErrorCode::kUnauthenticated, "invalid token", std::move(detail));
}

}  // namespace

AuthService::AuthService(AccountRepository& accounts, SessionRepository& sessions,
                         LiveSessions& live, const TokenService& tokens,
                         const PasswordBlocklist& blocklist, audit::EventSink& events,
                         const Clock& clock, AuthSettings settings)
    : accounts_(accounts),
      sessions_(sessions),
      live_(live),
      tokens_(tokens),
      blocklist_(blocklist),
      events_(events),
      clock_(clock),
      settings_(std::move(settings)) {}

Status AuthService::Init() {
  // Hashed with the live parameters, so verifying against it costs what a real account's
  // verification costs.
  auto hash = crypto::HashPassword(crypto::RandomToken(24), settings_.argon2);
  if (!hash.ok()) return std::move(hash).error();
  dummy_hash_ = std::move(*hash);
  return Ok();
}

void AuthService::Emit(EventType type, Severity severity, const RequestContext& ctx,
                       std::string_view account_id, std::string_view reason,
                       std::vector<std::pair<std::string, std::string>> attributes) {
  audit::SecurityEvent event;
  event.type = type;
  event.severity = severity;
  event.time = clock_.Now();
  event.request_id = ctx.request_id;
  event.user_id = std::string(account_id);
  event.client_ip = ctx.client_ip;
  event.reason = std::string(reason);
  event.attributes = std::move(attributes);
  events_.Emit(event);
}

Result<AuthService::Registered> AuthService::Register(
    std::string_view email, std::string_view password, std::optional<std::string> display_name,
    std::optional<std::string> phone, const RequestContext& ctx, PolicyFailure* policy_failure) {
  auto normalized = NormalizeEmail(email);
  if (!normalized.ok()) return std::move(normalized).error();

  // The length cap is checked before anything else inside CheckPassword, so an
  // oversized password never reaches the hash.
  std::vector<PolicyViolation> violations =
      CheckPassword(password, settings_.password_policy, blocklist_, normalized->normalized);
  if (!violations.empty()) {
    if (policy_failure != nullptr) policy_failure->violations = std::move(violations);
    return InvalidArgument("the password does not meet the password policy");
  }

  auto hash = crypto::HashPassword(password, settings_.argon2);
  if (!hash.ok()) return std::move(hash).error();

  NewAccount account;
  account.email = normalized->normalized;
  account.password_hash = std::move(*hash);
  account.display_name = std::move(display_name);
  account.phone = std::move(phone);
  auto created = accounts_.Create(account);
  if (!created.ok()) return std::move(created).error();
  return Registered{created->id, created->email};
}

Result<LoginOutcome> AuthService::Login(std::string_view email, std::string_view password,
                                        const RequestContext& ctx) {
  const std::string masked = core::MaskEmail(email);
  if (password.size() > settings_.password_policy.max_bytes) {
    // Refused before hashing: a huge password is a cheap way to make the server burn CPU.
    Emit(EventType::kLoginFailure, Severity::kLow, ctx, "", "password_too_long",
         {{"email", masked}});
    return InvalidCredentials();
  }
  auto normalized = NormalizeEmail(email);
  std::optional<Account> account;
  if (normalized.ok()) {
    auto found = accounts_.FindByEmail(normalized->normalized);
    if (!found.ok()) return std::move(found).error();
    account = std::move(*found);
  }

  // Unknown (or malformed) email: verify against the dummy hash anyway, so the answer
  // takes as long as a wrong password for a real account.
  const std::string& hash =
      account && !account->password_hash.empty() ? account->password_hash : dummy_hash_;
  auto verified = crypto::VerifyPassword(password, hash);
  if (!verified.ok()) return std::move(verified).error();
  if (!account || account->password_hash.empty() || !*verified) {
    Emit(EventType::kLoginFailure, Severity::kLow, ctx, account ? account->id : "",
         account ? "wrong_password" : "unknown_account", {{"email", masked}});
    return InvalidCredentials();
  }

  // A hash made with weaker (older) parameters is upgraded now that we hold the password.
  if (crypto::NeedsRehash(account->password_hash, settings_.argon2)) {
    auto upgraded = crypto::HashPassword(password, settings_.argon2);
    if (upgraded.ok()) {
      GH_RETURN_IF_ERROR(accounts_.UpdatePasswordHash(account->id, *upgraded, false));
    }
  }

  // The password alone is not enough for an account with a second factor: no session and
  // no token until the ticket comes back with a code.
  if (second_factors_ != nullptr) {
    auto challenge = second_factors_->ChallengeFor(*account, ctx, "pwd");
    if (!challenge.ok()) return std::move(challenge).error();
    if (*challenge) {
      LoginOutcome outcome;
      outcome.challenge = std::move(**challenge);
      return outcome;
    }
  }

  GH_RETURN_IF_ERROR(EnforceSessionLimit(*account, ctx));
  auto grant = StartSession(*account, {"pwd"}, ctx);
  if (!grant.ok()) return std::move(grant).error();
  Emit(EventType::kLoginSuccess, Severity::kInfo, ctx, account->id, "password",
       {{"session_id", grant->session_id}});
  LoginOutcome outcome;
  outcome.grant = std::move(*grant);
  return outcome;
}

Result<TokenGrant> AuthService::CompleteLogin(std::string_view account_id,
                                              std::vector<std::string> amr, std::string_view method,
                                              const RequestContext& ctx) {
  auto account = accounts_.FindById(account_id);
  if (!account.ok()) return std::move(account).error();
  if (!*account) {
    return Error(ErrorCode::kUnauthenticated, "invalid or expired ticket", "account is gone");
  }
  GH_RETURN_IF_ERROR(EnforceSessionLimit(**account, ctx));
  auto grant = StartSession(**account, std::move(amr), ctx);
  if (!grant.ok()) return std::move(grant).error();
  Emit(EventType::kLoginSuccess, Severity::kInfo, ctx, (*account)->id, "second_factor",
       {{"session_id", grant->session_id}, {"method", std::string(method)}});
  return grant;
}

Result<LoginOutcome> AuthService::SignInExternal(const Account& account,
                                                 std::vector<std::string> amr,
                                                 std::string_view method, std::string_view provider,
                                                 const RequestContext& ctx) {
  LoginOutcome outcome;
  // The provider vouched for the first factor only; an enrolled second factor still
  // comes first, as after a password.
  if (second_factors_ != nullptr && !amr.empty()) {
    auto challenge = second_factors_->ChallengeFor(account, ctx, amr.front());
    if (!challenge.ok()) return std::move(challenge).error();
    if (*challenge) {
      outcome.challenge = std::move(**challenge);
      return outcome;
    }
  }
  GH_RETURN_IF_ERROR(EnforceSessionLimit(account, ctx));
  auto grant = StartSession(account, std::move(amr), ctx);
  if (!grant.ok()) return std::move(grant).error();
  Emit(EventType::kLoginSuccess, Severity::kInfo, ctx, account.id, method,
       {{"session_id", grant->session_id}, {"provider", std::string(provider)}});
  outcome.grant = std::move(*grant);
  return outcome;
}

Status AuthService::VerifyCurrentPassword(const Principal& principal, std::string_view password,
                                          const RequestContext& ctx) {
  auto account = accounts_.FindById(principal.account_id);
  if (!account.ok()) return std::move(account).error();
  if (!*account) return Error(ErrorCode::kUnauthenticated, "invalid token", "account is gone");

  if (password.size() > settings_.password_policy.max_bytes) {
    return Error(ErrorCode::kPermissionDenied, "the current password is not correct");
  }
  // An account without a password (provider sign-in only) is checked against the dummy hash
  // and always fails, at the cost of a real check.
  const std::string& hash =
      (*account)->password_hash.empty() ? dummy_hash_ : (*account)->password_hash;
  auto verified = crypto::VerifyPassword(password, hash);
  if (!verified.ok()) return std::move(verified).error();
  if (!*verified || (*account)->password_hash.empty()) {
    Emit(EventType::kLoginFailure, Severity::kLow, ctx, principal.account_id,
         "wrong_current_password");
    return Error(ErrorCode::kPermissionDenied, "the current password is not correct");
  }
  return Ok();
}

Status AuthService::EnforceSessionLimit(const Account& account, const RequestContext& ctx) {
  auto active = sessions_.ListActiveIds(account.id);
  if (!active.ok()) return std::move(active).error();

  // Sessions that idled out are still active in the store until noticed; end them now so
  // they do not count.
  std::vector<const std::string*> alive;
  for (const std::string& id : *active) {
    auto live = live_.Find(id);
    if (!live.ok()) return std::move(live).error();
    if (*live) {
      alive.push_back(&id);
    } else {
      auto revoked = sessions_.Revoke(id, "idle_timeout");
      if (!revoked.ok()) return std::move(revoked).error();
    }
  }
  if (alive.size() < settings_.max_sessions) return Ok();

  if (settings_.limit_policy == core::SessionLimitPolicy::kRefuseNew) {
    Emit(EventType::kLoginFailure, Severity::kLow, ctx, account.id, "session_limit");
    return Error(ErrorCode::kFailedPrecondition,
                 "too many active sessions; sign out of another session first");
  }
  // ListActiveIds is newest first: evict from the back.
  const std::size_t excess = alive.size() - settings_.max_sessions + 1;
  for (std::size_t i = 0; i < excess; ++i) {
    GH_RETURN_IF_ERROR(EndSession(*alive[alive.size() - 1 - i], "session_limit"));
  }
  return Ok();
}

Result<TokenGrant> AuthService::StartSession(const Account& account, std::vector<std::string> amr,
                                             const RequestContext& ctx) {
  NewSession session;
  session.account_id = account.id;
  session.absolute_lifetime = settings_.absolute_timeout;
  session.fingerprint = ctx.fingerprint;
  session.client_ip = ctx.client_ip;
  session.user_agent = ctx.user_agent;
  session.amr = amr;
  auto created = sessions_.Create(session, settings_.refresh_ttl);
  if (!created.ok()) return std::move(created).error();

  LiveSession live;
  live.account_id = account.id;
  live.absolute_expires_at = created->session.absolute_expires_at;
  live.fingerprint = ctx.fingerprint;
  GH_RETURN_IF_ERROR(live_.Start(created->session.id, live));

  auto access = tokens_.IssueAccess(account.id, created->session.id, amr);
  if (!access.ok()) return std::move(access).error();
  TokenGrant grant;
  grant.access = std::move(*access);
  grant.refresh_token = std::move(created->refresh_token);
  grant.session_id = created->session.id;
  grant.account_id = account.id;
  return grant;
}

Result<TokenGrant> AuthService::Refresh(const Secret& refresh_token, const RequestContext& ctx) {
  auto outcome = sessions_.Refresh(refresh_token, settings_.refresh_ttl, settings_.refresh_grace);
  if (!outcome.ok()) return std::move(outcome).error();

  switch (outcome->kind) {
    case RefreshOutcome::Kind::kInvalid:
      return Error(ErrorCode::kUnauthenticated, "invalid refresh token");
    case RefreshOutcome::Kind::kReuse:
      // The family is revoked in the store; end the live session so its access tokens
      // stop working on every instance now.
      GH_RETURN_IF_ERROR(live_.End(outcome->session_id));
      Emit(EventType::kSuspiciousActivity, Severity::kHigh, ctx, outcome->account_id,
           "refresh_token_reuse",
           {{"session_id", outcome->session_id}, {"family_id", outcome->family_id}});
      return Error(ErrorCode::kUnauthenticated, "invalid refresh token");
    case RefreshOutcome::Kind::kRotated:
    case RefreshOutcome::Kind::kGraceReplay:
      break;
  }

  // The session must still be alive: refreshing does not revive an idle session.
  auto live = live_.Find(outcome->session_id);
  if (!live.ok()) return std::move(live).error();
  if (!*live) {
    auto revoked = sessions_.Revoke(outcome->session_id, "idle_timeout");
    if (!revoked.ok()) return std::move(revoked).error();
    return Error(ErrorCode::kUnauthenticated, "invalid refresh token", "session idle or ended");
  }
  GH_RETURN_IF_ERROR(live_.Touch(outcome->session_id, **live));

  auto session = sessions_.Find(outcome->session_id);
  if (!session.ok()) return std::move(session).error();
  if (!*session) return Internal("session of a valid refresh token is missing");
  auto access = tokens_.IssueAccess(outcome->account_id, outcome->session_id, (*session)->amr);
  if (!access.ok()) return std::move(access).error();

  TokenGrant grant;
  grant.access = std::move(*access);
  grant.refresh_token = std::move(outcome->token);
  grant.session_id = outcome->session_id;
  grant.account_id = outcome->account_id;
  return grant;
}

Result<Principal> AuthService::Authenticate(std::string_view token, bool via_cookie,
                                            const RequestContext& ctx) {
  return *AuthenticateImpl(token, via_cookie, ctx, /*may_block=*/true);
}

std::optional<Result<Principal>> AuthService::AuthenticateFromMemory(std::string_view token,
                                                                     bool via_cookie,
                                                                     const RequestContext& ctx) {
  return AuthenticateImpl(token, via_cookie, ctx, /*may_block=*/false);
}

std::optional<Result<Principal>> AuthService::AuthenticateImpl(std::string_view token,
                                                               bool via_cookie,
                                                               const RequestContext& ctx,
                                                               bool may_block) {
  using Answer = Result<Principal>;
  auto verified = tokens_.VerifyAccessCached(token);
  if (!verified.ok()) return Answer(std::move(verified).error());
  const std::shared_ptr<const AccessClaims> claims = std::move(verified).value();

  auto denied = live_.IsDenied(claims->jti);
  if (!denied.ok()) return Answer(std::move(denied).error());
  if (*denied) return Answer(SessionEnded("token was revoked"));

  // Reused from request to request on this thread, so the check allocates nothing.
  thread_local LiveSession session;
  auto found = live_.FindInto(claims->sid, session);
  if (!found.ok()) return Answer(std::move(found).error());
  if (!*found) return Answer(SessionEnded("session ended or idle"));
  if (session.account_id != claims->sub) {
    return Answer(SessionEnded("session belongs to another account"));
  }

  // A session is bound to the device that created it; a token replayed from elsewhere
  // ends the session for everyone holding it. Ending it writes to the store, which an
  // I/O thread must not wait for.
  if (session.fingerprint != ctx.fingerprint) {
    if (!may_block) return std::nullopt;
    if (Status ended = EndSession(claims->sid, "fingerprint_mismatch"); !ended.ok()) {
      return Answer(std::move(ended).error());
    }
    Emit(EventType::kSuspiciousActivity, Severity::kHigh, ctx, claims->sub,
         "session_fingerprint_mismatch", {{"session_id", claims->sid}});
    return Answer(SessionEnded("device fingerprint mismatch"));
  }
  if (Status touched = live_.Touch(claims->sid, session); !touched.ok()) {
    return Answer(std::move(touched).error());
  }

  Principal principal;
  principal.account_id = claims->sub;
  principal.session_id = claims->sid;
  principal.jti = claims->jti;
  principal.token_expires_at = claims->exp;
  principal.amr = claims->amr;
  principal.via_cookie = via_cookie;
  return Answer(std::move(principal));
}

Result<std::size_t> AuthService::RestoreLiveSessions() {
  auto sessions = sessions_.ListUnrevoked();
  if (!sessions.ok()) return std::move(sessions).error();
  std::size_t restored = 0;
  for (const UnrevokedSession& s : *sessions) {
    LiveSession live;
    live.account_id = s.account_id;
    live.absolute_expires_at = s.absolute_expires_at;
    live.fingerprint = s.fingerprint;
    live.last_seen = s.last_seen_at;
    auto put = live_.Restore(s.id, live);
    if (!put.ok()) return std::move(put).error();
    if (*put) ++restored;
  }
  return restored;
}

Status AuthService::FlushSessionActivity() {
  auto seen = live_.TakeActivity();
  return sessions_.TouchLastSeen(seen);
}

Status AuthService::EndSession(std::string_view session_id, std::string_view reason) {
  // Live state first: that is what every instance checks, so the session stops working
  // even if the store write below fails.
  GH_RETURN_IF_ERROR(live_.End(session_id));
  auto revoked = sessions_.Revoke(session_id, reason);
  if (!revoked.ok()) return std::move(revoked).error();
  return Ok();
}

Status AuthService::Logout(const Principal& principal, const RequestContext& ctx) {
  GH_RETURN_IF_ERROR(live_.Deny(principal.jti, principal.token_expires_at));
  return EndSession(principal.session_id, "logout");
}

Status AuthService::ChangePassword(const Principal& principal, std::string_view current_password,
                                   std::string_view new_password, const RequestContext& ctx,
                                   PolicyFailure* policy_failure) {
  GH_RETURN_IF_ERROR(VerifyCurrentPassword(principal, current_password, ctx));
  auto account = accounts_.FindById(principal.account_id);
  if (!account.ok()) return std::move(account).error();
  if (!*account) return Error(ErrorCode::kUnauthenticated, "invalid token", "account is gone");

  std::vector<PolicyViolation> violations =
      CheckPassword(new_password, settings_.password_policy, blocklist_, (*account)->email);
  if (!violations.empty()) {
    if (policy_failure != nullptr) policy_failure->violations = std::move(violations);
    return InvalidArgument("the password does not meet the password policy");
  }
  auto new_hash = crypto::HashPassword(new_password, settings_.argon2);
  if (!new_hash.ok()) return std::move(new_hash).error();
  GH_RETURN_IF_ERROR(accounts_.UpdatePasswordHash(principal.account_id, *new_hash, true));

  // Whoever else holds a session may hold it because they knew the old password.
  auto others = sessions_.ListActive(principal.account_id);
  if (!others.ok()) return std::move(others).error();
  std::size_t ended = 0;
  for (const SessionRecord& s : *others) {
    if (s.id == principal.session_id) continue;
    GH_RETURN_IF_ERROR(EndSession(s.id, "password_change"));
    ++ended;
  }
  Emit(EventType::kPasswordChange, Severity::kLow, ctx, principal.account_id, "user_request",
       {{"sessions_revoked", std::to_string(ended)}});
  return Ok();
}

Result<std::vector<SessionRecord>> AuthService::ListSessions(const Principal& principal) {
  auto active = sessions_.ListActive(principal.account_id);
  if (!active.ok()) return std::move(active).error();
  std::vector<SessionRecord> alive;
  for (SessionRecord& s : *active) {
    auto live = live_.Find(s.id);
    if (!live.ok()) return std::move(live).error();
    if (!*live) continue;
    s.last_seen_at = std::max(s.last_seen_at, (*live)->last_seen);
    alive.push_back(std::move(s));
  }
  return alive;
}

Status AuthService::RevokeSession(const Principal& principal, std::string_view session_id) {
  auto session = sessions_.Find(session_id);
  if (!session.ok()) return std::move(session).error();
  // Another account's session id answers exactly like an unknown one.
  if (!*session || (*session)->account_id != principal.account_id || (*session)->revoked_at) {
    return NotFound("no such session");
  }
  return EndSession(session_id, "user_revoked");
}

Result<std::size_t> AuthService::RevokeOtherSessions(const Principal& principal) {
  auto active = sessions_.ListActive(principal.account_id);
  if (!active.ok()) return std::move(active).error();
  std::size_t ended = 0;
  for (const SessionRecord& s : *active) {
    if (s.id == principal.session_id) continue;
    GH_RETURN_IF_ERROR(EndSession(s.id, "user_revoked_others"));
    ++ended;
  }
  return ended;
}

}  // namespace gatehouse::auth
