#include "crypto/jose_keys.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <boost/json/parse.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "crypto/jose_jwk.h"
#include "crypto_jose_test_support.h"

namespace gatehouse::crypto {
namespace {

using namespace jose_test;

// RFC 8037 appendix A.1: the Ed25519 private key d and public key x.
constexpr char kRfc8037D[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr char kRfc8037X[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

// Wraps raw Ed25519 key bytes in PKCS#8 / SPKI DER (RFC 8410 section 7) and PEM.
std::string Pem(std::string_view label, const std::vector<std::uint8_t>& der) {
  const std::string b64 = Base64Encode(der);
  std::string pem = "-----BEGIN " + std::string(label) + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  return pem + "-----END " + std::string(label) + "-----\n";
}
std::vector<std::uint8_t> Concat(std::string_view hex_prefix, std::string_view b64url) {
  std::vector<std::uint8_t> out = Must(HexDecode(hex_prefix));
  const std::vector<std::uint8_t> tail = Must(Base64UrlDecode(b64url));
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}
std::string Rfc8037PrivatePem() {
  return Pem("PRIVATE KEY", Concat("302e020100300506032b657004220420", kRfc8037D));
}
std::string Rfc8037PublicPem() {
  return Pem("PUBLIC KEY", Concat("302a300506032b6570032100", kRfc8037X));
}

TEST(JoseKeys, Rfc8037ThumbprintBecomesTheKid) {
  // RFC 8037 appendix A.3.
  const SigningKey key = Must(SigningKey::FromPublicKeyPem(Rfc8037PublicPem()));
  EXPECT_EQ(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  EXPECT_EQ(key.alg(), JwsAlgorithm::kEdDsa);
  EXPECT_FALSE(key.can_sign());
  const SigningKey private_key = Must(SigningKey::FromPrivateKeyPem(Secret(Rfc8037PrivatePem())));
  EXPECT_EQ(private_key.kid(), key.kid());
  EXPECT_TRUE(private_key.can_sign());
}

TEST(JoseKeys, ThumbprintsMatchNodeJose) {
  const SigningKey ec =
      Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEcPrivatePem))));
  const SigningKey ed =
      Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEdPrivatePem))));
  EXPECT_EQ(ec.kid(), kEcThumbprint);
  EXPECT_EQ(ed.kid(), kEdThumbprint);
  EXPECT_EQ(ec.alg(), JwsAlgorithm::kEs256);
  EXPECT_TRUE(ec.can_sign());
  // The public halves alone give the same ids.
  EXPECT_EQ(Must(SigningKey::FromPublicKeyPem(kEcPublicPem)).kid(), kEcThumbprint);
  EXPECT_EQ(Must(SigningKey::FromPublicKeyPem(kEdPublicPem)).kid(), kEdThumbprint);
}

TEST(JoseKeys, PublicJwkHasExactlyThePublicMembers) {
  const SigningKey ec =
      Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEcPrivatePem))));
  const boost::json::object jwk = *ec.PublicJwk();
  EXPECT_EQ(jwk, boost::json::parse(std::string(R"({"kty":"EC","crv":"P-256","x":")") + kEcX +
                                    R"(","y":")" + kEcY + R"(","kid":")" + kEcThumbprint +
                                    R"(","alg":"ES256","use":"sig"})"));
  const SigningKey ed =
      Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEdPrivatePem)), "ed-2024"));
  EXPECT_EQ(*ed.PublicJwk(),
            boost::json::parse(std::string(R"({"kty":"OKP","crv":"Ed25519","x":")") + kEdX +
                               R"(","kid":"ed-2024","alg":"EdDSA","use":"sig"})"));
}

TEST(JoseKeys, HmacKeyNeedsKidAnd32ByteSecret) {
  EXPECT_TRUE(SigningKey::FromHmacSecret("hs-1", HsSecret()).ok());
  const auto no_kid = SigningKey::FromHmacSecret("", HsSecret());
  ASSERT_FALSE(no_kid.ok());
  EXPECT_EQ(no_kid.error().code(), ErrorCode::kInvalidArgument);
  const auto short_secret = SigningKey::FromHmacSecret(
      "hs-1", Secret(std::string_view("0123456789abcdef0123456789abcde")));
  ASSERT_FALSE(short_secret.ok());
  EXPECT_EQ(short_secret.error().detail(), "HS256 secret shorter than 32 bytes");
}

