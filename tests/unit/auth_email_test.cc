#include "auth/email.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gatehouse::auth {
namespace {

std::string Repeat(char c, std::size_t n) { return std::string(n, c); }

// A domain of exactly `length` octets (length >= 5): 63-octet labels joined by dots,
// ending in a short alphabetic TLD.
std::string DomainOfLength(std::size_t length) {
  std::string domain;
  std::size_t remaining = length - 4;  // room before ".com"
  while (remaining > 0) {
    if (!domain.empty()) {
      domain += '.';
      --remaining;
    }
    std::size_t label = std::min<std::size_t>(remaining, 63);
    // Never leave a lone dot at the end: keep at least 2 octets for the next label.
    if (remaining - label == 1) --label;
    domain += Repeat('d', label);
    remaining -= label;
  }
  return domain + ".com";
}

struct RejectCase {
  std::string name;
  std::string input;
  std::string_view rule;
};

TEST(Email, AcceptsPracticalAddresses) {
  for (std::string input :
       {"alice@example.com", "a@b.co", "first.last@sub.example.org", "user+tag@example.com",
        "o'brien@example.ie", "!#$%&'*+-/=?^_`{|}~@example.com", "x@xn--bcher-kva.example",
        "user@123.example.com", "user@a-b.c1", "UPPER@EXAMPLE.COM"}) {
    auto parsed = NormalizeEmail(input);
    ASSERT_TRUE(parsed.ok()) << input << ": " << parsed.error().detail();
    EXPECT_EQ(parsed->display, input);
  }
}

TEST(Email, NormalFormLowerCasesLocalPartAndDomain) {
  auto parsed = NormalizeEmail("John.Doe+News@Example.COM");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->normalized, "john.doe+news@example.com");
  EXPECT_EQ(parsed->display, "John.Doe+News@Example.COM");
}

TEST(Email, CaseVariantsShareOneNormalForm) {
  auto a = NormalizeEmail("Alice@Example.com");
  auto b = NormalizeEmail("aLICE@example.COM");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->normalized, b->normalized);
}

TEST(Email, ProviderAliasesAreNotMerged) {
  // Dots and +tags are meaningful at most providers; only case is folded.
  auto dotted = NormalizeEmail("j.doe@gmail.com");
  auto plain = NormalizeEmail("jdoe@gmail.com");
  auto tagged = NormalizeEmail("jdoe+x@gmail.com");
  ASSERT_TRUE(dotted.ok() && plain.ok() && tagged.ok());
  EXPECT_NE(dotted->normalized, plain->normalized);
  EXPECT_NE(tagged->normalized, plain->normalized);
}

TEST(Email, LocalPartBoundaryIs64Octets) {
  std::string at_limit = Repeat('l', 64) + "@example.com";
  std::string over = Repeat('l', 65) + "@example.com";
  EXPECT_TRUE(NormalizeEmail(at_limit).ok());
  auto rejected = NormalizeEmail(over);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().detail(), email_rule::kLocalPartTooLong);
}

TEST(Email, TotalBoundaryIs254Octets) {
  std::string at_limit = Repeat('l', 64) + "@" + DomainOfLength(189);
  std::string over = Repeat('l', 64) + "@" + DomainOfLength(190);
  ASSERT_EQ(at_limit.size(), 254u);
  ASSERT_EQ(over.size(), 255u);
  auto accepted = NormalizeEmail(at_limit);
  EXPECT_TRUE(accepted.ok()) << accepted.error().detail();
  auto rejected = NormalizeEmail(over);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().detail(), email_rule::kTooLong);
}

TEST(Email, LongestPossibleDomainIs252Octets) {
  std::string longest = "u@" + DomainOfLength(252);
  ASSERT_EQ(longest.size(), 254u);
  EXPECT_TRUE(NormalizeEmail(longest).ok());
  auto rejected = NormalizeEmail("u@" + DomainOfLength(253));
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().detail(), email_rule::kTooLong);
}

TEST(Email, LabelBoundaryIs63Octets) {
  EXPECT_TRUE(NormalizeEmail("u@" + Repeat('a', 63) + ".com").ok());
  EXPECT_TRUE(NormalizeEmail("u@example." + Repeat('t', 63)).ok());
  auto rejected = NormalizeEmail("u@" + Repeat('a', 64) + ".com");
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().detail(), email_rule::kLabelTooLong);
  auto tld = NormalizeEmail("u@example." + Repeat('t', 64));
  ASSERT_FALSE(tld.ok());
  EXPECT_EQ(tld.error().detail(), email_rule::kLabelTooLong);
}

