#include "core/mask.h"

#include <gtest/gtest.h>

namespace gatehouse::core {
namespace {

struct MaskCase {
  std::string input;
  std::string expected;
};

class MaskEmailTable : public testing::TestWithParam<MaskCase> {};

TEST_P(MaskEmailTable, Masks) { EXPECT_EQ(MaskEmail(GetParam().input), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(
    Table, MaskEmailTable,
    testing::Values(MaskCase{"john.doe@example.com", "j***@e***.com"},
                    MaskCase{"a@b.co", "a***@b***.co"},
                    MaskCase{"x@mail.example.co.uk", "x***@m***.uk"},
                    // Degenerate: no '@', nothing before or after it, no dot in the domain.
                    MaskCase{"", "***"}, MaskCase{"john.doe", "***"},
                    MaskCase{"@example.com", "***"}, MaskCase{"john@", "***"},
                    MaskCase{"john@localhost", "***"}, MaskCase{"john@.com", "***"},
                    MaskCase{"john@example.", "***"},
                    // The last '@' splits: a quoted local part may hold one.
                    MaskCase{"\"a@b\"@example.org", "\"***@e***.org"},
                    // Non-ASCII first characters are kept whole, never cut.
                    MaskCase{"\xc3\xa9lise@\xc3\xa9xample.fr", "\xc3\xa9***@\xc3\xa9***.fr"},
                    MaskCase{"\xe7\x94\xb0\xe4\xb8\xad@\xe4\xbe\x8b.\xe6\x97\xa5\xe6\x9c\xac",
                             "\xe7\x94\xb0***@\xe4\xbe\x8b***.\xe6\x97\xa5\xe6\x9c\xac"},
                    MaskCase{"\xf0\x9f\x98\x80@x.io", "\xf0\x9f\x98\x80***@x***.io"},
                    // Invalid UTF-8 and control characters are not shown.
                    MaskCase{"\xc3@example.com",
                             "*"
                             "***@e***.com"},
                    MaskCase{"\n@example.com",
                             "*"
                             "***@e***.com"},
                    MaskCase{"a@example.c\xff", "***"}, MaskCase{"a@example.c\nm", "***"}));

TEST(MaskEmail, LongInputGivesShortOutput) {
  std::string local(5000, 'a');
  std::string domain(5000, 'b');
  EXPECT_EQ(MaskEmail(local + "@" + domain + ".com"), "a***@b***.com");
  EXPECT_EQ(MaskEmail("a@b." + std::string(64, 'c')), "***");  // A TLD past 63 octets.
}

TEST(MaskEmail, OutputLengthDoesNotDependOnHiddenLength) {
  EXPECT_EQ(MaskEmail("jo@example.com").size(), MaskEmail("jonathan.q.public@e.com").size());
}

class MaskPhoneTable : public testing::TestWithParam<MaskCase> {};

TEST_P(MaskPhoneTable, Masks) { EXPECT_EQ(MaskPhone(GetParam().input), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(
    Table, MaskPhoneTable,
    testing::Values(MaskCase{"+14155552671", "+1*******71"},
                    MaskCase{"+44 20 7946 0958", "+4*******58"},
                    MaskCase{"+1 (415) 555-2671", "+1*******71"},
                    MaskCase{"415.555.2671", "*******71"}, MaskCase{"0041446681800", "*******00"},
                    MaskCase{"", "***"}, MaskCase{"+", "***"}, MaskCase{"123456", "***"},
                    MaskCase{"+1234567890123456", "***"},  // 16 digits: not E.164.
                    MaskCase{"+1415555267x", "***"}, MaskCase{"1+4155552671", "***"},
                    MaskCase{"\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95\xef"
                             "\xbc\x96\xef\xbc\x97",
                             "***"}));  // Full-width digits: not accepted as digits.

class MaskIpTable : public testing::TestWithParam<MaskCase> {};

TEST_P(MaskIpTable, Masks) { EXPECT_EQ(MaskIp(GetParam().input), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(Table, MaskIpTable,
                         testing::Values(MaskCase{"203.0.113.42", "203.0.113.0/24"},
                                         MaskCase{"2001:db8:85a3:1:2:3:4:5", "2001:db8:85a3::/48"},
                                         MaskCase{"::1", "::/48"}, MaskCase{"", "***"},
                                         MaskCase{"203.0.113", "***"},
                                         MaskCase{"example.com", "***"},
                                         MaskCase{"203.0.113.42:443", "***"}));

TEST(RedactToken, NeverShowsAnyPart) {
  EXPECT_EQ(RedactToken("eyJhbGciOiJIUzI1NiJ9.payload.sig"), "[redacted]");
  EXPECT_EQ(RedactToken(""), "[redacted]");
}

TEST(Utf8, SequenceLengthRejectsMalformedInput) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xc3\xa9", 0), 2u);
  EXPECT_EQ(Utf8SequenceLength("\xe2\x82\xac", 0), 3u);
  EXPECT_EQ(Utf8SequenceLength("\xf0\x9f\x98\x80", 0), 4u);
  EXPECT_EQ(Utf8SequenceLength("\xc0\xaf", 0), 0u);          // Overlong '/'.
  EXPECT_EQ(Utf8SequenceLength("\xe0\x80\xaf", 0), 0u);      // Overlong.
  EXPECT_EQ(Utf8SequenceLength("\xed\xa0\x80", 0), 0u);      // Surrogate U+D800.
  EXPECT_EQ(Utf8SequenceLength("\xf4\x90\x80\x80", 0), 0u);  // Past U+10FFFF.
  EXPECT_EQ(Utf8SequenceLength("\xe2\x82", 0), 0u);          // Truncated.
  EXPECT_EQ(Utf8SequenceLength("\x80", 0), 0u);              // Lone continuation.
}

TEST(Utf8, TruncateNeverCutsASequence) {
  const std::string text =
      "ab\xe2\x82\xac"
      "cd";  // "ab€cd"
  EXPECT_EQ(TruncateUtf8(text, 100), text);
  EXPECT_EQ(TruncateUtf8(text, 5), "ab\xe2\x82\xac");
  EXPECT_EQ(TruncateUtf8(text, 4), "ab");
  EXPECT_EQ(TruncateUtf8(text, 3), "ab");
  EXPECT_EQ(TruncateUtf8(text, 2), "ab");
  EXPECT_EQ(TruncateUtf8(text, 0), "");
}

}  // namespace
}  // namespace gatehouse::core
