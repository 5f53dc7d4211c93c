#include "auth/mfa_repository.h"

#include <chrono>

#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

// One derived key per kind of value: the TOTP secrets' key opens no phone number.
std::string Purpose(FactorKind kind) {
  return kind == FactorKind::kTotp ? "field:mfa.totp_secret" : "field:mfa.phone";
}

std::string Aad(std::string_view id, std::string_view account_id, FactorKind kind) {
  return "mfa_factor:" + std::string(id) + ":" + std::string(account_id) + ":" +
         std::string(FactorKindName(kind));
}

const std::string* AsText(const store::Value& value) { return std::get_if<std::string>(&value); }

std::int64_t AsInt(const store::Value& value) {
  const auto* v = std::get_if<std::int64_t>(&value);
  return v == nullptr ? 0 : *v;
}

}  // namespace

std::string_view FactorKindName(FactorKind kind) {
  return kind == FactorKind::kTotp ? "totp" : "sms";
}

std::int64_t MfaRepository::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

Result<std::optional<StoredFactor>> MfaRepository::Find(std::string_view account_id,
                                                        FactorKind kind) {
  auto rows = store_.Query(
      "SELECT id, state, secret_enc, created_at, confirmed_at, last_used_at FROM mfa_factors"
      " WHERE account_id = $1 AND kind = $2",
      {std::string(account_id), std::string(FactorKindName(kind))});
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<StoredFactor>();
  const store::Row& row = (*rows)[0];
  const std::string* id = AsText(row[0]);
  const std::string* state = AsText(row[1]);
  const std::string* sealed = AsText(row[2]);
  if (id == nullptr || state == nullptr || sealed == nullptr) {
    return Internal("mfa_factors row with NULL columns");
  }

  StoredFactor factor;
  factor.id = *id;
  factor.account_id = std::string(account_id);
  factor.kind = kind;
  factor.active = *state == "active";
  auto opened = keys_.Decrypt(Purpose(kind), *sealed, Aad(*id, account_id, kind));
  if (!opened.ok()) return std::move(opened).error().WithContext("mfa factor");
  factor.value = std::move(*opened);
  factor.created_at = AsInt(row[3]);
  factor.confirmed_at = AsInt(row[4]);
  factor.last_used_at = AsInt(row[5]);
  return std::optional<StoredFactor>(std::move(factor));
}

Result<StoredFactor> MfaRepository::SavePending(std::string_view account_id, FactorKind kind,
                                                const Secret& value) {
  StoredFactor factor;
  factor.id = "mfa_" + crypto::RandomToken(16);
  factor.account_id = std::string(account_id);
  factor.kind = kind;
  factor.value = value;
  factor.created_at = Now();
  auto sealed = keys_.Encrypt(Purpose(kind), value.reveal(), Aad(factor.id, account_id, kind));
  if (!sealed.ok()) return std::move(sealed).error();

  bool active_exists = false;
  Status saved = store_.InTransaction([&](store::Transaction& tx) -> Status {
    auto existing = tx.Query("SELECT state FROM mfa_factors WHERE account_id = $1 AND kind = $2",
                             {std::string(account_id), std::string(FactorKindName(kind))});
    if (!existing.ok()) return std::move(existing).error();
    if (!existing->empty()) {
      const std::string* state = AsText((*existing)[0][0]);
      if (state != nullptr && *state == "active") {
        active_exists = true;
        return Ok();
      }
      auto removed = tx.Execute("DELETE FROM mfa_factors WHERE account_id = $1 AND kind = $2",
                                {std::string(account_id), std::string(FactorKindName(kind))});
      if (!removed.ok()) return std::move(removed).error();
    }
    auto inserted = tx.Execute(
        "INSERT INTO mfa_factors (id, account_id, kind, state, secret_enc, created_at)"
        " VALUES ($1, $2, $3, 'pending', $4, $5)",
        {factor.id, std::string(account_id), std::string(FactorKindName(kind)), *sealed,
         factor.created_at});
    if (!inserted.ok()) return std::move(inserted).error();
    return Ok();
  });
  if (!saved.ok()) return std::move(saved).error();
  if (active_exists) {
    return Error(ErrorCode::kFailedPrecondition,
                 "this second factor is already enabled; disable it first");
  }
  return factor;
}

Result<bool> MfaRepository::Activate(std::string_view account_id, std::string_view factor_id) {
  auto updated = store_.Execute(
      "UPDATE mfa_factors SET state = 'active', confirmed_at = $1"
      " WHERE id = $2 AND account_id = $3 AND state = 'pending'",
      {Now(), std::string(factor_id), std::string(account_id)});
  if (!updated.ok()) return std::move(updated).error();
  return *updated == 1;
}

Result<bool> MfaRepository::Remove(std::string_view account_id, FactorKind kind) {
  auto removed = store_.Execute("DELETE FROM mfa_factors WHERE account_id = $1 AND kind = $2",
                                {std::string(account_id), std::string(FactorKindName(kind))});
  if (!removed.ok()) return std::move(removed).error();
  return *removed > 0;
}

Status MfaRepository::MarkUsed(std::string_view factor_id) {
  auto updated = store_.Execute("UPDATE mfa_factors SET last_used_at = $1 WHERE id = $2",
                                {Now(), std::string(factor_id)});
  if (!updated.ok()) return std::move(updated).error();
  return Ok();
}

Status MfaRepository::ReplaceBackupCodes(std::string_view account_id,
                                         const std::vector<std::string>& hashes) {
  const std::int64_t now = Now();
  return store_.InTransaction([&](store::Transaction& tx) -> Status {
    auto removed =
        tx.Execute("DELETE FROM mfa_backup_codes WHERE account_id = $1", {std::string(account_id)});
    if (!removed.ok()) return std::move(removed).error();
    for (const std::string& hash : hashes) {
      auto inserted = tx.Execute(
          "INSERT INTO mfa_backup_codes (code_hash, account_id, created_at) VALUES ($1, $2, $3)",
          {hash, std::string(account_id), now});
      if (!inserted.ok()) return std::move(inserted).error();
    }
    return Ok();
  });
}

Result<bool> MfaRepository::UseBackupCode(std::string_view account_id, std::string_view hash) {
  auto updated = store_.Execute(
      "UPDATE mfa_backup_codes SET used_at = $1"
      " WHERE code_hash = $2 AND account_id = $3 AND used_at IS NULL",
      {Now(), std::string(hash), std::string(account_id)});
  if (!updated.ok()) return std::move(updated).error();
  return *updated == 1;
}

Result<std::int64_t> MfaRepository::BackupCodesLeft(std::string_view account_id) {
  auto rows = store_.Query(
      "SELECT COUNT(*) FROM mfa_backup_codes WHERE account_id = $1 AND used_at IS NULL",
      {std::string(account_id)});
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::int64_t{0};
  return AsInt((*rows)[0][0]);
}

Status MfaRepository::RemoveBackupCodes(std::string_view account_id) {
  auto removed = store_.Execute("DELETE FROM mfa_backup_codes WHERE account_id = $1",
                                {std::string(account_id)});
  if (!removed.ok()) return std::move(removed).error();
  return Ok();
}

std::string MfaRepository::BackupCodeHash(std::string_view account_id,
                                          std::string_view normalised) {
  const crypto::Sha256Digest digest =
      crypto::Sha256(std::string(account_id) + ":" + std::string(normalised));
  return crypto::HexEncode(std::span<const std::uint8_t>(digest.data(), digest.size()));
}

}  // namespace gatehouse::auth
