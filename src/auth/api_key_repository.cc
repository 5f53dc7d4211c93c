#include "auth/api_key_repository.h"

#include <algorithm>

#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

constexpr std::string_view kKeyColumns =
    "id, prefix, name, owner_kind, owner_id, scopes, rate_limit, created_by, created_at,"
    " expires_at, revoked_at, revoke_reason, rotated_from, rotated_to, grace_until,"
    " hash_version, usage_count, last_used_at, last_ip";

constexpr std::string_view kServiceAccountColumns =
    "id, name, description, owner_account_id, created_by, created_at, disabled_at";

// The SQL condition "still works at $N": not revoked, and before both its expiry and the
// end of any rotation grace.
std::string WorksAt(int param) {
  const std::string p = "$" + std::to_string(param);
  return "revoked_at IS NULL AND expires_at > " + p +
         " AND (grace_until IS NULL OR grace_until > " + p + ")";
}

const std::string* AsText(const store::Value& value) { return std::get_if<std::string>(&value); }
std::optional<std::int64_t> AsInt(const store::Value& value) {
  if (const auto* v = std::get_if<std::int64_t>(&value)) return *v;
  return std::nullopt;
}
std::string TextOr(const store::Value& value) {
  const std::string* text = AsText(value);
  return text == nullptr ? std::string() : *text;
}

std::optional<OwnerKind> ParseOwnerKind(std::string_view name) {
  if (name == "user") return OwnerKind::kUser;
  if (name == "service_account") return OwnerKind::kServiceAccount;
  return std::nullopt;
}

store::Value OptionalText(const std::optional<std::string>& text) {
  if (!text) return std::monostate();
  return *text;
}

Result<ApiKeyRecord> DecodeKey(const store::Row& row) {
  ApiKeyRecord k;
  const std::string* id = AsText(row[0]);
  const std::optional<OwnerKind> kind = ParseOwnerKind(TextOr(row[3]));
  if (id == nullptr || !kind) return Internal("api_keys row without id or owner kind");
  k.id = *id;
  k.prefix = TextOr(row[1]);
  k.name = TextOr(row[2]);
  k.owner_kind = *kind;
  k.owner_id = TextOr(row[4]);
  k.scopes = SplitScopes(TextOr(row[5]));
  k.rate_limit = TextOr(row[6]);
  k.created_by = TextOr(row[7]);
  k.created_at = AsInt(row[8]).value_or(0);
  k.expires_at = AsInt(row[9]).value_or(0);
  k.revoked_at = AsInt(row[10]);
  k.revoke_reason = TextOr(row[11]);
  k.rotated_from = TextOr(row[12]);
  k.rotated_to = TextOr(row[13]);
  k.grace_until = AsInt(row[14]);
  k.hash_version = static_cast<std::uint32_t>(AsInt(row[15]).value_or(0));
  k.usage_count = AsInt(row[16]).value_or(0);
  k.last_used_at = AsInt(row[17]);
  k.last_ip = TextOr(row[18]);
  return k;
}

ServiceAccount DecodeServiceAccount(const store::Row& row) {
  ServiceAccount s;
  s.id = TextOr(row[0]);
  s.name = TextOr(row[1]);
  s.description = TextOr(row[2]);
  if (const std::string* owner = AsText(row[3])) s.owner_account_id = *owner;
  s.created_by = TextOr(row[4]);
  s.created_at = AsInt(row[5]).value_or(0);
  s.disabled_at = AsInt(row[6]);
  return s;
}

constexpr std::string_view kInsertKey =
    "INSERT INTO api_keys (id, key_hash, hash_version, prefix, name, owner_kind, owner_id,"
    " scopes, rate_limit, created_by, created_at, expires_at, rotated_from)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

