#include "auth/token_cache.h"

#include <gtest/gtest.h>

#include <string>

#include "auth/token_service.h"
#include "core/clock.h"

namespace gatehouse::auth {
namespace {

constexpr std::string_view kSecret = "a-first-signing-secret-of-at-least-32-bytes!";

std::shared_ptr<const AccessClaims> Claims(std::string sub, std::int64_t from,
                                           std::int64_t until) {
  auto c = std::make_shared<AccessClaims>();
  c->sub = std::move(sub);
  c->valid_from = from;
  c->valid_until = until;
  return c;
}

TEST(VerifiedTokenCache, FindsOnlyTheExactTokenInsideItsWindow) {
  VerifiedTokenCache cache(64);
  cache.Insert("token-a", Claims("acc_a", 100, 200));
  ASSERT_NE(cache.Find("token-a", 100), nullptr);
  EXPECT_EQ(cache.Find("token-a", 150)->sub, "acc_a");
  EXPECT_EQ(cache.Find("token-a", 99), nullptr);
  EXPECT_EQ(cache.Find("token-a", 200), nullptr);
  EXPECT_EQ(cache.Find("token-b", 150), nullptr);
  EXPECT_EQ(cache.Find("token-", 150), nullptr);
  EXPECT_EQ(cache.Find("token-a ", 150), nullptr);
}

// Entries are found by a hash of the token's tail, so tokens that end alike must still be
// told apart by the comparison of the whole token.
TEST(VerifiedTokenCache, ATokenEndingLikeACachedOneIsNotFound) {
  VerifiedTokenCache cache(64);
  const std::string tail(VerifiedTokenCache::kHashedTailBytes, 's');
  cache.Insert("header.payload-a." + tail, Claims("acc_a", 0, 1000));
  EXPECT_EQ(cache.Find("header.payload-b." + tail, 10), nullptr);
  EXPECT_EQ(cache.Find(tail, 10), nullptr);
  EXPECT_EQ(cache.Find("x" + tail, 10), nullptr);
  ASSERT_NE(cache.Find("header.payload-a." + tail, 10), nullptr);
  EXPECT_EQ(cache.Find("header.payload-a." + tail, 10)->sub, "acc_a");
}

TEST(VerifiedTokenCache, StaysWithinItsCapacity) {
  VerifiedTokenCache cache(32);
  for (int i = 0; i < 10'000; ++i) {
    cache.Insert("token-" + std::to_string(i), Claims("acc", 0, 1000));
  }
  EXPECT_LE(cache.size(), 32u);
  EXPECT_GT(cache.size(), 0u);
}

TEST(VerifiedTokenCache, CapacityZeroRemembersNothing) {
  VerifiedTokenCache cache(0);
  cache.Insert("token-a", Claims("acc_a", 0, 1000));
  EXPECT_EQ(cache.Find("token-a", 10), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TokenService Service(const Clock& clock, std::size_t cache_entries) {
  core::TokensConfig config;
  config.hmac_secret.value = Secret(kSecret);
  auto keys = BuildSigningKeys(config);
  EXPECT_TRUE(keys.ok());
  TokenSettings settings;
  settings.access_ttl = std::chrono::minutes(15);
  settings.leeway = std::chrono::seconds(30);
  settings.cache_entries = cache_entries;
  return TokenService(std::move(*keys), settings, clock);
}

// A forgery that keeps a cached token's signature segment but changes its claims lands on
// that token's cache entry; it must still be verified, and refused.
TEST(VerifiedTokenCache, ForgeryWithACachedSignatureIsRefused) {
  ManualClock clock;
  TokenService tokens = Service(clock, 64);
  auto issued = tokens.IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(issued.ok());
  ASSERT_TRUE(tokens.VerifyAccessCached(issued->token).ok());

  // One character of the payload's start changed: the tail, and so the entry, is the same.
  const std::string& real = issued->token;
  std::string forged = real;
  const std::size_t payload = real.find('.') + 1;
  ASSERT_GT(real.size() - payload, VerifiedTokenCache::kHashedTailBytes + 1);
  forged[payload] = forged[payload] == 'e' ? 'f' : 'e';
  EXPECT_FALSE(tokens.VerifyAccessCached(forged).ok());
  auto again = tokens.VerifyAccessCached(real);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->sub, "acc_1");
}

// A cached token must be refused at exactly the instant the full check refuses it.
TEST(VerifiedTokenCache, CachedAnswerExpiresWithTheToken) {
  ManualClock clock;
  TokenService tokens = Service(clock, 64);
  auto issued = tokens.IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(issued.ok());
  auto first = tokens.VerifyAccessCached(issued->token);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->sub, "acc_1");
  EXPECT_EQ((*first)->jti, issued->jti);
  EXPECT_EQ((*first)->amr, std::vector<std::string>{"pwd"});
  auto second = tokens.VerifyAccessCached(issued->token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->get(), second->get()) << "the second presentation is a cache hit";

  clock.Advance(std::chrono::minutes(15) + std::chrono::seconds(29));
  EXPECT_TRUE(tokens.VerifyAccessCached(issued->token).ok());
  EXPECT_TRUE(tokens.VerifyAccess(issued->token).ok());
  clock.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(tokens.VerifyAccessCached(issued->token).ok());
  EXPECT_FALSE(tokens.VerifyAccess(issued->token).ok());
}

TEST(VerifiedTokenCache, AlteredTokenIsNeverServedFromTheCache) {
  ManualClock clock;
  TokenService tokens = Service(clock, 64);
  auto issued = tokens.IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(issued.ok());
  ASSERT_TRUE(tokens.VerifyAccessCached(issued->token).ok());
  std::string altered = issued->token;
  altered.back() = altered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(tokens.VerifyAccessCached(altered).ok());
  EXPECT_FALSE(tokens.VerifyAccessCached(issued->token + ".").ok());
  EXPECT_TRUE(tokens.VerifyAccessCached(issued->token).ok());
}

TEST(VerifiedTokenCache, NotYetValidTokenIsNotServedEarly) {
  ManualClock clock;
  TokenService tokens = Service(clock, 64);
  auto issued = tokens.IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(issued.ok());
  ASSERT_TRUE(tokens.VerifyAccessCached(issued->token).ok());
  // Back past nbf - leeway: both paths refuse.
  clock.Advance(-std::chrono::seconds(31));
  EXPECT_FALSE(tokens.VerifyAccess(issued->token).ok());
  EXPECT_FALSE(tokens.VerifyAccessCached(issued->token).ok());
}

}  // namespace
}  // namespace gatehouse::auth