TEST(JoseKeys, HmacKeyIsNeverPublished) {
  const SigningKey hs = Must(SigningKey::FromHmacSecret("hs-1", HsSecret()));
  EXPECT_FALSE(hs.PublicJwk().has_value());
  EXPECT_FALSE(hs.Thumbprint().has_value());
  EXPECT_FALSE(hs.PrivateKeyPem().ok());

  SigningKeys keys;
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromHmacSecret("hs-1", HsSecret()))).ok());
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromPublicKeyPem(kEdPublicPem))).ok());
  ASSERT_TRUE(keys.SetSigningKey("hs-1").ok());
  const std::string jwks = keys.PublicJwks();
  EXPECT_EQ(jwks.find("hs-1"), std::string::npos);
  EXPECT_EQ(jwks.find(HsSecret().reveal()), std::string::npos);
  EXPECT_EQ(jwks.find(B64(HsSecret().reveal())), std::string::npos);
  EXPECT_EQ(boost::json::parse(jwks).at("keys").as_array().size(), 1u);
}

TEST(JoseKeys, JwksListsSigningKeyFirstThenByKid) {
  SigningKeys keys;
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromPublicKeyPem(kEcPublicPem, "b-old"))).ok());
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromPublicKeyPem(kEdPublicPem, "a-old"))).ok());
  ASSERT_TRUE(keys.Add(Must(SigningKey::GenerateEd25519("z-new"))).ok());
  ASSERT_TRUE(keys.SetSigningKey("z-new").ok());
  const boost::json::value doc = boost::json::parse(keys.PublicJwks());
  const boost::json::array& list = doc.at("keys").as_array();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].at("kid"), "z-new");
  EXPECT_EQ(list[1].at("kid"), "a-old");
  EXPECT_EQ(list[2].at("kid"), "b-old");
  for (const auto& jwk : list) EXPECT_FALSE(jwk.as_object().contains("d"));
}

