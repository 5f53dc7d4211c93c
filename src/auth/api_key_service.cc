#include "auth/api_key_service.h"

#include <algorithm>
#include <charconv>

#include "core/config.h"
#include "core/log.h"
#include "crypto/encoding.h"
#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

using audit::EventType;
using audit::Severity;

constexpr std::string_view kHashPurpose = "api-key-hash";
constexpr std::string_view kMarkerRevoked = "revoked";
constexpr std::string_view kMarkerEnds = "ends:";
// The marker outlives the key's own expiry by this much, so that no snapshot cached
// before the change can outlast it whatever the clocks of two instances say.
constexpr std::int64_t kMarkerSlackSeconds = 120;
// Longer input than any key is hashed only up to here: the hash is there to make refusals
// cost alike, and the server's header cap already bounds the input.
constexpr std::size_t kMaxHashedBytes = 256;
constexpr std::size_t kMaxNameBytes = 100;
constexpr std::size_t kMaxDescriptionBytes = 500;
constexpr std::size_t kMaxScopes = 32;
constexpr std::size_t kMaxScopeBytes = 64;
constexpr std::size_t kExpiryBatch = 1000;
constexpr std::int64_t kSecondsPerDay = 24 * 3600;

// The client-facing sentences of the refusals after the format check.
constexpr std::string_view kUnknownKey = "The API key is not valid.";
constexpr std::string_view kRevokedKey = "The API key has been revoked.";
constexpr std::string_view kExpiredKey = "The API key has expired.";
constexpr std::string_view kRotatedKey =
    "The API key was replaced by rotation and its grace period has ended.";

std::string NewKeyId() { return "key_" + crypto::RandomToken(12); }

Status CheckText(std::string_view field, std::string_view text, std::size_t min, std::size_t max) {
  if (text.size() < min || text.size() > max) {
    return InvalidArgument(std::string(field) + " must be " + std::to_string(min) + " to " +
                           std::to_string(max) + " bytes");
  }
  for (unsigned char ch : text) {
    if (ch < 0x20 || ch == 0x7f) {
      return InvalidArgument(std::string(field) + " has control characters");
    }
  }
  return Ok();
}

bool IsScopeChar(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == ':' || ch == '.' || ch == '_' || ch == '/' || ch == '-';
}

Error NoSuchKey() { return NotFound("no API key with this id"); }
Error NoSuchServiceAccount() { return NotFound("no service account with this id"); }

