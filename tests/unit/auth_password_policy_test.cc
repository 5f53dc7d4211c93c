#include "auth/password_policy.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace gatehouse::auth {
namespace {

const std::filesystem::path kShippedList =
    std::filesystem::path(GATEHOUSE_SOURCE_DIR) / "data" / "common-passwords.txt";

using CodeList = std::vector<std::string_view>;

CodeList Codes(const std::vector<PolicyViolation>& violations) {
  CodeList codes;
  for (const PolicyViolation& v : violations) codes.push_back(v.code);
  return codes;
}

// A small list is enough for the rule tests; the shipped list has its own tests below.
PasswordBlocklist SmallList() {
  auto list = PasswordBlocklist::FromText("password\nqwerty123\nPassw0rd!\nletmein\n");
  EXPECT_TRUE(list.ok());
  return std::move(list).value();
}

// A password that satisfies every class: upper, lower, digit, symbol.
std::string Fill(std::size_t bytes) {
  std::string password = "Aa1!";
  while (password.size() < bytes) password += 'x';
  return password.substr(0, bytes);
}

class PasswordPolicyTest : public ::testing::Test {
 protected:
  CodeList Check(std::string_view password, std::string_view email = "someone@example.com") {
    return Codes(CheckPassword(password, policy_, list_, email));
  }