TEST(Email, RejectsEachRuleByName) {
  const std::vector<RejectCase> cases = {
      {"empty", "", email_rule::kEmpty},
      {"nul", std::string("a\0b@example.com", 15), email_rule::kControlOrWhitespace},
      {"tab", "a\tb@example.com", email_rule::kControlOrWhitespace},
      {"cr", "ab@example.com\r", email_rule::kControlOrWhitespace},
      {"lf header injection", "ab@example.com\nBcc: x@evil.example",
       email_rule::kControlOrWhitespace},
      {"leading space", " ab@example.com", email_rule::kControlOrWhitespace},
      {"trailing space", "ab@example.com ", email_rule::kControlOrWhitespace},
      {"inner space", "a b@example.com", email_rule::kControlOrWhitespace},
      {"del", "ab\x7f@example.com", email_rule::kControlOrWhitespace},
      {"non-ascii local", "jos\xC3\xA9@example.com", email_rule::kNonAscii},
      {"non-ascii domain",
       "user@b\xC3\xBC"
       "cher.example",
       email_rule::kNonAscii},
      {"fullwidth at",
       "user\xEF\xBC\xA0"
       "example.com",
       email_rule::kNonAscii},
      {"quoted local", "\"john doe\"@example.com", email_rule::kControlOrWhitespace},
      {"quoted local no space", "\"john\"@example.com", email_rule::kQuotedLocalPart},
      {"quoted with at", "\"a@b\"@example.com", email_rule::kQuotedLocalPart},
      {"backslash", "a\\b@example.com", email_rule::kQuotedLocalPart},
      {"comment", "john(work)@example.com", email_rule::kComment},
      {"domain comment", "john@example.com(x)", email_rule::kComment},
      {"no at", "john.example.com", email_rule::kMissingAt},
      {"two ats", "a@b@example.com", email_rule::kMultipleAt},
      {"empty local", "@example.com", email_rule::kLocalPartEmpty},
      {"bad local char", "a<b@example.com", email_rule::kLocalPartCharacter},
      {"comma", "a,b@example.com", email_rule::kLocalPartCharacter},
      {"leading dot", ".john@example.com", email_rule::kLocalPartDot},
      {"trailing dot", "john.@example.com", email_rule::kLocalPartDot},
      {"double dot", "jo..hn@example.com", email_rule::kLocalPartDot},
      {"empty domain", "john@", email_rule::kDomainEmpty},
      {"address literal", "john@[192.0.2.1]", email_rule::kAddressLiteral},
      {"dotless domain", "john@localhost", email_rule::kDomainNoDot},
      {"domain leading dot", "john@.example.com", email_rule::kLabelEmpty},
      {"domain trailing dot", "john@example.com.", email_rule::kLabelEmpty},
      {"domain double dot", "john@example..com", email_rule::kLabelEmpty},
      {"underscore in domain", "john@ex_ample.com", email_rule::kLabelCharacter},
      {"plus in domain", "john@ex+ample.com", email_rule::kLabelCharacter},
      {"label leading hyphen", "john@-example.com", email_rule::kLabelHyphen},
      {"label trailing hyphen", "john@example-.com", email_rule::kLabelHyphen},
      {"tld hyphen", "john@example.com-", email_rule::kLabelHyphen},
      {"numeric tld", "john@example.123", email_rule::kNumericTld},
      {"ipv4", "john@192.0.2.1", email_rule::kNumericTld},
  };
  for (const RejectCase& c : cases) {
    auto result = NormalizeEmail(c.input);
    ASSERT_FALSE(result.ok()) << c.name;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << c.name;
    EXPECT_EQ(result.error().detail(), c.rule) << c.name;
    EXPECT_FALSE(result.error().message().empty()) << c.name;
  }
}

TEST(Email, OversizedInputIsRefusedBeforeAnyOtherRule) {
  // 300 octets of which the first is a NUL: the size cap answers, not the character scan.
  std::string input = std::string(1, '\0') + Repeat('a', 299);
  auto result = NormalizeEmail(input);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().detail(), email_rule::kTooLong);
}

TEST(Email, NonAsciiRefusalNamesTheAsciiForm) {
  auto result = NormalizeEmail(
      "user@b\xC3\xBC"
      "cher.example");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message().find("non-ASCII"), std::string::npos);
  EXPECT_NE(result.error().message().find("xn--"), std::string::npos);
}

TEST(Email, ErrorsNeverEchoTheAddress) {
  for (std::string input : {"secret.person@example..com", "secret.person@localhost",
                            "secret.person(x)@example.com", "secret..person@example.com"}) {
    auto result = NormalizeEmail(input);
    ASSERT_FALSE(result.ok()) << input;
    EXPECT_EQ(result.error().message().find("secret"), std::string::npos) << input;
    EXPECT_EQ(result.error().detail().find("secret"), std::string::npos) << input;
  }
}

}  // namespace
}  // namespace gatehouse::auth
