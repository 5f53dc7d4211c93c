#pragma once

// API keys for services (docs/api-keys.md): issuing, listing, rotating and revoking them,
// service accounts to own them, and authenticating a request that carries one.
//
// Who may do what. A signed-in user manages keys of their own and of the service accounts
// they own; the admin listener manages every key and service account. A key or service
// account the actor may not manage answers exactly like one that does not exist.
//
// Authenticate, the request path, in this order:
//   1. hash      HMAC-SHA256 of the presented text under the key ring's "api-key-hash" key
//                (ApiKeyHasher), malformed or not, and one cache probe with it, so every
//                refusal below costs the same in memory whatever was presented;
//   2. format    prefix, length, alphabet, checksum (auth/api_key_format.h): a typo or a
//                foreign key is refused here, before any store lookup;
//   3. lookup    the cache (auth/api_key_cache.h); on a miss the store, by hash; an
//                unknown hash is remembered as unknown, so a wrong secret repeated costs
//                no further lookups;
//   4. snapshot  revoked, expired, or rotated past its grace, as of the lookup;
//   5. live      the key's marker in the shared state ("akr:<id>"), written by every
//                revocation and rotation before (revocation) or right after (rotation)
//                the store: how another instance learns of a change within one second
//                without asking the store on each request;
//   6. limit     the key's rate limit (the api_key class, or the key's own) under the
//                subject "key:<id>", shared by every instance through the limiter;
//   7. usage     counted in memory (auth/api_key_usage.h) for the next flush.
// On a cache hit nothing in 1-7 touches the store. The key is compared only through its
// keyed hash: the lookup is an index match on a PRF output and the cache confirms a hit
// with a constant-time comparison, so timing depends on nothing an attacker could aim.
//
// Every refusal is kUnauthenticated with a sentence naming the reason (a mistyped key,
// an expired one, a revoked one); the key's holder may know why, and none of the reasons
// tells a guesser anything about other keys. An outage of the state or the store is
// kUnavailable: a revocation check that cannot be made refuses.
//
// Events: api_key_lifecycle for creations, rotations, revocations, service accounts and
// the daily "expiring_soon" notice; api_key_usage at most once per key per usage event
// interval, with the request count; unauthorized_access for refused keys (the sink rate
// limits those lines); privilege_escalation for a user asking for an admin-only scope.
// No event or log line holds key material: keys are named by id and display prefix.
//
// Blocking: everything except AuthenticateFromMemory may block on the store or the state;
// run it on the worker pool. Thread-safe.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/events.h"
#include "auth/api_key_cache.h"
#include "auth/api_key_format.h"
#include "auth/api_key_repository.h"
#include "auth/api_key_usage.h"
#include "auth/auth_service.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/hmac.h"
#include "crypto/keyring.h"
#include "protect/rate_limit.h"
#include "state/state.h"

namespace gatehouse::auth {

// The keyed hash a key is stored and cached under: HMAC-SHA256 with the key ring's
// "api-key-hash" key, one per key-ring version (keys made before a master-key rotation
// still verify, and are rehashed under the current version when next used).
// Thread-safe; Compute uses per-thread prepared contexts (crypto/hmac.h).
class ApiKeyHasher {
 public:
  static Result<ApiKeyHasher> Create(const crypto::KeyRing& keys);

  std::uint32_t current_version() const { return versions_.front().first; }
  crypto::Sha256Digest Current(std::string_view text) const;
  // The hash under every version, current first; `current` is Current(text), reused.
  std::vector<KeyHash> All(std::string_view text, const crypto::Sha256Digest& current) const;
  // The stored form: base64url without padding, 43 characters.
  static std::string Encode(const crypto::Sha256Digest& digest);

