#include "auth/identity_repository.h"

#include <chrono>

#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

constexpr std::string_view kColumns =
    "id, provider, account_id, created_at, last_login_at, refresh_token_enc, access_expires_at";
constexpr std::string_view kSubjectPurpose = "oidc.subject";

std::string Purpose(std::string_view column) { return "field:oidc." + std::string(column); }
std::string Aad(std::string_view id, std::string_view column) {
  return "oidc_identity:" + std::string(id) + ":" + std::string(column);
}

std::int64_t UnixSeconds(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

std::int64_t AsInt(const store::Value& value) {
  const auto* v = std::get_if<std::int64_t>(&value);
  return v == nullptr ? 0 : *v;
}

Result<Identity> Decode(const store::Row& row) {
  const auto* id = std::get_if<std::string>(&row[0]);
  const auto* provider = std::get_if<std::string>(&row[1]);
  const auto* account = std::get_if<std::string>(&row[2]);
  if (id == nullptr || provider == nullptr || account == nullptr) {
    return Internal("oidc identity row incomplete");
  }
  Identity identity;
  identity.id = *id;
  identity.provider = *provider;
  identity.account_id = *account;
  identity.created_at = AsInt(row[3]);
  identity.last_login_at = AsInt(row[4]);
  identity.has_refresh_token = std::holds_alternative<std::string>(row[5]);
  identity.access_expires_at = AsInt(row[6]);
  return identity;
}

}  // namespace

Result<std::string> IdentityRepository::SubjectIndex(std::string_view provider,
                                                     std::string_view subject,
                                                     std::uint32_t version) const {
  // The provider id cannot hold '\n', so "google\nX" and "goo\ngleX" never collide.
  return keys_.BlindIndex(kSubjectPurpose, std::string(provider) + "\n" + std::string(subject),
                          version);
}

Result<std::optional<Identity>> IdentityRepository::FindOne(std::string_view where,
                                                            const store::Params& params) {
  auto rows = store_.Query(
      "SELECT " + std::string(kColumns) + " FROM oidc_identities WHERE " + std::string(where),
      params);
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<Identity>();
  auto identity = Decode((*rows)[0]);
  if (!identity.ok()) return std::move(identity).error();
  return std::optional<Identity>(std::move(*identity));
}

Result<std::optional<Identity>> IdentityRepository::Find(std::string_view provider,
                                                         std::string_view subject) {
  // Every key version: a subject indexed before a key rotation is still found.
  for (std::uint32_t version : keys_.versions()) {
    auto index = SubjectIndex(provider, subject, version);
    if (!index.ok()) return std::move(index).error();
    auto found = FindOne("provider = $1 AND subject_index = $2", {std::string(provider), *index});
    if (!found.ok() || found->has_value()) return found;
  }
  return std::optional<Identity>();
}

Result<std::optional<Identity>> IdentityRepository::FindForAccount(std::string_view provider,
                                                                   std::string_view account_id) {
  return FindOne("provider = $1 AND account_id = $2",
                 {std::string(provider), std::string(account_id)});
}

Result<std::vector<Identity>> IdentityRepository::ListForAccount(std::string_view account_id) {
  auto rows = store_.Query("SELECT " + std::string(kColumns) +
                               " FROM oidc_identities WHERE account_id = $1 ORDER BY provider",
                           {std::string(account_id)});
  if (!rows.ok()) return std::move(rows).error();
  std::vector<Identity> out;
  for (const store::Row& row : *rows) {
    auto identity = Decode(row);
    if (!identity.ok()) return std::move(identity).error();
    out.push_back(std::move(*identity));
  }
  return out;
}

