#include "auth/session_repository.h"

#include <algorithm>

#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

constexpr std::string_view kSessionColumns =
    "id, account_id, created_at, absolute_expires_at, last_seen_at, revoked_at,"
    " revoke_reason, fingerprint, ip_enc, user_agent, amr";

std::int64_t UnixMillis(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}
constexpr std::size_t kMaxUserAgentBytes = 256;
constexpr std::string_view kIpPurpose = "field:session.ip";
constexpr std::string_view kSuccessorPurpose = "refresh.successor";

std::string IpAad(std::string_view session_id) {
  return "session:" + std::string(session_id) + ":ip";
}

const std::string* AsText(const store::Value& value) {
  return std::get_if<std::string>(&value);
}
std::optional<std::int64_t> AsInt(const store::Value& value) {
  if (const auto* v = std::get_if<std::int64_t>(&value)) return *v;
  return std::nullopt;
}

std::string JoinAmr(const std::vector<std::string>& amr) {
  std::string out;
  for (const std::string& method : amr) {
    if (!out.empty()) out += ',';
    out += method;
  }
  return out;
}

std::vector<std::string> SplitAmr(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// A fresh refresh token: 256 random bits, base64url, with a recognisable prefix so a
// leaked one is easy to spot in a scan.
Secret NewRefreshToken() { return Secret("ghr_" + crypto::RandomToken(32)); }

}  // namespace

std::string RefreshTokenHash(const Secret& token) {
  return crypto::HexEncode(crypto::Sha256(token.reveal()));
}

std::int64_t SessionRepository::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch())
      .count();
}

Result<SessionRepository::Created> SessionRepository::Create(
    const NewSession& input, std::chrono::seconds refresh_lifetime) {
  Created created;
  SessionRecord& s = created.session;
  s.id = "ses_" + crypto::RandomToken(16);
  s.account_id = input.account_id;
  s.created_at = s.last_seen_at = Now();
  s.absolute_expires_at = s.created_at + input.absolute_lifetime.count();
  s.fingerprint = input.fingerprint;
  s.client_ip = input.client_ip;
  s.user_agent = input.user_agent.substr(0, kMaxUserAgentBytes);
  s.amr = input.amr;

  auto ip = keys_.Encrypt(kIpPurpose, s.client_ip, IpAad(s.id));
  if (!ip.ok()) return std::move(ip).error();

  created.refresh_token = NewRefreshToken();
  const std::string family = "fam_" + crypto::RandomToken(16);
  // A refresh token never outlives its session.
  const std::int64_t refresh_expires =
      std::min(s.created_at + refresh_lifetime.count(), s.absolute_expires_at);

  Status status = store_.InTransaction([&](store::Transaction& tx) -> Status {
    GH_RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO sessions (id, account_id, created_at, created_ms, absolute_expires_at,"
        " last_seen_at, fingerprint, ip_enc, user_agent, amr)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        {s.id, s.account_id, s.created_at, UnixMillis(clock_), s.absolute_expires_at,
         s.last_seen_at, s.fingerprint, *ip, s.user_agent, JoinAmr(s.amr)}));
    GH_RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, session_id, account_id,"
        " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        {RefreshTokenHash(created.refresh_token), family, s.id, s.account_id, s.created_at,
         refresh_expires}));
    return Ok();
  });
  if (!status.ok()) return std::move(status).error();
  return created;
}

Result<std::optional<SessionRecord>> SessionRepository::Find(std::string_view session_id) {
  auto rows = store_.Query(
      "SELECT " + std::string(kSessionColumns) + " FROM sessions WHERE id = $1",
      {std::string(session_id)});
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<SessionRecord>();
  auto record = Decode((*rows)[0]);
  if (!record.ok()) return std::move(record).error();
  return std::optional<SessionRecord>(std::move(*record));
}

Result<std::vector<SessionRecord>> SessionRepository::ListActive(std::string_view account_id) {
  auto rows = store_.Query("SELECT " + std::string(kSessionColumns) +
                               " FROM sessions WHERE account_id = $1 AND revoked_at IS NULL"
                               " AND absolute_expires_at > $2 ORDER BY created_ms DESC, id",
                           {std::string(account_id), Now()});
  if (!rows.ok()) return std::move(rows).error();
  std::vector<SessionRecord> out;
  out.reserve(rows->size());
  for (const store::Row& row : *rows) {
    auto record = Decode(row);
    if (!record.ok()) return std::move(record).error();
    out.push_back(std::move(*record));
  }
  return out;
}

