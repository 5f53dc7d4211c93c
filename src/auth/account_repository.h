#pragma once

// Durable accounts. Personal data (email, phone, display name) is stored only encrypted
// with AES-256-GCM from the key ring, each value bound to its row and column through the
// associated data ("account:<id>:email"), so a ciphertext copied to another row does not
// open. Lookup by email goes through an HMAC blind index of the normalised address; every
// key version in the ring is tried, so lookups keep working during a key rotation until
// the index column has been rewritten.
//
// Calls block on the store: run them on the worker pool, never on an I/O thread.
// Thread-safe: the repository holds no mutable state of its own.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"
#include "crypto/keyring.h"
#include "store/store.h"

namespace gatehouse::auth {

struct NewAccount {
  std::string email;  // Normalised (auth/email.h); the uniqueness key.
  std::string password_hash;  // argon2id encoded; empty for provider-only accounts.
  std::optional<std::string> display_name;
  std::optional<std::string> phone;
};

struct Account {
  std::string id;  // Opaque, random, safe to log.
  std::string email;
  std::optional<std::string> display_name;
  std::optional<std::string> phone;
  std::string password_hash;
  std::int64_t created_at = 0;  // Unix seconds.
  std::int64_t updated_at = 0;
  std::int64_t password_changed_at = 0;
};

class AccountRepository {
 public:
  // `store`, `keys` and `clock` must outlive the repository.
  AccountRepository(store::Store& store, const crypto::KeyRing& keys, const Clock& clock)
      : store_(store), keys_(keys), clock_(clock) {}

  // Creates an account with a fresh id. kAlreadyExists when the email is taken.
  Result<Account> Create(const NewAccount& account);

  // nullopt when no account has this (normalised) email.
  Result<std::optional<Account>> FindByEmail(std::string_view email);
  Result<std::optional<Account>> FindById(std::string_view id);

  // Replaces the password hash. `changed_by_user` also records password_changed_at (a
  // rehash on login with stronger parameters is not a password change).
  // kNotFound when the account does not exist.
  Status UpdatePasswordHash(std::string_view id, std::string_view password_hash,
                            bool changed_by_user);

 private:
  Result<Account> Decode(const store::Row& row);
  Result<std::string> Seal(std::string_view id, std::string_view column,
                           std::string_view plaintext);
  Result<std::optional<std::string>> OpenOptional(std::string_view id, std::string_view column,
                                                  const store::Value& value);

  store::Store& store_;
  const crypto::KeyRing& keys_;
  const Clock& clock_;
};

}  // namespace gatehouse::auth