// On the store or inside a transaction: both run statements the same way.
template <typename Executor>
Status InsertKey(Executor& executor, const NewApiKey& k) {
  auto inserted = executor.Execute(
      kInsertKey,
      {k.id, k.key_hash, static_cast<std::int64_t>(k.hash_version), k.prefix, k.name,
       std::string(OwnerKindName(k.owner_kind)), k.owner_id, JoinScopes(k.scopes), k.rate_limit,
       k.created_by, k.created_at, k.expires_at,
       k.rotated_from.empty() ? store::Value(std::monostate()) : store::Value(k.rotated_from)});
  if (!inserted.ok()) return std::move(inserted).error();
  return Ok();
}

}  // namespace

std::string_view OwnerKindName(OwnerKind kind) {
  return kind == OwnerKind::kServiceAccount ? "service_account" : "user";
}

std::int64_t ApiKeyRecord::EndsAt() const {
  return grace_until ? std::min(expires_at, *grace_until) : expires_at;
}

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const std::string& scope : scopes) {
    if (!out.empty()) out += ' ';
    out += scope;
  }
  return out;
}

std::vector<std::string> SplitScopes(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    if (space != 0) out.emplace_back(text.substr(0, space));
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return out;
}

std::int64_t ApiKeyRepository::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

// ---- service accounts ----------------------------------------------------------------------

Result<ServiceAccount> ApiKeyRepository::CreateServiceAccount(
    std::string_view name, std::string_view description,
    std::optional<std::string> owner_account_id, std::string_view created_by) {
  ServiceAccount s;
  s.id = "sa_" + crypto::RandomToken(12);
  s.name = std::string(name);
  s.description = std::string(description);
  s.owner_account_id = std::move(owner_account_id);
  s.created_by = std::string(created_by);
  s.created_at = Now();
  auto inserted = store_.Execute(
      "INSERT INTO service_accounts (id, name, description, owner_account_id, created_by,"
      " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
      {s.id, s.name, s.description, OptionalText(s.owner_account_id), s.created_by, s.created_at});
  if (!inserted.ok()) return std::move(inserted).error();
  return s;
}

Result<std::optional<ServiceAccount>> ApiKeyRepository::FindServiceAccount(std::string_view id) {
  auto rows = store_.Query(
      "SELECT " + std::string(kServiceAccountColumns) + " FROM service_accounts WHERE id = $1",
      {std::string(id)});
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<ServiceAccount>();
  return std::optional<ServiceAccount>(DecodeServiceAccount((*rows)[0]));
}

Result<std::vector<ServiceAccount>> ApiKeyRepository::ListServiceAccounts(
    std::optional<std::string_view> owner_account_id) {
  const std::string select =
      "SELECT " + std::string(kServiceAccountColumns) + " FROM service_accounts";
  auto rows = owner_account_id ? store_.Query(select +
                                                  " WHERE owner_account_id = $1"
                                                  " ORDER BY created_at DESC, id",
                                              {std::string(*owner_account_id)})
                               : store_.Query(select + " ORDER BY created_at DESC, id");
  if (!rows.ok()) return std::move(rows).error();
  std::vector<ServiceAccount> out;
  for (const store::Row& row : *rows) out.push_back(DecodeServiceAccount(row));
  return out;
}

Result<std::int64_t> ApiKeyRepository::CountActiveServiceAccounts(
    std::string_view owner_account_id) {
  auto rows = store_.Query(
      "SELECT COUNT(*) FROM service_accounts WHERE owner_account_id = $1"
      " AND disabled_at IS NULL",
      {std::string(owner_account_id)});
  if (!rows.ok()) return std::move(rows).error();
  return AsInt((*rows)[0][0]).value_or(0);
}

Result<bool> ApiKeyRepository::DisableServiceAccount(std::string_view id, std::int64_t now) {
  auto changed = store_.Execute(
      "UPDATE service_accounts SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
      {now, std::string(id)});
  if (!changed.ok()) return std::move(changed).error();
  return *changed > 0;
}

