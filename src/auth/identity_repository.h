#pragma once

// Links between accounts and provider identities: (provider, subject) -> account, one
// identity per provider per account, and the provider's tokens for that identity.
//
// The subject a provider assigns is a stable identifier of a person, so it is personal
// data: it is stored as a keyed blind index for lookups and otherwise only encrypted, like
// the provider's access and refresh tokens (AES-256-GCM from the key ring, each value bound
// to its row and column through the associated data).
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

struct Identity {
  std::string id;  // "oid_" + random; safe to log.
  std::string provider;
  std::string account_id;
  std::int64_t created_at = 0;
  std::int64_t last_login_at = 0;
  bool has_refresh_token = false;
  std::int64_t access_expires_at = 0;  // 0: no access token kept.
};

// What a token endpoint answered; empty members were not in the answer.
struct ProviderTokens {
  Secret access_token;
  Secret refresh_token;
  std::int64_t access_expires_at = 0;  // Unix seconds; 0 when the provider gave no expiry.
};

class IdentityRepository {
 public:
  // `store`, `keys` and `clock` must outlive the repository.
  IdentityRepository(store::Store& store, const crypto::KeyRing& keys, const Clock& clock)
      : store_(store), keys_(keys), clock_(clock) {}

  // The identity of `subject` at `provider`, or nullopt.
  Result<std::optional<Identity>> Find(std::string_view provider, std::string_view subject);
  // The account's identity at `provider`, or nullopt.
  Result<std::optional<Identity>> FindForAccount(std::string_view provider,
                                                 std::string_view account_id);
  Result<std::vector<Identity>> ListForAccount(std::string_view account_id);

  // Links `subject` at `provider` to `account_id`. kAlreadyExists when the subject is
  // linked to an account already, or the account already has an identity at `provider`.
  Result<Identity> Link(std::string_view provider, std::string_view subject,
                        std::string_view account_id);

  // Records a sign-in and what the token endpoint returned. A refresh token, once given,
  // is kept until a new one replaces it (providers often send it on the first consent
  // only). kNotFound for an unknown identity.
  Status RecordLogin(std::string_view identity_id, const ProviderTokens& tokens);

  // The kept tokens of an identity (empty Secrets where none is kept).
  Result<ProviderTokens> Tokens(std::string_view identity_id);
  // Replaces the kept tokens after a refresh (a new refresh token only when one came).
  Status StoreTokens(std::string_view identity_id, const ProviderTokens& tokens);

  // Unlinks; kNotFound when the account has no identity at `provider`.
  Status Unlink(std::string_view provider, std::string_view account_id);

 private:
  Result<std::string> SubjectIndex(std::string_view provider, std::string_view subject,
                                   std::uint32_t version) const;
  Result<std::optional<Identity>> FindOne(std::string_view where, const store::Params& params);

  store::Store& store_;
  const crypto::KeyRing& keys_;
  const Clock& clock_;
};

}  // namespace gatehouse::auth