// "a, b,c" -> {"a", "b", "c"}; surrounding spaces and empty items dropped.
std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::optional<std::int64_t> ParseSeconds(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string ApiKeyMarkerKey(std::string_view key_id) { return "akr:" + std::string(key_id); }

ApiKeySettings ApiKeySettingsFromConfig(const core::Config& config) {
  const core::ApiKeysConfig& c = config.api_keys;
  ApiKeySettings settings;
  settings.environment =
      ParseKeyEnvironment(c.environment)
          .value_or(config.profile == core::Profile::kProduction ? KeyEnvironment::kLive
                                                                 : KeyEnvironment::kTest);
  settings.default_lifetime = std::chrono::seconds(kSecondsPerDay * c.default_lifetime_days);
  settings.max_lifetime = std::chrono::seconds(kSecondsPerDay * c.max_lifetime_days);
  settings.rotation_grace = c.rotation_grace;
  settings.expiry_warning = std::chrono::seconds(kSecondsPerDay * c.expiry_warning_days);
  settings.usage_event_interval = c.usage_event_interval;
  settings.cache_entries = c.cache_entries;
  settings.cache_ttl = c.cache_ttl;
  settings.scopes = SplitList(c.scopes);
  settings.admin_only_scopes = SplitList(c.admin_only_scopes);
  settings.max_keys_per_owner = c.max_keys_per_owner;
  settings.max_service_accounts_per_user = c.max_service_accounts_per_user;
  return settings;
}

// ---- hashing -------------------------------------------------------------------------------

Result<ApiKeyHasher> ApiKeyHasher::Create(const crypto::KeyRing& keys) {
  ApiKeyHasher hasher;
  std::vector<std::uint32_t> versions = keys.versions();
  // Current (highest) first: it is the one every request computes.
  std::sort(versions.rbegin(), versions.rend());
  for (std::uint32_t version : versions) {
    auto key = keys.DeriveKey(kHashPurpose, version);
    if (!key.ok()) return std::move(key).error();
    hasher.versions_.emplace_back(version, crypto::HmacSha256Keyed(key->bytes()));
  }
  if (hasher.versions_.empty()) return Internal("key ring without versions");
  return hasher;
}

crypto::Sha256Digest ApiKeyHasher::Current(std::string_view text) const {
  return versions_.front().second.Compute(text);
}

std::vector<KeyHash> ApiKeyHasher::All(std::string_view text,
                                       const crypto::Sha256Digest& current) const {
  std::vector<KeyHash> out;
  out.reserve(versions_.size());
  out.push_back({Encode(current), versions_.front().first});
  for (std::size_t i = 1; i < versions_.size(); ++i) {
    out.push_back({Encode(versions_[i].second.Compute(text)), versions_[i].first});
  }
  return out;
}

std::string ApiKeyHasher::Encode(const crypto::Sha256Digest& digest) {
  return crypto::Base64UrlEncode(digest);
}

// ---- construction and helpers --------------------------------------------------------------

ApiKeyService::ApiKeyService(ApiKeyRepository& repository, state::StateStore& state,
                             protect::RateLimiter* limiter, ApiKeyHasher hasher,
                             audit::EventSink& events, const Clock& clock, ApiKeySettings settings)
    : repository_(repository),
      state_(state),
      limiter_(limiter),
      hasher_(std::move(hasher)),
      events_(events),
      clock_(clock),
      settings_(std::move(settings)),
      cache_(std::make_unique<ApiKeyCache>(settings_.cache_entries, settings_.cache_ttl)) {}

std::int64_t ApiKeyService::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

void ApiKeyService::EmitLifecycle(const KeyActor& actor, std::string_view reason, Severity severity,
                                  std::string_view user_id,
                                  std::vector<std::pair<std::string, std::string>> attributes) {
  audit::SecurityEvent event;
  event.type = EventType::kApiKeyLifecycle;
  event.severity = severity;
  event.time = clock_.Now();
  event.request_id = actor.context.request_id;
  event.client_ip = actor.context.client_ip;
  event.user_id = std::string(user_id);
  event.reason = std::string(reason);
  event.attributes = std::move(attributes);
  event.attributes.emplace_back("actor", actor.admin ? std::string(kAdminActor) : "user");
  if (!actor.admin && !actor.account_id.empty()) {
    event.attributes.emplace_back("actor_id", actor.account_id);
  }
  events_.Emit(event);
}

Error ApiKeyService::Refuse(const RequestContext& ctx, std::string_view cause, std::string message,
                            std::string_view key_id) {
  refused_.fetch_add(1, std::memory_order_relaxed);
  audit::SecurityEvent event;
  event.type = EventType::kUnauthorizedAccess;
  event.severity = Severity::kLow;
  event.time = clock_.Now();
  event.request_id = ctx.request_id;
  event.client_ip = ctx.client_ip;
  event.reason = "invalid_api_key";
  // The cause and, for a key the store knows, its public id: never any of the text.
  event.attributes = {{"cause", std::string(cause)}};
  if (!key_id.empty()) event.attributes.emplace_back("key_id", std::string(key_id));
  events_.Emit(event);
  std::string detail = "api key refused: " + std::string(cause);
  if (!key_id.empty()) detail += " (" + std::string(key_id) + ")";
  return Error(ErrorCode::kUnauthenticated, std::move(message), std::move(detail));
}

std::shared_ptr<const CachedApiKey> ApiKeyService::Snapshot(const ApiKeyRecord& record) const {
  auto key = std::make_shared<CachedApiKey>();
  key->id = record.id;
  key->prefix = record.prefix;
  key->owner_kind = record.owner_kind;
  key->owner_id = record.owner_id;
  key->scopes = JoinScopes(record.scopes);
  key->expires_at = record.expires_at;
  key->grace_until = record.grace_until;
  key->revoked = record.revoked_at.has_value();
  if (std::optional<core::RateSpec> spec = core::ParseRateSpec(record.rate_limit)) {
    protect::RateLimitClass own = settings_.rate_class;
    own.limit = spec->limit;
    own.window = spec->window;
    key->rate_limit = own;
  }
  return key;
}

// ---- the request path ----------------------------------------------------------------------

Result<KeyAuthentication> ApiKeyService::Authenticate(std::string_view presented,
                                                      const RequestContext& ctx) {
  return *AuthenticateImpl(presented, ctx, /*may_block=*/true);
}

std::optional<Result<KeyAuthentication>> ApiKeyService::AuthenticateFromMemory(
    std::string_view presented, const RequestContext& ctx) {
  return AuthenticateImpl(presented, ctx, /*may_block=*/false);
}

std::optional<Result<KeyAuthentication>> ApiKeyService::AuthenticateImpl(std::string_view presented,
                                                                         const RequestContext& ctx,
                                                                         bool may_block) {
  presented_.fetch_add(1, std::memory_order_relaxed);

  // 1. Hash and probe, whatever was presented (see the header).
  const crypto::Sha256Digest digest = hasher_.Current(presented.substr(0, kMaxHashedBytes));
  ApiKeyCache::Lookup lookup = cache_->Find(digest, clock_.SteadyNow());

  // 2. Format: nothing malformed goes further.
  const KeyFormatError format = CheckApiKeyFormat(presented, settings_.environment);
  if (format != KeyFormatError::kNone) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return Result<KeyAuthentication>(
        Refuse(ctx, KeyFormatErrorCode(format), std::string(KeyFormatErrorMessage(format)), ""));
  }

  // 3. The key: from the cache, or else from the store.
  std::shared_ptr<const CachedApiKey> key;
  switch (lookup.kind) {
    case ApiKeyCache::Lookup::Kind::kKnown:
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
      key = std::move(lookup.key);
      break;
    case ApiKeyCache::Lookup::Kind::kUnknown:
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
      break;
    case ApiKeyCache::Lookup::Kind::kMiss: {
      if (!may_block) return std::nullopt;
      auto loaded = LoadFromStore(presented, digest);
      if (!loaded.ok()) return Result<KeyAuthentication>(std::move(loaded).error());
      if (*loaded) key = std::move(**loaded);
      break;
    }
  }
  if (!key) {
    return Result<KeyAuthentication>(Refuse(ctx, "unknown", std::string(kUnknownKey), ""));
  }

  // 4. The snapshot's own verdict.
  const std::int64_t now = Now();
  if (key->revoked) {
    return Result<KeyAuthentication>(Refuse(ctx, "revoked", std::string(kRevokedKey), key->id));
  }
  if (now >= key->EndsAt()) {
    // A grace cut short by the key's own expiry is an expiry.
    if (key->grace_until && *key->grace_until < key->expires_at) {
      return Result<KeyAuthentication>(Refuse(ctx, "rotated", std::string(kRotatedKey), key->id));
    }
    return Result<KeyAuthentication>(Refuse(ctx, "expired", std::string(kExpiredKey), key->id));
  }

  // 5. Live changes from any instance. A failed check refuses (state.h: fail closed).
  auto marker = state_.Get(ApiKeyMarkerKey(key->id));
  if (!marker.ok()) return Result<KeyAuthentication>(std::move(marker).error());
  if (*marker) {
    const std::string_view value = **marker;
    if (value == kMarkerRevoked) {
      return Result<KeyAuthentication>(Refuse(ctx, "revoked", std::string(kRevokedKey), key->id));
    }
    const std::optional<std::int64_t> ends = value.starts_with(kMarkerEnds)
                                                 ? ParseSeconds(value.substr(kMarkerEnds.size()))
                                                 : std::nullopt;
    if (!ends) return Result<KeyAuthentication>(Internal("malformed api key marker"));
    if (now >= *ends) {
      return Result<KeyAuthentication>(Refuse(ctx, "rotated", std::string(kRotatedKey), key->id));
    }
  }

  // 6. The key's rate limit, one window across every instance.
  KeyAuthentication outcome;
  if (limiter_ != nullptr) {
    const protect::RateLimitClass& cls = key->rate_limit ? *key->rate_limit : settings_.rate_class;
    std::string subject = "key:";
    subject += key->id;
    auto decision = limiter_->Check(cls, subject);
    if (!decision.ok()) return Result<KeyAuthentication>(std::move(decision).error());
    if (!decision->allowed) {
      limited_.fetch_add(1, std::memory_order_relaxed);
      outcome.key = std::move(key);
      outcome.limited = true;
      outcome.limit_class = cls;
      outcome.decision = *decision;
      return Result<KeyAuthentication>(std::move(outcome));
    }
  }

  // 7. Counted for the next flush.
  usage_.Record(key, now, ctx.client_ip);
  authenticated_.fetch_add(1, std::memory_order_relaxed);
  outcome.key = std::move(key);
  return Result<KeyAuthentication>(std::move(outcome));
}