  PasswordPolicy policy_;
  PasswordBlocklist list_ = SmallList();
};

TEST_F(PasswordPolicyTest, AcceptsAGoodPassword) {
  EXPECT_EQ(Check("Tr0ub4dor&3x"), CodeList{});
  EXPECT_EQ(Check("correct Horse battery 9"), CodeList{});
}

TEST_F(PasswordPolicyTest, MinimumBoundaryIs8Bytes) {
  EXPECT_EQ(Check(Fill(7)), CodeList{password_rule::kTooShort});
  EXPECT_EQ(Check(Fill(8)), CodeList{});
}

TEST_F(PasswordPolicyTest, MaximumBoundaryIs256Bytes) {
  EXPECT_EQ(Check(Fill(256)), CodeList{});
  EXPECT_EQ(Check(Fill(257)), CodeList{password_rule::kTooLong});
}

TEST_F(PasswordPolicyTest, OverlongInputIsRefusedWithoutFurtherChecks) {
  // Breaks every other rule too, but only the length is reported: nothing else ran.
  std::string huge(100000, '\0');
  EXPECT_EQ(Check(huge), CodeList{password_rule::kTooLong});
}

TEST_F(PasswordPolicyTest, EmptyPasswordNamesEveryRuleItBreaks) {
  EXPECT_EQ(Check(""), (CodeList{password_rule::kTooShort, password_rule::kMissingUpper,
                                 password_rule::kMissingLower, password_rule::kMissingDigit,
                                 password_rule::kMissingSymbol}));
}

TEST_F(PasswordPolicyTest, EachClassIsRequired) {
  EXPECT_EQ(Check("aaaa1111!!!!"), CodeList{password_rule::kMissingUpper});
  EXPECT_EQ(Check("AAAA1111!!!!"), CodeList{password_rule::kMissingLower});
  EXPECT_EQ(Check("AAAAaaaa!!!!"), CodeList{password_rule::kMissingDigit});
  EXPECT_EQ(Check("AAAAaaaa1111"), CodeList{password_rule::kMissingSymbol});
}

TEST_F(PasswordPolicyTest, SpaceCountsAsSymbol) { EXPECT_EQ(Check("Aaaa 1111"), CodeList{}); }

TEST_F(PasswordPolicyTest, NonAsciiLettersCountAsSymbolsNotCase) {
  // "É" (C3 89) and "ж" (D0 B6) are letters, but only ASCII letters fill the case classes.
  EXPECT_EQ(Check("\xC3\x89\xC3\x89\xC3\x89"
                  "abc123"),
            CodeList{password_rule::kMissingUpper});
  EXPECT_EQ(Check("\xD0\xB6\xD0\xB6\xD0\xB6"
                  "ABC123"),
            CodeList{password_rule::kMissingLower});
  EXPECT_EQ(Check("\xD0\xB6"
                  "Abcdef1"),
            CodeList{});
}

TEST_F(PasswordPolicyTest, MultibyteCharactersCountInBytes) {
  // Five characters, six bytes: "Aa1" + U+00E9 + "x" is 3 + 2 + 1 bytes, too short.
  EXPECT_EQ(Check("Aa1\xC3\xA9x"), CodeList{password_rule::kTooShort});
  // Four euro signs (3 bytes each) plus "Aa1" are 7 characters but 15 bytes.
  EXPECT_EQ(Check("Aa1\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC"), CodeList{});
  // 86 euro signs are 258 bytes: over 256 though only 86 characters.
  std::string euros;
  for (int i = 0; i < 86; ++i) euros += "\xE2\x82\xAC";
  EXPECT_EQ(Check(euros), CodeList{password_rule::kTooLong});
}

TEST_F(PasswordPolicyTest, ControlCharactersAreRefused) {
  const std::vector<std::string> cases = {
      std::string("Aa1!good\0pass", 13),  // NUL
      "Aa1!good\tpass",                   // tab
      "Aa1!good\rpass",                   // CR
      "Aa1!good\npass",                   // LF
      "Aa1!good\x7fpass",                 // DEL
      "Aa1!good\xC2\x85pass",             // U+0085 NEXT LINE (C1)
  };
  for (const std::string& password : cases) {
    EXPECT_EQ(Check(password), CodeList{password_rule::kControlCharacter})
        << testing::PrintToString(password);
  }
}

TEST_F(PasswordPolicyTest, C1RangeIsExact) {
  // U+00A0 (C2 A0, no-break space) is printable and counts as a symbol; U+009F is C1.
  EXPECT_EQ(Check("Aaaa1111\xC2\xA0"), CodeList{});
  EXPECT_EQ(Check("Aaaa1111!\xC2\x9F"), CodeList{password_rule::kControlCharacter});
}

TEST_F(PasswordPolicyTest, ControlCharacterIsNotASymbol) {
  EXPECT_EQ(Check("Aaaa1111\t"),
            (CodeList{password_rule::kControlCharacter, password_rule::kMissingSymbol}));
}

TEST_F(PasswordPolicyTest, BlocklistMatchIgnoresCase) {
  // Complexity off, so that the all-lower and all-upper spellings answer only to the list.
  policy_.require_complexity = false;
  for (std::string_view password : {"Passw0rd!", "passw0rd!", "PASSW0RD!", "pAsSw0Rd!"}) {
    EXPECT_EQ(Check(password), CodeList{password_rule::kCommonPassword}) << password;
  }
}

TEST_F(PasswordPolicyTest, BlocklistNeedsTheWholePassword) {
  EXPECT_EQ(Check("Passw0rd!x"), CodeList{});
}

TEST_F(PasswordPolicyTest, PasswordIsNotTrimmed) {
  // " Passw0rd!" is a different password from the listed one, and is checked as such.
  EXPECT_EQ(Check(" Passw0rd!"), CodeList{});
}

TEST_F(PasswordPolicyTest, EmailLocalPartIsForbiddenIgnoringCase) {
  EXPECT_EQ(Check("JohnSmith1!", "johnsmith@example.com"), CodeList{password_rule::kContainsEmail});
  EXPECT_EQ(Check("My-jOhNsMiTh-9", "JohnSmith@example.com"),
            CodeList{password_rule::kContainsEmail});
  EXPECT_EQ(Check("X1!john", "john@example.com"),
            (CodeList{password_rule::kTooShort, password_rule::kContainsEmail}));
}

TEST_F(PasswordPolicyTest, ShortLocalPartIsNotSearched) {
  EXPECT_EQ(Check("Bobcat-2024", "bob@example.com"), CodeList{});
  EXPECT_EQ(Check("Bobcat-2024", "bobc@example.com"), CodeList{password_rule::kContainsEmail});
}

TEST_F(PasswordPolicyTest, EmailContextIsOptional) {
  EXPECT_EQ(Check("Tr0ub4dor&3x", ""), CodeList{});
  // Without an '@' the whole identifier is the name part.
  EXPECT_EQ(Check("Tr0ub4dor&3x", "troub"), CodeList{});
  EXPECT_EQ(Check("Tr0ub4dor&3x", "tr0ub4"), CodeList{password_rule::kContainsEmail});
}

TEST_F(PasswordPolicyTest, SeveralViolationsAreAllNamedInOrder) {
  // "letmein": too short, no upper, no digit, no symbol, on the list, holds the name part.
  EXPECT_EQ(Check("letmein", "letmein@example.com"),
            (CodeList{password_rule::kTooShort, password_rule::kMissingUpper,
                      password_rule::kMissingDigit, password_rule::kMissingSymbol,
                      password_rule::kCommonPassword, password_rule::kContainsEmail}));
  EXPECT_EQ(Check(std::string("pass\0", 5), "pass@example.com"),
            (CodeList{password_rule::kTooShort, password_rule::kControlCharacter,
                      password_rule::kMissingUpper, password_rule::kMissingDigit,
                      password_rule::kMissingSymbol, password_rule::kContainsEmail}));
}

TEST_F(PasswordPolicyTest, ComplexityCanBeSwitchedOff) {
  policy_.require_complexity = false;
  EXPECT_EQ(Check("alllowercase"), CodeList{});
  EXPECT_EQ(Check("password"), CodeList{password_rule::kCommonPassword});
  EXPECT_EQ(Check("short"), CodeList{password_rule::kTooShort});
}

TEST_F(PasswordPolicyTest, MessagesNeverEchoThePasswordOrEmail) {
  auto violations = CheckPassword("secretword", policy_, list_, "secretword@example.com");
  ASSERT_FALSE(violations.empty());
  for (const PolicyViolation& v : violations) {
    EXPECT_FALSE(v.message.empty()) << v.code;
    EXPECT_EQ(v.message.find("secretword"), std::string::npos) << v.code;
  }
}

TEST_F(PasswordPolicyTest, ConfiguredBoundsApply) {
  policy_.min_bytes = 12;
  policy_.max_bytes = 64;
  EXPECT_EQ(Check(Fill(11)), CodeList{password_rule::kTooShort});
  EXPECT_EQ(Check(Fill(12)), CodeList{});
  EXPECT_EQ(Check(Fill(64)), CodeList{});
  EXPECT_EQ(Check(Fill(65)), CodeList{password_rule::kTooLong});
}

TEST(PasswordPolicyConfig, DefaultsAreValid) { EXPECT_TRUE(ValidatePasswordPolicy({}).ok()); }

TEST(PasswordPolicyConfig, RefusesWeakOrInconsistentBounds) {
  const std::vector<PasswordPolicy> bad = {
      {.min_bytes = 7, .max_bytes = 256},   // below the product minimum
      {.min_bytes = 8, .max_bytes = 63},    // refuses long passphrases
      {.min_bytes = 8, .max_bytes = 4097},  // above what the hasher takes
      {.min_bytes = 100, .max_bytes = 99},  // inconsistent
  };
  for (const PasswordPolicy& policy : bad) {
    auto status = ValidatePasswordPolicy(policy);
    ASSERT_FALSE(status.ok()) << policy.min_bytes << ".." << policy.max_bytes;
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(ValidatePasswordPolicy({.min_bytes = 8, .max_bytes = 64}).ok());
  EXPECT_TRUE(ValidatePasswordPolicy({.min_bytes = 8, .max_bytes = 4096}).ok());
}

TEST(PasswordBlocklist, ShippedListLoads) {
  auto list = PasswordBlocklist::Load(kShippedList);
  ASSERT_TRUE(list.ok()) << list.error().detail();
  EXPECT_GE(list->size(), 10000u);
  for (std::string_view common :
       {"123456", "password", "qwerty", "letmein", "PASSWORD", "Dragon", "p@ssw0rd", "trustno1"}) {
    EXPECT_TRUE(list->Contains(common)) << common;
  }
  EXPECT_FALSE(list->Contains("Tr0ub4dor&3x-gatehouse"));
  EXPECT_FALSE(list->Contains(""));
}

TEST(PasswordBlocklist, ShippedFileIsLowerCaseSortedAndUnique) {
  std::ifstream file(kShippedList);
  ASSERT_TRUE(file.good());
  std::string previous;
  std::string line;
  std::size_t count = 0;
  while (std::getline(file, line)) {
    ASSERT_FALSE(line.empty()) << "line " << count + 1;
    for (char c : line) EXPECT_FALSE(c >= 'A' && c <= 'Z') << line;
    if (count > 0) {
      EXPECT_LT(previous, line);
    }
    previous = line;
    ++count;
  }
  auto list = PasswordBlocklist::Load(kShippedList);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), count);
}

