// Public keys read from someone else's JWK Set (an OpenID provider's), and RS256.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

#include "core/clock.h"
#include "crypto/encoding.h"
#include "crypto/jose_jwk.h"
#include "crypto/jose_jws.h"
#include "crypto/jose_keys.h"
#include "crypto_jose_test_support.h"

namespace gatehouse::crypto {
namespace {

using namespace jose_test;
namespace json = boost::json;

json::object RsaJwk() {
  return json::object{{"kty", "RSA"}, {"n", kRsaN}, {"e", kRsaE}, {"kid", "rsa-1"}};
}
json::object EcJwk() {
  return json::object{{"kty", "EC"}, {"crv", "P-256"}, {"x", kEcX}, {"y", kEcY}};
}
json::object EdJwk() { return json::object{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", kEdX}}; }

std::string DetailOf(const Result<SigningKey>& key) {
  return key.ok() ? std::string("(accepted)") : key.error().detail();
}

TEST(JwkImport, RsaKeyVerifiesNodesRs256Token) {
  SigningKey key = Must(SigningKey::FromPublicJwk(RsaJwk()));
  EXPECT_EQ(key.alg(), JwsAlgorithm::kRs256);
  EXPECT_EQ(key.kid(), "rsa-1");
  EXPECT_FALSE(key.can_sign());
  auto verified = VerifyJws(kNodeRs256Token, key);
  ASSERT_TRUE(verified.ok()) << verified.error().detail();
  EXPECT_EQ(verified->payload.at("nonce").as_string(), "n-1");
}

TEST(JwkImport, RsaThumbprintMatchesNode) {
  json::object jwk = RsaJwk();
  jwk.erase("kid");
  SigningKey key = Must(SigningKey::FromPublicJwk(jwk));
  EXPECT_EQ(key.kid(), kRsaThumbprint);
  EXPECT_EQ(key.Thumbprint(), std::string(kRsaThumbprint));
  const json::object published = *key.PublicJwk();
  EXPECT_EQ(published.at("n").as_string(), kRsaN);
  EXPECT_EQ(published.at("e").as_string(), kRsaE);
  EXPECT_EQ(published.at("alg").as_string(), "RS256");
}

TEST(JwkImport, TamperedRs256TokenIsRefused) {
  SigningKey key = Must(SigningKey::FromPublicJwk(RsaJwk()));
  std::string token = kNodeRs256Token;
  // Flip one character of the payload: the signature no longer matches.
  const std::size_t dot = token.find('.');
  token[dot + 5] = token[dot + 5] == 'A' ? 'B' : 'A';
  auto verified = VerifyJws(token, key);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().detail(), "signature mismatch");

  // A signature one byte short of the modulus never reaches RSA.
  const std::string whole = kNodeRs256Token;
  const std::size_t last_dot = whole.rfind('.');
  std::vector<std::uint8_t> signature = Must(Base64UrlDecode(whole.substr(last_dot + 1)));
  signature.pop_back();
  auto cut = VerifyJws(whole.substr(0, last_dot + 1) + Base64UrlEncode(signature), key);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().detail(), "signature length");
}

TEST(JwkImport, RsaKeyCannotSign) {
  SigningKey key = Must(SigningKey::FromPublicJwk(RsaJwk()));
  auto signed_token = SignJws({}, json::object{{"sub", "x"}}, key);
  ASSERT_FALSE(signed_token.ok());
  EXPECT_EQ(signed_token.error().code(), ErrorCode::kFailedPrecondition);
}

TEST(JwkImport, EcKeyGetsNodesThumbprintAndVerifiesHighS) {
  SigningKey key = Must(SigningKey::FromPublicJwk(EcJwk()));
  EXPECT_EQ(key.alg(), JwsAlgorithm::kEs256);
  EXPECT_EQ(key.kid(), kEcThumbprint);
  // Providers do not normalise S, so their tokens are checked with low_s off.
  JwsVerifyOptions options;
  options.ecdsa_low_s_only = false;
  EXPECT_TRUE(VerifyJws(kNodeEs256Token, key, options).ok());
}

TEST(JwkImport, Ed25519KeyVerifiesNodesToken) {
  SigningKey key = Must(SigningKey::FromPublicJwk(EdJwk()));
  EXPECT_EQ(key.alg(), JwsAlgorithm::kEdDsa);
  EXPECT_EQ(key.kid(), kEdThumbprint);
  EXPECT_TRUE(VerifyJws(kNodeEdDsaToken, key).ok());
}

TEST(JwkImport, KeySetFindsImportedKeysByKid) {
  SigningKeys keys;
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromPublicJwk(RsaJwk()))).ok());
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromPublicJwk(EcJwk()))).ok());
  EXPECT_TRUE(VerifyJws(kNodeRs256Token, keys).ok());
}

