#include "protect/protect_repository.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/migrations.h"
#include "store_test_support.h"

namespace gatehouse::protect {
namespace {

using store::testing::BackendNames;
using store::testing::Backends;
using store::testing::StoreFixture;
using Verdict = IpListView::Verdict;
using namespace std::chrono_literals;

IpAddress Ip(std::string_view text) {
  const auto address = ParseIp(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress::V4(0));
}

std::int64_t Millis(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

template <typename Backend>
class ProtectRepositoryTest : public StoreFixture<Backend> {
 protected:
  void SetUp() override {
    StoreFixture<Backend>::SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    auto migrated = store::Migrate(*this->store_, clock_);
    ASSERT_TRUE(migrated.ok()) << migrated.error().detail();
    repo_.emplace(*this->store_, clock_);
  }

  NewIpRule Rule(std::string cidr, IpRuleAction action = IpRuleAction::kDeny,
                 std::string note = "") const {
    return NewIpRule{.cidr = std::move(cidr),
                     .action = action,
                     .note = std::move(note),
                     .created_by = "adm_1"};
  }

  // Callers use the record only after checking that the add succeeded; a failed add ends
  // the test here, since a Cidr cannot be made empty.
  IpRuleRecord MustAdd(std::string cidr, IpRuleAction action = IpRuleAction::kDeny) {
    auto added = repo_->AddRule(Rule(std::move(cidr), action));
    if (!added.ok()) {
      ADD_FAILURE() << added.error().detail();
      std::abort();
    }
    return *added;
  }

  BlockRecord MustBlock(BlockKind kind, std::string subject, std::string label,
                        std::chrono::milliseconds lasting = 15min) {
    auto recorded = repo_->RecordBlock(NewBlock{.kind = kind,
                                                .subject = std::move(subject),
                                                .label = std::move(label),
                                                .until_ms = Millis(clock_) + lasting.count()});
    EXPECT_TRUE(recorded.ok()) << recorded.error().detail();
    return recorded.ok() ? *recorded : BlockRecord{};
  }

  BlockRecord MustBlockIp(std::string ip, std::chrono::milliseconds lasting = 15min) {
    return MustBlock(BlockKind::kIp, std::move(ip), "", lasting);
  }

  std::vector<std::string> ActiveIds(std::optional<BlockKind> kind = {},
                                     std::size_t limit = kDefaultBlockListLimit) {
    auto blocks = repo_->ListActiveBlocks(kind, limit);
    EXPECT_TRUE(blocks.ok()) << blocks.error().detail();
    std::vector<std::string> ids;
    if (blocks.ok()) {
      for (const BlockRecord& block : *blocks) ids.push_back(block.id);
    }
    return ids;
  }

  ManualClock clock_;
  std::optional<ProtectRepository> repo_;
};

TYPED_TEST_SUITE(ProtectRepositoryTest, Backends, BackendNames);

// ---- Runtime IP rules ----------------------------------------------------------------------

TYPED_TEST(ProtectRepositoryTest, AddsARuleInCanonicalForm) {
  auto added = this->repo_->AddRule(
      this->Rule("::FFFF:203.0.113.0/120", IpRuleAction::kDeny, "scanner, ticket 4711"));
  ASSERT_TRUE(added.ok()) << added.error().detail();
  EXPECT_TRUE(added->id.starts_with("ipr_"));
  EXPECT_EQ(ToString(added->rule.cidr), "203.0.113.0/24");
  EXPECT_EQ(added->rule.action, IpRuleAction::kDeny);
  EXPECT_EQ(added->created_ms, Millis(this->clock_));

  auto listed = this->repo_->ListRules();
  ASSERT_TRUE(listed.ok()) << listed.error().detail();
  ASSERT_EQ(listed->size(), 1u);
  const IpRuleRecord& rule = (*listed)[0];
  EXPECT_EQ(rule.id, added->id);
  EXPECT_EQ(rule.rule, added->rule);
  EXPECT_EQ(rule.note, "scanner, ticket 4711");
  EXPECT_EQ(rule.created_ms, added->created_ms);
  EXPECT_EQ(rule.created_by, "adm_1");

  auto stored = this->store_->Query("SELECT cidr, action FROM ip_rules");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)[0][0], store::Value(std::string("203.0.113.0/24")));
  EXPECT_EQ((*stored)[0][1], store::Value(std::string("deny")));
}

TYPED_TEST(ProtectRepositoryTest, ListsRulesOldestFirst) {
  const IpRuleRecord first = this->MustAdd("192.0.2.0/24");
  this->clock_.Advance(1s);
  const IpRuleRecord second = this->MustAdd("2001:db8::/32", IpRuleAction::kAllow);
  this->clock_.Advance(1s);
  const IpRuleRecord third = this->MustAdd("10.0.0.0/8");

  auto listed = this->repo_->ListRules();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].id, first.id);
  EXPECT_EQ((*listed)[1].id, second.id);
  EXPECT_EQ((*listed)[2].id, third.id);
}

