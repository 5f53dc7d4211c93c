#include "protect/ip_rules.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace gatehouse::protect {
namespace {

using Verdict = IpListView::Verdict;

IpAddress Ip(std::string_view text) {
  const auto address = ParseIp(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress::V4(0));
}

Cidr Net(std::string_view text) {
  auto cidr = Cidr::Parse(text);
  EXPECT_TRUE(cidr.ok()) << text;
  return cidr.ok() ? *cidr : Cidr::Parse("0.0.0.0/32").value();
}

IpRuleSet Lists(std::vector<std::string> allow, std::vector<std::string> deny) {
  auto set = IpRuleSet::Parse(allow, deny);
  EXPECT_TRUE(set.ok()) << (set.ok() ? "" : set.error().detail());
  return set.ok() ? *set : IpRuleSet{};
}

IpRule Allow(std::string_view cidr) { return IpRule{Net(cidr), IpRuleAction::kAllow}; }
IpRule Deny(std::string_view cidr) { return IpRule{Net(cidr), IpRuleAction::kDeny}; }

std::string Name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kDeny:
      return "deny";
    case Verdict::kNeutral:
      return "neutral";
  }
  return "?";
}

// ---- Actions and parsing ---------------------------------------------------------------------

TEST(IpRuleAction, NamesRoundTripAndOnlyExactSpellingsParse) {
  for (IpRuleAction action : {IpRuleAction::kAllow, IpRuleAction::kDeny}) {
    EXPECT_EQ(ParseIpRuleAction(IpRuleActionName(action)), action);
  }
  EXPECT_EQ(IpRuleActionName(IpRuleAction::kAllow), "allow");
  EXPECT_EQ(IpRuleActionName(IpRuleAction::kDeny), "deny");
  for (std::string_view bad : {"", "Allow", "DENY", "deny ", "block", "allowed"}) {
    EXPECT_FALSE(ParseIpRuleAction(bad).has_value()) << bad;
  }
}

TEST(IpRuleSet, ParsesBothListsCanonically) {
  const std::vector<std::string> allow = {"10.0.0.0/8", "2001:DB8::/32", "192.0.2.7"};
  const std::vector<std::string> deny = {"::ffff:203.0.113.0/120"};
  auto set = IpRuleSet::Parse(allow, deny);
  ASSERT_TRUE(set.ok()) << set.error().detail();
  ASSERT_EQ(set->allow.size(), 3u);
  EXPECT_EQ(ToString(set->allow[0]), "10.0.0.0/8");
  EXPECT_EQ(ToString(set->allow[1]), "2001:db8::/32");
  EXPECT_EQ(ToString(set->allow[2]), "192.0.2.7/32");
  ASSERT_EQ(set->deny.size(), 1u);
  EXPECT_EQ(ToString(set->deny[0]), "203.0.113.0/24");  // IPv4-mapped becomes IPv4.
  EXPECT_FALSE(set->empty());
}

TEST(IpRuleSet, EmptyListsAreEmpty) {
  auto set = IpRuleSet::Parse({}, {});
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->empty());
}

TEST(IpRuleSet, ABadEntryFailsTheWholeSetAndNamesListAndPosition) {
  const std::vector<std::tuple<std::vector<std::string>, std::vector<std::string>, std::string>>
      cases = {
          {{"10.0.0.0/8", "10.0.0.1/8"}, {}, "allow list entry 2"},  // Host bits set.
          {{}, {"192.0.2.0/24", "nonsense"}, "deny list entry 2"},
          {{}, {"010.0.0.0/8"}, "deny list entry 1"},  // Leading zero: octal elsewhere.
          {{"10.0.0.0/33"}, {}, "allow list entry 1"},
          {{"fe80::1%eth0"}, {}, "allow list entry 1"},
          {{""}, {}, "allow list entry 1"},
          {{" 10.0.0.0/8"}, {}, "allow list entry 1"},
      };
  for (const auto& [allow, deny, where] : cases) {
    auto set = IpRuleSet::Parse(allow, deny);
    ASSERT_FALSE(set.ok()) << where;
    EXPECT_EQ(set.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(set.error().detail().find(where), std::string::npos) << set.error().detail();
  }
}

TEST(IpRuleSet, HostBitsErrorSuggestsTheNetwork) {
  const std::vector<std::string> deny = {"10.0.0.1/8"};
  auto set = IpRuleSet::Parse({}, deny);
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.error().detail().find("10.0.0.0/8"), std::string::npos) << set.error().detail();
}