Result<std::optional<std::shared_ptr<const CachedApiKey>>> ApiKeyService::LoadFromStore(
    std::string_view presented, const crypto::Sha256Digest& digest) {
  using Found = std::optional<std::shared_ptr<const CachedApiKey>>;
  store_lookups_.fetch_add(1, std::memory_order_relaxed);
  const std::vector<KeyHash> hashes = hasher_.All(presented, digest);
  auto record = repository_.FindByHash(hashes);
  if (!record.ok()) return std::move(record).error();
  const auto now = clock_.SteadyNow();
  if (!*record) {
    cache_->RememberUnknown(digest, now);
    return Found();
  }
  // Made under an older master key: store it under the current one while we hold the key,
  // so the old version can be retired. The answer does not depend on it.
  if ((*record)->hash_version != hasher_.current_version()) {
    if (Status rehashed = repository_.Rehash((*record)->id, hashes.front()); !rehashed.ok()) {
      log::RateLimited(
          "api_key_rehash_failed", log::Level::kWarn, "api_key_rehash_failed",
          {log::Field("key_id", (*record)->id), log::Field("error", rehashed.error().detail())});
    }
  }
  std::shared_ptr<const CachedApiKey> key = Snapshot(**record);
  cache_->RememberKnown(digest, key, now);
  return Found(std::move(key));
}