 private:
  ApiKeyHasher() = default;
  std::vector<std::pair<std::uint32_t, crypto::HmacSha256Keyed>> versions_;
};

struct ApiKeySettings {
  KeyEnvironment environment = KeyEnvironment::kTest;
  std::chrono::seconds default_lifetime{90 * 24 * 3600};
  std::chrono::seconds max_lifetime{365 * 24 * 3600};
  std::chrono::seconds rotation_grace{7 * 24 * 3600};
  std::chrono::seconds expiry_warning{14 * 24 * 3600};  // 0: no notices.
  std::chrono::seconds usage_event_interval{300};
  std::size_t cache_entries = 10000;
  std::chrono::seconds cache_ttl{60};
  std::vector<std::string> scopes;  // The vocabulary; empty accepts any well-formed scope.
  std::vector<std::string> admin_only_scopes;
  unsigned max_keys_per_owner = 20;
  unsigned max_service_accounts_per_user = 10;
  // The api_key class. A key's own limit replaces its limit and window, keeping its name
  // and outage policy.
  protect::RateLimitClass rate_class{"api_key", 1000, std::chrono::minutes(1)};
};

// The settings `[api_keys]` asks for, the environment resolved by profile (production
// issues live keys, every other profile test keys, unless api_keys.environment says).
// The rate class is left at its default: the caller takes it from the limiter's classes.
ApiKeySettings ApiKeySettingsFromConfig(const core::Config& config);

// Who asks for a change, and from where (for events).
struct KeyActor {
  bool admin = false;      // The admin listener.
  std::string account_id;  // The signed-in user; empty for the admin.
  RequestContext context;
};

struct NewKeyRequest {
  std::string name;                 // 1..100 bytes, no control characters.
  std::vector<std::string> scopes;  // At most 32, each 1..64 of [A-Za-z0-9:._/-], no repeats.
  std::optional<std::chrono::seconds> lifetime;   // 1 s..max_lifetime; default_lifetime.
  std::optional<std::string> service_account_id;  // Required on the admin listener.
  std::optional<std::string> rate_limit;  // "LIMIT/WINDOW"; users may only lower the class's.
};

// A key as issued: shown once, then only its hash exists.
struct IssuedApiKey {
  ApiKeyRecord record;
  Secret key;
};

struct KeyRotation {
  IssuedApiKey successor;
  std::string replaced_id;
  std::int64_t replaced_ends_at = 0;  // The old key stops working then.
};

// The outcome of a key that authenticated.
struct KeyAuthentication {
  std::shared_ptr<const CachedApiKey> key;
  // The key's rate limit refused this request: answer 429 with these (nothing was counted).
  bool limited = false;
  protect::RateLimitClass limit_class;
  protect::Decision decision;
};

class ApiKeyService {
 public:
  // A snapshot; each field is read atomically, the set is not.
  struct Counters {
    std::uint64_t presented = 0;      // Authenticate calls.
    std::uint64_t malformed = 0;      // Refused at the format check.
    std::uint64_t cache_hits = 0;     // Answered from the cache (known or unknown).
    std::uint64_t store_lookups = 0;  // Lookups by hash in the store.
    std::uint64_t refused = 0;        // Every kUnauthenticated answer, malformed included.
    std::uint64_t limited = 0;        // Refused by the key's rate limit.
    std::uint64_t authenticated = 0;
    std::uint64_t usage_flushes = 0;
    std::uint64_t usage_flush_failures = 0;
    std::uint64_t marker_failures = 0;  // Rotation markers the state did not take.
  };

  // `limiter` may be null (no per-key limit). Every reference must outlive the service.
  ApiKeyService(ApiKeyRepository& repository, state::StateStore& state,
                protect::RateLimiter* limiter, ApiKeyHasher hasher, audit::EventSink& events,
                const Clock& clock, ApiKeySettings settings);

  // ---- service accounts
  // kPermissionDenied when users may not own service accounts (the limit is 0);
  // kFailedPrecondition when the user owns the most allowed.
  Result<ServiceAccount> CreateServiceAccount(const KeyActor& actor, std::string_view name,
                                              std::string_view description);
  Result<std::vector<ServiceAccount>> ListServiceAccounts(const KeyActor& actor);
  // Disables it and revokes every key it holds (live on every instance at once).
  Status DisableServiceAccount(const KeyActor& actor, std::string_view id);

  // ---- keys
  // kInvalidArgument for a bad name, scope, lifetime or limit; kPermissionDenied for an
  // admin-only scope or a raised limit asked by a user; kNotFound for a service account
  // the actor may not use; kFailedPrecondition at the per-owner key limit.
  Result<IssuedApiKey> Create(const KeyActor& actor, const NewKeyRequest& request);
  // The actor's keys (every key for the admin), newest first, with usage figures that
  // include this instance's unflushed requests.
  Result<std::vector<ApiKeyRecord>> List(const KeyActor& actor);
  // kNotFound for an unknown, foreign or already revoked key.
  Status Revoke(const KeyActor& actor, std::string_view id);
  // A successor with the same name, owner, scopes and limit and a fresh default lifetime;
  // the old key keeps working for the rotation grace. kFailedPrecondition for a key that
  // no longer works or was rotated already.
  Result<KeyRotation> Rotate(const KeyActor& actor, std::string_view id);
  // One of the actor's keys by id (kNotFound as for Revoke, revoked keys included).
  Result<ApiKeyRecord> Find(const KeyActor& actor, std::string_view id);