// ---- Decide ------------------------------------------------------------------------------------

TEST(IpRules, NoListsAnswerNeutral) {
  IpRules rules;
  EXPECT_EQ(rules.Decide(Ip("192.0.2.1")), Verdict::kNeutral);
  EXPECT_EQ(rules.Decide(Ip("2001:db8::1")), Verdict::kNeutral);
  EXPECT_EQ(rules.counters().allowed, 0u);
  EXPECT_EQ(rules.counters().denied, 0u);
}

TEST(IpRules, VerdictTable) {
  // Allow: an office /16 and an IPv6 network. Deny: one compromised host inside the office,
  // a hostile /24, and an IPv6 host inside the allowed IPv6 network.
  IpRules rules(Lists({"172.16.0.0/16", "2001:db8::/32", "198.51.100.0/24"},
                      {"172.16.5.9", "203.0.113.0/24", "2001:db8::bad", "198.51.100.0/24"}));
  const std::vector<std::pair<std::string, Verdict>> cases = {
      {"172.16.0.1", Verdict::kAllow},
      {"172.16.255.255", Verdict::kAllow},
      {"172.16.5.9", Verdict::kDeny},   // Narrow deny inside a broad allow: deny wins.
      {"172.16.5.10", Verdict::kAllow},
      {"172.17.0.1", Verdict::kNeutral},
      {"203.0.113.0", Verdict::kDeny},
      {"203.0.113.255", Verdict::kDeny},
      {"203.0.112.255", Verdict::kNeutral},
      {"203.0.114.0", Verdict::kNeutral},
      {"2001:db8::1", Verdict::kAllow},
      {"2001:db8::bad", Verdict::kDeny},
      {"2001:db9::1", Verdict::kNeutral},
      {"198.51.100.42", Verdict::kDeny},  // The same network on both lists: deny wins.
      {"::1", Verdict::kNeutral},
  };
  for (const auto& [ip, expected] : cases) {
    EXPECT_EQ(Name(rules.Decide(Ip(ip))), Name(expected)) << ip;
  }
}

TEST(IpRules, BroadDenyWinsOverNarrowAllow) {
  // Deny is not "most specific wins": a deny covering an allow makes the allow dead.
  IpRules rules(Lists({"10.1.2.3"}, {"10.0.0.0/8"}));
  EXPECT_EQ(rules.Decide(Ip("10.1.2.3")), Verdict::kDeny);
}

TEST(IpRules, IpV4MappedAddressesMatchIpV4Rules) {
  IpRules rules(Lists({}, {"192.0.2.0/24"}));
  // A dual-stack socket reports the client as ::ffff:192.0.2.5; any spelling of it is the
  // same IPv4 address.
  for (std::string_view spelling : {"192.0.2.5", "::ffff:192.0.2.5", "::FFFF:c000:205",
                                    "0:0:0:0:0:ffff:192.0.2.5"}) {
    EXPECT_EQ(rules.Decide(Ip(spelling)), Verdict::kDeny) << spelling;
  }
}

TEST(IpRules, IpV4MappedRulesMatchIpV4Addresses) {
  IpRules rules(Lists({"::ffff:10.0.0.0/104"}, {"::ffff:192.0.2.7"}));
  EXPECT_EQ(rules.Decide(Ip("10.200.0.1")), Verdict::kAllow);
  EXPECT_EQ(rules.Decide(Ip("192.0.2.7")), Verdict::kDeny);
  EXPECT_EQ(rules.Decide(Ip("::ffff:192.0.2.7")), Verdict::kDeny);
}

TEST(IpRules, IpV6NetworksNeverContainIpV4Addresses) {
  IpRules rules(Lists({}, {"::/0"}));
  EXPECT_EQ(rules.Decide(Ip("2001:db8::1")), Verdict::kDeny);
  EXPECT_EQ(rules.Decide(Ip("192.0.2.1")), Verdict::kNeutral);
  EXPECT_EQ(rules.Decide(Ip("::ffff:192.0.2.1")), Verdict::kNeutral);
}

