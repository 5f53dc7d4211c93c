#include "crypto/jose_jws.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

#include "core/clock.h"
#include "crypto/jose_jwt.h"
#include "crypto_jose_test_support.h"

namespace gatehouse::crypto {
namespace {

using namespace jose_test;
namespace json = boost::json;

SigningKey EcKey() {
  return Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEcPrivatePem))));
}
SigningKey EdKey() {
  return Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEdPrivatePem))));
}

TEST(JoseJws, Rfc7515AppendixA1Hs256Verifies) {
  // RFC 7515 appendix A.1: the token, and the JWK "k" of its key.
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
      ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnV"
      "lfQ"
      ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const auto k = Must(Base64UrlDecode(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"));
  const SigningKey key = Must(SigningKey::FromHmacSecret("rfc7515", Secret(std::span(k))));

  const VerifiedJws jws = Must(VerifyJws(token, key));
  EXPECT_EQ(jws.alg, JwsAlgorithm::kHs256);
  EXPECT_EQ(jws.kid, "");
  EXPECT_EQ(jws.payload.at("iss"), "joe");
  EXPECT_EQ(jws.payload.at("http://example.com/is_root"), true);

  // Its claims hold with a clock set before exp (2011-03-22T18:43:00Z).
  ClaimsPolicy policy;
  const ManualClock clock(std::chrono::system_clock::time_point(std::chrono::seconds(1300819000)));
  const TokenClaims claims = Must(ValidateClaims(jws.payload, policy, clock));
  EXPECT_EQ(claims.iss, "joe");
  EXPECT_EQ(claims.exp, 1300819380);
  const ManualClock later(std::chrono::system_clock::time_point(std::chrono::seconds(1300819410)));
  EXPECT_EQ(ValidateClaims(jws.payload, policy, later).error().detail(), "exp in the past");

  // One flipped bit in the key and the MAC no longer matches.
  auto wrong = k;
  wrong[0] ^= 1;
  const SigningKey wrong_key =
      Must(SigningKey::FromHmacSecret("rfc7515", Secret(std::span(wrong))));
  EXPECT_EQ(VerifyJws(token, wrong_key).error().detail(), "signature mismatch");
}

TEST(JoseJws, Rfc8037AppendixA4Ed25519Signature) {
  // RFC 8037 appendix A.1 key in PKCS#8 (RFC 8410) and the A.4 signature, which is
  // deterministic: our signer must produce it byte for byte.
  const std::vector<std::uint8_t> der = [] {
    auto out = Must(HexDecode("302e020100300506032b657004220420"));
    const auto d = Must(Base64UrlDecode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"));
    out.insert(out.end(), d.begin(), d.end());
    return out;
  }();
  const std::string pem =
      "-----BEGIN PRIVATE KEY-----\n" + Base64Encode(der) + "\n-----END PRIVATE KEY-----\n";
  const SigningKey key = Must(SigningKey::FromPrivateKeyPem(Secret(pem)));
  const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  const std::string expected =
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

  EXPECT_EQ(Base64UrlEncode(Must(key.Sign(input))), expected);
  EXPECT_TRUE(key.VerifySignature(input, Must(Base64UrlDecode(expected))).ok());

  // The example signs plain text. Our verifier wants a JSON object, and looks at the
  // payload only after the signature held: this failure proves the signature passed.
  EXPECT_EQ(VerifyJws(input + "." + expected, key).error().detail(), "payload is not valid JSON");
}

TEST(JoseJws, NodeJoseTokensVerify) {
  SigningKeys keys;
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromPublicKeyPem(kEcPublicPem))).ok());
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromPublicKeyPem(kEdPublicPem))).ok());
  const JwsVerifyOptions options{.expected_typ = "at+jwt"};

  const VerifiedJws ed = Must(VerifyJws(kNodeEdDsaToken, keys, options));
  EXPECT_EQ(ed.kid, kEdThumbprint);
  EXPECT_EQ(ed.payload.at("sub"), "user-1");

  // node does not normalise S; our default refuses the high-S spelling, accepts its
  // low-S twin, and accepts both when told the signer is not ours.
  EXPECT_EQ(VerifyJws(kNodeEs256Token, keys, options).error().detail(),
            "ecdsa signature has high s");
  EXPECT_EQ(Must(VerifyJws(kNodeEs256TokenLowS, keys, options)).kid, kEcThumbprint);
  JwsVerifyOptions lenient = options;
  lenient.ecdsa_low_s_only = false;
  EXPECT_EQ(Must(VerifyJws(kNodeEs256Token, keys, lenient)).payload.at("jti"), "j-1");
}

TEST(JoseJws, RoundTripsForAllThreeAlgorithms) {
  SigningKeys keys;
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromHmacSecret("hs-1", HsSecret()))).ok());
  ASSERT_TRUE(keys.Add(EcKey()).ok());
  ASSERT_TRUE(keys.Add(EdKey()).ok());
  const json::object payload = json::parse(R"({"sub":"u","n":[1,{"a":null}]})").as_object();
  const json::object header = json::parse(R"({"typ":"at+jwt"})").as_object();

  for (const char* kid : {"hs-1", kEcThumbprint, kEdThumbprint}) {
    const SigningKey& key = *keys.Find(kid);
    const std::string token = Must(SignJws(header, payload, key));
    const VerifiedJws jws = Must(VerifyJws(token, keys, {.expected_typ = "at+jwt"}));
    EXPECT_EQ(jws.kid, kid);
    EXPECT_EQ(jws.alg, key.alg());
    EXPECT_EQ(jws.payload, payload);
    EXPECT_EQ(jws.header.at("alg").as_string(), JwsAlgorithmName(key.alg()));
    EXPECT_EQ(jws.header.at("typ"), "at+jwt");
  }
}

