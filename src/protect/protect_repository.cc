#include "protect/protect_repository.h"

#include <algorithm>
#include <utility>

#include "core/mask.h"
#include "crypto/random.h"

namespace gatehouse::protect {
namespace {

constexpr std::string_view kRuleColumns = "id, cidr, action, note, created_ms, created_by";
constexpr std::string_view kBlockColumns =
    "id, kind, subject, label, until_ms, created_ms, lifted_ms, lifted_by";

const std::string* AsText(const store::Value& value) {
  return std::get_if<std::string>(&value);
}
std::optional<std::int64_t> AsInt(const store::Value& value) {
  if (const auto* v = std::get_if<std::int64_t>(&value)) return *v;
  return std::nullopt;
}

// The code point of the well-formed sequence text[pos, pos + length).
char32_t DecodeUtf8(std::string_view text, std::size_t pos, std::size_t length) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  if (length == 1) return byte(0);
  char32_t cp = byte(0) & (0xFF >> (length + 1));
  for (std::size_t i = 1; i < length; ++i) cp = (cp << 6) | (byte(i) & 0x3F);
  return cp;
}

// Characters that must not reach an admin view from stored free text: C0 and C1 controls
// and DEL (line breaks and escapes forge lines in logs and terminals), and the
// bidirectional formatting characters, which can make "allow" text read as something else
// (the "Trojan Source" trick).
bool IsForbiddenCodePoint(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return true;
  if (cp == 0x061C || cp == 0x200E || cp == 0x200F) return true;
  if (cp >= 0x202A && cp <= 0x202E) return true;
  return cp >= 0x2066 && cp <= 0x2069;
}

// Checks free text an admin or a feature hands in. `max_chars` counts code points when
// `count_chars`, bytes otherwise. The detail names the field, never the value.
Status CheckText(std::string_view text, std::string_view field, std::size_t max,
                 bool count_chars, bool may_be_empty) {
  const auto invalid = [&](std::string_view why) {
    return InvalidArgument("invalid " + std::string(field), std::string(field) + ": " +
                                                               std::string(why));
  };
  if (text.empty() && !may_be_empty) return invalid("must not be empty");
  if (!count_chars && text.size() > max) {
    return invalid("longer than " + std::to_string(max) + " bytes");
  }
  std::size_t chars = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t length = core::Utf8SequenceLength(text, pos);
    if (length == 0) return invalid("not valid UTF-8");
    if (IsForbiddenCodePoint(DecodeUtf8(text, pos, length))) {
      return invalid("holds a control or bidirectional formatting character");
    }
    pos += length;
    ++chars;
  }
  if (count_chars && chars > max) {
    return invalid("longer than " + std::to_string(max) + " characters");
  }
  return Ok();
}

Error CorruptRow(std::string_view table, const store::Row& row) {
  const std::string* id = row.empty() ? nullptr : AsText(row[0]);
  // The id is random and safe to log; the rest of the row may be personal data.
  return Error(ErrorCode::kDataLoss, "stored data is damaged",
               "protect: unreadable row in " + std::string(table) +
                   (id != nullptr ? " (id " + *id + ")" : std::string()));
}

Result<IpRuleRecord> DecodeRule(const store::Row& row) {
  if (row.size() != 6) return CorruptRow("ip_rules", row);
  const std::string* id = AsText(row[0]);
  const std::string* cidr_text = AsText(row[1]);
  const std::string* action_text = AsText(row[2]);
  const std::string* note = AsText(row[3]);
  const std::optional<std::int64_t> created_ms = AsInt(row[4]);
  const std::string* created_by = AsText(row[5]);
  if (!id || !cidr_text || !action_text || !note || !created_ms || !created_by) {
    return CorruptRow("ip_rules", row);
  }
  auto cidr = Cidr::Parse(*cidr_text);
  const std::optional<IpRuleAction> action = ParseIpRuleAction(*action_text);
  // Only the canonical text is ever written; anything else was edited by hand, and guessing
  // what it meant could allow or deny a network nobody chose.
  if (!cidr.ok() || ToString(*cidr) != *cidr_text || !action) return CorruptRow("ip_rules", row);
  return IpRuleRecord{
      .id = *id,
      .rule = IpRule{*cidr, *action},
      .note = *note,
      .created_ms = *created_ms,
      .created_by = *created_by,
  };
}