TYPED_TEST(ProtectRepositoryTest, RefusesTheSameNetworkAndActionTwiceInAnySpelling) {
  this->MustAdd("192.0.2.0/24");
  auto again = this->repo_->AddRule(this->Rule("::ffff:192.0.2.0/120"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);

  // The other action on the same network is a different rule (deny wins when both exist).
  auto allow = this->repo_->AddRule(this->Rule("192.0.2.0/24", IpRuleAction::kAllow));
  EXPECT_TRUE(allow.ok()) << allow.error().detail();
}

TYPED_TEST(ProtectRepositoryTest, RefusesBadNetworks) {
  for (std::string cidr : {"", "nonsense", "10.0.0.1/8", "010.0.0.0/8", "10.0.0.0/33",
                           "192.0.2.1:80", " 192.0.2.1", "fe80::1%eth0"}) {
    auto added = this->repo_->AddRule(this->Rule(cidr));
    ASSERT_FALSE(added.ok()) << cidr;
    EXPECT_EQ(added.error().code(), ErrorCode::kInvalidArgument) << cidr;
  }
}

TYPED_TEST(ProtectRepositoryTest, RefusesRuntimeRulesForEveryAddress) {
  for (std::string cidr : {"0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96"}) {
    for (IpRuleAction action : {IpRuleAction::kAllow, IpRuleAction::kDeny}) {
      auto added = this->repo_->AddRule(this->Rule(cidr, action));
      ASSERT_FALSE(added.ok()) << cidr;
      EXPECT_EQ(added.error().code(), ErrorCode::kInvalidArgument) << cidr;
    }
  }
  // One bit narrower is allowed.
  EXPECT_TRUE(this->repo_->AddRule(this->Rule("0.0.0.0/1")).ok());
}

TYPED_TEST(ProtectRepositoryTest, NoteIsCappedInCharactersNotBytes) {
  std::string at_cap;
  for (std::size_t i = 0; i < kMaxIpRuleNoteChars; ++i) at_cap += "\xC3\xA9";  // "é"
  auto ok = this->repo_->AddRule(this->Rule("192.0.2.1", IpRuleAction::kDeny, at_cap));
  ASSERT_TRUE(ok.ok()) << ok.error().detail();
  auto listed = this->repo_->ListRules();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ((*listed)[0].note, at_cap);

  auto over = this->repo_->AddRule(this->Rule("192.0.2.2", IpRuleAction::kDeny, at_cap + "x"));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), ErrorCode::kInvalidArgument);
}