TEST(PasswordBlocklist, ShippedListRejectsCommonPasswordsThatMeetComplexity) {
  auto list = PasswordBlocklist::Load(kShippedList);
  ASSERT_TRUE(list.ok());
  // On the list, and long and varied enough to pass every other rule.
  EXPECT_EQ(Codes(CheckPassword("P@ssw0rd", PasswordPolicy{}, *list, "")),
            CodeList{password_rule::kCommonPassword});
}

TEST(PasswordBlocklist, ParsesLinesFoldsCaseAndDeduplicates) {
  auto list = PasswordBlocklist::FromText("Zebra\r\n\napple\nAPPLE\n#hash\nlast-no-newline");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 4u);
  EXPECT_TRUE(list->Contains("zebra"));
  EXPECT_TRUE(list->Contains("ZEBRA"));
  EXPECT_FALSE(list->Contains("zebra\r"));
  EXPECT_TRUE(list->Contains("Apple"));
  EXPECT_TRUE(list->Contains("#HASH"));
  EXPECT_TRUE(list->Contains("last-no-newline"));
  EXPECT_FALSE(list->Contains("appl"));
  EXPECT_FALSE(list->Contains("apples"));
}

TEST(PasswordBlocklist, LookupOrdersBytesAboveAscii) {
  // Entries on both sides of the 0x80 boundary: the search must order bytes as unsigned.
  auto list = PasswordBlocklist::FromText("m\xC3\xBCller\nmuller\nzzz\n~tilde\n");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->Contains("M\xC3\xBCLLER"));
  EXPECT_TRUE(list->Contains("Muller"));
  EXPECT_TRUE(list->Contains("ZZZ"));
  EXPECT_TRUE(list->Contains("~tilde"));
  EXPECT_FALSE(list->Contains("m\xC3\xBC"));
}