Result<BlockRecord> DecodeBlock(const store::Row& row) {
  if (row.size() != 8) return CorruptRow("protect_blocks", row);
  const std::string* id = AsText(row[0]);
  const std::string* kind_text = AsText(row[1]);
  const std::string* subject = AsText(row[2]);
  const std::string* label = AsText(row[3]);
  const std::optional<std::int64_t> until_ms = AsInt(row[4]);
  const std::optional<std::int64_t> created_ms = AsInt(row[5]);
  const std::optional<BlockKind> kind =
      kind_text != nullptr ? ParseBlockKind(*kind_text) : std::nullopt;
  if (!id || !kind || !subject || !label || !until_ms || !created_ms) {
    return CorruptRow("protect_blocks", row);
  }
  BlockRecord record{
      .id = *id,
      .kind = *kind,
      .subject = *subject,
      .label = *label,
      .until_ms = *until_ms,
      .created_ms = *created_ms,
  };
  if (!store::IsNull(row[6])) {
    record.lifted_ms = AsInt(row[6]);
    const std::string* by = AsText(row[7]);
    if (!record.lifted_ms || by == nullptr) return CorruptRow("protect_blocks", row);
    record.lifted_by = *by;
  }
  return record;
}

Result<std::vector<BlockRecord>> DecodeBlocks(const store::Rows& rows) {
  std::vector<BlockRecord> out;
  out.reserve(rows.size());
  for (const store::Row& row : rows) {
    auto record = DecodeBlock(row);
    if (!record.ok()) return std::move(record).error();
    out.push_back(std::move(*record));
  }
  return out;
}

// The subject as stored: IP addresses canonical, so every spelling of one address (an
// IPv4-mapped IPv6 form, upper-case hex) names the same row.
Result<std::string> CanonicalSubject(BlockKind kind, std::string_view subject) {
  if (kind == BlockKind::kIp) {
    const std::optional<IpAddress> address = ParseIp(subject);
    if (!address) return InvalidArgument("invalid subject", "block subject: not an IP address");
    return ToString(*address);
  }
  GH_RETURN_IF_ERROR(CheckText(subject, "block subject", kMaxBlockSubjectBytes,
                               /*count_chars=*/false, /*may_be_empty=*/false));
  return std::string(subject);
}

}  // namespace

std::string_view BlockKindName(BlockKind kind) {
  switch (kind) {
    case BlockKind::kAccount:
      return "account";
    case BlockKind::kIp:
      return "ip";
  }
  return "ip";
}

std::optional<BlockKind> ParseBlockKind(std::string_view text) {
  if (text == "account") return BlockKind::kAccount;
  if (text == "ip") return BlockKind::kIp;
  return std::nullopt;
}

std::int64_t ProtectRepository::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

// ---- Runtime IP rules ----------------------------------------------------------------------

Result<IpRuleRecord> ProtectRepository::AddRule(const NewIpRule& input) {
  auto cidr = Cidr::Parse(input.cidr);
  if (!cidr.ok()) return std::move(cidr).error();
  // See the header: one request must not be able to deny everyone or exempt everyone.
  if (cidr->prefix_length() == 0) {
    return InvalidArgument("a runtime rule cannot cover every address",
                           "ip rule: prefix length 0 refused for runtime rules");
  }
  GH_RETURN_IF_ERROR(CheckText(input.note, "note", kMaxIpRuleNoteChars, /*count_chars=*/true,
                               /*may_be_empty=*/true));
  GH_RETURN_IF_ERROR(CheckText(input.created_by, "created_by", kMaxActorBytes,
                               /*count_chars=*/false, /*may_be_empty=*/false));

  IpRuleRecord record{
      .id = "ipr_" + crypto::RandomToken(16),
      .rule = IpRule{*cidr, input.action},
      .note = input.note,
      .created_ms = NowMs(),
      .created_by = input.created_by,
  };
  Status status = store_.InTransaction([&](store::Transaction& tx) -> Status {
    auto count = tx.Query("SELECT COUNT(*) FROM ip_rules");
    if (!count.ok()) return std::move(count).error();
    if (count->empty() || AsInt((*count)[0][0]).value_or(0) >= kMaxRuntimeIpRules) {
      return Error(ErrorCode::kResourceExhausted, "too many IP rules",
                   "ip rule: the cap of " + std::to_string(kMaxRuntimeIpRules) +
                       " runtime rules is reached");
    }
    GH_RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO ip_rules (id, cidr, action, note, created_ms, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        {record.id, ToString(record.rule.cidr), std::string(IpRuleActionName(input.action)),
         record.note, record.created_ms, record.created_by}));
    return Ok();
  });
  if (!status.ok()) return std::move(status).error();
  return record;
}