Result<Identity> IdentityRepository::Link(std::string_view provider, std::string_view subject,
                                          std::string_view account_id) {
  Identity identity;
  identity.id = "oid_" + crypto::RandomToken(16);
  identity.provider = std::string(provider);
  identity.account_id = std::string(account_id);
  identity.created_at = UnixSeconds(clock_);

  auto index = SubjectIndex(provider, subject, keys_.current_version());
  if (!index.ok()) return std::move(index).error();
  auto subject_enc = keys_.Encrypt(Purpose("subject"), subject, Aad(identity.id, "subject"));
  if (!subject_enc.ok()) return std::move(subject_enc).error();
  // The two unique constraints decide races: two callbacks linking the same subject, or
  // two identities of one provider for one account, cannot both succeed.
  auto inserted = store_.Execute(
      "INSERT INTO oidc_identities (id, provider, subject_index, subject_enc, account_id,"
      " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
      {identity.id, identity.provider, *index, *subject_enc, identity.account_id,
       identity.created_at});
  if (!inserted.ok()) {
    if (inserted.error().code() == ErrorCode::kAlreadyExists) {
      return Error(ErrorCode::kAlreadyExists, "this provider identity is already linked");
    }
    return std::move(inserted).error();
  }
  return identity;
}

Status IdentityRepository::StoreTokens(std::string_view identity_id, const ProviderTokens& tokens) {
  const std::int64_t now = UnixSeconds(clock_);
  store::Value access;
  if (!tokens.access_token.empty()) {
    auto sealed = keys_.Encrypt(Purpose("access_token"), tokens.access_token.reveal(),
                                Aad(identity_id, "access_token"));
    if (!sealed.ok()) return std::move(sealed).error();
    access = std::move(*sealed);
  }
  auto updated = store_.Execute(
      "UPDATE oidc_identities SET access_token_enc = $1, access_expires_at = $2,"
      " updated_at = $3 WHERE id = $4",
      {access, tokens.access_expires_at, now, std::string(identity_id)});
  if (!updated.ok()) return std::move(updated).error();
  if (*updated == 0) return NotFound("oidc identity not found");

  if (!tokens.refresh_token.empty()) {
    auto sealed = keys_.Encrypt(Purpose("refresh_token"), tokens.refresh_token.reveal(),
                                Aad(identity_id, "refresh_token"));
    if (!sealed.ok()) return std::move(sealed).error();
    auto kept = store_.Execute("UPDATE oidc_identities SET refresh_token_enc = $1 WHERE id = $2",
                               {*sealed, std::string(identity_id)});
    if (!kept.ok()) return std::move(kept).error();
  }
  return Ok();
}

Status IdentityRepository::RecordLogin(std::string_view identity_id, const ProviderTokens& tokens) {
  GH_RETURN_IF_ERROR(StoreTokens(identity_id, tokens));
  auto updated = store_.Execute("UPDATE oidc_identities SET last_login_at = $1 WHERE id = $2",
                                {UnixSeconds(clock_), std::string(identity_id)});
  if (!updated.ok()) return std::move(updated).error();
  return Ok();
}

Result<ProviderTokens> IdentityRepository::Tokens(std::string_view identity_id) {
  auto rows = store_.Query(
      "SELECT access_token_enc, access_expires_at, refresh_token_enc FROM oidc_identities"
      " WHERE id = $1",
      {std::string(identity_id)});
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return NotFound("oidc identity not found");
  const store::Row& row = (*rows)[0];
  ProviderTokens tokens;
  if (const auto* text = std::get_if<std::string>(&row[0])) {
    auto opened = keys_.Decrypt(Purpose("access_token"), *text, Aad(identity_id, "access_token"));
    if (!opened.ok()) return std::move(opened).error().WithContext("oidc access token");
    tokens.access_token = std::move(*opened);
  }
  tokens.access_expires_at = AsInt(row[1]);
  if (const auto* text = std::get_if<std::string>(&row[2])) {
    auto opened = keys_.Decrypt(Purpose("refresh_token"), *text, Aad(identity_id, "refresh_token"));
    if (!opened.ok()) return std::move(opened).error().WithContext("oidc refresh token");
    tokens.refresh_token = std::move(*opened);
  }
  return tokens;
}

Status IdentityRepository::Unlink(std::string_view provider, std::string_view account_id) {
  auto deleted =
      store_.Execute("DELETE FROM oidc_identities WHERE provider = $1 AND account_id = $2",
                     {std::string(provider), std::string(account_id)});
  if (!deleted.ok()) return std::move(deleted).error();
  if (*deleted == 0) return NotFound("no identity at this provider");
  return Ok();
}

}  // namespace gatehouse::auth
