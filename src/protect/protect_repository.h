#pragma once

// The durable side of the protect room (tables ip_rules and protect_blocks, migration 4):
//
//   Runtime IP rules: allow and deny networks that admins add and remove while the service
//   runs, on top of the configured lists (ip_rules.h). Every instance reads them into its
//   IpRules with ReloadIpRules(): right after a change on the instance that made it, and
//   on a timer (kIpRulesReloadPeriod) everywhere, so a rule added through one instance is
//   in force on all of them within one period.
//
//   The block registry: a record of every automatic account lock and IP block, so that an
//   admin can list them and lift one without scanning the shared state. The LIVE truth is
//   the shared state (Redis or memory) with its TTLs: a block is enforced there, and lifting
//   one means clearing it there AND marking it here. This table is the index an admin
//   browses, and it may briefly disagree with the state (a block recorded a moment after
//   it took effect, a state TTL that ended early after a Redis restart).
//
// Personal data: a block's subject is the IP address, or for an account an opaque key
// (never the email); its label is what an admin view shows: the IP, or a MASKED email
// (core::MaskEmail). Rows are kept until PurgeBlocksEndedBefore() removes them; the
// retention job should call it (blocks last minutes to hours, so days of history are
// plenty).
//
// Times are Unix milliseconds from the injected clock. Calls block on the store: run them
// on the worker pool, never on an I/O thread. Thread-safe (the store is).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "protect/ip_rules.h"
#include "store/store.h"