Result<std::optional<IpRuleRecord>> ProtectRepository::RemoveRule(std::string_view id) {
  auto rows = store_.Query(
      "DELETE FROM ip_rules WHERE id = $1 RETURNING " + std::string(kRuleColumns),
      {std::string(id)});
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<IpRuleRecord>();
  auto record = DecodeRule((*rows)[0]);
  if (!record.ok()) return std::move(record).error();
  return std::optional<IpRuleRecord>(std::move(*record));
}

Result<std::vector<IpRuleRecord>> ProtectRepository::ListRules() {
  auto rows = store_.Query("SELECT " + std::string(kRuleColumns) +
                           " FROM ip_rules ORDER BY created_ms, id");
  if (!rows.ok()) return std::move(rows).error();
  std::vector<IpRuleRecord> out;
  out.reserve(rows->size());
  for (const store::Row& row : *rows) {
    auto record = DecodeRule(row);
    if (!record.ok()) return std::move(record).error();
    out.push_back(std::move(*record));
  }
  return out;
}

// ---- Block registry ------------------------------------------------------------------------

Result<BlockRecord> ProtectRepository::RecordBlock(const NewBlock& input) {
  auto subject = CanonicalSubject(input.kind, input.subject);
  if (!subject.ok()) return std::move(subject).error();
  std::string label = input.label;
  if (input.kind == BlockKind::kIp && label.empty()) label = *subject;
  GH_RETURN_IF_ERROR(CheckText(label, "block label", kMaxBlockLabelBytes, /*count_chars=*/false,
                               /*may_be_empty=*/false));

  const std::int64_t now = NowMs();
  const std::string kind(BlockKindName(input.kind));
  BlockRecord record;
  Status status = store_.InTransaction([&](store::Transaction& tx) -> Status {
    // A block triggered again while active extends the row already listed.
    auto existing = tx.Query("SELECT " + std::string(kBlockColumns) +
                                 " FROM protect_blocks WHERE kind = $1 AND subject = $2"
                                 " AND lifted_ms IS NULL AND until_ms > $3"
                                 " ORDER BY created_ms DESC, id LIMIT 1",
                             {kind, *subject, now});
    if (!existing.ok()) return std::move(existing).error();
    if (!existing->empty()) {
      auto found = DecodeBlock((*existing)[0]);
      if (!found.ok()) return std::move(found).error();
      record = std::move(*found);
      record.until_ms = std::max(record.until_ms, input.until_ms);
      GH_RETURN_IF_ERROR(tx.Execute("UPDATE protect_blocks SET until_ms = $1 WHERE id = $2",
                                    {record.until_ms, record.id}));
      return Ok();
    }

    record = BlockRecord{
        .id = "blk_" + crypto::RandomToken(16),
        .kind = input.kind,
        .subject = *subject,
        .label = label,
        .until_ms = input.until_ms,
        .created_ms = now,
    };
    GH_RETURN_IF_ERROR(tx.Execute(
        "INSERT INTO protect_blocks (id, kind, subject, label, until_ms, created_ms)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        {record.id, kind, record.subject, record.label, record.until_ms, record.created_ms}));
    return Ok();
  });
  if (!status.ok()) return std::move(status).error();
  return record;
}

Result<std::vector<BlockRecord>> ProtectRepository::ListActiveBlocks(
    std::optional<BlockKind> kind, std::size_t limit) {
  const std::int64_t now = NowMs();
  const auto capped = static_cast<std::int64_t>(
      std::min<std::size_t>(limit, static_cast<std::size_t>(INT64_MAX)));
  const std::string select = "SELECT " + std::string(kBlockColumns) + " FROM protect_blocks";
  auto rows = kind ? store_.Query(select +
                                      " WHERE kind = $1 AND lifted_ms IS NULL AND until_ms > $2"
                                      " ORDER BY created_ms DESC, id LIMIT $3",
                                  {std::string(BlockKindName(*kind)), now, capped})
                   : store_.Query(select +
                                      " WHERE lifted_ms IS NULL AND until_ms > $1"
                                      " ORDER BY created_ms DESC, id LIMIT $2",
                                  {now, capped});
  if (!rows.ok()) return std::move(rows).error();
  return DecodeBlocks(*rows);
}

Result<std::optional<BlockRecord>> ProtectRepository::FindActiveBlock(BlockKind kind,
                                                                      std::string_view subject) {
  auto canonical = CanonicalSubject(kind, subject);
  if (!canonical.ok()) return std::move(canonical).error();
  auto rows = store_.Query("SELECT " + std::string(kBlockColumns) +
                               " FROM protect_blocks WHERE kind = $1 AND subject = $2"
                               " AND lifted_ms IS NULL AND until_ms > $3"
                               " ORDER BY until_ms DESC, id LIMIT 1",
                           {std::string(BlockKindName(kind)), *canonical, NowMs()});
  if (!rows.ok()) return std::move(rows).error();
  if (rows->empty()) return std::optional<BlockRecord>();
  auto record = DecodeBlock((*rows)[0]);
  if (!record.ok()) return std::move(record).error();
  return std::optional<BlockRecord>(std::move(*record));
}

Result<std::optional<BlockRecord>> ProtectRepository::MarkLifted(std::string_view id,
                                                                 std::string_view by) {
  GH_RETURN_IF_ERROR(CheckText(by, "lifted_by", kMaxActorBytes, /*count_chars=*/false,
                               /*may_be_empty=*/false));
  const std::int64_t now = NowMs();
  std::optional<BlockRecord> lifted;
  Status status = store_.InTransaction([&](store::Transaction& tx) -> Status {
    lifted.reset();
    auto rows = tx.Query("SELECT " + std::string(kBlockColumns) +
                             " FROM protect_blocks WHERE id = $1"
                             " AND lifted_ms IS NULL AND until_ms > $2",
                         {std::string(id), now});
    if (!rows.ok()) return std::move(rows).error();
    if (rows->empty()) return Ok();
    auto record = DecodeBlock((*rows)[0]);
    if (!record.ok()) return std::move(record).error();

    // Lifting is about the subject, not the row: a duplicate row left by two instances
    // recording the same block must not keep it listed. The conditions are evaluated again
    // under the row lock, so of two admins lifting at once the second changes nothing.
    auto changed = tx.Execute(
        "UPDATE protect_blocks SET lifted_ms = $1, lifted_by = $2"
        " WHERE kind = $3 AND subject = $4 AND lifted_ms IS NULL AND until_ms > $1",
        {now, std::string(by), std::string(BlockKindName(record->kind)), record->subject});
    if (!changed.ok()) return std::move(changed).error();
    if (*changed == 0) return Ok();
    record->lifted_ms = now;
    record->lifted_by = std::string(by);
    lifted = std::move(*record);
    return Ok();
  });
  if (!status.ok()) return std::move(status).error();
  return lifted;
}

Result<std::int64_t> ProtectRepository::PurgeBlocksEndedBefore(std::int64_t cutoff_ms) {
  return store_.Execute(
      "DELETE FROM protect_blocks WHERE until_ms < $1 OR lifted_ms < $1", {cutoff_ms});
}

// ---- Loading rules into IpRules ------------------------------------------------------------

Result<bool> ReloadIpRules(ProtectRepository& repository, IpRules& rules) {
  auto records = repository.ListRules();
  if (!records.ok()) return std::move(records).error();
  std::vector<IpRule> runtime;
  runtime.reserve(records->size());
  for (const IpRuleRecord& record : *records) runtime.push_back(record.rule);
  return rules.Reload(std::move(runtime));
}

}  // namespace gatehouse::protect