TEST(JoseKeys, KeySetRefusesDuplicateKidAndPublicSigningKey) {
  SigningKeys keys;
  ASSERT_TRUE(keys.Add(Must(SigningKey::FromPublicKeyPem(kEcPublicPem))).ok());
  const Status again =
      keys.Add(Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEcPrivatePem)))));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(keys.SetSigningKey(kEcThumbprint).error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(keys.SetSigningKey("nope").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(keys.signing_key(), nullptr);
  EXPECT_NE(keys.Find(kEcThumbprint), nullptr);
  EXPECT_EQ(keys.Find("other"), nullptr);
}

TEST(JoseKeys, KidCharsetAndLength) {
  EXPECT_TRUE(IsValidKid("a"));
  EXPECT_TRUE(IsValidKid("key-2024.01_A"));
  EXPECT_TRUE(IsValidKid(std::string(128, 'k')));
  EXPECT_FALSE(IsValidKid(std::string(129, 'k')));
  EXPECT_FALSE(IsValidKid(""));
  for (const char* bad :
       {"../x", "a/b", "a b", "' OR 1=1--", "k\"", "k\n", "k=", "k+", "\xc3\xa9"}) {
    EXPECT_FALSE(IsValidKid(bad)) << bad;
  }
  EXPECT_FALSE(SigningKey::FromPublicKeyPem(kEcPublicPem, "../ec").ok());
}

TEST(JoseKeys, GeneratedKeysExportAndReloadAsTheSameKey) {
  for (const bool ec : {true, false}) {
    const SigningKey key = Must(ec ? SigningKey::GenerateEs256() : SigningKey::GenerateEd25519());
    const Secret private_pem = Must(key.PrivateKeyPem());
    EXPECT_EQ(private_pem.reveal().rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
    const SigningKey reloaded = Must(SigningKey::FromPrivateKeyPem(private_pem));
    const SigningKey reloaded_public = Must(SigningKey::FromPublicKeyPem(Must(key.PublicKeyPem())));
    EXPECT_EQ(reloaded.kid(), key.kid());
    EXPECT_EQ(reloaded_public.kid(), key.kid());
    const auto signature = Must(reloaded.Sign("a.b"));
    EXPECT_TRUE(reloaded_public.VerifySignature("a.b", signature).ok());
    EXPECT_TRUE(key.VerifySignature("a.b", signature).ok());
  }
}

TEST(JoseKeys, LoadsPemFilesAndReportsMissingOnes) {
  const std::string path = ::testing::TempDir() + "jose_keys_test_" + std::to_string(getpid());
  {
    std::ofstream out(path);
    out << kEdPrivatePem;
  }
  EXPECT_EQ(Must(SigningKey::LoadPrivateKeyPemFile(path)).kid(), kEdThumbprint);
  EXPECT_FALSE(SigningKey::LoadPublicKeyPemFile(path).ok());  // A private block.
  std::remove(path.c_str());
  const auto missing = SigningKey::LoadPrivateKeyPemFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST(JoseKeys, RefusesPemThatIsNotOneSupportedKey) {
  // P-384, RSA and X25519 keys and a legacy SEC1 "EC PRIVATE KEY" block of the P-256 test
  // key, all made with the openssl CLI.
  const std::string p384_public =
      "-----BEGIN PUBLIC KEY-----\n"
      "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEFwjaq7x0UYrRsf9MJNVV6qLF0uzED2iA\n"
      "D57E9n0Z1gT9CkkJDl1UzQWyXVRfYWy2liSo/0qG/Ln09dQ10lKohecJ3w9HulXf\n"
      "LdTygqlLO1zGet0/ORgVV0rPHZaPp256\n"
      "-----END PUBLIC KEY-----\n";
  const std::string rsa_public =
      "-----BEGIN PUBLIC KEY-----\n"
      "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCa7ZFLh8od9PrAn8O2L+ReHblx\n"
      "zRTaua/G/gOUo0SN40YKELWKQ0e4/3wBGmEGkDTwrCIVMi/jUuhOPGe2A7BO04yU\n"
      "PR+8vjFVq72J0Xn223X3rzitaB0yKlru8G4JS88wPFpkvjzTDXD9qdaHsCojuQve\n"
      "l4ao+4AWy+YLg/X6swIDAQAB\n"
      "-----END PUBLIC KEY-----\n";
  const std::string x25519_public =
      "-----BEGIN PUBLIC KEY-----\n"
      "MCowBQYDK2VuAyEAIUhtWqlunfcSKC9YL2tHAGcaYVQ+CP/qD3vSrl1aJVw=\n"
      "-----END PUBLIC KEY-----\n";
  const std::string sec1_private =
      "-----BEGIN EC PRIVATE KEY-----\n"
      "MHcCAQEEIK9jv8GtN4YRbgxMBg9MAgRbwtDr6e0tRMFvWSCL4xDUoAoGCCqGSM49\n"
      "AwEHoUQDQgAE9elnAPuYvJHu+0ncF/XnjPKQK3sCt0TwHg988uSB+yAzF3Qcw7vt\n"
      "GG+6NoYurAwQFe4ofRoRd1mXECywFrX27g==\n"
      "-----END EC PRIVATE KEY-----\n";
  const struct {
    std::string pem;
    bool is_private;
    std::string detail;
  } kCases[] = {
      {p384_public, false, "EC key is not on P-256"},
      {rsa_public, false, "key type is neither Ed25519 nor EC P-256"},
      {x25519_public, false, "key type is neither Ed25519 nor EC P-256"},
      {sec1_private, true, "PEM label must be PRIVATE KEY"},
      {kEcPublicPem, true, "PEM label must be PRIVATE KEY"},
      {kEcPrivatePem, false, "PEM label must be PUBLIC KEY"},
      {std::string(kEcPublicPem) + kEdPublicPem, false, "not a single PEM block"},
      {std::string(kEcPublicPem) + "junk\n", false, "not a single PEM block"},
      {"junk\n" + std::string(kEcPublicPem), false, "not a single PEM block"},
      {"garbage", false, "not a single PEM block"},
      {"", false, "not a single PEM block"},
      {std::string(kEdPrivatePem) + kEdPrivatePem, true, "not a single PEM block"},
  };
  for (const auto& c : kCases) {
    const auto key = c.is_private ? SigningKey::FromPrivateKeyPem(Secret(c.pem))
                                  : SigningKey::FromPublicKeyPem(c.pem);
    ASSERT_FALSE(key.ok()) << c.pem;
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(key.error().detail(), c.detail) << c.pem;
  }
}

TEST(JoseKeys, Es256SignaturesAreRawAndLowS) {
  const SigningKey ec =
      Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEcPrivatePem))));
  const std::vector<std::uint8_t> half_order =
      Must(HexDecode("7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8"));
  // ECDSA picks a random nonce, so about half of raw signatures would have a high S.
  for (int i = 0; i < 32; ++i) {
    const auto signature = Must(ec.Sign("header.payload"));
    ASSERT_EQ(signature.size(), 64u);
    EXPECT_LE(std::memcmp(signature.data() + 32, half_order.data(), 32), 0);
    EXPECT_TRUE(ec.VerifySignature("header.payload", signature).ok());
  }
}

}  // namespace
}  // namespace gatehouse::crypto