// ---- checks on requests for keys ----------------------------------------------------------

Status ApiKeyService::CheckScopes(const KeyActor& actor, const std::vector<std::string>& scopes) {
  if (scopes.size() > kMaxScopes) {
    return InvalidArgument("a key may carry at most " + std::to_string(kMaxScopes) + " scopes");
  }
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    const std::string& scope = scopes[i];
    if (scope.empty() || scope.size() > kMaxScopeBytes ||
        !std::all_of(scope.begin(), scope.end(),
                     [](char c) { return IsScopeChar(static_cast<unsigned char>(c)); })) {
      return InvalidArgument("each scope must be 1 to 64 characters of [A-Za-z0-9:._/-]");
    }
    if (std::find(scopes.begin(), scopes.begin() + static_cast<std::ptrdiff_t>(i), scope) !=
        scopes.begin() + static_cast<std::ptrdiff_t>(i)) {
      return InvalidArgument("scopes must not repeat");
    }
    const auto& vocabulary = settings_.scopes;
    if (!vocabulary.empty() &&
        std::find(vocabulary.begin(), vocabulary.end(), scope) == vocabulary.end()) {
      return InvalidArgument("unknown scope: " + scope);
    }
    const auto& reserved = settings_.admin_only_scopes;
    if (!actor.admin && std::find(reserved.begin(), reserved.end(), scope) != reserved.end()) {
      // Asking for more than one may grant is worth a look, whoever asks.
      audit::SecurityEvent event;
      event.type = EventType::kPrivilegeEscalation;
      event.severity = Severity::kMedium;
      event.time = clock_.Now();
      event.request_id = actor.context.request_id;
      event.client_ip = actor.context.client_ip;
      event.user_id = actor.account_id;
      event.reason = "admin_only_scope_requested";
      event.attributes = {{"scope", scope}};
      events_.Emit(event);
      return Error(ErrorCode::kPermissionDenied,
                   "only an administrator may grant the scope " + scope);
    }
  }
  return Ok();
}

Result<std::string> ApiKeyService::CheckRateLimit(const KeyActor& actor,
                                                  const std::optional<std::string>& spec) {
  if (!spec) return std::string();
  std::optional<core::RateSpec> parsed = core::ParseRateSpec(*spec);
  if (!parsed) {
    return InvalidArgument(
        "rate_limit must be LIMIT/WINDOW like \"100/1m\" (limit 1..65535, window 16ms..24h)");
  }
  // A user may lower a key's budget, never raise it: compare the rates, limit per window.
  const protect::RateLimitClass& cls = settings_.rate_class;
  const std::int64_t asked = std::int64_t{parsed->limit} * cls.window.count();
  const std::int64_t allowed = std::int64_t{cls.limit} * parsed->window.count();
  if (!actor.admin && asked > allowed) {
    return Error(ErrorCode::kPermissionDenied,
                 "only an administrator may give a key a higher limit than the api_key class (" +
                     std::to_string(cls.limit) + " per " +
                     std::to_string(cls.window.count() / 1000) + " s)");
  }
  return *spec;
}

Result<ServiceAccount> ApiKeyService::UsableServiceAccount(const KeyActor& actor,
                                                           std::string_view id) {
  auto account = repository_.FindServiceAccount(id);
  if (!account.ok()) return std::move(account).error();
  if (!*account) return NoSuchServiceAccount();
  if (!actor.admin && (*account)->owner_account_id != actor.account_id) {
    return NoSuchServiceAccount();
  }
  if ((*account)->disabled_at) {
    return Error(ErrorCode::kFailedPrecondition, "the service account is disabled");
  }
  return std::move(**account);
}

Result<ApiKeyRecord> ApiKeyService::Owned(const KeyActor& actor, std::string_view id) {
  auto key = repository_.FindById(id);
  if (!key.ok()) return std::move(key).error();
  if (!*key) return NoSuchKey();
  if (actor.admin) return std::move(**key);
  if ((*key)->owner_kind == OwnerKind::kUser) {
    if ((*key)->owner_id == actor.account_id) return std::move(**key);
    return NoSuchKey();
  }
  auto account = repository_.FindServiceAccount((*key)->owner_id);
  if (!account.ok()) return std::move(account).error();
  if (*account && (*account)->owner_account_id == actor.account_id) return std::move(**key);
  return NoSuchKey();
}

