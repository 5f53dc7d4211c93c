#include "crypto/random.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "crypto/encoding.h"

namespace gatehouse::crypto {
namespace {

TEST(Random, BytesHaveRequestedSizeAndDiffer) {
  const auto a = RandomBytes(32);
  const auto b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);  // Equal with probability 2^-256.
  EXPECT_TRUE(RandomBytes(0).empty());
}

TEST(Random, FillRandomOverwritesTheWholeBuffer) {
  // 4096 zero bytes staying zero in any 16-byte window is a 2^-128 event.
  std::vector<std::uint8_t> buffer(4096, 0);
  FillRandom(buffer);
  for (std::size_t i = 0; i + 16 <= buffer.size(); i += 16) {
    bool all_zero = true;
    for (std::size_t j = i; j < i + 16; ++j) all_zero = all_zero && buffer[j] == 0;
    EXPECT_FALSE(all_zero) << "window at " << i;
  }
}

TEST(Random, TokenIsUnpaddedBase64UrlOfTheRequestedBytes) {
  const std::string token = RandomToken(32);
  EXPECT_EQ(token.size(), 43u);
  auto decoded = Base64UrlDecode(token);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->size(), 32u);
  EXPECT_NE(RandomToken(32), token);
}

TEST(Random, Uint64Varies) {
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 100; ++i) seen.insert(RandomUint64());
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Random, BelowStaysInRangeAndReachesEveryValue) {
  std::vector<int> counts(6, 0);
  for (int i = 0; i < 6000; ++i) {
    const std::uint64_t v = RandomBelow(6);
    ASSERT_LT(v, 6u);
    ++counts[v];
  }
  // Expected 1000 each; 700 is more than 9 standard deviations away.
  for (int c : counts) EXPECT_GT(c, 700);
  EXPECT_EQ(RandomBelow(1), 0u);
}

}  // namespace
}  // namespace gatehouse::crypto