// ---- keys ----------------------------------------------------------------------------------

Status ApiKeyRepository::Insert(const NewApiKey& key) { return InsertKey(store_, key); }

Result<std::vector<ApiKeyRecord>> ApiKeyRepository::QueryKeys(std::string_view where,
                                                              const store::Params& params) {
  auto rows = store_.Query(
      "SELECT " + std::string(kKeyColumns) + " FROM api_keys " + std::string(where), params);
  if (!rows.ok()) return std::move(rows).error();
  std::vector<ApiKeyRecord> out;
  out.reserve(rows->size());
  for (const store::Row& row : *rows) {
    auto key = DecodeKey(row);
    if (!key.ok()) return std::move(key).error();
    out.push_back(std::move(*key));
  }
  return out;
}

Result<std::optional<ApiKeyRecord>> ApiKeyRepository::FindByHash(std::span<const KeyHash> hashes) {
  // One query per key-ring version present (usually one): a key is stored under exactly
  // one version, so the first hit is the only one.
  for (const KeyHash& candidate : hashes) {
    auto keys = QueryKeys("WHERE key_hash = $1 AND hash_version = $2",
                          {candidate.hash, static_cast<std::int64_t>(candidate.version)});
    if (!keys.ok()) return std::move(keys).error();
    if (!keys->empty()) return std::optional<ApiKeyRecord>(std::move(keys->front()));
  }
  return std::optional<ApiKeyRecord>();
}

Result<std::optional<ApiKeyRecord>> ApiKeyRepository::FindById(std::string_view id) {
  auto keys = QueryKeys("WHERE id = $1", {std::string(id)});
  if (!keys.ok()) return std::move(keys).error();
  if (keys->empty()) return std::optional<ApiKeyRecord>();
  return std::optional<ApiKeyRecord>(std::move(keys->front()));
}

Result<std::vector<ApiKeyRecord>> ApiKeyRepository::List(std::optional<OwnerKind> owner_kind,
                                                         std::optional<std::string_view> owner_id) {
  if (owner_kind && owner_id) {
    return QueryKeys("WHERE owner_kind = $1 AND owner_id = $2 ORDER BY created_at DESC, id",
                     {std::string(OwnerKindName(*owner_kind)), std::string(*owner_id)});
  }
  return QueryKeys("ORDER BY created_at DESC, id", {});
}

Result<std::int64_t> ApiKeyRepository::CountActive(OwnerKind owner_kind, std::string_view owner_id,
                                                   std::int64_t now) {
  auto rows = store_.Query(
      "SELECT COUNT(*) FROM api_keys WHERE owner_kind = $1 AND owner_id = $2"
      " AND revoked_at IS NULL AND rotated_to IS NULL AND expires_at > $3",
      {std::string(OwnerKindName(owner_kind)), std::string(owner_id), now});
  if (!rows.ok()) return std::move(rows).error();
  return AsInt((*rows)[0][0]).value_or(0);
}

Result<std::vector<ApiKeyRecord>> ApiKeyRepository::Working(OwnerKind owner_kind,
                                                            std::string_view owner_id,
                                                            std::int64_t now) {
  return QueryKeys("WHERE owner_kind = $1 AND owner_id = $2 AND " + WorksAt(3),
                   {std::string(OwnerKindName(owner_kind)), std::string(owner_id), now});
}

Result<bool> ApiKeyRepository::Revoke(std::string_view id, std::int64_t now,
                                      std::string_view reason) {
  auto changed = store_.Execute(
      "UPDATE api_keys SET revoked_at = $1, revoke_reason = $2 WHERE id = $3"
      " AND revoked_at IS NULL",
      {now, std::string(reason), std::string(id)});
  if (!changed.ok()) return std::move(changed).error();
  return *changed > 0;
}