Result<std::vector<std::string>> SessionRepository::ListActiveIds(std::string_view account_id) {
  auto rows = store_.Query("SELECT id FROM sessions WHERE account_id = $1 AND revoked_at IS NULL"
                           " AND absolute_expires_at > $2 ORDER BY created_ms DESC, id",
                           {std::string(account_id), Now()});
  if (!rows.ok()) return std::move(rows).error();
  std::vector<std::string> out;
  out.reserve(rows->size());
  for (const store::Row& row : *rows) {
    const std::string* id = row.size() == 1 ? AsText(row[0]) : nullptr;
    if (id == nullptr) return Internal("session row without id");
    out.push_back(*id);
  }
  return out;
}

Result<bool> SessionRepository::Revoke(std::string_view session_id, std::string_view reason) {
  const std::int64_t now = Now();
  bool revoked = false;
  Status status = store_.InTransaction([&](store::Transaction& tx) -> Status {
    auto changed = tx.Execute(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2"
        " WHERE id = $3 AND revoked_at IS NULL AND absolute_expires_at > $1",
        {now, std::string(reason), std::string(session_id)});
    if (!changed.ok()) return std::move(changed).error();
    revoked = *changed > 0;
    GH_RETURN_IF_ERROR(tx.Execute(
        "UPDATE refresh_tokens SET revoked_at = $1, successor_enc = NULL"
        " WHERE session_id = $2 AND revoked_at IS NULL",
        {now, std::string(session_id)}));
    return Ok();
  });
  if (!status.ok()) return std::move(status).error();
  return revoked;
}

Result<std::vector<std::string>> SessionRepository::RevokeAllExcept(
    std::string_view account_id, std::string_view keep_session_id, std::string_view reason) {
  auto sessions = ListActive(account_id);
  if (!sessions.ok()) return std::move(sessions).error();
  std::vector<std::string> revoked;
  for (const SessionRecord& session : *sessions) {
    if (session.id == keep_session_id) continue;
    auto done = Revoke(session.id, reason);
    if (!done.ok()) return std::move(done).error();
    if (*done) revoked.push_back(session.id);
  }
  return revoked;
}

Result<RefreshOutcome> SessionRepository::Refresh(const Secret& token,
                                                  std::chrono::seconds refresh_lifetime,
                                                  std::chrono::seconds grace) {
  const std::string hash = RefreshTokenHash(token);
  const std::int64_t now = Now();
  RefreshOutcome outcome;

  Status status = store_.InTransaction([&](store::Transaction& tx) -> Status {
    outcome = RefreshOutcome();
    auto rows = tx.Query(
        "SELECT r.family_id, r.session_id, r.account_id, r.expires_at, r.revoked_at,"
        " s.revoked_at, s.absolute_expires_at"
        " FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id"
        " WHERE r.token_hash = $1",
        {hash});
    if (!rows.ok()) return std::move(rows).error();
    if (rows->empty()) return Ok();
    const store::Row& row = (*rows)[0];
    outcome.family_id = *AsText(row[0]);
    outcome.session_id = *AsText(row[1]);
    outcome.account_id = *AsText(row[2]);
    const std::int64_t expires_at = AsInt(row[3]).value_or(0);
    const std::int64_t session_expires_at = AsInt(row[6]).value_or(0);
    if (AsInt(row[4]) || AsInt(row[5]) || expires_at <= now || session_expires_at <= now) {
      return Ok();  // kInvalid: a dead token or session changes nothing.
    }

    // Claim the token. Of several concurrent uses exactly one sees a row change: the
    // others wait for its commit (PostgreSQL row lock; SQLite's single writer) and then
    // find used_at set.
    auto claimed = tx.Execute(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        {now, hash});
    if (!claimed.ok()) return std::move(claimed).error();
    if (*claimed == 1) {
      Secret successor = NewRefreshToken();
      const std::string successor_hash = RefreshTokenHash(successor);
      auto sealed = keys_.Encrypt(kSuccessorPurpose, successor.reveal(), hash);
      if (!sealed.ok()) return std::move(sealed).error();
      const std::int64_t successor_expires =
          std::min(now + refresh_lifetime.count(), session_expires_at);
      GH_RETURN_IF_ERROR(tx.Execute(
          "INSERT INTO refresh_tokens (token_hash, family_id, session_id, account_id,"
          " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
          {successor_hash, outcome.family_id, outcome.session_id, outcome.account_id, now,
           successor_expires}));
      GH_RETURN_IF_ERROR(tx.Execute(
          "UPDATE refresh_tokens SET successor_hash = $1, successor_enc = $2"
          " WHERE token_hash = $3",
          {successor_hash, *sealed, hash}));
      // Successors kept for older grace windows are no longer needed.
      GH_RETURN_IF_ERROR(tx.Execute(
          "UPDATE refresh_tokens SET successor_enc = NULL"
          " WHERE family_id = $1 AND used_at < $2 AND successor_enc IS NOT NULL",
          {outcome.family_id, now - grace.count()}));
      outcome.kind = RefreshOutcome::Kind::kRotated;
      outcome.token = std::move(successor);
      return Ok();
    }

    // A replay. Read the winner's outcome, committed by now.
    auto used = tx.Query(
        "SELECT used_at, successor_enc FROM refresh_tokens WHERE token_hash = $1", {hash});
    if (!used.ok()) return std::move(used).error();
    if (used->empty()) return Internal("refresh token row vanished during rotation");
    const std::int64_t used_at = AsInt((*used)[0][0]).value_or(0);
    const std::string* successor_enc = AsText((*used)[0][1]);
    // Strictly inside the window: a grace of 0 means every replay revokes.
    if (now - used_at < grace.count() && successor_enc != nullptr) {
      auto opened = keys_.Decrypt(kSuccessorPurpose, *successor_enc, hash);
      if (!opened.ok()) return std::move(opened).error();
      outcome.kind = RefreshOutcome::Kind::kGraceReplay;
      outcome.token = std::move(*opened);
      return Ok();
    }

    // Reuse after the window: whoever holds this token is not the legitimate client, or
    // the legitimate client lost it. End the whole family and its session.
    GH_RETURN_IF_ERROR(tx.Execute(
        "UPDATE refresh_tokens SET revoked_at = $1, successor_enc = NULL"
        " WHERE family_id = $2 AND revoked_at IS NULL",
        {now, outcome.family_id}));
    GH_RETURN_IF_ERROR(tx.Execute(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = 'refresh_reuse'"
        " WHERE id = $2 AND revoked_at IS NULL",
        {now, outcome.session_id}));
    outcome.kind = RefreshOutcome::Kind::kReuse;
    return Ok();
  });
  if (!status.ok()) return std::move(status).error();
  return outcome;
}

