#include "crypto/jose_jwt.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

#include "core/clock.h"
#include "crypto_jose_test_support.h"

namespace gatehouse::crypto {
namespace {

using namespace jose_test;
namespace json = boost::json;

constexpr std::int64_t kNow = 1'700'000'000;  // ManualClock's default start.

json::object Claims(std::string_view text) { return json::parse(text).as_object(); }

ClaimsPolicy Policy() {
  ClaimsPolicy policy;
  policy.issuer = "https://gatehouse.test";
  policy.audience = "api";
  return policy;
}

std::string Validate(std::string_view text, const ClaimsPolicy& policy = Policy()) {
  const ManualClock clock;
  const auto claims = ValidateClaims(Claims(text), policy, clock);
  if (claims.ok()) return "ok";
  EXPECT_EQ(claims.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(claims.error().message(), "invalid token");
  return claims.error().detail();
}

std::string WithDates(std::string_view dates) {
  return R"({"iss":"https://gatehouse.test","aud":"api",)" + std::string(dates) + "}";
}

TEST(JoseClaims, ExposesTheRegisteredClaims) {
  const ManualClock clock;
  const TokenClaims claims = Must(ValidateClaims(
      Claims(R"({"iss":"https://gatehouse.test","aud":["other","api"],"sub":"u-1","sid":"s-1",
                 "jti":"j-1","amr":["pwd","otp"],"exp":1700000600,"iat":1700000000,
                 "nbf":1699999990,"role":"admin"})"),
      Policy(), clock));
  EXPECT_EQ(claims.iss, "https://gatehouse.test");
  EXPECT_EQ(claims.aud, (std::vector<std::string>{"other", "api"}));
  EXPECT_EQ(claims.sub, "u-1");
  EXPECT_EQ(claims.sid, "s-1");
  EXPECT_EQ(claims.jti, "j-1");
  EXPECT_EQ(claims.amr, (std::vector<std::string>{"pwd", "otp"}));
  EXPECT_EQ(claims.exp, 1700000600);
  EXPECT_EQ(claims.iat, 1700000000);
  EXPECT_EQ(claims.nbf, 1699999990);
  EXPECT_EQ(claims.raw.at("role"), "admin");
}

TEST(JoseClaims, ExpiryHonoursLeewayToTheSecond) {
  // Valid while now < exp + 30.
  EXPECT_EQ(Validate(WithDates(R"("exp":)" + std::to_string(kNow - 29))), "ok");
  EXPECT_EQ(Validate(WithDates(R"("exp":)" + std::to_string(kNow - 30))), "exp in the past");
  ClaimsPolicy strict = Policy();
  strict.leeway = std::chrono::seconds(0);
  EXPECT_EQ(Validate(WithDates(R"("exp":)" + std::to_string(kNow + 1)), strict), "ok");
  EXPECT_EQ(Validate(WithDates(R"("exp":)" + std::to_string(kNow)), strict), "exp in the past");
}

TEST(JoseClaims, NotBeforeAndIssuedAtHonourLeeway) {
  const std::string exp = R"("exp":)" + std::to_string(kNow + 600) + ",";
  EXPECT_EQ(Validate(WithDates(exp + R"("nbf":)" + std::to_string(kNow + 30))), "ok");
  EXPECT_EQ(Validate(WithDates(exp + R"("nbf":)" + std::to_string(kNow + 31))),
            "nbf in the future");
  EXPECT_EQ(Validate(WithDates(exp + R"("iat":)" + std::to_string(kNow + 30))), "ok");
  EXPECT_EQ(Validate(WithDates(exp + R"("iat":)" + std::to_string(kNow + 31))),
            "iat in the future");
}

TEST(JoseClaims, TimeComesFromTheInjectedClock) {
  ManualClock clock;
  const json::object claims = Claims(WithDates(R"("exp":)" + std::to_string(kNow + 60)));
  EXPECT_TRUE(ValidateClaims(claims, Policy(), clock).ok());
  clock.Advance(std::chrono::seconds(90));
  EXPECT_EQ(ValidateClaims(claims, Policy(), clock).error().detail(), "exp in the past");
}

TEST(JoseClaims, NumericDatesMustBeIntegersInRange) {
  const struct {
    std::string exp;
    std::string detail;
  } kCases[] = {
      {R"("1700000600")", "exp is not an integer NumericDate"},
      {"1700000600.5", "exp is not an integer NumericDate"},
      {"1.7000006e9", "exp is not an integer NumericDate"},
      {"true", "exp is not an integer NumericDate"},
      {"null", "exp is not an integer NumericDate"},
      {"[1700000600]", "exp is not an integer NumericDate"},
      {"-1", "exp out of range"},
      {"253402300800", "exp out of range"},
      {"9223372036854775807", "exp out of range"},
      {"18446744073709551615", "exp out of range"},
      {"253402300799", "ok"},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(Validate(WithDates(R"("exp":)" + c.exp)), c.detail) << c.exp;
  }
  EXPECT_EQ(Validate(WithDates(R"("exp":1700000600,"iat":"1700000000")")),
            "iat is not an integer NumericDate");
  EXPECT_EQ(Validate(WithDates(R"("exp":1700000600,"nbf":1e3)")),
            "nbf is not an integer NumericDate");
}

TEST(JoseClaims, AudienceIsAStringOrArrayContainingUs) {
  const std::string rest = R"(,"iss":"https://gatehouse.test","exp":1700000600})";
  EXPECT_EQ(Validate(R"({"aud":"api")" + rest), "ok");
  EXPECT_EQ(Validate(R"({"aud":["x","api"])" + rest), "ok");
  EXPECT_EQ(Validate(R"({"aud":"API")" + rest), "aud mismatch");
  EXPECT_EQ(Validate(R"({"aud":["x","y"])" + rest), "aud mismatch");
  EXPECT_EQ(Validate(R"({"aud":[])" + rest), "aud is not a string or array of strings");
  EXPECT_EQ(Validate(R"({"aud":["api",1])" + rest), "aud is not a string or array of strings");
  EXPECT_EQ(Validate(R"({"aud":{"api":true})" + rest), "aud is not a string or array of strings");
  EXPECT_EQ(Validate(R"({"x":0)" + rest), "aud missing");

  ClaimsPolicy no_audience = Policy();
  no_audience.audience.clear();
  EXPECT_EQ(Validate(R"({"x":0)" + rest, no_audience), "ok");
  EXPECT_EQ(Validate(R"({"aud":"api")" + rest, no_audience), "aud not expected");
}

TEST(JoseClaims, IssuerMustMatchExactly) {
  const std::string rest = R"(,"aud":"api","exp":1700000600})";
  EXPECT_EQ(Validate(R"({"iss":"https://gatehouse.test/")" + rest), "iss mismatch");
  EXPECT_EQ(Validate(R"({"iss":"https://GATEHOUSE.test")" + rest), "iss mismatch");
  EXPECT_EQ(Validate(R"({"iss":["https://gatehouse.test"])" + rest), "iss is not a string");
  EXPECT_EQ(Validate(R"({"x":0)" + rest), "iss missing");
}

TEST(JoseClaims, RequiredClaimsAreConfigurable) {
  EXPECT_EQ(Validate(WithDates(R"("iat":1700000000)")), "exp missing");
  ClaimsPolicy policy = Policy();
  policy.required_claims = {"exp", "sub", "jti"};
  EXPECT_EQ(Validate(WithDates(R"("exp":1700000600,"sub":"u")"), policy), "jti missing");
  policy.required_claims.clear();
  EXPECT_EQ(Validate(WithDates(R"("iat":1700000000)"), policy), "ok");
}

TEST(JoseClaims, StringClaimsAndAmrAreTyped) {
  EXPECT_EQ(Validate(WithDates(R"("exp":1700000600,"sub":42)")), "sub is not a string");
  EXPECT_EQ(Validate(WithDates(R"("exp":1700000600,"sid":null)")), "sid is not a string");
  EXPECT_EQ(Validate(WithDates(R"("exp":1700000600,"jti":{})")), "jti is not a string");
  EXPECT_EQ(Validate(WithDates(R"("exp":1700000600,"amr":"pwd")")),
            "amr is not an array of strings");
  EXPECT_EQ(Validate(WithDates(R"("exp":1700000600,"amr":["pwd",2])")),
            "amr is not an array of strings");
}

TEST(JoseClaims, LeewayOutsideItsRangeIsAPolicyError) {
  ClaimsPolicy policy = Policy();
  policy.leeway = std::chrono::seconds(-1);
  const ManualClock clock;
  const auto negative = ValidateClaims(Claims(WithDates(R"("exp":1700000600)")), policy, clock);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().code(), ErrorCode::kInvalidArgument);
  policy.leeway = std::chrono::seconds(301);
  EXPECT_FALSE(ValidateClaims(Claims(WithDates(R"("exp":1700000600)")), policy, clock).ok());
}

TEST(JoseClaims, VerifyJwtChecksSignatureThenClaims) {
  SigningKeys keys;
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromHmacSecret("hs-1", HsSecret()))).ok());
  ASSERT_TRUE(keys.SetSigningKey("hs-1").ok());
  const JwtPolicy policy = JwtPolicy::AccessToken("https://gatehouse.test", "api");
  const json::object claims = Claims(R"({"iss":"https://gatehouse.test","aud":"api","sub":"u",
                                          "iat":1700000000,"exp":1700003600})");
  const std::string token = Must(SignJws({{"typ", kAccessTokenTyp}}, claims, *keys.signing_key()));

  ManualClock clock;
  EXPECT_EQ(Must(VerifyJwt(token, keys, policy, clock)).sub, "u");
  // An ID token or any JWT without typ at+jwt is not an access token.
  const std::string id_token = Must(SignJws({{"typ", "JWT"}}, claims, *keys.signing_key()));
  EXPECT_EQ(VerifyJwt(id_token, keys, policy, clock).error().detail(), "typ mismatch");
  // The access-token policy requires sub and iat.
  json::object no_sub = claims;
  no_sub.erase("sub");
  const std::string anonymous =
      Must(SignJws({{"typ", kAccessTokenTyp}}, no_sub, *keys.signing_key()));
  EXPECT_EQ(VerifyJwt(anonymous, keys, policy, clock).error().detail(), "sub missing");
  clock.Advance(std::chrono::hours(2));
  EXPECT_EQ(VerifyJwt(token, keys, policy, clock).error().detail(), "exp in the past");
}

}  // namespace
}  // namespace gatehouse::crypto