TEST(IpRules, CountsAllowAndDenyVerdicts) {
  IpRules rules(Lists({"10.0.0.0/8"}, {"192.0.2.0/24"}));
  (void)rules.Decide(Ip("10.0.0.1"));
  (void)rules.Decide(Ip("10.0.0.2"));
  (void)rules.Decide(Ip("192.0.2.1"));
  (void)rules.Decide(Ip("198.51.100.1"));
  EXPECT_EQ(rules.counters().allowed, 2u);
  EXPECT_EQ(rules.counters().denied, 1u);
}

// ---- Reload ------------------------------------------------------------------------------------

TEST(IpRules, ReloadAddsRuntimeRulesBesideTheConfiguredOnes) {
  IpRules rules(Lists({"10.0.0.0/8"}, {}));
  EXPECT_TRUE(rules.Reload({Deny("203.0.113.0/24"), Allow("198.51.100.7")}));
  EXPECT_EQ(rules.Decide(Ip("10.0.0.1")), Verdict::kAllow);  // Configured, still there.
  EXPECT_EQ(rules.Decide(Ip("203.0.113.9")), Verdict::kDeny);
  EXPECT_EQ(rules.Decide(Ip("198.51.100.7")), Verdict::kAllow);
  EXPECT_EQ(rules.counters().reloads, 1u);
}

TEST(IpRules, ReloadReplacesThePreviousRuntimeRules) {
  IpRules rules(Lists({"10.0.0.0/8"}, {}));
  ASSERT_TRUE(rules.Reload({Deny("203.0.113.0/24")}));
  ASSERT_TRUE(rules.Reload({Deny("192.0.2.0/24")}));
  EXPECT_EQ(rules.Decide(Ip("203.0.113.9")), Verdict::kNeutral);
  EXPECT_EQ(rules.Decide(Ip("192.0.2.9")), Verdict::kDeny);

  ASSERT_TRUE(rules.Reload({}));
  EXPECT_EQ(rules.Decide(Ip("192.0.2.9")), Verdict::kNeutral);
  EXPECT_EQ(rules.Decide(Ip("10.0.0.1")), Verdict::kAllow);
}

TEST(IpRules, RuntimeDenyOverridesAConfiguredAllow) {
  // The incident case: the configuration trusts the office, an admin denies one host in it.
  IpRules rules(Lists({"172.16.0.0/12"}, {}));
  ASSERT_TRUE(rules.Reload({Deny("172.16.5.9")}));
  EXPECT_EQ(rules.Decide(Ip("172.16.5.9")), Verdict::kDeny);
  EXPECT_EQ(rules.Decide(Ip("172.16.5.8")), Verdict::kAllow);
}

TEST(IpRules, RuntimeAllowDoesNotOverrideAConfiguredDeny) {
  IpRules rules(Lists({}, {"203.0.113.0/24"}));
  ASSERT_TRUE(rules.Reload({Allow("203.0.113.5")}));
  EXPECT_EQ(rules.Decide(Ip("203.0.113.5")), Verdict::kDeny);
}

TEST(IpRules, ReloadWithTheSameRulesInAnyOrderChangesNothing) {
  IpRules rules;
  ASSERT_TRUE(rules.Reload({Deny("192.0.2.0/24"), Allow("10.0.0.0/8"), Deny("2001:db8::/32")}));
  EXPECT_FALSE(
      rules.Reload({Deny("2001:db8::/32"), Deny("192.0.2.0/24"), Allow("10.0.0.0/8")}));
  EXPECT_FALSE(rules.Reload({Allow("10.0.0.0/8"), Deny("2001:db8::/32"), Deny("192.0.2.0/24"),
                             Deny("192.0.2.0/24")}));  // A duplicate is the same rule set.
  EXPECT_EQ(rules.counters().reloads, 1u);
}

TEST(IpRules, RuntimeRulesAreSortedAndDeduplicated) {
  IpRules rules(Lists({"10.0.0.0/8"}, {}));
  ASSERT_TRUE(rules.Reload({Deny("192.0.2.0/24"), Allow("2001:db8::/32"), Allow("10.2.0.0/16"),
                            Deny("192.0.2.0/24"), Deny("192.0.1.0/24")}));
  const std::vector<IpRule> expected = {Allow("10.2.0.0/16"), Allow("2001:db8::/32"),
                                        Deny("192.0.1.0/24"), Deny("192.0.2.0/24")};
  EXPECT_EQ(rules.runtime(), expected);
  // The configured lists are reported apart, as given.
  ASSERT_EQ(rules.configured().allow.size(), 1u);
  EXPECT_EQ(ToString(rules.configured().allow[0]), "10.0.0.0/8");
}

