#include "auth/oidc_service.h"

#include "auth/email.h"
#include "http/outbound_client.h"

namespace gatehouse::auth {
namespace {

using audit::EventType;
using audit::Severity;

// RFC 8176 has no value for "a federated identity provider authenticated the user"; this
// one is documented in docs/oidc.md and shows in X-Auth-Methods.
constexpr std::string_view kFederatedAmr = "fed";
// A kept provider access token closer than this to its expiry is refreshed first.
constexpr std::int64_t kRefreshMargin = 60;
constexpr std::size_t kMaxDisplayName = 100;
constexpr std::size_t kMaxProviderError = 64;

std::int64_t UnixSeconds(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

// The provider's name for a person, kept only as display text: control characters gone,
// cut to the limit on a character boundary.
std::optional<std::string> DisplayName(std::string_view name) {
  std::string out;
  for (unsigned char ch : name) {
    if (ch >= 0x20 && ch != 0x7f) out += static_cast<char>(ch);
  }
  if (out.size() > kMaxDisplayName) {
    std::size_t cut = kMaxDisplayName;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
    out.resize(cut);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// The provider's error code, reduced to RFC 6749's characters, for the event.
std::string SafeErrorCode(std::string_view error) {
  std::string code;
  for (char ch : error.substr(0, kMaxProviderError)) {
    if ((ch >= 'a' && ch <= 'z') || ch == '_') code += ch;
  }
  return code.empty() ? "unknown" : code;
}

ProviderTokens KeptTokens(TokenAnswer& answer, const Clock& clock) {
  ProviderTokens tokens;
  tokens.access_token = std::move(answer.access_token);
  tokens.refresh_token = std::move(answer.refresh_token);
  tokens.access_expires_at = answer.expires_in > 0 ? UnixSeconds(clock) + answer.expires_in : 0;
  return tokens;
}

}  // namespace

OidcService::OidcService(OidcParts parts) : parts_(std::move(parts)) {}

bool OidcService::HasProvider(std::string_view id) const { return Find(id) != nullptr; }

ProviderClient* OidcService::Find(std::string_view id) const {
  auto it = parts_.providers.find(id);
  return it == parts_.providers.end() ? nullptr : it->second.get();
}

Error OidcService::Fail(const Error& error, std::string_view provider, std::string_view reason,
                        const RequestContext& ctx, std::string_view account_id) {
  audit::SecurityEvent event;
  event.type = EventType::kLoginFailure;
  event.severity = Severity::kLow;
  event.time = parts_.clock->Now();
  event.request_id = ctx.request_id;
  event.user_id = std::string(account_id);
  event.client_ip = ctx.client_ip;
  event.reason = std::string(reason);
  event.attributes = {
      {"method", "oidc"}, {"provider", std::string(provider)}, {"detail", error.detail()}};
  parts_.events->Emit(event);

  // Someone else answered for the provider: whatever they said is not to be believed,
  // and whoever is on that path deserves a look.
  const bool pin = http::IsPinMismatch(error);
  // A state that exists but belongs to another browser: someone handed this browser the
  // end of a sign-in they started (login CSRF), or a link was forwarded.
  const bool swapped = error.detail() == "pre-auth cookie mismatch";
  if (pin || swapped) {
    event.type = EventType::kSuspiciousActivity;
    event.severity = pin ? Severity::kHigh : Severity::kMedium;
    event.reason = pin ? "provider_key_pin_mismatch" : "oidc_state_other_browser";
    parts_.events->Emit(event);
  }
  return error;
}

Result<StartedSignIn> OidcService::Start(std::string_view provider, std::string_view return_to,
                                         std::string_view link_account, const RequestContext& ctx) {
  ProviderClient* client = Find(provider);
  if (client == nullptr) return NotFound("unknown sign-in provider");
  const std::string destination =
      return_to.empty() ? parts_.default_return_to : std::string(return_to);
  GH_RETURN_IF_ERROR(parts_.return_to.Check(destination));

  FlowStart start;
  start.provider = std::string(provider);
  start.return_to = destination;
  start.link_account = std::string(link_account);
  auto flow = parts_.flows->Begin(start);
  if (!flow.ok()) return std::move(flow).error();
  auto url = client->AuthorizationUrl(*flow);
  if (!url.ok()) return Fail(url.error(), provider, "provider_unavailable", ctx);

  StartedSignIn started;
  started.authorization_url = std::move(*url);
  started.pre_auth_cookie = std::move(flow->binding);
  return started;
}

Result<Account> OidcService::ResolveAccount(ProviderClient& provider, const IdTokenClaims& claims,
                                            const FlowRecord& flow, bool* linked_now) {
  const std::string& id = provider.config().id;
  auto identity = parts_.identities->Find(id, claims.sub);
  if (!identity.ok()) return std::move(identity).error();

  // A signed-in user linking this provider to their account.
  if (!flow.link_account.empty()) {
    if (*identity && (*identity)->account_id != flow.link_account) {
      return Error(ErrorCode::kAlreadyExists,
                   "this provider account is already linked to another account");
    }
    if (!*identity) {
      auto linked = parts_.identities->Link(id, claims.sub, flow.link_account);
      if (!linked.ok()) return std::move(linked).error();
      *linked_now = true;
    }
    auto account = parts_.accounts->FindById(flow.link_account);
    if (!account.ok()) return std::move(account).error();
    if (!*account) return NotFound("account not found");
    return std::move(**account);
  }

  if (*identity) {
    auto account = parts_.accounts->FindById((*identity)->account_id);
    if (!account.ok()) return std::move(account).error();
    if (!*account) return Internal("linked account not found: " + (*identity)->id);
    return std::move(**account);
  }

  // First sign-in with this identity. An email the provider has not verified proves
  // nothing: anyone can type someone else's address into a provider's sign-up form.
  if (claims.email.empty() || !claims.email_verified) {
    return Error(ErrorCode::kPermissionDenied,
                 "the provider did not share a verified email address",
                 claims.email.empty() ? "no email claim" : "email_verified is not true");
  }
  auto normalized = NormalizeEmail(claims.email);
  if (!normalized.ok()) {
    return Error(ErrorCode::kPermissionDenied, "the provider's email address is not usable",
                 normalized.error().detail());
  }
  // Two attempts: a concurrent first sign-in may create the account between our lookup
  // and our insert; the second pass then finds it.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto existing = parts_.accounts->FindByEmail(normalized->normalized);
    if (!existing.ok()) return std::move(existing).error();
    if (*existing) {
      if (!provider.config().link_by_email) {
        return Error(ErrorCode::kAlreadyExists,
                     "an account with this email exists: sign in to it and link this "
                     "provider from your account",
                     "link_by_email is off");
      }
      auto linked = parts_.identities->Link(id, claims.sub, (*existing)->id);
      if (!linked.ok()) return std::move(linked).error();
      *linked_now = true;
      return std::move(**existing);
    }
    if (!provider.config().create_accounts) {
      return Error(ErrorCode::kPermissionDenied, "no account for this sign-in",
                   "create_accounts is off");
    }
    NewAccount fresh;
    fresh.email = normalized->normalized;
    fresh.display_name = DisplayName(claims.name);
    auto created = parts_.accounts->Create(fresh);
    if (!created.ok()) {
      if (created.error().code() == ErrorCode::kAlreadyExists) continue;
      return std::move(created).error();
    }
    auto linked = parts_.identities->Link(id, claims.sub, created->id);
    if (!linked.ok()) return std::move(linked).error();
    *linked_now = true;
    return std::move(*created);
  }
  return Error(ErrorCode::kUnavailable, "sign-in could not be completed, try again",
               "account creation raced twice");
}

Result<CallbackOutcome> OidcService::Callback(std::string_view provider,
                                              const CallbackParams& params,
                                              std::string_view pre_auth_cookie,
                                              const RequestContext& ctx) {
  ProviderClient* client = Find(provider);
  if (client == nullptr) return NotFound("unknown sign-in provider");

  // 1. The flow this callback ends, spent now whatever happens next.
  auto flow = parts_.flows->Take(provider, params.state, pre_auth_cookie);
  if (!flow.ok()) return Fail(flow.error(), provider, "oidc_flow_invalid", ctx);

  // RFC 9207: a provider that names itself in its answer must be the one this flow went
  // to, or another provider's answer was mixed into this sign-in.
  if (!params.iss.empty() && params.iss != client->config().issuer) {
    return Fail(Error(ErrorCode::kPermissionDenied, "sign-in could not be completed",
                      "authorization answer names another issuer"),
                provider, "provider_mixup", ctx);
  }

  // 2. The provider's own refusal (the user said no, or the provider failed).
  if (!params.error.empty()) {
    const std::string code = SafeErrorCode(params.error);
    return Fail(Error(ErrorCode::kUnauthenticated, "the provider did not sign you in",
                      "provider error " + code),
                provider, "provider_error", ctx);
  }
  if (params.code.empty()) {
    return Fail(InvalidArgument("the provider's answer has no code"), provider, "provider_no_code",
                ctx);
  }

  // 3. The code, redeemed with the verifier only this flow knows.
  auto answer = client->ExchangeCode(params.code, flow->verifier);
  if (!answer.ok()) {
    const bool refused = answer.error().code() == ErrorCode::kUnauthenticated;
    return Fail(answer.error(), provider, refused ? "code_refused" : "provider_unavailable", ctx);
  }

  // 4. The ID token: signature, issuer, audience, times and this flow's nonce.
  auto claims = client->VerifyIdToken(answer->id_token, flow->nonce);
  if (!claims.ok()) {
    Error failure =
        claims.error().code() == ErrorCode::kUnauthenticated
            ? Error(ErrorCode::kUnauthenticated, "the provider's answer could not be verified",
                    claims.error().detail())
            : claims.error();
    return Fail(failure, provider, "id_token_invalid", ctx);
  }

  // Providers that keep the ID token lean (OIDC Core 5.4) give the email at UserInfo.
  if (Status completed = client->CompleteFromUserInfo(answer->access_token, *claims);
      !completed.ok()) {
    return Fail(completed.error(), provider, "userinfo_invalid", ctx);
  }

  // 5. The account.
  bool linked_now = false;
  auto account = ResolveAccount(*client, *claims, *flow, &linked_now);
  if (!account.ok()) return Fail(account.error(), provider, "account_unresolved", ctx);
  auto identity = parts_.identities->FindForAccount(provider, account->id);
  if (!identity.ok()) return std::move(identity).error();
  if (!*identity) return Internal("identity vanished after linking");
  GH_RETURN_IF_ERROR(
      parts_.identities->RecordLogin((*identity)->id, KeptTokens(*answer, *parts_.clock)));

  CallbackOutcome out;
  out.return_to = flow->return_to;
  out.account_id = account->id;
  if (!flow->link_account.empty()) {
    out.linked = true;
    audit::SecurityEvent event;
    event.type = EventType::kConfigChange;
    event.severity = Severity::kInfo;
    event.time = parts_.clock->Now();
    event.request_id = ctx.request_id;
    event.user_id = account->id;
    event.client_ip = ctx.client_ip;
    event.reason = "provider_linked";
    event.attributes = {{"provider", std::string(provider)}};
    parts_.events->Emit(event);
    return out;
  }

  // 6. The session, as a password login makes one, or first the second factor.
  auto signed_in =
      parts_.auth->SignInExternal(*account, {std::string(kFederatedAmr)}, "oidc", provider, ctx);
  if (!signed_in.ok()) {
    return Fail(signed_in.error(), provider, "session_refused", ctx, account->id);
  }
  out.grant = std::move(signed_in->grant);
  out.challenge = std::move(signed_in->challenge);
  return out;
}

Result<ProviderAccessToken> OidcService::ProviderToken(std::string_view account_id,
                                                       std::string_view provider) {
  ProviderClient* client = Find(provider);
  if (client == nullptr) return NotFound("unknown sign-in provider");
  auto identity = parts_.identities->FindForAccount(provider, account_id);
  if (!identity.ok()) return std::move(identity).error();
  if (!*identity) return NotFound("this account is not linked to the provider");
  auto kept = parts_.identities->Tokens((*identity)->id);
  if (!kept.ok()) return std::move(kept).error();

  const std::int64_t now = UnixSeconds(*parts_.clock);
  const bool fresh =
      !kept->access_token.empty() &&
      (kept->access_expires_at == 0 || kept->access_expires_at - now > kRefreshMargin);
  if (fresh) return ProviderAccessToken{std::move(kept->access_token), kept->access_expires_at};
  if (kept->refresh_token.empty()) {
    return NotFound("no provider token is kept; sign in with the provider again");
  }

  auto answer = client->Refresh(kept->refresh_token);
  if (!answer.ok()) return std::move(answer).error();
  ProviderTokens renewed = KeptTokens(*answer, *parts_.clock);
  GH_RETURN_IF_ERROR(parts_.identities->StoreTokens((*identity)->id, renewed));
  return ProviderAccessToken{std::move(renewed.access_token), renewed.access_expires_at};
}

Result<std::vector<Identity>> OidcService::Linked(std::string_view account_id) {
  return parts_.identities->ListForAccount(account_id);
}

Status OidcService::Unlink(std::string_view account_id, std::string_view provider,
                           const RequestContext& ctx) {
  auto account = parts_.accounts->FindById(account_id);
  if (!account.ok()) return std::move(account).error();
  if (!*account) return NotFound("account not found");
  auto identities = parts_.identities->ListForAccount(account_id);
  if (!identities.ok()) return std::move(identities).error();
  // The last way in stays: an account without a password and without a provider could
  // never be signed in to again.
  if ((*account)->password_hash.empty() && identities->size() <= 1) {
    return Error(ErrorCode::kFailedPrecondition,
                 "this provider is the account's only way to sign in");
  }
  GH_RETURN_IF_ERROR(parts_.identities->Unlink(provider, account_id));
  audit::SecurityEvent event;
  event.type = EventType::kConfigChange;
  event.severity = Severity::kInfo;
  event.time = parts_.clock->Now();
  event.request_id = ctx.request_id;
  event.user_id = std::string(account_id);
  event.client_ip = ctx.client_ip;
  event.reason = "provider_unlinked";
  event.attributes = {{"provider", std::string(provider)}};
  parts_.events->Emit(event);
  return Ok();
}

}  // namespace gatehouse::auth