TYPED_TEST(ProtectRepositoryTest, RefusesNotesThatCouldGarbleAnAdminView) {
  const std::vector<std::string> bad = {
      "line\nbreak", "tab\there", std::string("nul\0byte", 8), "esc\x1b[31m", "del\x7f",
      "c1\xC2\x85",           // U+0085 NEXT LINE
      "rlo\xE2\x80\xAE",      // U+202E RIGHT-TO-LEFT OVERRIDE
      "isolate\xE2\x81\xA6",  // U+2066 LEFT-TO-RIGHT ISOLATE
      "bad\xFF utf8", "overlong\xC0\xAF", "cut\xE2\x82"};
  for (const std::string& note : bad) {
    auto added = this->repo_->AddRule(this->Rule("192.0.2.1", IpRuleAction::kDeny, note));
    ASSERT_FALSE(added.ok()) << note;
    EXPECT_EQ(added.error().code(), ErrorCode::kInvalidArgument);
    // The detail names the field, never the text.
    EXPECT_EQ(added.error().detail().find(note), std::string::npos);
  }
  auto listed = this->repo_->ListRules();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TYPED_TEST(ProtectRepositoryTest, RequiresABoundedCreator) {
  NewIpRule rule = this->Rule("192.0.2.1");
  rule.created_by = "";
  EXPECT_FALSE(this->repo_->AddRule(rule).ok());
  rule.created_by = std::string(kMaxActorBytes + 1, 'a');
  EXPECT_FALSE(this->repo_->AddRule(rule).ok());
  rule.created_by = std::string(kMaxActorBytes, 'a');
  EXPECT_TRUE(this->repo_->AddRule(rule).ok());
}

TYPED_TEST(ProtectRepositoryTest, RefusesRulesPastTheCap) {
  // Fill the table to the cap in one statement (rows the cap counts, whatever they hold).
  auto filled = this->store_->Execute(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)"
      " INSERT INTO ip_rules (id, cidr, action, note, created_ms, created_by)"
      " SELECT 'ipr_fill_' || CAST(i AS TEXT), 'fill-' || CAST(i AS TEXT), 'deny', '', 0,"
      " 'test' FROM n",
      {kMaxRuntimeIpRules - 1});
  ASSERT_TRUE(filled.ok()) << filled.error().detail();
  ASSERT_EQ(*filled, kMaxRuntimeIpRules - 1);

  const IpRuleRecord last = this->MustAdd("192.0.2.1");  // The cap-th rule is fine.
  auto over = this->repo_->AddRule(this->Rule("192.0.2.2"));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), ErrorCode::kResourceExhausted);

  ASSERT_TRUE(this->repo_->RemoveRule(last.id).ok());
  EXPECT_TRUE(this->repo_->AddRule(this->Rule("192.0.2.2")).ok());
}

TYPED_TEST(ProtectRepositoryTest, RemovesARuleAndReturnsIt) {
  const IpRuleRecord kept = this->MustAdd("10.0.0.0/8", IpRuleAction::kAllow);
  const IpRuleRecord gone = this->MustAdd("192.0.2.0/24");

  auto removed = this->repo_->RemoveRule(gone.id);
  ASSERT_TRUE(removed.ok()) << removed.error().detail();
  ASSERT_TRUE(removed->has_value());
  EXPECT_EQ((*removed)->id, gone.id);
  EXPECT_EQ(ToString((*removed)->rule.cidr), "192.0.2.0/24");
  EXPECT_EQ((*removed)->created_by, "adm_1");

  auto again = this->repo_->RemoveRule(gone.id);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  auto unknown = this->repo_->RemoveRule("ipr_nope");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());

  auto listed = this->repo_->ListRules();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, kept.id);
}

TYPED_TEST(ProtectRepositoryTest, AHandEditedRuleIsDataLossNamingItsId) {
  for (std::string cidr : {"10.0.0.1/8", "010.0.0.0/8", "10.0.0.0/08", "garbage"}) {
    ASSERT_TRUE(this->store_->Execute("DELETE FROM ip_rules").ok());
    auto inserted = this->store_->Execute(
        "INSERT INTO ip_rules (id, cidr, action, note, created_ms, created_by)"
        " VALUES ('ipr_edited', $1, 'deny', '', 0, 'someone')",
        {cidr});
    ASSERT_TRUE(inserted.ok()) << inserted.error().detail();
    auto listed = this->repo_->ListRules();
    ASSERT_FALSE(listed.ok()) << cidr;
    EXPECT_EQ(listed.error().code(), ErrorCode::kDataLoss);
    EXPECT_NE(listed.error().detail().find("ipr_edited"), std::string::npos);
    EXPECT_EQ(listed.error().detail().find(cidr), std::string::npos);
  }
}

TYPED_TEST(ProtectRepositoryTest, TheSchemaRefusesUnknownActions) {
  auto inserted = this->store_->Execute(
      "INSERT INTO ip_rules (id, cidr, action, note, created_ms, created_by)"
      " VALUES ('ipr_x', '192.0.2.0/24', 'permit', '', 0, 'someone')");
  EXPECT_FALSE(inserted.ok());
}

// ---- Loading rules into IpRules ------------------------------------------------------------