namespace gatehouse::protect {

// How often every instance should call ReloadIpRules(): the longest a runtime rule added on
// one instance takes to reach the others (plus the time one reload takes).
inline constexpr std::chrono::seconds kIpRulesReloadPeriod{5};

// Caps on what an admin may store. Input beyond them is refused, never truncated.
inline constexpr std::size_t kMaxIpRuleNoteChars = 200;    // Unicode code points.
inline constexpr std::size_t kMaxActorBytes = 200;         // created_by, lifted_by.
inline constexpr std::int64_t kMaxRuntimeIpRules = 10000;  // Rows in ip_rules.
inline constexpr std::size_t kMaxBlockSubjectBytes = 256;
inline constexpr std::size_t kMaxBlockLabelBytes = 256;
inline constexpr std::size_t kDefaultBlockListLimit = 1000;

// A runtime rule as stored.
struct IpRuleRecord {
  std::string id;  // "ipr_" + random; safe to log.
  IpRule rule;     // The network in canonical form (ToString(rule.cidr) is the stored text).
  std::string note;        // Free text from the admin, may be empty.
  std::int64_t created_ms = 0;
  std::string created_by;  // Who added it (an admin id, "cli"); never a secret.
};

struct NewIpRule {
  std::string cidr;  // As typed: "203.0.113.0/24", "2001:db8::/32", a bare address.
  IpRuleAction action = IpRuleAction::kDeny;
  std::string note;
  std::string created_by;
};

enum class BlockKind : std::uint8_t { kAccount, kIp };

// "account" / "ip": the spelling in the store and in admin answers.
std::string_view BlockKindName(BlockKind kind);
std::optional<BlockKind> ParseBlockKind(std::string_view text);

struct BlockRecord {
  std::string id;  // "blk_" + random; safe to log.
  BlockKind kind = BlockKind::kIp;
  std::string subject;  // kIp: canonical IP text. kAccount: the opaque account key.
  std::string label;    // kIp: the IP. kAccount: the masked email.
  std::int64_t until_ms = 0;
  std::int64_t created_ms = 0;
  std::optional<std::int64_t> lifted_ms;  // Set when an admin lifted it early.
  std::string lifted_by;                  // Empty unless lifted.
};

struct NewBlock {
  BlockKind kind = BlockKind::kIp;
  // kIp: any IP text ParseIp accepts; stored canonical (IPv4-mapped IPv6 as IPv4), so
  // FindActiveBlock finds it however the address is spelled. kAccount: the opaque key.
  std::string subject;
  // REQUIRES for kAccount: already masked (core::MaskEmail); this layer cannot tell a
  // masked email from an unmasked one. kIp: may be empty, the canonical IP is used.
  std::string label;
  std::int64_t until_ms = 0;  // When the live block ends (the state TTL), Unix ms.
};

class ProtectRepository {
 public:
  // `store` and `clock` must outlive the repository. The store must be migrated.
  ProtectRepository(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  // ---- Runtime IP rules ------------------------------------------------------------------

  // Adds a rule. The network is parsed strictly (Cidr::Parse) and stored canonical.
  // Errors:
  //   kInvalidArgument  bad network; a /0 network (a runtime rule for the whole Internet
  //                     would lock out every user, the admin included, or switch off IP
  //                     blocking with one request; put it in the configuration if it is
  //                     really meant); a note over kMaxIpRuleNoteChars code points, not
  //                     valid UTF-8 or holding control or bidirectional-override
  //                     characters (they would garble or disguise the admin view);
  //                     created_by empty, over kMaxActorBytes or with such characters.
  //   kAlreadyExists    the same network with the same action is already there.
  //   kResourceExhausted  kMaxRuntimeIpRules rules exist. Two instances adding at the same
  //                     moment on PostgreSQL may pass the cap by one each.
  //   Store errors (kUnavailable: retry).
  // The new rule is not in force anywhere until ReloadIpRules() runs.
  Result<IpRuleRecord> AddRule(const NewIpRule& rule);

  // Removes a rule by id and returns it (for the admin event), or nullopt when there is no
  // rule with that id.
  Result<std::optional<IpRuleRecord>> RemoveRule(std::string_view id);

  // Every runtime rule, oldest first. Errors: kDataLoss when a stored row is not a rule this
  // code could have written (edited by hand): the detail names its id.
  Result<std::vector<IpRuleRecord>> ListRules();

  // ---- Block registry --------------------------------------------------------------------

  // Records an automatic block. When an active (not lifted, not ended) block of the same
  // kind and subject exists, that row is extended to the later of the two end times and
  // returned, so a block that is triggered again shows once. Two instances recording the
  // same new block at the same moment on PostgreSQL can still leave two rows; lifting
  // either lifts both (MarkLifted).
  // Errors: kInvalidArgument for a kIp subject that is not an IP address, a subject or
  // label that is empty (kAccount label), too long, not valid UTF-8 or holding control
  // characters. Store errors.
  Result<BlockRecord> RecordBlock(const NewBlock& block);

  // Blocks neither lifted nor ended, newest first, at most `limit` rows; `kind` filters
  // when given.
  Result<std::vector<BlockRecord>> ListActiveBlocks(std::optional<BlockKind> kind = {},
                                                    std::size_t limit = kDefaultBlockListLimit);

  // The active block of this kind and subject (kIp: any spelling of the address), or
  // nullopt. Errors: kInvalidArgument for a kIp subject that is not an IP address.
  Result<std::optional<BlockRecord>> FindActiveBlock(BlockKind kind, std::string_view subject);

  // Marks the active block `id` lifted by `by`, together with any other active row for the
  // same kind and subject, and returns it as now stored. nullopt when no active block has
  // that id (unknown, already lifted or ended; of two admins lifting at once, one gets
  // nullopt). The caller clears the live block in the shared state as well.
  // Errors: kInvalidArgument when `by` is empty, too long or holds control characters.
  Result<std::optional<BlockRecord>> MarkLifted(std::string_view id, std::string_view by);

  // Deletes blocks that ended or were lifted before `cutoff_ms`; returns how many.
  Result<std::int64_t> PurgeBlocksEndedBefore(std::int64_t cutoff_ms);

 private:
  std::int64_t NowMs() const;

  store::Store& store_;
  const Clock& clock_;
};

// Reads the runtime rules from the store and swaps them into `rules` (the configured lists
// stay). Returns whether the rules in force changed. On any error `rules` keeps the lists
// it had: a store outage leaves the last loaded rules in force rather than none, and the
// error (kUnavailable: retry next period; kDataLoss: a hand-edited row, see ListRules) is
// for the caller to log and count.
// Call it once at start (refuse to serve if it fails: a deny list that silently does not
// apply is worse than not starting), after every AddRule/RemoveRule on this instance, and
// every kIpRulesReloadPeriod from a timer on the worker pool (it blocks on the store).
Result<bool> ReloadIpRules(ProtectRepository& repository, IpRules& rules);

}  // namespace gatehouse::protect
