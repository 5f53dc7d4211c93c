#include "auth/account_repository.h"

#include <chrono>
#include <vector>

#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

constexpr std::string_view kColumns =
    "id, email_enc, phone_enc, display_name_enc, password_hash, created_at, updated_at,"
    " password_changed_at";

// Key-ring purposes: one derived key per field, so a leak of one field's key exposes
// nothing else.
std::string Purpose(std::string_view column) { return "field:account." + std::string(column); }
constexpr std::string_view kEmailIndexPurpose = "account.email";

std::string Aad(std::string_view id, std::string_view column) {
  return "account:" + std::string(id) + ":" + std::string(column);
}

std::int64_t UnixSeconds(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch())
      .count();
}

const std::string* AsText(const store::Value& value) {
  return std::get_if<std::string>(&value);
}

std::int64_t AsInt(const store::Value& value) {
  const auto* v = std::get_if<std::int64_t>(&value);
  return v == nullptr ? 0 : *v;
}

}  // namespace

Result<std::string> AccountRepository::Seal(std::string_view id, std::string_view column,
                                            std::string_view plaintext) {
  return keys_.Encrypt(Purpose(column), plaintext, Aad(id, column));
}

Result<std::optional<std::string>> AccountRepository::OpenOptional(std::string_view id,
                                                                   std::string_view column,
                                                                   const store::Value& value) {
  const std::string* text = AsText(value);
  if (text == nullptr) return std::optional<std::string>();
  auto opened = keys_.Decrypt(Purpose(column), *text, Aad(id, column));
  if (!opened.ok()) {
    return std::move(opened).error().WithContext("account " + std::string(column));
  }
  return std::optional<std::string>(std::string(opened->reveal()));
}

Result<Account> AccountRepository::Create(const NewAccount& input) {
  Account account;
  account.id = "acc_" + crypto::RandomToken(16);
  account.email = input.email;
  account.display_name = input.display_name;
  account.phone = input.phone;
  account.password_hash = input.password_hash;
  account.created_at = account.updated_at = UnixSeconds(clock_);
  account.password_changed_at = account.created_at;

  auto index = keys_.BlindIndex(kEmailIndexPurpose, input.email);
  if (!index.ok()) return std::move(index).error();
  auto email = Seal(account.id, "email", input.email);
  if (!email.ok()) return std::move(email).error();

  store::Value phone;
  if (input.phone) {
    auto sealed = Seal(account.id, "phone", *input.phone);
    if (!sealed.ok()) return std::move(sealed).error();
    phone = std::move(*sealed);
  }
  store::Value display_name;
  if (input.display_name) {
    auto sealed = Seal(account.id, "display_name", *input.display_name);
    if (!sealed.ok()) return std::move(sealed).error();
    display_name = std::move(*sealed);
  }
  store::Value password_hash;
  if (!input.password_hash.empty()) password_hash = input.password_hash;

  // The unique index on email_index makes a taken email fail atomically, even when two
  // registrations race.
  auto inserted = store_.Execute(
      "INSERT INTO accounts (id, email_index, email_enc, phone_enc, display_name_enc,"
      " password_hash, created_at, updated_at, password_changed_at)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
      {account.id, *index, *email, phone, display_name, password_hash, account.created_at,
       account.updated_at, account.password_changed_at});
  if (!inserted.ok()) {
    if (inserted.error().code() == ErrorCode::kAlreadyExists) {
      return Error(ErrorCode::kAlreadyExists, "an account with this email already exists");
    }
    return std::move(inserted).error();
  }
  return account;
}

Result<std::optional<Account>> AccountRepository::FindByEmail(std::string_view email) {
  // One index value per key version: an address indexed before a rotation is still found.
  for (std::uint32_t version : keys_.versions()) {
    auto index = keys_.BlindIndex(kEmailIndexPurpose, email, version);
    if (!index.ok()) return std::move(index).error();
    auto rows = store_.Query(
        "SELECT " + std::string(kColumns) + " FROM accounts WHERE email_index = $1", {*index});
    if (!rows.ok()) return std::move(rows).error();
    if (rows->empty()) continue;
    auto account = Decode((*rows)[0]);
    if (!account.ok()) return std::move(account).error();
    return std::optional<Account>(std::move(*account));
  }
  return std::optional<Account>();
}

Result<std::optional<Account>> AccountRepository::FindById(std::string_view id) {
  auto rows = store_.Query("SELECT " + std::string(kColumns) + " FROM accounts WHERE id = $1",
                           {std::string(id)});
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<Account>();
  auto account = Decode((*rows)[0]);
  if (!account.ok()) return std::move(account).error();
  return std::optional<Account>(std::move(*account));
}

Status AccountRepository::UpdatePasswordHash(std::string_view id, std::string_view password_hash,
                                             bool changed_by_user) {
  const std::int64_t now = UnixSeconds(clock_);
  auto updated =
      changed_by_user
          ? store_.Execute("UPDATE accounts SET password_hash = $1, updated_at = $2,"
                           " password_changed_at = $2 WHERE id = $3",
                           {std::string(password_hash), now, std::string(id)})
          : store_.Execute("UPDATE accounts SET password_hash = $1, updated_at = $2"
                           " WHERE id = $3",
                           {std::string(password_hash), now, std::string(id)});
  if (!updated.ok()) return std::move(updated).error();
  if (*updated == 0) return NotFound("account not found");
  return Ok();
}

Result<Account> AccountRepository::Decode(const store::Row& row) {
  Account account;
  const std::string* id = AsText(row[0]);
  if (id == nullptr) return Internal("account row without id");
  account.id = *id;

  auto email = OpenOptional(account.id, "email", row[1]);
  if (!email.ok()) return std::move(email).error();
  if (!*email) return Internal("account row without email");
  account.email = std::move(**email);

  auto phone = OpenOptional(account.id, "phone", row[2]);
  if (!phone.ok()) return std::move(phone).error();
  account.phone = std::move(*phone);
  auto display_name = OpenOptional(account.id, "display_name", row[3]);
  if (!display_name.ok()) return std::move(display_name).error();
  account.display_name = std::move(*display_name);

  if (const std::string* hash = AsText(row[4])) account.password_hash = *hash;
  account.created_at = AsInt(row[5]);
  account.updated_at = AsInt(row[6]);
  account.password_changed_at = AsInt(row[7]);
  return account;
}

}  // namespace gatehouse::auth
