#pragma once

// Durable second factors (migration 5): one TOTP secret and one SMS phone number per account,
// each pending until confirmed, and the account's set of backup codes.
//
// The TOTP secret and the phone number are stored only as AES-256-GCM envelopes from the key
// ring, bound to their row ("mfa_factor:<id>:<account>:<kind>"), so a value copied into
// another row or account does not open. Backup codes are stored only as SHA-256 hashes of
// the account id and the normalised code: a code has 80 random bits, so a fast hash cannot
// be reversed, and binding the account means one account's row can never match another's.
//
// Calls block on the store: run them on the worker pool.
// Thread-safe: no mutable state of its own.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/keyring.h"
#include "store/store.h"

namespace gatehouse::auth {

enum class FactorKind : std::uint8_t { kTotp, kSms };
// "totp" or "sms" (the column value).
std::string_view FactorKindName(FactorKind kind);

struct StoredFactor {
  std::string id;
  std::string account_id;
  FactorKind kind = FactorKind::kTotp;
  bool active = false;  // False: pending confirmation.
  Secret value;         // The TOTP secret bytes, or the phone number (E.164).
  std::int64_t created_at = 0;
  std::int64_t confirmed_at = 0;  // 0 while pending.
  std::int64_t last_used_at = 0;
};

class MfaRepository {
 public:
  // `store`, `keys` and `clock` must outlive the repository.
  MfaRepository(store::Store& store, const crypto::KeyRing& keys, const Clock& clock)
      : store_(store), keys_(keys), clock_(clock) {}

  // The account's factor of this kind, pending or active, decrypted.
  Result<std::optional<StoredFactor>> Find(std::string_view account_id, FactorKind kind);

  // Stores `value` as the account's pending factor of this kind, replacing an older pending
  // one. kFailedPrecondition when an active factor of the kind exists (disable it first).
  Result<StoredFactor> SavePending(std::string_view account_id, FactorKind kind,
                                   const Secret& value);

  // Turns the pending factor `factor_id` active. False when it is no longer pending (a
  // concurrent confirmation won, or it was replaced).
  Result<bool> Activate(std::string_view account_id, std::string_view factor_id);

  // Removes the account's factor of this kind; false when there was none.
  Result<bool> Remove(std::string_view account_id, FactorKind kind);

  Status MarkUsed(std::string_view factor_id);

  // Replaces every backup code of the account with `hashes` in one transaction.
  Status ReplaceBackupCodes(std::string_view account_id, const std::vector<std::string>& hashes);
  // Spends the unused code with this hash; false when none (unknown or already used). One
  // conditional UPDATE, so two concurrent uses of one code have exactly one winner.
  Result<bool> UseBackupCode(std::string_view account_id, std::string_view hash);
  Result<std::int64_t> BackupCodesLeft(std::string_view account_id);
  Status RemoveBackupCodes(std::string_view account_id);

  // The stored form of a backup code: hex SHA-256 of "<account_id>:<normalised code>".
  static std::string BackupCodeHash(std::string_view account_id, std::string_view normalised);

 private:
  std::int64_t Now() const;

  store::Store& store_;
  const crypto::KeyRing& keys_;
  const Clock& clock_;
};

}  // namespace gatehouse::auth