TEST(IpRules, EmptyingTheRulesReturnsToNeutral) {
  IpRules rules;
  ASSERT_TRUE(rules.Reload({Deny("0.0.0.0/0")}));
  EXPECT_EQ(rules.Decide(Ip("192.0.2.1")), Verdict::kDeny);
  ASSERT_TRUE(rules.Reload({}));
  EXPECT_EQ(rules.Decide(Ip("192.0.2.1")), Verdict::kNeutral);
}

// Readers decide an address that every rule set in play either allows or denies, while a
// writer flips between the two sets. A reader that ever saw a half-built or empty list
// would answer kNeutral.
TEST(IpRules, ConcurrentDecideDuringReloadSeesWholeSnapshots) {
  IpRules rules(Lists({}, {"203.0.113.0/24"}));
  const std::vector<IpRule> set_a = {Deny("198.51.100.0/24"), Allow("10.0.0.0/8")};
  const std::vector<IpRule> set_b = {Allow("198.51.100.0/24"), Deny("10.0.0.0/8"),
                                     Allow("2001:db8::/32")};
  ASSERT_TRUE(rules.Reload(set_a));

  constexpr int kReaders = 4;
  constexpr int kFlips = 2000;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> decisions{0};
  std::atomic<std::uint64_t> neutral{0};
  std::atomic<std::uint64_t> wrong_fixed{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      const IpAddress flipping = Ip("198.51.100.77");
      const IpAddress fixed = Ip("203.0.113.1");
      std::uint64_t count = 0;
      // At least some work even if the writer finishes first.
      while (!done.load(std::memory_order_acquire) || count < 1000) {
        if (rules.Decide(flipping) == Verdict::kNeutral) neutral.fetch_add(1);
        if (rules.Decide(fixed) != Verdict::kDeny) wrong_fixed.fetch_add(1);
        count += 2;
      }
      decisions.fetch_add(count);
    });
  }
  int swapped = 0;  // Counted, not asserted in the loop: the readers must be joined first.
  for (int i = 0; i < kFlips; ++i) swapped += rules.Reload(i % 2 == 0 ? set_b : set_a) ? 1 : 0;
  done.store(true, std::memory_order_release);
  for (auto& reader : readers) reader.join();

  EXPECT_EQ(swapped, kFlips);
  EXPECT_EQ(neutral.load(), 0u);
  EXPECT_EQ(wrong_fixed.load(), 0u);
  // Every decision here matched a list, so the counters account for all of them.
  const IpRules::Counters counters = rules.counters();
  EXPECT_EQ(counters.allowed + counters.denied, decisions.load());
  EXPECT_EQ(counters.reloads, static_cast<std::uint64_t>(kFlips) + 1);
  // kFlips is even, so the last reload put set_a back.
  EXPECT_EQ(rules.Decide(Ip("198.51.100.77")), Verdict::kDeny);
}

// ---- ShadowedAllows ----------------------------------------------------------------------------

TEST(ShadowedAllows, NamesAllowEntriesThatADenyCovers) {
  const IpRuleSet set = Lists({"10.1.0.0/16", "10.0.0.0/8", "192.0.2.7", "2001:db8:1::/48",
                               "198.51.100.0/24"},
                              {"10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", "198.51.100.0/25"});
  const std::vector<Cidr> shadowed = ShadowedAllows(set);
  std::vector<std::string> names;
  for (const Cidr& cidr : shadowed) names.push_back(ToString(cidr));
  // 198.51.100.0/24 is only half covered, so it still exempts the upper half.
  EXPECT_EQ(names, (std::vector<std::string>{"10.1.0.0/16", "10.0.0.0/8", "192.0.2.7/32",
                                             "2001:db8:1::/48"}));
}

TEST(ShadowedAllows, FamiliesDoNotShadowEachOther) {
  const IpRuleSet set = Lists({"10.0.0.0/8"}, {"::/0"});
  EXPECT_TRUE(ShadowedAllows(set).empty());
}

}  // namespace
}  // namespace gatehouse::protect
