#include "auth/token_service.h"

#include <gtest/gtest.h>

#include "core/clock.h"

namespace gatehouse::auth {
namespace {

constexpr std::string_view kSecretA = "a-first-signing-secret-of-at-least-32-bytes!";
constexpr std::string_view kSecretB = "a-second-signing-secret-of-at-least-32-bytes";

TokenService Service(const core::TokensConfig& config, const Clock& clock) {
  auto keys = BuildSigningKeys(config);
  EXPECT_TRUE(keys.ok()) << keys.error().detail();
  TokenSettings settings;
  settings.issuer = "https://auth.example.com";
  settings.audience = "api";
  settings.access_ttl = std::chrono::minutes(15);
  return TokenService(std::move(*keys), settings, clock);
}

TEST(TokenService, IssuesTokensThatVerifyWithEveryClaim) {
  ManualClock clock;
  core::TokensConfig config;
  config.hmac_secret.value = Secret(kSecretA);
  TokenService tokens = Service(config, clock);

  auto issued = tokens.IssueAccess("acc_1", "ses_1", {"pwd", "otp"});
  ASSERT_TRUE(issued.ok());
  auto claims = tokens.VerifyAccess(issued->token);
  ASSERT_TRUE(claims.ok()) << claims.error().detail();
  EXPECT_EQ(claims->sub, "acc_1");
  EXPECT_EQ(claims->sid, "ses_1");
  EXPECT_EQ(claims->jti, issued->jti);
  EXPECT_EQ(claims->iss, "https://auth.example.com");
  EXPECT_EQ(claims->aud, std::vector<std::string>{"api"});
  EXPECT_EQ(claims->amr, (std::vector<std::string>{"pwd", "otp"}));
  EXPECT_EQ(*claims->exp - *claims->iat, 15 * 60);
  EXPECT_EQ(tokens.PublicJwks(), R"({"keys":[]})");
}

TEST(TokenService, ExpiredTokenIsRefusedAfterTheLeeway) {
  ManualClock clock;
  core::TokensConfig config;
  config.hmac_secret.value = Secret(kSecretA);
  TokenService tokens = Service(config, clock);
  auto issued = tokens.IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(issued.ok());
  clock.Advance(std::chrono::minutes(15) + std::chrono::seconds(29));
  EXPECT_TRUE(tokens.VerifyAccess(issued->token).ok());
  clock.Advance(std::chrono::seconds(2));
  EXPECT_FALSE(tokens.VerifyAccess(issued->token).ok());
}

TEST(TokenService, PreviousSecretStillVerifiesDuringARotation) {
  ManualClock clock;
  core::TokensConfig before;
  before.hmac_secret.value = Secret(kSecretA);
  auto old_token = Service(before, clock).IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(old_token.ok());

  core::TokensConfig rotated;
  rotated.hmac_secret.value = Secret(kSecretB);
  rotated.previous_hmac_secret.value = Secret(kSecretA);
  TokenService tokens = Service(rotated, clock);
  EXPECT_TRUE(tokens.VerifyAccess(old_token->token).ok());
  auto fresh = tokens.IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(fresh.ok());

  // Without the previous secret the old token fails: the new one signs alone.
  core::TokensConfig after;
  after.hmac_secret.value = Secret(kSecretB);
  TokenService only_new = Service(after, clock);
  EXPECT_FALSE(only_new.VerifyAccess(old_token->token).ok());
  EXPECT_TRUE(only_new.VerifyAccess(fresh->token).ok());
}

TEST(TokenService, KidRevealsNothingOfTheSecretAndIsStable) {
  ManualClock clock;
  core::TokensConfig config;
  config.hmac_secret.value = Secret(kSecretA);
  auto a = Service(config, clock).IssueAccess("acc_1", "ses_1", {"pwd"});
  auto b = Service(config, clock).IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string header_a = a->token.substr(0, a->token.find('.'));
  const std::string header_b = b->token.substr(0, b->token.find('.'));
  EXPECT_EQ(header_a, header_b);  // Same kid across restarts.
}

TEST(TokenService, AsymmetricKeyMustMatchTheAlgorithm) {
  auto key = crypto::SigningKey::GenerateEs256();
  ASSERT_TRUE(key.ok());
  auto pem = key->PrivateKeyPem();
  ASSERT_TRUE(pem.ok());
  core::TokensConfig config;
  config.algorithm = core::TokenAlgorithm::kEdDsa;
  config.signing_key.value = *pem;
  auto keys = BuildSigningKeys(config);
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.error().code(), ErrorCode::kInvalidArgument);

  config.algorithm = core::TokenAlgorithm::kEs256;
  auto good = BuildSigningKeys(config);
  ASSERT_TRUE(good.ok());
  ManualClock clock;
  TokenService tokens(std::move(*good), TokenSettings{}, clock);
  EXPECT_NE(tokens.PublicJwks().find("\"kty\":\"EC\""), std::string::npos);
  EXPECT_EQ(tokens.PublicJwks().find("\"d\""), std::string::npos);
  auto issued = tokens.IssueAccess("acc_1", "ses_1", {"pwd"});
  ASSERT_TRUE(issued.ok());
  EXPECT_TRUE(tokens.VerifyAccess(issued->token).ok());
}

}  // namespace
}  // namespace gatehouse::auth
