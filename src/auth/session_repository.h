#pragma once

// Durable sessions and their refresh tokens.
//
// A session is one sign-in of one account on one device. Its refresh tokens form a
// family: each use of a refresh token marks it used and creates its successor in the
// same transaction, so of several concurrent uses exactly one wins. A token presented
// again after it was used is a replay (the token was stolen, or a client raced itself):
// within a short grace window the same successor is handed out again, so a client that
// sent two refreshes at once is not signed out; after it, the whole family and its
// session are revoked.
//
// Refresh tokens are 256-bit random values stored only as SHA-256 hashes (they are high
// entropy, so an unsalted fast hash is enough and lets the lookup be an index hit). The
// successor's text is kept encrypted for the grace window only, bound to the hash of the
// token it replaces.
//
// Calls block on the store: run them on the worker pool. Thread-safe.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/keyring.h"
#include "store/store.h"

namespace gatehouse::auth {

struct SessionRecord {
  std::string id;  // "ses_..." random, safe to log.
  std::string account_id;
  std::int64_t created_at = 0;           // Unix seconds.
  std::int64_t absolute_expires_at = 0;  // The session ends then, however active.
  std::int64_t last_seen_at = 0;         // Written lazily; the live value is in the state.
  std::optional<std::int64_t> revoked_at;
  std::string revoke_reason;
  std::string fingerprint;  // Hash of the device traits chosen by configuration.
  std::string client_ip;    // Decrypted; show it masked.
  std::string user_agent;   // Capped at 256 bytes.
  std::vector<std::string> amr;  // Authentication methods, RFC 8176 values ("pwd", "otp").
};

// What the live state holds of a session, as the database remembers it.
struct UnrevokedSession {
  std::string id;
  std::string account_id;
  std::int64_t absolute_expires_at = 0;
  std::int64_t last_seen_at = 0;
  std::string fingerprint;
};

struct NewSession {
  std::string account_id;
  std::chrono::seconds absolute_lifetime{8 * 3600};
  std::string fingerprint;
  std::string client_ip;
  std::string user_agent;
  std::vector<std::string> amr;
};

// What a refresh attempt found.
struct RefreshOutcome {
  enum class Kind {
    kRotated,      // `token` is the new refresh token.
    kGraceReplay,  // Replay within the grace window: `token` is the same successor.
    kReuse,        // Replay after the window: the family and the session were revoked.
    kInvalid,      // Unknown, expired or revoked token; nothing changed.
  };
  Kind kind = Kind::kInvalid;
  Secret token;
  std::string session_id;
  std::string account_id;
  std::string family_id;
};

class SessionRepository {
 public:
  // `store`, `keys` and `clock` must outlive the repository.
  SessionRepository(store::Store& store, const crypto::KeyRing& keys, const Clock& clock)
      : store_(store), keys_(keys), clock_(clock) {}

  // Creates a session and the first refresh token of its family.
  struct Created {
    SessionRecord session;
    Secret refresh_token;
  };
  Result<Created> Create(const NewSession& session, std::chrono::seconds refresh_lifetime);

  Result<std::optional<SessionRecord>> Find(std::string_view session_id);

  // Live (not revoked, not past their absolute expiry) sessions of an account, newest first.
  Result<std::vector<SessionRecord>> ListActive(std::string_view account_id);
  // Their ids only, in the same order: what the session limit needs, without reading or
  // decrypting the rest of every row.
  Result<std::vector<std::string>> ListActiveIds(std::string_view account_id);

  // Revokes a session and every refresh token of it. Returns false when it was not
  // active (already revoked, expired or unknown).
  Result<bool> Revoke(std::string_view session_id, std::string_view reason);

  // Revokes every active session of the account except `keep_session_id` (may be empty);
  // returns the ids revoked.
  Result<std::vector<std::string>> RevokeAllExcept(std::string_view account_id,
                                                   std::string_view keep_session_id,
                                                   std::string_view reason);

  // Uses a refresh token (see the header comment).
  Result<RefreshOutcome> Refresh(const Secret& token, std::chrono::seconds refresh_lifetime,
                                 std::chrono::seconds grace);

  // Records the activity of many sessions durably, in one transaction (the live idle clock
  // is in the shared state). Never moves last_seen_at backwards.
  Status TouchLastSeen(const std::vector<std::pair<std::string, std::int64_t>>& seen);

  // Every session neither revoked nor past its absolute expiry, of all accounts.
  Result<std::vector<UnrevokedSession>> ListUnrevoked();

 private:
  Result<SessionRecord> Decode(const store::Row& row);
  std::int64_t Now() const;

  store::Store& store_;
  const crypto::KeyRing& keys_;
  const Clock& clock_;
};

// SHA-256 of a refresh token, hex: the only form a refresh token is stored in.
std::string RefreshTokenHash(const Secret& token);

}  // namespace gatehouse::auth