TEST(PasswordBlocklist, RefusesEmptyOrControlCharacterLists) {
  for (std::string_view text : {"", "\n\n\r\n"}) {
    auto list = PasswordBlocklist::FromText(text);
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.error().code(), ErrorCode::kInvalidArgument);
  }
  auto control = PasswordBlocklist::FromText("good\nba\td\n");
  ASSERT_FALSE(control.ok());
  EXPECT_NE(control.error().detail().find("line 2"), std::string::npos);
  auto nul = PasswordBlocklist::FromText(std::string_view("good\nba\0d\n", 10));
  ASSERT_FALSE(nul.ok());
}

TEST(PasswordBlocklist, MissingFileIsNotFound) {
  auto list = PasswordBlocklist::Load(std::filesystem::path(GATEHOUSE_SOURCE_DIR) / "data" /
                                      "no-such-list.txt");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code(), ErrorCode::kNotFound);
}

TEST(PasswordBlocklist, LoadsAFileWithCrLfLines) {
  auto path = std::filesystem::temp_directory_path() /
              ("gatehouse-blocklist-test-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream out(path, std::ios::binary);
    out << "Alpha\r\nbeta\r\n";
  }
  auto list = PasswordBlocklist::Load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(list.ok()) << list.error().detail();
  EXPECT_EQ(list->size(), 2u);
  EXPECT_TRUE(list->Contains("ALPHA"));
  EXPECT_TRUE(list->Contains("beta"));
}

}  // namespace
}  // namespace gatehouse::auth