// ---- service accounts ----------------------------------------------------------------------

Result<ServiceAccount> ApiKeyService::CreateServiceAccount(const KeyActor& actor,
                                                           std::string_view name,
                                                           std::string_view description) {
  GH_RETURN_IF_ERROR(CheckText("name", name, 1, kMaxNameBytes));
  GH_RETURN_IF_ERROR(CheckText("description", description, 0, kMaxDescriptionBytes));
  std::optional<std::string> owner;
  if (!actor.admin) {
    if (settings_.max_service_accounts_per_user == 0) {
      return Error(ErrorCode::kPermissionDenied,
                   "service accounts are created by administrators on this deployment");
    }
    auto owned = repository_.CountActiveServiceAccounts(actor.account_id);
    if (!owned.ok()) return std::move(owned).error();
    if (*owned >= settings_.max_service_accounts_per_user) {
      return Error(ErrorCode::kFailedPrecondition,
                   "you own " + std::to_string(*owned) +
                       " service accounts, the most allowed; disable one first");
    }
    owner = actor.account_id;
  }
  auto created = repository_.CreateServiceAccount(
      name, description, owner, actor.admin ? kAdminActor : std::string_view(actor.account_id));
  if (!created.ok()) return std::move(created).error();
  EmitLifecycle(actor, "service_account_created", Severity::kLow, owner.value_or(""),
                {{"service_account_id", created->id}});
  return created;
}

Result<std::vector<ServiceAccount>> ApiKeyService::ListServiceAccounts(const KeyActor& actor) {
  if (actor.admin) return repository_.ListServiceAccounts(std::nullopt);
  return repository_.ListServiceAccounts(std::string_view(actor.account_id));
}

Status ApiKeyService::DisableServiceAccount(const KeyActor& actor, std::string_view id) {
  auto account = repository_.FindServiceAccount(id);
  if (!account.ok()) return std::move(account).error();
  if (!*account || (!actor.admin && (*account)->owner_account_id != actor.account_id)) {
    return NoSuchServiceAccount();
  }
  const std::int64_t now = Now();
  // Disabled first, so no key can be made for it while its keys are revoked; the keys
  // then go one by one, live markers first. A retry after a failure finishes the job.
  auto disabled = repository_.DisableServiceAccount(id, now);
  if (!disabled.ok()) return std::move(disabled).error();
  auto keys = repository_.Working(OwnerKind::kServiceAccount, id, now);
  if (!keys.ok()) return std::move(keys).error();
  if (!*disabled && keys->empty()) return NoSuchServiceAccount();
  for (const ApiKeyRecord& key : *keys) {
    GH_RETURN_IF_ERROR(RevokeRecord(actor, key, "service_account_disabled"));
  }
  EmitLifecycle(
      actor, "service_account_disabled", Severity::kLow, (*account)->owner_account_id.value_or(""),
      {{"service_account_id", std::string(id)}, {"keys_revoked", std::to_string(keys->size())}});
  return Ok();
}

// ---- keys ----------------------------------------------------------------------------------

ApiKeyService::PreparedKey ApiKeyService::PrepareKey(const KeyActor& actor, std::string name,
                                                     OwnerKind owner_kind, std::string owner_id,
                                                     std::vector<std::string> scopes,
                                                     std::string rate_limit,
                                                     std::chrono::seconds lifetime,
                                                     std::string rotated_from) const {
  PreparedKey prepared;
  prepared.issued.key = GenerateApiKey(settings_.environment);
  const std::string_view text = prepared.issued.key.reveal();

  ApiKeyRecord& r = prepared.issued.record;
  r.id = NewKeyId();
  r.prefix = DisplayPrefix(text);
  r.name = std::move(name);
  r.owner_kind = owner_kind;
  r.owner_id = std::move(owner_id);
  r.scopes = std::move(scopes);
  r.rate_limit = std::move(rate_limit);
  r.created_by = actor.admin ? std::string(kAdminActor) : actor.account_id;
  r.created_at = Now();
  r.expires_at = r.created_at + lifetime.count();
  r.rotated_from = std::move(rotated_from);
  r.hash_version = hasher_.current_version();

  NewApiKey& row = prepared.row;
  row.id = r.id;
  row.key_hash = ApiKeyHasher::Encode(hasher_.Current(text));
  row.hash_version = r.hash_version;
  row.prefix = r.prefix;
  row.name = r.name;
  row.owner_kind = r.owner_kind;
  row.owner_id = r.owner_id;
  row.scopes = r.scopes;
  row.rate_limit = r.rate_limit;
  row.created_by = r.created_by;
  row.created_at = r.created_at;
  row.expires_at = r.expires_at;
  row.rotated_from = r.rotated_from;
  return prepared;
}