  // ---- the request path (see the header comment)
  Result<KeyAuthentication> Authenticate(std::string_view presented, const RequestContext& ctx);
  // The same from memory only, for the I/O thread: nullopt when the store would have to be
  // asked (the caller then runs Authenticate on the worker pool).
  // REQUIRES: the state store and the limiter answer without blocking (memory drivers).
  std::optional<Result<KeyAuthentication>> AuthenticateFromMemory(std::string_view presented,
                                                                  const RequestContext& ctx);

  // ---- housekeeping, from periodic tasks
  // Writes the gathered usage in one batch and emits the due api_key_usage events. On a
  // store failure the usage is kept for the next flush.
  Status FlushUsage();
  // Emits "expiring_soon" for keys ending within the warning window, once per key per day
  // across all instances; returns how many this call reported.
  Result<std::size_t> NotifyExpiring();

  Counters counters() const;
  const ApiKeySettings& settings() const { return settings_; }

 private:
  std::optional<Result<KeyAuthentication>> AuthenticateImpl(std::string_view presented,
                                                            const RequestContext& ctx,
                                                            bool may_block);
  Result<std::optional<std::shared_ptr<const CachedApiKey>>> LoadFromStore(
      std::string_view presented, const crypto::Sha256Digest& digest);
  std::shared_ptr<const CachedApiKey> Snapshot(const ApiKeyRecord& record) const;
  Error Refuse(const RequestContext& ctx, std::string_view cause, std::string message,
               std::string_view key_id);

  Status CheckScopes(const KeyActor& actor, const std::vector<std::string>& scopes);
  Result<std::string> CheckRateLimit(const KeyActor& actor, const std::optional<std::string>& spec);
  // The key `id` if the actor may manage it.
  Result<ApiKeyRecord> Owned(const KeyActor& actor, std::string_view id);
  Result<ServiceAccount> UsableServiceAccount(const KeyActor& actor, std::string_view id);
  // A fresh key and the row that stores it; nothing is written yet.
  struct PreparedKey {
    IssuedApiKey issued;
    NewApiKey row;
  };
  PreparedKey PrepareKey(const KeyActor& actor, std::string name, OwnerKind owner_kind,
                         std::string owner_id, std::vector<std::string> scopes,
                         std::string rate_limit, std::chrono::seconds lifetime,
                         std::string rotated_from) const;
  // Writes the live marker of a key that stops at `ends_at` (nullopt: revoked).
  Status PublishEnd(const ApiKeyRecord& key, std::optional<std::int64_t> ends_at);
  Status RevokeRecord(const KeyActor& actor, const ApiKeyRecord& key, std::string_view reason);

  void EmitLifecycle(const KeyActor& actor, std::string_view reason, audit::Severity severity,
                     std::string_view user_id,
                     std::vector<std::pair<std::string, std::string>> attributes);
  std::int64_t Now() const;

  ApiKeyRepository& repository_;
  state::StateStore& state_;
  protect::RateLimiter* limiter_;
  ApiKeyHasher hasher_;
  audit::EventSink& events_;
  const Clock& clock_;
  ApiKeySettings settings_;
  std::unique_ptr<ApiKeyCache> cache_;
  ApiKeyUsage usage_;

  // Per key: requests not yet reported in an api_key_usage event, and when the last event
  // went out. Touched by FlushUsage only, under flush_mu_.
  struct EventTally {
    std::int64_t requests = 0;
    std::int64_t since = 0;
    std::int64_t last_event = 0;
    std::string last_network;
    std::shared_ptr<const CachedApiKey> key;
  };
  std::mutex flush_mu_;
  std::map<std::string, EventTally> event_tallies_;

  std::atomic<std::uint64_t> presented_{0};
  std::atomic<std::uint64_t> malformed_{0};
  std::atomic<std::uint64_t> cache_hits_{0};
  std::atomic<std::uint64_t> store_lookups_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> limited_{0};
  std::atomic<std::uint64_t> authenticated_{0};
  std::atomic<std::uint64_t> usage_flushes_{0};
  std::atomic<std::uint64_t> usage_flush_failures_{0};
  std::atomic<std::uint64_t> marker_failures_{0};
};

// The shared-state key of a key's live marker, and its two values: "revoked", or
// "ends:<unix seconds>" for a rotated key.
std::string ApiKeyMarkerKey(std::string_view key_id);

}  // namespace gatehouse::auth
