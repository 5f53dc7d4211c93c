#include "crypto/encoding.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/random.h"

namespace gatehouse::crypto {
namespace {

std::string Text(const std::vector<std::uint8_t>& bytes) { return std::string(AsChars(bytes)); }

// RFC 4648 section 10 test vectors, in both alphabets.
struct Rfc4648Case {
  std::string plain;
  std::string base64;
  std::string base64url;
};

const Rfc4648Case kRfc4648Cases[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(Base64, EncodesRfc4648Vectors) {
  for (const auto& c : kRfc4648Cases) {
    EXPECT_EQ(Base64Encode(c.plain), c.base64) << c.plain;
    EXPECT_EQ(Base64UrlEncode(c.plain), c.base64url) << c.plain;
  }
}

TEST(Base64, DecodesRfc4648Vectors) {
  for (const auto& c : kRfc4648Cases) {
    auto standard = Base64Decode(c.base64);
    ASSERT_TRUE(standard.ok()) << c.base64;
    EXPECT_EQ(Text(*standard), c.plain);
    auto url = Base64UrlDecode(c.base64url);
    ASSERT_TRUE(url.ok()) << c.base64url;
    EXPECT_EQ(Text(*url), c.plain);
  }
}

TEST(Base64, AlphabetsDifferInTheLastTwoCharacters) {
  const std::vector<std::uint8_t> bytes = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64Encode(bytes), "+/+/");
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_FALSE(Base64Decode("-_-_").ok());
  EXPECT_FALSE(Base64UrlDecode("+/+/").ok());
}

TEST(Base64, RejectsNonCanonicalStandardInput) {
  const char* kBad[] = {
      "Zg",        // padding missing
      "Zg=",       // padding short
      "Zg===",     // length not a multiple of 4
      "Z===",      // three pad characters
      "====",      // only padding
      "Zh==",      // non-zero trailing bits (decodes to "f" if lenient)
      "Zm9=",      // non-zero trailing bits in a two-byte group
      "Zg==Zg==",  // padding in the middle
      "Zm9v\n",    // line break
      "Zm 9v",     // space
      "Zm9v====",  // too much padding
  };
  for (const char* text : kBad) {
    auto decoded = Base64Decode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(decoded.error().message(), "malformed base64");
  }
}

TEST(Base64Url, RejectsNonCanonicalInput) {
  const std::string kBad[] = {
      "Zg==",                   // padding is not part of base64url here
      "Zm8=",                   //
      "Zh",                     // non-zero trailing bits
      "Zm9",                    // non-zero trailing bits in a two-byte group
      "Zm9vY",                  // length 1 mod 4 cannot encode whole bytes
      "Z",                      //
      "Zm9v.",                  // outside the alphabet
      std::string("Zm\0v", 4),  // NUL
      "Zm\xc3\xa9v",            // non-ASCII
  };
  for (const std::string& text : kBad) {
    auto decoded = Base64UrlDecode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(Base64Url, ErrorsDoNotEchoInput) {
  auto decoded = Base64UrlDecode("secret-token-value!");
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().message().find("secret"), std::string::npos);
  EXPECT_EQ(decoded.error().detail().find("secret"), std::string::npos);
  EXPECT_EQ(decoded.error().detail(), "bad character at offset 18");
}

TEST(Hex, EncodesLowercase) {
  const std::vector<std::uint8_t> bytes = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(HexEncode(bytes), "0001abff");
  EXPECT_EQ(HexEncode(std::string_view("")), "");
}

TEST(Hex, DecodesAndRejectsNonCanonicalInput) {
  auto decoded = HexDecode("0001abff");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, (std::vector<std::uint8_t>{0x00, 0x01, 0xab, 0xff}));
  EXPECT_TRUE(HexDecode("").ok());

  EXPECT_FALSE(HexDecode("ABFF").ok());  // upper case: a second spelling
  EXPECT_FALSE(HexDecode("abf").ok());   // odd length
  EXPECT_FALSE(HexDecode("zz").ok());    // outside the alphabet
  EXPECT_FALSE(HexDecode("0x00").ok());  // prefix
  auto bad = HexDecode("00g0");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().detail(), "bad character at offset 2");
}

TEST(Encoding, RoundTripsEveryLengthUpTo64) {
  for (std::size_t n = 0; n <= 64; ++n) {
    const std::vector<std::uint8_t> bytes = RandomBytes(n);
    auto hex = HexDecode(HexEncode(bytes));
    auto standard = Base64Decode(Base64Encode(bytes));
    auto url = Base64UrlDecode(Base64UrlEncode(bytes));
    ASSERT_TRUE(hex.ok() && standard.ok() && url.ok()) << n;
    EXPECT_EQ(*hex, bytes);
    EXPECT_EQ(*standard, bytes);
    EXPECT_EQ(*url, bytes);
    EXPECT_EQ(Base64UrlEncode(bytes).find('='), std::string::npos);
  }
}

}  // namespace
}  // namespace gatehouse::crypto
