#include "auth/api_key_format.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

namespace gatehouse::auth {
namespace {

std::string NewKey(KeyEnvironment environment = KeyEnvironment::kLive) {
  return std::string(GenerateApiKey(environment).reveal());
}

// `key` with the character at `index` replaced by another base62 character.
std::string WithCharChanged(std::string key, std::size_t index) {
  key[index] = key[index] == 'a' ? 'b' : 'a';
  return key;
}

TEST(ApiKeyFormat, Crc32MatchesTheStandardCheckValue) {
  // The check value of CRC-32/ISO-HDLC (zlib's crc32) over "123456789".
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
  EXPECT_EQ(Crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
}

TEST(ApiKeyFormat, Base62FixedPadsAndOrdersDigits) {
  EXPECT_EQ(Base62Fixed(0, 6), "000000");
  EXPECT_EQ(Base62Fixed(61, 6), "00000z");
  EXPECT_EQ(Base62Fixed(62, 6), "000010");
  // 2^32 - 1 = 4 * 62^5 + ...: six digits always hold a CRC-32.
  EXPECT_EQ(Base62Fixed(0xFFFFFFFFu, 6), "4gfFC3");
}

TEST(ApiKeyFormat, GeneratedKeysHaveThePublishedShape) {
  const std::regex live("gh_live_[0-9A-Za-z]{58}");
  const std::regex test("gh_test_[0-9A-Za-z]{58}");
  EXPECT_TRUE(std::regex_match(NewKey(KeyEnvironment::kLive), live));
  EXPECT_TRUE(std::regex_match(NewKey(KeyEnvironment::kTest), test));
  EXPECT_EQ(NewKey().size(), kApiKeyLength);
  EXPECT_EQ(kApiKeyLength, 66u);
}

TEST(ApiKeyFormat, RandomPartCarriesAtLeast256HiddenBits) {
  // log2(62) = 5.954 bits per character; the display prefix shows some of them.
  const double hidden_bits = (kApiKeyRandomChars - kApiKeyDisplayChars) * 5.954;
  EXPECT_GE(hidden_bits, 256.0);
}

TEST(ApiKeyFormat, ChecksumIsTheCrcOfEverythingBeforeIt) {
  const std::string key = NewKey();
  const std::string body = key.substr(0, kApiKeyPrefixChars + kApiKeyRandomChars);
  EXPECT_EQ(key.substr(body.size()), Base62Fixed(Crc32(body), kApiKeyChecksumChars));
}

TEST(ApiKeyFormat, GeneratedKeysAreDistinctAndUseTheWholeAlphabet) {
  std::set<std::string> keys;
  std::set<char> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string key = NewKey();
    keys.insert(key);
    for (std::size_t j = kApiKeyPrefixChars; j < kApiKeyPrefixChars + kApiKeyRandomChars; ++j) {
      seen.insert(key[j]);
    }
  }
  EXPECT_EQ(keys.size(), 200u);
  EXPECT_EQ(seen.size(), 62u);  // 10,400 draws from 62 characters miss none.
}

TEST(ApiKeyFormat, AcceptsOnlyItsOwnEnvironment) {
  const std::string live = NewKey(KeyEnvironment::kLive);
  EXPECT_EQ(CheckApiKeyFormat(live, KeyEnvironment::kLive), KeyFormatError::kNone);
  EXPECT_EQ(CheckApiKeyFormat(live, KeyEnvironment::kTest), KeyFormatError::kWrongEnvironment);
  const std::string test = NewKey(KeyEnvironment::kTest);
  EXPECT_EQ(CheckApiKeyFormat(test, KeyEnvironment::kTest), KeyFormatError::kNone);
  EXPECT_EQ(CheckApiKeyFormat(test, KeyEnvironment::kLive), KeyFormatError::kWrongEnvironment);
}

struct BadKey {
  std::string name;
  std::string text;
  KeyFormatError expected;
};

std::vector<BadKey> BadKeys() {
  const std::string key = NewKey();
  std::string with_space = key;
  with_space[20] = ' ';
  std::string with_nul = key;
  with_nul[30] = '\0';
  std::string with_utf8 = key.substr(0, 64) + "\xC3\xA9";  // Same length, non-ASCII.
  std::string swapped = key;
  std::swap(swapped[10], swapped[11]);
  if (swapped == key) std::swap(swapped[12], swapped[14]);
  return {
      {"Empty", "", KeyFormatError::kWrongPrefix},
      {"OtherProduct", "ghp_" + key.substr(4), KeyFormatError::kWrongPrefix},
      {"UpperCasePrefix", "GH_LIVE_" + key.substr(8), KeyFormatError::kWrongPrefix},
      {"PrefixOnly", "gh_live_", KeyFormatError::kWrongLength},
      {"OneShort", key.substr(0, key.size() - 1), KeyFormatError::kWrongLength},
      {"OneLong", key + "0", KeyFormatError::kWrongLength},
      {"Padded", key + "\n", KeyFormatError::kWrongLength},
      {"Space", with_space, KeyFormatError::kNotBase62},
      {"Nul", with_nul, KeyFormatError::kNotBase62},
      {"NonAscii", with_utf8, KeyFormatError::kNotBase62},
      {"TypoInRandomPart", WithCharChanged(key, 30), KeyFormatError::kBadChecksum},
      {"TypoInChecksum", WithCharChanged(key, key.size() - 1), KeyFormatError::kBadChecksum},
      {"SwappedCharacters", swapped, KeyFormatError::kBadChecksum},
  };
}

class ApiKeyFormatBad : public ::testing::TestWithParam<BadKey> {};

TEST_P(ApiKeyFormatBad, IsRefusedForItsReason) {
  const BadKey& row = GetParam();
  EXPECT_EQ(CheckApiKeyFormat(row.text, KeyEnvironment::kLive), row.expected)
      << KeyFormatErrorCode(CheckApiKeyFormat(row.text, KeyEnvironment::kLive));
  EXPECT_FALSE(KeyFormatErrorMessage(row.expected).empty());
}

INSTANTIATE_TEST_SUITE_P(Table, ApiKeyFormatBad, ::testing::ValuesIn(BadKeys()),
                         [](const ::testing::TestParamInfo<BadKey>& info) {
                           return info.param.name;
                         });

TEST(ApiKeyFormat, EverySingleCharacterTypoIsCaught) {
  // CRC-32 detects every single-character change of a message this short.
  const std::string key = NewKey();
  for (std::size_t i = kApiKeyPrefixChars; i < key.size(); ++i) {
    EXPECT_EQ(CheckApiKeyFormat(WithCharChanged(key, i), KeyEnvironment::kLive),
              KeyFormatError::kBadChecksum)
        << "position " << i;
  }
}

TEST(ApiKeyFormat, DisplayPrefixShowsPrefixAndEightCharacters) {
  const std::string key = NewKey();
  EXPECT_EQ(DisplayPrefix(key), key.substr(0, 16));
  EXPECT_TRUE(DisplayPrefix(key).starts_with("gh_live_"));
}

}  // namespace
}  // namespace gatehouse::auth