TEST(JwkImport, BadJwksAreRefusedWithTheReason) {
  struct Case {
    const char* name;
    json::object jwk;
    const char* detail;
  };
  auto with = [](json::object jwk, std::string_view key, json::value value) {
    jwk[key] = std::move(value);
    return jwk;
  };
  auto without = [](json::object jwk, std::string_view key) {
    jwk.erase(key);
    return jwk;
  };
  // A 1024-bit modulus: the top 128 bytes of the real one.
  const std::vector<std::uint8_t> n = Must(Base64UrlDecode(kRsaN));
  const std::string short_n = Base64UrlEncode(std::span(n).first(128));
  // A point with y changed: off the curve.
  std::string bad_y = kEcY;
  bad_y[0] = bad_y[0] == 'A' ? 'B' : 'A';

  const Case cases[] = {
      {"no kty", without(RsaJwk(), "kty"), "JWK kty missing"},
      {"kty not a string", with(RsaJwk(), "kty", 1), "JWK kty missing"},
      {"symmetric key", json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}},
       "a symmetric JWK is never accepted from a key set"},
      {"unknown kty", with(RsaJwk(), "kty", "DSA"), "JWK kty is not RSA, EC or OKP"},
      {"rsa without n", without(RsaJwk(), "n"), "JWK member n missing"},
      {"rsa without e", without(RsaJwk(), "e"), "JWK member e missing"},
      {"rsa n padded", with(RsaJwk(), "n", json::string(std::string(kRsaN) + "=")),
       "JWK member n is not canonical base64url"},
      {"rsa 1024 bits", with(RsaJwk(), "n", json::string(short_n)),
       "RSA modulus must be 2048 to 8192 bits"},
      {"rsa even exponent", with(RsaJwk(), "e", "AQAC"), "RSA exponent is not valid"},
      {"rsa exponent one", with(RsaJwk(), "e", "AQ"), "RSA exponent is not valid"},
      {"rsa long exponent", with(RsaJwk(), "e", "AQAAAAAAAAAB"), "RSA JWK exponent too long"},
      {"rsa alg ES256", with(RsaJwk(), "alg", "ES256"), "JWK alg does not match its key type"},
      {"rsa alg PS256", with(RsaJwk(), "alg", "PS256"), "JWK alg does not match its key type"},
      {"encryption key", with(RsaJwk(), "use", "enc"), "JWK use is not sig"},
      {"kid with slash", with(RsaJwk(), "kid", "../keys"),
       "JWK kid must be 1-128 characters from [A-Za-z0-9._-]"},
      {"kid not a string", with(RsaJwk(), "kid", 7),
       "JWK kid must be 1-128 characters from [A-Za-z0-9._-]"},
      {"ec other curve", with(EcJwk(), "crv", "P-384"), "EC JWK is not on P-256"},
      {"ec short x", with(EcJwk(), "x", "AQAB"), "P-256 JWK coordinate is not 32 bytes"},
      {"ec point off the curve", with(EcJwk(), "y", json::string(bad_y)),
       "P-256 JWK point is not on the curve"},
      {"okp x25519", with(EdJwk(), "crv", "X25519"), "OKP JWK is not Ed25519"},
      {"okp short x", with(EdJwk(), "x", "AQAB"), "Ed25519 JWK x is not 32 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto key = SigningKey::FromPublicJwk(c.jwk);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(DetailOf(key), c.detail);
  }
}

TEST(JwkImport, OwnKeysStillRefuseRsaPem) {
  // RSA is for verifying providers only; a deployment's own signing key is never RSA. This
  // is the public half of the kRsaN key.
  const char* pem =
      "-----BEGIN PUBLIC KEY-----\n"
      "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtkMVVAfjJUBYhKTg12zA\n"
      "rNedlVpXDEYcyBexVfDdrdx8EDb5C2hI6Nx5ez+Sib27qYh6trqyvSFnne2XPd8c\n"
      "n/JF94TeotIghCcoSelYqBtA+9gACPYanG0OmvC/7dkRHy21Ww6mW5kkbq3NI2an\n"
      "Ms0WBuJFvqKc8c39pJjb1VxpEfDiJc5bud2LkXydKb4ZY643hptOB/8OdZBI7lXA\n"
      "QqM4COo838TOV1+D6HIzTfT8XPnzEeAfN5QvWpzP/ezg96+0gO6HjcTk9lU/CiVd\n"
      "LuNQl69ZbYKdjbvyvXR77sHMkSMQRA2euM9kI2LTw0ZZ/NyM1Tt5tfUzrvXSK0U2\n"
      "GwIDAQAB\n"
      "-----END PUBLIC KEY-----\n";
  auto rsa = SigningKey::FromPublicKeyPem(pem);
  ASSERT_FALSE(rsa.ok());
  EXPECT_EQ(rsa.error().detail(), "key type is neither Ed25519 nor EC P-256");
}

}  // namespace
}  // namespace gatehouse::crypto