Result<IssuedApiKey> ApiKeyService::Create(const KeyActor& actor, const NewKeyRequest& request) {
  GH_RETURN_IF_ERROR(CheckText("name", request.name, 1, kMaxNameBytes));
  GH_RETURN_IF_ERROR(CheckScopes(actor, request.scopes));
  const std::chrono::seconds lifetime = request.lifetime.value_or(settings_.default_lifetime);
  if (lifetime.count() < 1 || lifetime > settings_.max_lifetime) {
    return InvalidArgument("expires_in_s must be 1 to " +
                           std::to_string(settings_.max_lifetime.count()) + " seconds");
  }
  auto rate_limit = CheckRateLimit(actor, request.rate_limit);
  if (!rate_limit.ok()) return std::move(rate_limit).error();

  OwnerKind owner_kind = OwnerKind::kUser;
  std::string owner_id = actor.account_id;
  std::string owner_user;  // For the event: the person the key answers to, if any.
  if (request.service_account_id) {
    auto account = UsableServiceAccount(actor, *request.service_account_id);
    if (!account.ok()) return std::move(account).error();
    owner_kind = OwnerKind::kServiceAccount;
    owner_id = account->id;
    owner_user = account->owner_account_id.value_or("");
  } else if (actor.admin) {
    return InvalidArgument(
        "service_account_id is required: admin keys belong to a service account");
  } else {
    owner_user = actor.account_id;
  }

  auto active = repository_.CountActive(owner_kind, owner_id, Now());
  if (!active.ok()) return std::move(active).error();
  if (*active >= settings_.max_keys_per_owner) {
    return Error(ErrorCode::kFailedPrecondition,
                 "this owner has " + std::to_string(*active) +
                     " active API keys, the most allowed; revoke one first");
  }

  PreparedKey prepared = PrepareKey(actor, request.name, owner_kind, owner_id, request.scopes,
                                    std::move(*rate_limit), lifetime, "");
  GH_RETURN_IF_ERROR(repository_.Insert(prepared.row));
  const ApiKeyRecord& record = prepared.issued.record;
  EmitLifecycle(actor, "api_key_created", Severity::kLow, owner_user,
                {{"key_id", record.id},
                 {"prefix", record.prefix},
                 {"owner_type", std::string(OwnerKindName(owner_kind))},
                 {"owner_id", owner_id},
                 {"expires_at", std::to_string(record.expires_at)}});
  return std::move(prepared.issued);
}

Result<std::vector<ApiKeyRecord>> ApiKeyService::List(const KeyActor& actor) {
  std::vector<ApiKeyRecord> keys;
  if (actor.admin) {
    auto all = repository_.List(std::nullopt, std::nullopt);
    if (!all.ok()) return std::move(all).error();
    keys = std::move(*all);
  } else {
    auto own = repository_.List(OwnerKind::kUser, std::string_view(actor.account_id));
    if (!own.ok()) return std::move(own).error();
    keys = std::move(*own);
    auto accounts = repository_.ListServiceAccounts(std::string_view(actor.account_id));
    if (!accounts.ok()) return std::move(accounts).error();
    for (const ServiceAccount& account : *accounts) {
      auto held = repository_.List(OwnerKind::kServiceAccount, std::string_view(account.id));
      if (!held.ok()) return std::move(held).error();
      for (ApiKeyRecord& key : *held) keys.push_back(std::move(key));
    }
    std::stable_sort(keys.begin(), keys.end(), [](const ApiKeyRecord& a, const ApiKeyRecord& b) {
      return a.created_at > b.created_at;
    });
  }
  // Requests this instance has counted but not flushed yet belong in the figures.
  for (ApiKeyRecord& key : keys) {
    std::optional<UsageDelta> pending = usage_.Pending(key.id);
    if (!pending) continue;
    key.usage_count += pending->count;
    if (!key.last_used_at || *key.last_used_at <= pending->last_used_at) {
      key.last_used_at = pending->last_used_at;
      key.last_ip = pending->last_ip;
    }
  }
  return keys;
}

Result<ApiKeyRecord> ApiKeyService::Find(const KeyActor& actor, std::string_view id) {
  return Owned(actor, id);
}