Result<ApiKeyRepository::RotateOutcome> ApiKeyRepository::Rotate(std::string_view old_id,
                                                                 const NewApiKey& successor,
                                                                 std::int64_t grace_until,
                                                                 std::int64_t now) {
  RotateOutcome outcome = RotateOutcome::kNotFound;
  Status status = store_.InTransaction([&](store::Transaction& tx) -> Status {
    // Claim the old key first: of two concurrent rotations exactly one changes the row
    // (PostgreSQL's row lock, SQLite's single writer), so a key never gets two successors.
    auto claimed = tx.Execute(
        "UPDATE api_keys SET rotated_to = $1,"
        " grace_until = CASE WHEN expires_at < $2 THEN expires_at ELSE $2 END"
        " WHERE id = $3 AND rotated_to IS NULL AND " +
            WorksAt(4),
        {successor.id, grace_until, std::string(old_id), now});
    if (!claimed.ok()) return std::move(claimed).error();
    if (*claimed == 0) {
      auto rows = tx.Query("SELECT rotated_to FROM api_keys WHERE id = $1", {std::string(old_id)});
      if (!rows.ok()) return std::move(rows).error();
      if (rows->empty()) {
        outcome = RotateOutcome::kNotFound;
      } else {
        outcome = AsText((*rows)[0][0]) != nullptr ? RotateOutcome::kAlreadyRotated
                                                   : RotateOutcome::kNotActive;
      }
      return Ok();
    }
    NewApiKey linked = successor;
    linked.rotated_from = std::string(old_id);
    GH_RETURN_IF_ERROR(InsertKey(tx, linked));
    outcome = RotateOutcome::kRotated;
    return Ok();
  });
  if (!status.ok()) return std::move(status).error();
  return outcome;
}

Status ApiKeyRepository::Rehash(std::string_view id, const KeyHash& hash) {
  auto updated =
      store_.Execute("UPDATE api_keys SET key_hash = $1, hash_version = $2 WHERE id = $3",
                     {hash.hash, static_cast<std::int64_t>(hash.version), std::string(id)});
  if (!updated.ok()) return std::move(updated).error();
  return Ok();
}

Status ApiKeyRepository::AddUsage(std::span<const UsageDelta> deltas) {
  if (deltas.empty()) return Ok();
  return store_.InTransaction([&](store::Transaction& tx) -> Status {
    for (const UsageDelta& d : deltas) {
      // Portable "greatest": both backends know CASE, not the same max function.
      GH_RETURN_IF_ERROR(
          tx.Execute("UPDATE api_keys SET usage_count = usage_count + $1,"
                     " last_ip = CASE WHEN last_used_at IS NULL OR last_used_at <= $2 THEN $3"
                     " ELSE last_ip END,"
                     " last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2"
                     " ELSE last_used_at END"
                     " WHERE id = $4",
                     {d.count, d.last_used_at, d.last_ip, d.key_id}));
    }
    return Ok();
  });
}

Result<std::vector<ApiKeyRecord>> ApiKeyRepository::DueForExpiryNotice(std::int64_t now,
                                                                       std::int64_t until,
                                                                       std::int64_t day,
                                                                       std::size_t limit) {
  return QueryKeys(
      "WHERE revoked_at IS NULL AND rotated_to IS NULL AND expires_at > $1"
      " AND expires_at <= $2 AND (expiry_notice_day IS NULL OR expiry_notice_day < $3)"
      " ORDER BY expires_at, id LIMIT $4",
      {now, until, day, static_cast<std::int64_t>(limit)});
}

Result<bool> ApiKeyRepository::ClaimExpiryNotice(std::string_view id, std::int64_t day) {
  auto changed = store_.Execute(
      "UPDATE api_keys SET expiry_notice_day = $1 WHERE id = $2"
      " AND (expiry_notice_day IS NULL OR expiry_notice_day < $1)",
      {day, std::string(id)});
  if (!changed.ok()) return std::move(changed).error();
  return *changed > 0;
}

}  // namespace gatehouse::auth
