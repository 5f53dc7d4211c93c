#include "crypto/jose_base64.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/random.h"

namespace gatehouse::crypto {
namespace {

// The fast decoder must accept exactly what encoding.h's strict decoder accepts.
std::optional<std::vector<std::uint8_t>> Fast(std::string_view text) {
  std::array<std::uint8_t, 256> out;
  const auto size = Base64UrlDecodeInto(text, out);
  if (!size) return std::nullopt;
  return std::vector<std::uint8_t>(out.begin(), out.begin() + *size);
}

void ExpectSameVerdict(std::string_view text) {
  const auto reference = Base64UrlDecode(text);
  const auto fast = Fast(text);
  ASSERT_EQ(fast.has_value(), reference.ok()) << text;
  if (fast) {
    EXPECT_EQ(*fast, *reference) << text;
  }
}

TEST(JoseBase64, AgreesWithTheStrictDecoderOnEveryLengthAndMutation) {
  static constexpr std::string_view kProbes = "A_-=+/ \n.\x80";
  for (std::size_t length = 0; length <= 100; ++length) {
    const std::string text = Base64UrlEncode(RandomBytes(length));
    ExpectSameVerdict(text);
    for (std::size_t i = 0; i < text.size(); ++i) {
      for (const char probe : kProbes) {
        std::string mutated = text;
        mutated[i] = probe;
        ExpectSameVerdict(mutated);
      }
    }
    ExpectSameVerdict(text + "=");
    ExpectSameVerdict(text + "A");
  }
}

TEST(JoseBase64, RefusesNonZeroUnusedBitsAndImpossibleLengths) {
  EXPECT_EQ(Fast("AA"), (std::vector<std::uint8_t>{0}));
  EXPECT_FALSE(Fast("AB"));   // 4 unused bits, one set.
  EXPECT_FALSE(Fast("AAB"));  // 2 unused bits, one set.
  EXPECT_FALSE(Fast("A"));
  EXPECT_FALSE(Fast("AAAAA"));
  EXPECT_EQ(Fast(""), std::vector<std::uint8_t>{});
}

TEST(JoseBase64, RefusesOutputThatDoesNotFit) {
  std::array<std::uint8_t, 2> small;
  EXPECT_FALSE(Base64UrlDecodeInto("AAAA", small));
  EXPECT_EQ(Base64UrlDecodeInto("AAA", small), 2u);
}

}  // namespace
}  // namespace gatehouse::crypto