TEST(JoseJws, OldKeysKeepVerifyingAfterRotation) {
  SigningKeys before;
  ASSERT_TRUE(before.Add(Must(SigningKey::FromHmacSecret("hs-1", HsSecret()))).ok());
  ASSERT_TRUE(before.SetSigningKey("hs-1").ok());
  const std::string old_token = Must(SignJws({}, {{"sub", "u"}}, *before.signing_key()));

  SigningKeys after;
  ASSERT_TRUE(after.Add(Must(SigningKey::FromHmacSecret("hs-1", HsSecret()))).ok());
  ASSERT_TRUE(after.Add(Must(SigningKey::GenerateEd25519("ed-2"))).ok());
  ASSERT_TRUE(after.SetSigningKey("ed-2").ok());
  const std::string new_token = Must(SignJws({}, {{"sub", "u"}}, *after.signing_key()));

  EXPECT_TRUE(VerifyJws(old_token, after).ok());
  EXPECT_TRUE(VerifyJws(new_token, after).ok());
  EXPECT_EQ(VerifyJws(new_token, before).error().detail(), "unknown kid");
}

TEST(JoseJws, TypComparisonFollowsRfc7515) {
  const SigningKey key = Must(SigningKey::FromHmacSecret("hs-1", HsSecret()));
  for (const char* typ : {"at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"}) {
    const std::string token = Must(SignJws({{"typ", typ}}, {{"sub", "u"}}, key));
    EXPECT_TRUE(VerifyJws(token, key, {.expected_typ = "at+jwt"}).ok()) << typ;
  }
  for (const char* typ : {"JWT", "at+jwt ", "application/jwt", "at", "application/"}) {
    const std::string token = Must(SignJws({{"typ", typ}}, {{"sub", "u"}}, key));
    EXPECT_EQ(VerifyJws(token, key, {.expected_typ = "at+jwt"}).error().detail(), "typ mismatch")
        << typ;
  }
}

TEST(JoseJws, SignRefusesHeaderFieldsTheKeyOwnsOrTheVerifierRefuses) {
  const SigningKey key = Must(SigningKey::FromHmacSecret("hs-1", HsSecret()));
  for (const char* name : {"alg", "kid", "jwk", "jku", "x5u", "x5c", "crit", "zip", "enc", "p2c"}) {
    const auto token = SignJws({{name, "x"}}, {{"sub", "u"}}, key);
    ASSERT_FALSE(token.ok()) << name;
    EXPECT_EQ(token.error().code(), ErrorCode::kInvalidArgument);
  }
  const SigningKey public_only = Must(SigningKey::FromPublicKeyPem(kEdPublicPem));
  EXPECT_EQ(SignJws({}, {{"sub", "u"}}, public_only).error().code(),
            ErrorCode::kFailedPrecondition);
  const auto too_big = SignJws({}, {{"blob", std::string(7000, 'a')}}, key);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code(), ErrorCode::kInvalidArgument);
}

TEST(JoseJws, SizeCapBoundaryIsExact) {
  const SigningKey key = Must(SigningKey::FromHmacSecret("hs-1", HsSecret()));
  // 20 header characters, two dots and 43 signature characters leave the payload part:
  // 6095 bytes encode to 8127 characters (8192 in all), 6096 bytes to 8128 (8193).
  const std::string header = R"({"alg":"HS256"})";
  const std::string at_cap = SignRaw(header, R"({"p":")" + std::string(6087, 'a') + "\"}", key);
  const std::string over_cap = SignRaw(header, R"({"p":")" + std::string(6088, 'a') + "\"}", key);
  ASSERT_EQ(at_cap.size(), kMaxJwsSize);
  ASSERT_EQ(over_cap.size(), kMaxJwsSize + 1);
  EXPECT_TRUE(VerifyJws(at_cap, key).ok());
  EXPECT_EQ(VerifyJws(over_cap, key).error().detail(), "token too large");
}

TEST(JoseJws, DuplicateDetectionScalesToLargeObjects) {
  const SigningKey key = Must(SigningKey::FromHmacSecret("hs-1", HsSecret()));
  // Above the linear-scan limit the check switches to sorting; both paths must catch a
  // repeat, at the start, at the end and in a nested object.
  std::string many = "{";
  for (int i = 0; i < 600; ++i) many += "\"k" + std::to_string(i) + "\":0,";
  const std::string unique = many + "\"last\":0}";
  const std::string repeat_first = many + "\"k0\":1}";
  const std::string repeat_nested = R"({"a":)" + many + R"("k599":1},"b":0})";
  const std::string header = R"({"alg":"HS256"})";
  EXPECT_TRUE(VerifyJws(SignRaw(header, unique, key), key).ok());
  EXPECT_EQ(VerifyJws(SignRaw(header, repeat_first, key), key).error().detail(),
            "payload repeats a member name");
  EXPECT_EQ(VerifyJws(SignRaw(header, repeat_nested, key), key).error().detail(),
            "payload repeats a member name");
  // Same name in sibling objects is not a repeat.
  EXPECT_TRUE(VerifyJws(SignRaw(header, R"({"a":{"x":1},"b":{"x":1}})", key), key).ok());
}

}  // namespace
}  // namespace gatehouse::crypto