TYPED_TEST(ProtectRepositoryTest, ReloadPutsStoredRulesInForce) {
  auto config = IpRuleSet::Parse(std::vector<std::string>{"172.16.0.0/12"}, {});
  ASSERT_TRUE(config.ok());
  IpRules rules(std::move(*config));
  this->MustAdd("172.16.5.9");  // Deny inside the configured allow range.
  this->MustAdd("198.51.100.0/24", IpRuleAction::kAllow);

  auto changed = ReloadIpRules(*this->repo_, rules);
  ASSERT_TRUE(changed.ok()) << changed.error().detail();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(rules.Decide(Ip("172.16.5.9")), Verdict::kDeny);
  EXPECT_EQ(rules.Decide(Ip("172.16.5.8")), Verdict::kAllow);
  EXPECT_EQ(rules.Decide(Ip("::ffff:198.51.100.3")), Verdict::kAllow);

  auto unchanged = ReloadIpRules(*this->repo_, rules);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(*unchanged);
}

TYPED_TEST(ProtectRepositoryTest, ReloadDropsRemovedRules) {
  IpRules rules;
  const IpRuleRecord deny = this->MustAdd("203.0.113.0/24");
  ASSERT_TRUE(ReloadIpRules(*this->repo_, rules).ok());
  ASSERT_EQ(rules.Decide(Ip("203.0.113.1")), Verdict::kDeny);

  ASSERT_TRUE(this->repo_->RemoveRule(deny.id).ok());
  auto changed = ReloadIpRules(*this->repo_, rules);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_EQ(rules.Decide(Ip("203.0.113.1")), Verdict::kNeutral);
}

TYPED_TEST(ProtectRepositoryTest, AFailedReloadKeepsTheLastLoadedRules) {
  IpRules rules;
  this->MustAdd("203.0.113.0/24");
  ASSERT_TRUE(ReloadIpRules(*this->repo_, rules).ok());

  // A hand-edited row: the whole reload fails rather than guessing.
  ASSERT_TRUE(this->store_
                  ->Execute("INSERT INTO ip_rules (id, cidr, action, note, created_ms,"
                            " created_by) VALUES ('ipr_bad', '10.0.0.1/8', 'allow', '', 1,"
                            " 'x')")
                  .ok());
  auto damaged = ReloadIpRules(*this->repo_, rules);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.error().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(rules.Decide(Ip("203.0.113.1")), Verdict::kDeny);

  // The table is gone (a store failure): still the last loaded rules.
  ASSERT_TRUE(this->store_->Execute("DROP TABLE ip_rules").ok());
  auto failed = ReloadIpRules(*this->repo_, rules);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(rules.Decide(Ip("203.0.113.1")), Verdict::kDeny);
}

TYPED_TEST(ProtectRepositoryTest, ARuleAddedOnOneInstanceReachesAnotherOnReload) {
  auto other_store = this->backend_.Open();
  ASSERT_TRUE(other_store.ok()) << other_store.error().detail();
  ProtectRepository other_repo(**other_store, this->clock_);
  IpRules other_rules;
  ASSERT_TRUE(ReloadIpRules(other_repo, other_rules).ok());
  ASSERT_EQ(other_rules.Decide(Ip("192.0.2.10")), Verdict::kNeutral);

  this->MustAdd("192.0.2.0/24");  // Through this instance.
  // The other instance's periodic reload.
  auto changed = ReloadIpRules(other_repo, other_rules);
  ASSERT_TRUE(changed.ok()) << changed.error().detail();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(other_rules.Decide(Ip("192.0.2.10")), Verdict::kDeny);
}

// ---- Block registry ------------------------------------------------------------------------

TEST(BlockKind, NamesRoundTrip) {
  for (BlockKind kind : {BlockKind::kAccount, BlockKind::kIp}) {
    EXPECT_EQ(ParseBlockKind(BlockKindName(kind)), kind);
  }
  EXPECT_EQ(BlockKindName(BlockKind::kAccount), "account");
  EXPECT_EQ(BlockKindName(BlockKind::kIp), "ip");
  EXPECT_FALSE(ParseBlockKind("IP").has_value());
  EXPECT_FALSE(ParseBlockKind("").has_value());
}

