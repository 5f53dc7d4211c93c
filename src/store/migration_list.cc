// The schema, version by version. Append new migrations at the end with the next
// version number; never edit or reorder one that has shipped, since databases in
// the field record it as applied. Prefer portable SQL in `statements`: BIGINT,
// DOUBLE PRECISION, TEXT, and for bytes BLOB (SQLite) / BYTEA (PostgreSQL) through
// the per-backend lists. Timestamps are BIGINT Unix seconds.

#include "store/migrations.h"

namespace gatehouse::store {

std::span<const Migration> BuiltinMigrations() {
  static const std::vector<Migration> kMigrations = {
      {
          .version = 1,
          .name = "gatehouse_meta",
          // Instance metadata (instance id, schema-independent settings).
          .statements = {"CREATE TABLE gatehouse_meta ("
                         " key TEXT PRIMARY KEY,"
                         " value TEXT NOT NULL,"
                         " updated_at BIGINT NOT NULL)"},
      },
      {
          .version = 2,
          .name = "accounts",
          // Personal data only as envelopes (email_enc, phone_enc, display_name_enc);
          // email_index is an HMAC blind index of the normalised email, unique.
          // password_hash is NULL for accounts that sign in only through a provider.
          .statements = {"CREATE TABLE accounts ("
                         " id TEXT PRIMARY KEY,"
                         " email_index TEXT NOT NULL UNIQUE,"
                         " email_enc TEXT NOT NULL,"
                         " phone_enc TEXT,"
                         " display_name_enc TEXT,"
                         " password_hash TEXT,"
                         " status TEXT NOT NULL DEFAULT 'active',"
                         " created_at BIGINT NOT NULL,"
                         " updated_at BIGINT NOT NULL,"
                         " password_changed_at BIGINT)"},
      },
      {
          .version = 3,
          .name = "sessions_and_refresh_tokens",
          // ip_enc is an envelope (personal data). A refresh token is stored only as its
          // SHA-256; successor_enc holds the successor's text encrypted, for the replay
          // grace window only.
          .statements =
              {"CREATE TABLE sessions ("
               " id TEXT PRIMARY KEY,"
               " account_id TEXT NOT NULL,"
               " created_at BIGINT NOT NULL,"
               " created_ms BIGINT NOT NULL,"
               " absolute_expires_at BIGINT NOT NULL,"
               " last_seen_at BIGINT NOT NULL,"
               " revoked_at BIGINT,"
               " revoke_reason TEXT,"
               " fingerprint TEXT NOT NULL,"
               " ip_enc TEXT,"
               " user_agent TEXT NOT NULL,"
               " amr TEXT NOT NULL)",
               "CREATE INDEX sessions_by_account ON sessions (account_id, created_ms)",
               "CREATE TABLE refresh_tokens ("
               " token_hash TEXT PRIMARY KEY,"
               " family_id TEXT NOT NULL,"
               " session_id TEXT NOT NULL,"
               " account_id TEXT NOT NULL,"
               " created_at BIGINT NOT NULL,"
               " expires_at BIGINT NOT NULL,"
               " used_at BIGINT,"
               " revoked_at BIGINT,"
               " successor_hash TEXT,"
               " successor_enc TEXT)",
               "CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id)",
               "CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id)"},
      },
      {
          .version = 4,
          .name = "ip_rules_and_protect_blocks",
          // Runtime allow/deny networks (protect/protect_repository.h): cidr is canonical
          // text, so one network has one spelling and the unique pair means "listed once".
          // protect_blocks indexes the automatic locks and blocks that live in the shared
          // state with TTLs, for admin views; subject is the IP or an opaque account key,
          // label the IP or a masked email. Times in Unix milliseconds.
          .statements =
              {"CREATE TABLE ip_rules ("
               " id TEXT PRIMARY KEY,"
               " cidr TEXT NOT NULL,"
               " action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),"
               " note TEXT NOT NULL DEFAULT '',"
               " created_ms BIGINT NOT NULL,"
               " created_by TEXT NOT NULL,"
               " UNIQUE (cidr, action))",
               "CREATE TABLE protect_blocks ("
               " id TEXT PRIMARY KEY,"
               " kind TEXT NOT NULL CHECK (kind IN ('account', 'ip')),"
               " subject TEXT NOT NULL,"
               " label TEXT NOT NULL,"
               " until_ms BIGINT NOT NULL,"
               " created_ms BIGINT NOT NULL,"
               " lifted_ms BIGINT,"
               " lifted_by TEXT)",
               "CREATE INDEX protect_blocks_by_subject ON protect_blocks (kind, subject, until_ms)",
               "CREATE INDEX protect_blocks_by_until ON protect_blocks (until_ms)"},
      },
      {
          .version = 5,
          .name = "mfa_factors_and_backup_codes",
          // Second factors (auth/mfa_repository.h). secret_enc is an envelope bound to the
          // row (id, account, kind): the TOTP secret, or the phone number for SMS. One row
          // per account and kind, pending until confirmed with a code. Backup codes are
          // stored only as SHA-256 hashes; used_at marks a spent one.
          .statements =
              {"CREATE TABLE mfa_factors ("
               " id TEXT PRIMARY KEY,"
               " account_id TEXT NOT NULL,"
               " kind TEXT NOT NULL CHECK (kind IN ('totp', 'sms')),"
               " state TEXT NOT NULL CHECK (state IN ('pending', 'active')),"
               " secret_enc TEXT NOT NULL,"
               " created_at BIGINT NOT NULL,"
               " confirmed_at BIGINT,"
               " last_used_at BIGINT,"
               " UNIQUE (account_id, kind))",
               "CREATE TABLE mfa_backup_codes ("
               " code_hash TEXT PRIMARY KEY,"
               " account_id TEXT NOT NULL,"
               " created_at BIGINT NOT NULL,"
               " used_at BIGINT)",
               "CREATE INDEX mfa_backup_codes_by_account ON mfa_backup_codes (account_id)"},
      },
      {
          .version = 6,
          .name = "service_accounts_and_api_keys",
          // A service account belongs to the user who made it (owner_account_id) or, when
          // an admin made it, to the operators (NULL). A key belongs to a user or a service
          // account (owner_kind, owner_id). key_hash is the base64url HMAC-SHA256 of the
          // whole key under the key ring's "api-key-hash" key of version hash_version: the
          // key itself is never stored. prefix is the display prefix (auth/api_key_format.h).
          // scopes are space-separated; rate_limit is "" or "LIMIT/WINDOW". A rotated key
          // has rotated_to and grace_until (it works until the earlier of grace_until and
          // expires_at). last_ip is the masked network (/24, /48) of the last client, never
          // the address. expiry_notice_day is the Unix day of the last "expiring soon"
          // event, so instances report each key once a day between them.
          .statements =
              {"CREATE TABLE service_accounts ("
               " id TEXT PRIMARY KEY,"
               " name TEXT NOT NULL,"
               " description TEXT NOT NULL DEFAULT '',"
               " owner_account_id TEXT,"
               " created_by TEXT NOT NULL,"
               " created_at BIGINT NOT NULL,"
               " disabled_at BIGINT)",
               "CREATE INDEX service_accounts_by_owner ON service_accounts (owner_account_id)",
               "CREATE TABLE api_keys ("
               " id TEXT PRIMARY KEY,"
               " key_hash TEXT NOT NULL UNIQUE,"
               " hash_version BIGINT NOT NULL,"
               " prefix TEXT NOT NULL,"
               " name TEXT NOT NULL,"
               " owner_kind TEXT NOT NULL CHECK (owner_kind IN ('user', 'service_account')),"
               " owner_id TEXT NOT NULL,"
               " scopes TEXT NOT NULL,"
               " rate_limit TEXT NOT NULL DEFAULT '',"
               " created_by TEXT NOT NULL,"
               " created_at BIGINT NOT NULL,"
               " expires_at BIGINT NOT NULL,"
               " revoked_at BIGINT,"
               " revoke_reason TEXT,"
               " rotated_from TEXT,"
               " rotated_to TEXT,"
               " grace_until BIGINT,"
               " usage_count BIGINT NOT NULL DEFAULT 0,"
               " last_used_at BIGINT,"
               " last_ip TEXT,"
               " expiry_notice_day BIGINT)",
               "CREATE INDEX api_keys_by_owner ON api_keys (owner_kind, owner_id)",
               "CREATE INDEX api_keys_by_expiry ON api_keys (expires_at)"},
      },
      {
          .version = 7,
          .name = "oidc_identities",
          // Provider identities linked to accounts (auth/identity_repository.h). The
          // provider's subject is personal data: subject_index is its HMAC blind index
          // (with the provider id), subject_enc and the provider's tokens are envelopes.
          // Times are Unix seconds.
          .statements =
              {"CREATE TABLE oidc_identities ("
               " id TEXT PRIMARY KEY,"
               " provider TEXT NOT NULL,"
               " subject_index TEXT NOT NULL,"
               " subject_enc TEXT NOT NULL,"
               " account_id TEXT NOT NULL,"
               " access_token_enc TEXT,"
               " access_expires_at BIGINT NOT NULL DEFAULT 0,"
               " refresh_token_enc TEXT,"
               " created_at BIGINT NOT NULL,"
               " updated_at BIGINT NOT NULL,"
               " last_login_at BIGINT NOT NULL DEFAULT 0,"
               " UNIQUE (provider, subject_index),"
               " UNIQUE (provider, account_id))",
               "CREATE INDEX oidc_identities_by_account ON oidc_identities (account_id)"},
      },
  };
  return kMigrations;
}

}  // namespace gatehouse::store