Status ApiKeyService::PublishEnd(const ApiKeyRecord& key, std::optional<std::int64_t> ends_at) {
  const std::int64_t now = Now();
  const std::int64_t seconds = std::clamp<std::int64_t>(
      key.expires_at - now + kMarkerSlackSeconds, 1,
      std::chrono::duration_cast<std::chrono::seconds>(state::kMaxTtl).count());
  const std::string value =
      ends_at ? std::string(kMarkerEnds) + std::to_string(*ends_at) : std::string(kMarkerRevoked);
  return state_.Set(ApiKeyMarkerKey(key.id), value, std::chrono::seconds(seconds));
}

Status ApiKeyService::RevokeRecord(const KeyActor& actor, const ApiKeyRecord& key,
                                   std::string_view reason) {
  // The live marker first: it is what every instance checks, so the key stops working
  // everywhere even if the store write below fails (and a retry then completes it).
  GH_RETURN_IF_ERROR(PublishEnd(key, std::nullopt));
  auto revoked = repository_.Revoke(key.id, Now(), reason);
  if (!revoked.ok()) return std::move(revoked).error();
  std::string owner_user = key.owner_kind == OwnerKind::kUser ? key.owner_id : std::string();
  EmitLifecycle(actor, "api_key_revoked", Severity::kLow, owner_user,
                {{"key_id", key.id},
                 {"prefix", key.prefix},
                 {"owner_type", std::string(OwnerKindName(key.owner_kind))},
                 {"owner_id", key.owner_id},
                 {"cause", std::string(reason)}});
  return Ok();
}

Status ApiKeyService::Revoke(const KeyActor& actor, std::string_view id) {
  auto key = Owned(actor, id);
  if (!key.ok()) return std::move(key).error();
  if (key->revoked_at) return NotFound("no API key with this id, or it is already revoked");
  return RevokeRecord(actor, *key, actor.admin ? "admin_revoked" : "user_revoked");
}

Result<KeyRotation> ApiKeyService::Rotate(const KeyActor& actor, std::string_view id) {
  auto old = Owned(actor, id);
  if (!old.ok()) return std::move(old).error();
  const std::int64_t now = Now();
  if (old->revoked_at || now >= old->EndsAt()) {
    return Error(ErrorCode::kFailedPrecondition,
                 "only a working key can be rotated; this one is revoked or expired");
  }
  if (!old->rotated_to.empty()) {
    return Error(ErrorCode::kFailedPrecondition,
                 "this key was rotated already; rotate its successor " + old->rotated_to);
  }

  PreparedKey prepared = PrepareKey(actor, old->name, old->owner_kind, old->owner_id, old->scopes,
                                    old->rate_limit, settings_.default_lifetime, old->id);
  const std::int64_t grace_until = now + settings_.rotation_grace.count();
  auto outcome = repository_.Rotate(old->id, prepared.row, grace_until, now);
  if (!outcome.ok()) return std::move(outcome).error();
  switch (*outcome) {
    case ApiKeyRepository::RotateOutcome::kRotated:
      break;
    case ApiKeyRepository::RotateOutcome::kNotFound:
      return NoSuchKey();
    case ApiKeyRepository::RotateOutcome::kNotActive:
      return Error(ErrorCode::kFailedPrecondition,
                   "only a working key can be rotated; this one is revoked or expired");
    case ApiKeyRepository::RotateOutcome::kAlreadyRotated:
      return Error(ErrorCode::kFailedPrecondition,
                   "this key was rotated already; rotate its successor");
  }

  KeyRotation rotation;
  rotation.replaced_id = old->id;
  rotation.replaced_ends_at = std::min(old->expires_at, grace_until);
  // After the store, so that a failure here cannot end the old key without a successor.
  // Other instances then learn the new end within the cache ttl instead of at once; the
  // successor is answered anyway, since it is shown only now.
  if (Status marked = PublishEnd(*old, rotation.replaced_ends_at); !marked.ok()) {
    marker_failures_.fetch_add(1, std::memory_order_relaxed);
  }
  std::string owner_user = old->owner_kind == OwnerKind::kUser ? old->owner_id : std::string();
  EmitLifecycle(actor, "api_key_rotated", Severity::kLow, owner_user,
                {{"key_id", old->id},
                 {"successor_id", prepared.issued.record.id},
                 {"prefix", prepared.issued.record.prefix},
                 {"owner_type", std::string(OwnerKindName(old->owner_kind))},
                 {"owner_id", old->owner_id},
                 {"old_key_ends_at", std::to_string(rotation.replaced_ends_at)}});
  rotation.successor = std::move(prepared.issued);
  return rotation;
}

// ---- housekeeping --------------------------------------------------------------------------