TYPED_TEST(ProtectRepositoryTest, RecordsAnIpBlockUnderItsCanonicalAddress) {
  const BlockRecord block = this->MustBlockIp("::FFFF:192.0.2.5");
  EXPECT_TRUE(block.id.starts_with("blk_"));
  EXPECT_EQ(block.kind, BlockKind::kIp);
  EXPECT_EQ(block.subject, "192.0.2.5");
  EXPECT_EQ(block.label, "192.0.2.5");  // Defaults to the address.
  EXPECT_EQ(block.created_ms, Millis(this->clock_));
  EXPECT_EQ(block.until_ms, Millis(this->clock_) + 15 * 60 * 1000);
  EXPECT_FALSE(block.lifted_ms.has_value());

  for (std::string_view spelling : {"192.0.2.5", "::ffff:c000:205"}) {
    auto found = this->repo_->FindActiveBlock(BlockKind::kIp, spelling);
    ASSERT_TRUE(found.ok()) << found.error().detail();
    ASSERT_TRUE(found->has_value()) << spelling;
    EXPECT_EQ((*found)->id, block.id);
    EXPECT_EQ((*found)->until_ms, block.until_ms);
    EXPECT_EQ((*found)->created_ms, block.created_ms);
  }
}

TYPED_TEST(ProtectRepositoryTest, RecordsAnAccountLockWithItsMaskedLabel) {
  const BlockRecord lock = this->MustBlock(BlockKind::kAccount, "acctkey_3f9a", "j***@e***.com");
  EXPECT_EQ(lock.kind, BlockKind::kAccount);

  auto found = this->repo_->FindActiveBlock(BlockKind::kAccount, "acctkey_3f9a");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->label, "j***@e***.com");
  EXPECT_EQ((*found)->subject, "acctkey_3f9a");
  // Kinds are separate namespaces.
  auto as_ip = this->repo_->FindActiveBlock(BlockKind::kIp, "192.0.2.5");
  ASSERT_TRUE(as_ip.ok());
  EXPECT_FALSE(as_ip->has_value());
}

TYPED_TEST(ProtectRepositoryTest, RefusesBadBlockInput) {
  const std::int64_t until = Millis(this->clock_) + 60000;
  const std::vector<NewBlock> bad = {
      {.kind = BlockKind::kIp, .subject = "not-an-ip", .label = "", .until_ms = until},
      {.kind = BlockKind::kIp, .subject = "192.0.2.1:80", .label = "", .until_ms = until},
      {.kind = BlockKind::kIp, .subject = "192.0.2.1", .label = "a\nb", .until_ms = until},
      {.kind = BlockKind::kAccount, .subject = "", .label = "j***@e***.com", .until_ms = until},
      {.kind = BlockKind::kAccount, .subject = "k", .label = "", .until_ms = until},
      {.kind = BlockKind::kAccount,
       .subject = std::string(kMaxBlockSubjectBytes + 1, 'k'),
       .label = "j***",
       .until_ms = until},
      {.kind = BlockKind::kAccount,
       .subject = "k",
       .label = std::string(kMaxBlockLabelBytes + 1, 'l'),
       .until_ms = until},
      {.kind = BlockKind::kAccount, .subject = "k\xFF", .label = "j***", .until_ms = until},
  };
  for (const NewBlock& block : bad) {
    auto recorded = this->repo_->RecordBlock(block);
    ASSERT_FALSE(recorded.ok()) << block.subject;
    EXPECT_EQ(recorded.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(this->ActiveIds().empty());

  auto find = this->repo_->FindActiveBlock(BlockKind::kIp, "nope");
  ASSERT_FALSE(find.ok());
  EXPECT_EQ(find.error().code(), ErrorCode::kInvalidArgument);
}

TYPED_TEST(ProtectRepositoryTest, ABlockTriggeredAgainExtendsTheListedRow) {
  const BlockRecord first = this->MustBlockIp("192.0.2.5", 15min);
  this->clock_.Advance(5min);
  const BlockRecord again = this->MustBlockIp("192.0.2.5", 30min);
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.created_ms, first.created_ms);
  EXPECT_EQ(again.until_ms, Millis(this->clock_) + 30 * 60 * 1000);

  // A shorter block never shortens the listed end.
  const BlockRecord shorter = this->MustBlockIp("192.0.2.5", 1min);
  EXPECT_EQ(shorter.id, first.id);
  EXPECT_EQ(shorter.until_ms, again.until_ms);

  EXPECT_EQ(this->ActiveIds(), std::vector<std::string>{first.id});
}

TYPED_TEST(ProtectRepositoryTest, ABlockAfterTheLastOneEndedIsANewRow) {
  const BlockRecord first = this->MustBlockIp("192.0.2.5", 15min);
  this->clock_.Advance(15min);  // until_ms is exclusive: ended now.
  auto found = this->repo_->FindActiveBlock(BlockKind::kIp, "192.0.2.5");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());

  const BlockRecord second = this->MustBlockIp("192.0.2.5", 15min);
  EXPECT_NE(second.id, first.id);
  EXPECT_EQ(this->ActiveIds(), std::vector<std::string>{second.id});
}

