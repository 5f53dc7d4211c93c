#pragma once

// Durable service accounts and API keys (migration 6, docs/api-keys.md).
//
// A key is stored as its keyed hash (see ApiKeyHasher in auth/api_key_service.h) and its
// display prefix, never as itself. Rows are never deleted: a revoked key stays listed with
// its revocation, so the audit trail and the usage figures keep their subject.
//
// Times are Unix seconds. Calls block on the store: run them on the worker pool.
// Thread-safe: the repository holds no mutable state of its own.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace gatehouse::auth {

enum class OwnerKind : std::uint8_t { kUser, kServiceAccount };
// "user" or "service_account".
std::string_view OwnerKindName(OwnerKind kind);

// The actor recorded for changes made on the admin listener.
inline constexpr std::string_view kAdminActor = "admin";

struct ServiceAccount {
  std::string id;  // "sa_..." random, safe to log.
  std::string name;
  std::string description;
  std::optional<std::string> owner_account_id;  // nullopt: the operators' (made by an admin).
  std::string created_by;                       // kAdminActor or an account id.
  std::int64_t created_at = 0;
  std::optional<std::int64_t> disabled_at;
};

struct ApiKeyRecord {
  std::string id;      // "key_..." random, safe to log and show.
  std::string prefix;  // Display prefix, e.g. "gh_live_4Tq0r9Xa".
  std::string name;
  OwnerKind owner_kind = OwnerKind::kUser;
  std::string owner_id;
  std::vector<std::string> scopes;
  std::string rate_limit;  // "" or "LIMIT/WINDOW" (core::ParseRateSpec).
  std::string created_by;  // kAdminActor or an account id.
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::optional<std::int64_t> revoked_at;
  std::string revoke_reason;
  std::string rotated_from;  // Id of the key this one replaced, or empty.
  std::string rotated_to;    // Id of the successor, or empty.
  std::optional<std::int64_t> grace_until;
  std::uint32_t hash_version = 0;
  std::int64_t usage_count = 0;
  std::optional<std::int64_t> last_used_at;
  std::string last_ip;  // Masked network, or empty.

  // The first second the key no longer works (revocation aside): its expiry, or the end of
  // its rotation grace when that comes first.
  std::int64_t EndsAt() const;
};

struct NewApiKey {
  std::string id;
  std::string key_hash;
  std::uint32_t hash_version = 0;
  std::string prefix;
  std::string name;
  OwnerKind owner_kind = OwnerKind::kUser;
  std::string owner_id;
  std::vector<std::string> scopes;
  std::string rate_limit;
  std::string created_by;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::string rotated_from;
};

// One key's usage since the last flush, from one instance.
struct UsageDelta {
  std::string key_id;
  std::int64_t count = 0;
  std::int64_t last_used_at = 0;
  std::string last_ip;  // Masked.
};

// The candidate hashes of one presented key, one per key-ring version.
struct KeyHash {
  std::string hash;
  std::uint32_t version = 0;
};

class ApiKeyRepository {
 public:
  // `store` and `clock` must outlive the repository.
  ApiKeyRepository(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  // ---- service accounts

  Result<ServiceAccount> CreateServiceAccount(std::string_view name, std::string_view description,
                                              std::optional<std::string> owner_account_id,
                                              std::string_view created_by);
  Result<std::optional<ServiceAccount>> FindServiceAccount(std::string_view id);
  // Every service account, or those of one owner; newest first.
  Result<std::vector<ServiceAccount>> ListServiceAccounts(
      std::optional<std::string_view> owner_account_id);
  // Service accounts of the owner that are not disabled.
  Result<std::int64_t> CountActiveServiceAccounts(std::string_view owner_account_id);
  // Marks it disabled; false when it was already disabled or is unknown.
  Result<bool> DisableServiceAccount(std::string_view id, std::int64_t now);

  // ---- keys

  // kAlreadyExists when the hash is taken (two equal random keys: never in practice).
  Status Insert(const NewApiKey& key);
  // The key whose hash is one of `hashes`; nullopt when none is.
  Result<std::optional<ApiKeyRecord>> FindByHash(std::span<const KeyHash> hashes);
  Result<std::optional<ApiKeyRecord>> FindById(std::string_view id);
  // Every key, or those of one owner; newest first.
  Result<std::vector<ApiKeyRecord>> List(std::optional<OwnerKind> owner_kind,
                                         std::optional<std::string_view> owner_id);
  // Keys of the owner that still count against its limit: not revoked, not rotated away,
  // not past their expiry at `now`.
  Result<std::int64_t> CountActive(OwnerKind owner_kind, std::string_view owner_id,
                                   std::int64_t now);
  // The owner's keys that still work at `now` (rotated ones in grace included).
  Result<std::vector<ApiKeyRecord>> Working(OwnerKind owner_kind, std::string_view owner_id,
                                            std::int64_t now);

  // Revokes a key that is not revoked yet; false when it already was or is unknown.
  Result<bool> Revoke(std::string_view id, std::int64_t now, std::string_view reason);

  // What a rotation found.
  enum class RotateOutcome : std::uint8_t {
    kRotated,         // `successor` inserted, the old key ends at min(expires, grace_until).
    kNotFound,        // No such key.
    kNotActive,       // Revoked or expired: nothing to rotate.
    kAlreadyRotated,  // It has a successor already: rotate that one.
  };
  // In one transaction: checks the old key still works and has no successor, inserts
  // `successor` (whose rotated_from is `old_id`) and gives the old key its grace end.
  Result<RotateOutcome> Rotate(std::string_view old_id, const NewApiKey& successor,
                               std::int64_t grace_until, std::int64_t now);

  // Replaces the stored hash after a key was found under an older key-ring version.
  Status Rehash(std::string_view id, const KeyHash& hash);

  // Adds the deltas in one transaction: counts summed, last use and address taken when
  // newer than what is stored (instances flush in any order).
  Status AddUsage(std::span<const UsageDelta> deltas);

  // Keys that are not revoked or rotated, expire in (now, until] and were not reported on
  // Unix day `day` yet, soonest first, at most `limit` of them (a later call takes the
  // next ones, since reported keys drop out).
  Result<std::vector<ApiKeyRecord>> DueForExpiryNotice(std::int64_t now, std::int64_t until,
                                                       std::int64_t day, std::size_t limit);
  // Records that key `id` was reported on Unix day `day`; true for the one caller (of any
  // instance) that recorded it first that day.
  Result<bool> ClaimExpiryNotice(std::string_view id, std::int64_t day);

 private:
  Result<std::vector<ApiKeyRecord>> QueryKeys(std::string_view where, const store::Params& params);
  std::int64_t Now() const;

  store::Store& store_;
  const Clock& clock_;
};

// "a b c" <-> {"a", "b", "c"}: how scopes are stored and sent in X-Auth-Scopes.
std::string JoinScopes(const std::vector<std::string>& scopes);
std::vector<std::string> SplitScopes(std::string_view text);

}  // namespace gatehouse::auth