Status SessionRepository::TouchLastSeen(
    const std::vector<std::pair<std::string, std::int64_t>>& seen) {
  if (seen.empty()) return Ok();
  return store_.InTransaction([&](store::Transaction& tx) -> Status {
    for (const auto& [id, when] : seen) {
      auto updated = tx.Execute(
          "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1",
          {when, id});
      if (!updated.ok()) return std::move(updated).error();
    }
    return Ok();
  });
}

Result<std::vector<UnrevokedSession>> SessionRepository::ListUnrevoked() {
  auto rows = store_.Query(
      "SELECT id, account_id, absolute_expires_at, last_seen_at, fingerprint FROM sessions"
      " WHERE revoked_at IS NULL AND absolute_expires_at > $1",
      {Now()});
  if (!rows.ok()) return std::move(rows).error();
  std::vector<UnrevokedSession> out;
  out.reserve(rows->size());
  for (const store::Row& row : *rows) {
    const std::string* id = row.size() == 5 ? AsText(row[0]) : nullptr;
    const std::string* account = id != nullptr ? AsText(row[1]) : nullptr;
    const std::string* fingerprint = account != nullptr ? AsText(row[4]) : nullptr;
    const std::optional<std::int64_t> expires = fingerprint ? AsInt(row[2]) : std::nullopt;
    const std::optional<std::int64_t> seen = expires ? AsInt(row[3]) : std::nullopt;
    if (!seen) return Internal("malformed session row");
    out.push_back({*id, *account, *expires, *seen, *fingerprint});
  }
  return out;
}

Result<SessionRecord> SessionRepository::Decode(const store::Row& row) {
  SessionRecord s;
  const std::string* id = AsText(row[0]);
  const std::string* account = AsText(row[1]);
  if (id == nullptr || account == nullptr) return Internal("session row without id");
  s.id = *id;
  s.account_id = *account;
  s.created_at = AsInt(row[2]).value_or(0);
  s.absolute_expires_at = AsInt(row[3]).value_or(0);
  s.last_seen_at = AsInt(row[4]).value_or(0);
  s.revoked_at = AsInt(row[5]);
  if (const std::string* reason = AsText(row[6])) s.revoke_reason = *reason;
  if (const std::string* fingerprint = AsText(row[7])) s.fingerprint = *fingerprint;
  if (const std::string* ip = AsText(row[8])) {
    auto opened = keys_.Decrypt(kIpPurpose, *ip, IpAad(s.id));
    if (!opened.ok()) return std::move(opened).error().WithContext("session ip");
    s.client_ip = std::string(opened->reveal());
  }
  if (const std::string* ua = AsText(row[9])) s.user_agent = *ua;
  if (const std::string* amr = AsText(row[10])) s.amr = SplitAmr(*amr);
  return s;
}

}  // namespace gatehouse::auth