Status ApiKeyService::FlushUsage() {
  std::lock_guard lock(flush_mu_);
  std::vector<UsageSample> samples = usage_.Drain();
  if (!samples.empty()) {
    std::vector<UsageDelta> deltas;
    deltas.reserve(samples.size());
    for (const UsageSample& sample : samples) deltas.push_back(sample.delta);
    Status written = repository_.AddUsage(deltas);
    if (!written.ok()) {
      usage_.Restore(samples);
      usage_flush_failures_.fetch_add(1, std::memory_order_relaxed);
      return written;
    }
    usage_flushes_.fetch_add(1, std::memory_order_relaxed);
  }

  // Events: at most one per key per interval, carrying every request since the last one.
  const std::int64_t now = Now();
  const std::int64_t interval = settings_.usage_event_interval.count();
  for (const UsageSample& sample : samples) {
    EventTally& tally = event_tallies_[sample.delta.key_id];
    if (tally.requests == 0) tally.since = tally.last_event != 0 ? tally.last_event : now;
    tally.requests += sample.delta.count;
    tally.last_network = sample.delta.last_ip;
    tally.key = sample.key;
  }
  for (auto it = event_tallies_.begin(); it != event_tallies_.end();) {
    EventTally& tally = it->second;
    if (tally.requests > 0 && (tally.last_event == 0 || now - tally.last_event >= interval)) {
      audit::SecurityEvent event;
      event.type = EventType::kApiKeyUsage;
      event.severity = Severity::kInfo;
      event.time = clock_.Now();
      if (tally.key && tally.key->owner_kind == OwnerKind::kUser) {
        event.user_id = tally.key->owner_id;
      }
      event.reason = "requests";
      event.attributes = {{"key_id", it->first},
                          {"requests", std::to_string(tally.requests)},
                          {"since", std::to_string(tally.since)},
                          {"client_network", tally.last_network}};
      if (tally.key) {
        event.attributes.emplace_back("prefix", tally.key->prefix);
        event.attributes.emplace_back("owner_type",
                                      std::string(OwnerKindName(tally.key->owner_kind)));
        event.attributes.emplace_back("owner_id", tally.key->owner_id);
      }
      events_.Emit(event);
      tally.requests = 0;
      tally.last_event = now;
    }
    // A key quiet for a whole interval is forgotten; its next use is reported at once.
    if (tally.requests == 0 && now - tally.last_event >= interval) {
      it = event_tallies_.erase(it);
    } else {
      ++it;
    }
  }
  return Ok();
}

Result<std::size_t> ApiKeyService::NotifyExpiring() {
  if (settings_.expiry_warning.count() == 0) return std::size_t{0};
  const std::int64_t now = Now();
  const std::int64_t day = now / kSecondsPerDay;
  auto ending = repository_.DueForExpiryNotice(now, now + settings_.expiry_warning.count(), day,
                                               kExpiryBatch);
  if (!ending.ok()) return std::move(ending).error();
  std::size_t reported = 0;
  for (const ApiKeyRecord& key : *ending) {
    // One instance wins the day's notice for each key.
    auto claimed = repository_.ClaimExpiryNotice(key.id, day);
    if (!claimed.ok()) return std::move(claimed).error();
    if (!*claimed) continue;
    const std::int64_t days_left = (key.expires_at - now) / kSecondsPerDay;
    audit::SecurityEvent event;
    event.type = EventType::kApiKeyLifecycle;
    event.severity = Severity::kMedium;
    event.time = clock_.Now();
    event.user_id = key.owner_kind == OwnerKind::kUser ? key.owner_id : std::string();
    event.reason = "expiring_soon";
    event.attributes = {{"key_id", key.id},
                        {"prefix", key.prefix},
                        {"name", key.name},
                        {"owner_type", std::string(OwnerKindName(key.owner_kind))},
                        {"owner_id", key.owner_id},
                        {"expires_at", std::to_string(key.expires_at)},
                        {"days_left", std::to_string(days_left)}};
    events_.Emit(event);
    ++reported;
  }
  return reported;
}

ApiKeyService::Counters ApiKeyService::counters() const {
  Counters c;
  c.presented = presented_.load(std::memory_order_relaxed);
  c.malformed = malformed_.load(std::memory_order_relaxed);
  c.cache_hits = cache_hits_.load(std::memory_order_relaxed);
  c.store_lookups = store_lookups_.load(std::memory_order_relaxed);
  c.refused = refused_.load(std::memory_order_relaxed);
  c.limited = limited_.load(std::memory_order_relaxed);
  c.authenticated = authenticated_.load(std::memory_order_relaxed);
  c.usage_flushes = usage_flushes_.load(std::memory_order_relaxed);
  c.usage_flush_failures = usage_flush_failures_.load(std::memory_order_relaxed);
  c.marker_failures = marker_failures_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace gatehouse::auth