TYPED_TEST(ProtectRepositoryTest, ListsActiveBlocksNewestFirstByKindAndLimit) {
  const BlockRecord ip_a = this->MustBlockIp("192.0.2.1", 10min);
  this->clock_.Advance(1s);
  const BlockRecord account = this->MustBlock(BlockKind::kAccount, "key_1", "a***@e***.org");
  this->clock_.Advance(1s);
  const BlockRecord ip_b = this->MustBlockIp("2001:db8::1", 1h);
  this->clock_.Advance(1s);
  const BlockRecord lifted = this->MustBlockIp("192.0.2.99", 1h);
  ASSERT_TRUE(this->repo_->MarkLifted(lifted.id, "adm_1").ok());

  EXPECT_EQ(this->ActiveIds(), (std::vector<std::string>{ip_b.id, account.id, ip_a.id}));
  EXPECT_EQ(this->ActiveIds(BlockKind::kIp), (std::vector<std::string>{ip_b.id, ip_a.id}));
  EXPECT_EQ(this->ActiveIds(BlockKind::kAccount), std::vector<std::string>{account.id});
  EXPECT_EQ(this->ActiveIds(std::nullopt, 2), (std::vector<std::string>{ip_b.id, account.id}));

  this->clock_.Advance(10min);  // ip_a ends.
  EXPECT_EQ(this->ActiveIds(), (std::vector<std::string>{ip_b.id, account.id}));
}

TYPED_TEST(ProtectRepositoryTest, LiftingMarksTheBlockAndReturnsIt) {
  const BlockRecord block = this->MustBlockIp("192.0.2.5");
  this->clock_.Advance(2min);

  auto lifted = this->repo_->MarkLifted(block.id, "adm_7");
  ASSERT_TRUE(lifted.ok()) << lifted.error().detail();
  ASSERT_TRUE(lifted->has_value());
  EXPECT_EQ((*lifted)->id, block.id);
  EXPECT_EQ((*lifted)->subject, "192.0.2.5");
  EXPECT_EQ((*lifted)->lifted_ms, Millis(this->clock_));
  EXPECT_EQ((*lifted)->lifted_by, "adm_7");

  auto found = this->repo_->FindActiveBlock(BlockKind::kIp, "192.0.2.5");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());

  auto stored = this->store_->Query("SELECT lifted_ms, lifted_by FROM protect_blocks");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0][0], store::Value(Millis(this->clock_)));
  EXPECT_EQ((*stored)[0][1], store::Value(std::string("adm_7")));
}

TYPED_TEST(ProtectRepositoryTest, LiftingWhatIsNotActiveFindsNothing) {
  const BlockRecord block = this->MustBlockIp("192.0.2.5", 1min);
  ASSERT_TRUE(this->repo_->MarkLifted(block.id, "adm_1").ok());
  auto twice = this->repo_->MarkLifted(block.id, "adm_2");
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(twice->has_value());

  auto unknown = this->repo_->MarkLifted("blk_unknown", "adm_1");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());

  const BlockRecord ended = this->MustBlockIp("192.0.2.6", 1min);
  this->clock_.Advance(1min);
  auto late = this->repo_->MarkLifted(ended.id, "adm_1");
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->has_value());
}

TYPED_TEST(ProtectRepositoryTest, LiftingRefusesABadActor) {
  const BlockRecord block = this->MustBlockIp("192.0.2.5");
  for (std::string by : {std::string(), std::string("a\nb"),
                         std::string(kMaxActorBytes + 1, 'a')}) {
    auto lifted = this->repo_->MarkLifted(block.id, by);
    ASSERT_FALSE(lifted.ok());
    EXPECT_EQ(lifted.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(this->ActiveIds(), std::vector<std::string>{block.id});
}

TYPED_TEST(ProtectRepositoryTest, LiftingOneRowLiftsDuplicatesOfTheSameSubject) {
  const BlockRecord block = this->MustBlockIp("192.0.2.5");
  // What two instances recording the same block at once can leave behind.
  auto duplicate = this->store_->Execute(
      "INSERT INTO protect_blocks (id, kind, subject, label, until_ms, created_ms)"
      " VALUES ('blk_twin', 'ip', '192.0.2.5', '192.0.2.5', $1, $2)",
      {block.until_ms, block.created_ms});
  ASSERT_TRUE(duplicate.ok()) << duplicate.error().detail();
  const BlockRecord other = this->MustBlockIp("192.0.2.6");

  auto lifted = this->repo_->MarkLifted("blk_twin", "adm_1");
  ASSERT_TRUE(lifted.ok());
  ASSERT_TRUE(lifted->has_value());
  EXPECT_EQ(this->ActiveIds(), std::vector<std::string>{other.id});
}

TYPED_TEST(ProtectRepositoryTest, OfTwoAdminsLiftingAtOnceExactlyOneSucceeds) {
  const BlockRecord block = this->MustBlockIp("192.0.2.5");
  constexpr int kAdmins = 4;
  std::vector<std::unique_ptr<store::Store>> stores;
  for (int i = 0; i < kAdmins; ++i) {
    auto opened = this->backend_.Open({.pool_size = 1});
    ASSERT_TRUE(opened.ok()) << opened.error().detail();
    stores.push_back(std::move(*opened));
  }
  std::vector<Result<std::optional<BlockRecord>>> results(kAdmins,
                                                          std::optional<BlockRecord>());
  std::vector<std::thread> threads;
  for (int i = 0; i < kAdmins; ++i) {
    threads.emplace_back([&, i] {
      ProtectRepository repo(*stores[i], this->clock_);
      results[i] = repo.MarkLifted(block.id, "adm_" + std::to_string(i));
    });
  }
  for (auto& thread : threads) thread.join();

  int winners = 0;
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.error().detail();
    if (result->has_value()) ++winners;
  }
  EXPECT_EQ(winners, 1);
}

TYPED_TEST(ProtectRepositoryTest, PurgeRemovesOnlyBlocksThatEndedBeforeTheCutoff) {
  const BlockRecord ended = this->MustBlockIp("192.0.2.1", 1min);
  const BlockRecord lifted = this->MustBlockIp("192.0.2.2", 1h);
  ASSERT_TRUE(this->repo_->MarkLifted(lifted.id, "adm_1").ok());
  const BlockRecord active = this->MustBlockIp("192.0.2.3", 1h);
  this->clock_.Advance(2min);
  const BlockRecord ended_recently = this->MustBlockIp("192.0.2.4", 1min);
  this->clock_.Advance(2min);

  // Cutoff: one minute ago. The first two ended (or were lifted) before it.
  auto purged = this->repo_->PurgeBlocksEndedBefore(Millis(this->clock_) - 60 * 1000);
  ASSERT_TRUE(purged.ok()) << purged.error().detail();
  EXPECT_EQ(*purged, 2);

  auto rows = this->store_->Query("SELECT id FROM protect_blocks");
  ASSERT_TRUE(rows.ok());
  std::vector<std::string> left;
  for (const store::Row& row : *rows) left.push_back(std::get<std::string>(row[0]));
  std::sort(left.begin(), left.end());
  std::vector<std::string> expected = {active.id, ended_recently.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(left, expected);
}

TYPED_TEST(ProtectRepositoryTest, TheSchemaRefusesUnknownBlockKinds) {
  auto inserted = this->store_->Execute(
      "INSERT INTO protect_blocks (id, kind, subject, label, until_ms, created_ms)"
      " VALUES ('blk_x', 'device', 's', 'l', 1, 1)");
  EXPECT_FALSE(inserted.ok());
}

}  // namespace
}  // namespace gatehouse::protect
