// Hostile tokens: each must be refused, and for the right reason (the error detail).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <boost/json/serialize.hpp>

#include "core/clock.h"
#include "crypto/hmac.h"
#include "crypto/jose_jwt.h"
#include "crypto_jose_test_support.h"

namespace gatehouse::crypto {
namespace {

using namespace jose_test;

constexpr char kIss[] = "https://gatehouse.test";

struct Case {
  std::string name;
  std::string token;
  std::string detail;
};

std::string HeaderFor(std::string_view alg, std::string_view kid) {
  return R"({"alg":")" + std::string(alg) + R"(","typ":"at+jwt","kid":")" + std::string(kid) +
         R"("})";
}

// Claims that pass the access-token policy at ManualClock's default time, with `extra`
// members appended (later duplicates are the point of some cases).
std::string Payload(std::string_view extra = "") {
  std::string payload =
      R"({"iss":"https://gatehouse.test","aud":"api","sub":"u","iat":1700000000,"exp":1700003600)";
  if (!extra.empty()) payload += "," + std::string(extra);
  return payload + "}";
}

// A claim set from its parts; `iat` and `exp` are JSON text so that they can be wrong.
std::string ClaimSet(std::string_view iss, std::string_view aud, std::string_view iat,
                     std::string_view exp) {
  return R"({"iss":")" + std::string(iss) + R"(","aud":")" + std::string(aud) +
         R"(","sub":"u","iat":)" + std::string(iat) + R"(,"exp":)" + std::string(exp) + "}";
}

std::string Part(const std::string& token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) start = token.find('.', start) + 1;
  return token.substr(start, token.find('.', start) - start);
}

std::string WithSignature(const std::string& token, std::string_view signature) {
  return token.substr(0, token.rfind('.') + 1) + std::string(signature);
}

// A DER INTEGER for a 32-byte big-endian value (RFC 3279 section 2.2.3 Ecdsa-Sig-Value).
std::vector<std::uint8_t> DerInteger(std::span<const std::uint8_t> value) {
  std::size_t skip = 0;
  while (skip + 1 < value.size() && value[skip] == 0) ++skip;
  std::vector<std::uint8_t> out{0x02};
  const bool pad = value[skip] & 0x80;
  out.push_back(static_cast<std::uint8_t>(value.size() - skip + (pad ? 1 : 0)));
  if (pad) out.push_back(0);
  out.insert(out.end(), value.begin() + skip, value.end());
  return out;
}

std::vector<std::uint8_t> RawToDer(const std::vector<std::uint8_t>& raw) {
  const auto r = DerInteger(std::span(raw).first(32));
  const auto s = DerInteger(std::span(raw).subspan(32));
  std::vector<std::uint8_t> der{0x30, static_cast<std::uint8_t>(r.size() + s.size())};
  der.insert(der.end(), r.begin(), r.end());
  der.insert(der.end(), s.begin(), s.end());
  return der;
}

class JoseHostile : public ::testing::Test {
 protected:
  JoseHostile()
      : hs_(Must(SigningKey::FromHmacSecret("hs-1", HsSecret()))),
        ec_(Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEcPrivatePem))))),
        ed_(Must(SigningKey::FromPrivateKeyPem(Secret(std::string_view(kEdPrivatePem))))) {
    EXPECT_TRUE(keys_.Add(Must(SigningKey::FromHmacSecret("hs-1", HsSecret()))).ok());
    EXPECT_TRUE(keys_.Add(Must(SigningKey::FromPublicKeyPem(kEcPublicPem))).ok());
    EXPECT_TRUE(keys_.Add(Must(SigningKey::FromPublicKeyPem(kEdPublicPem))).ok());
  }

  std::string Hs(std::string_view header, std::string_view payload) const {
    return SignRaw(header, payload, hs_);
  }
  std::string GoodHs() const { return Hs(HeaderFor("HS256", "hs-1"), Payload()); }
  std::string GoodEs() const { return SignRaw(HeaderFor("ES256", kEcThumbprint), Payload(), ec_); }
  std::string GoodEd() const { return SignRaw(HeaderFor("EdDSA", kEdThumbprint), Payload(), ed_); }

  // header.payload.signature where the signature is HMAC-SHA256 under `key_bytes`: what an
  // attacker who knows only public key material can compute.
  static std::string HmacUnder(std::string_view header, std::string_view payload,
                               std::span<const std::uint8_t> key_bytes) {
    const std::string input = B64(header) + "." + B64(payload);
    return input + "." + Base64UrlEncode(HmacSha256(key_bytes, input));
  }
  static std::string Unsigned(std::string_view header, std::string_view payload,
                              std::string_view signature = "c2ln") {
    return B64(header) + "." + B64(payload) + "." + std::string(signature);
  }

  std::vector<Case> Cases() const {
    const std::string good = GoodHs();
    const std::string sig = Part(good, 2);
    const SigningKey attacker = Must(SigningKey::GenerateEs256("attacker"));
    const std::string attacker_jwk = boost::json::serialize(*attacker.PublicJwk());
    const auto ed_public_raw = Must(Base64UrlDecode(kEdX));
    const auto es_raw = Must(Base64UrlDecode(Part(GoodEs(), 2)));
    const auto hs_raw = Must(Base64UrlDecode(sig));

    // The last signature character with one of its two unused low bits set: decodes to the
    // same bytes under a lenient decoder, so only the canonical check can refuse it.
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const std::string non_canonical =
        sig.substr(0, sig.size() - 1) + kAlphabet[kAlphabet.find(sig.back()) ^ 1];

    std::string flipped_ed = Part(GoodEd(), 2);
    flipped_ed[5] = flipped_ed[5] == 'A' ? 'B' : 'A';

    const std::string hs_header = HeaderFor("HS256", "hs-1");
    const std::string hs_prefix = R"({"alg":"HS256","typ":"at+jwt","kid":"hs-1",)";
    return {
        // alg "none" in any casing, and the stripped-signature form it usually takes.
        {"alg none", Unsigned(HeaderFor("none", "hs-1"), Payload()), "alg none"},
        {"alg None", Unsigned(HeaderFor("None", "hs-1"), Payload()), "alg none"},
        {"alg NONE", Unsigned(HeaderFor("NONE", "hs-1"), Payload()), "alg none"},
        {"alg nOnE", Unsigned(HeaderFor("nOnE", "hs-1"), Payload()), "alg none"},
        {"alg none without kid", Unsigned(R"({"alg":"none"})", Payload()), "alg none"},
        {"alg none, empty signature", Unsigned(HeaderFor("none", "hs-1"), Payload(), ""),
         "empty signature"},
        {"stripped signature", good.substr(0, good.rfind('.') + 1), "empty signature"},
        // Algorithm confusion: HMAC keyed with public key material.
        {"HS256 keyed with the EC public key PEM",
         HmacUnder(HeaderFor("HS256", kEcThumbprint), Payload(), AsBytes(kEcPublicPem)),
         "alg mismatch for kid"},
        {"HS256 keyed with the Ed25519 public key PEM",
         HmacUnder(HeaderFor("HS256", kEdThumbprint), Payload(), AsBytes(kEdPublicPem)),
         "alg mismatch for kid"},
        {"HS256 keyed with the raw Ed25519 public key",
         HmacUnder(HeaderFor("HS256", kEdThumbprint), Payload(), ed_public_raw),
         "alg mismatch for kid"},
        {"ES256 header on the EdDSA key",
         SignRaw(HeaderFor("ES256", kEdThumbprint), Payload(), ed_), "alg mismatch for kid"},
        {"alg RS256 on an HS256 kid", Hs(HeaderFor("RS256", "hs-1"), Payload()),
         "alg mismatch for kid"},
        {"alg PS256", Hs(HeaderFor("PS256", "hs-1"), Payload()), "alg not supported"},
        {"alg lowercase hs256", Hs(HeaderFor("hs256", "hs-1"), Payload()), "alg not supported"},
        {"alg missing", Hs(R"({"typ":"at+jwt","kid":"hs-1"})", Payload()), "alg missing"},
        {"alg not a string", Hs(R"({"alg":["HS256"],"kid":"hs-1"})", Payload()), "alg missing"},
        // Hostile key ids.
        {"kid path traversal", Hs(HeaderFor("HS256", "../../etc/passwd"), Payload()),
         "kid malformed"},
        {"kid SQL injection", Hs(HeaderFor("HS256", "' OR 1=1--"), Payload()), "kid malformed"},
        {"kid 129 bytes", Hs(HeaderFor("HS256", std::string(129, 'k')), Payload()),
         "kid malformed"},
        {"kid unknown", Hs(HeaderFor("HS256", std::string(128, 'k')), Payload()), "unknown kid"},
        {"kid missing", Hs(R"({"alg":"HS256","typ":"at+jwt"})", Payload()), "kid missing"},
        {"kid a number", Hs(R"({"alg":"HS256","typ":"at+jwt","kid":1})", Payload()),
         "kid not a string"},
        // Keys supplied by the token.
        {"embedded jwk",
         SignRaw(R"({"alg":"ES256","typ":"at+jwt","kid":"attacker","jwk":)" + attacker_jwk + "}",
                 Payload(), attacker),
         "header carries key material (jwk)"},
        {"jku", Hs(hs_prefix + R"("jku":"https://evil.test/jwks.json"})", Payload()),
         "header carries key material (jku)"},
        {"x5u", Hs(hs_prefix + R"("x5u":"https://evil.test/cert.pem"})", Payload()),
         "header carries key material (x5u)"},
        {"x5c", Hs(hs_prefix + R"("x5c":["MIIBszCCAVmgAwIBAgIU"]})", Payload()),
         "header carries key material (x5c)"},
        // Extensions and JWE parameters.
        {"crit", Hs(hs_prefix + R"("crit":["exp"],"exp":1})", Payload()), "crit header present"},
        {"crit empty", Hs(hs_prefix + R"("crit":[]})", Payload()), "crit header present"},
        {"b64 false", Hs(hs_prefix + R"("b64":false})", Payload()), "b64 header present"},
        {"zip", Hs(hs_prefix + R"("zip":"DEF"})", Payload()), "zip header present"},
        {"enc", Hs(hs_prefix + R"("enc":"A256GCM"})", Payload()), "enc header present"},
        {"p2c", Hs(hs_prefix + R"("p2c":2000000000})", Payload()), "p2c header present"},
        {"p2s", Hs(hs_prefix + R"("p2s":"c2FsdA"})", Payload()), "p2s header present"},
        // typ: other JWTs are not access tokens.
        {"typ JWT", Hs(R"({"alg":"HS256","typ":"JWT","kid":"hs-1"})", Payload()), "typ mismatch"},
        {"typ missing", Hs(R"({"alg":"HS256","kid":"hs-1"})", Payload()), "typ missing"},
        {"typ a number", Hs(R"({"alg":"HS256","typ":1,"kid":"hs-1"})", Payload()),
         "typ not a string"},
        // Structure.
        {"empty token", "", "token empty"},
        {"empty header", "." + Part(good, 1) + "." + sig, "empty header"},
        {"empty payload", Part(good, 0) + ".." + sig, "empty payload"},
        {"only dots", "..", "empty header"},
        {"four parts", good + "." + sig, "token does not have three parts"},
        {"two parts", Part(good, 0) + "." + Part(good, 1), "token does not have three parts"},
        {"no dots", Part(good, 0), "token does not have three parts"},
        {"huge header", Hs(hs_prefix + R"("x":")" + std::string(9000, 'a') + "\"}", Payload()),
         "token too large"},
        {"huge garbage", std::string(kMaxJwsSize + 1, '.'), "token too large"},
        {"header an array", Hs(R"(["HS256"])", Payload()), "header is not a JSON object"},
        {"header a string", Hs(R"("HS256")", Payload()), "header is not a JSON object"},
        {"header truncated JSON", Hs(R"({"alg":"HS256")", Payload()), "header is not valid JSON"},
        {"header invalid UTF-8", Hs("{\"alg\":\"HS256\",\"x\":\"\xff\"}", Payload()),
         "header is not valid JSON"},
        {"header trailing data", Hs(hs_header + "{}", Payload()), "header is not valid JSON"},
        {"duplicate alg in header",
         Hs(R"({"alg":"HS256","typ":"at+jwt","kid":"hs-1","alg":"none"})", Payload()),
         "header repeats a member name"},
        {"duplicate kid in header",
         Hs(R"({"alg":"HS256","typ":"at+jwt","kid":"hs-1","kid":"other"})", Payload()),
         "header repeats a member name"},
        // Encoding: one byte string, one spelling.
        {"padding on the signature", good + "=", "signature is not canonical base64url"},
        {"padding on the header", Part(good, 0) + "=." + Part(good, 1) + "." + sig,
         "header is not canonical base64url"},
        {"non-canonical trailing bits", WithSignature(good, non_canonical),
         "signature is not canonical base64url"},
        {"'+' in the signature", WithSignature(good, "+" + sig.substr(1)),
         "signature is not canonical base64url"},
        {"'/' in the header", "/" + good.substr(1), "header is not canonical base64url"},
        {"leading whitespace", " " + good, "header is not canonical base64url"},
        {"line break in the signature",
         WithSignature(good, sig.substr(0, 20) + "\n" + sig.substr(20)),
         "signature is not canonical base64url"},
        // Signatures.
        {"tampered payload", Part(good, 0) + "." + B64(Payload(R"("role":"admin")")) + "." + sig,
         "signature mismatch"},
        {"signed with another secret",
         HmacUnder(hs_header, Payload(), AsBytes("another secret that is 32 bytes!")),
         "signature mismatch"},
        {"EdDSA signature altered", WithSignature(GoodEd(), flipped_ed), "signature mismatch"},
        {"HS256 signature truncated", WithSignature(good, sig.substr(0, 42)),
         "signature is not canonical base64url"},
        {"HS256 signature of 31 bytes",
         WithSignature(good, Base64UrlEncode(std::span(hs_raw).first(31))), "signature length"},
        {"ES256 signature of 63 bytes",
         WithSignature(GoodEs(), Base64UrlEncode(std::span(es_raw).first(63))), "signature length"},
        {"ES256 DER signature", WithSignature(GoodEs(), Base64UrlEncode(RawToDer(es_raw))),
         "signature length"},
        {"ES256 high S", kNodeEs256Token, "ecdsa signature has high s"},
        // Payload, read only after the signature held.
        {"duplicate sub in payload", Hs(hs_header, Payload(R"("sub":"admin")")),
         "payload repeats a member name"},
        {"duplicate exp in payload", Hs(hs_header, Payload(R"("exp":9999999999)")),
         "payload repeats a member name"},
        {"payload an array", Hs(hs_header, "[1,2]"), "payload is not a JSON object"},
        {"payload nested too deeply", Hs(hs_header, std::string(20, '[') + std::string(20, ']')),
         "payload is nested too deeply"},
        // Claims.
        {"expired",
         Hs(hs_header, ClaimSet("https://gatehouse.test", "api", "1699990000", "1699996400")),
         "exp in the past"},
        {"not yet valid", Hs(hs_header, Payload(R"("nbf":1700003000)")), "nbf in the future"},
        {"iat in the future",
         Hs(hs_header, ClaimSet("https://gatehouse.test", "api", "1700003000", "1700009000")),
         "iat in the future"},
        {"wrong audience",
         Hs(hs_header, ClaimSet("https://gatehouse.test", "billing", "1700000000", "1700003600")),
         "aud mismatch"},
        {"wrong issuer",
         Hs(hs_header, ClaimSet("https://evil.test", "api", "1700000000", "1700003600")),
         "iss mismatch"},
        {"exp as a string",
         Hs(hs_header, ClaimSet("https://gatehouse.test", "api", "1700000000", R"("1700003600")")),
         "exp is not an integer NumericDate"},
        {"exp absurd",
         Hs(hs_header, ClaimSet("https://gatehouse.test", "api", "1700000000", "99999999999999")),
         "exp out of range"},
    };
  }

  SigningKey hs_;
  SigningKey ec_;
  SigningKey ed_;
  SigningKeys keys_;
  ManualClock clock_;
  JwtPolicy policy_ = JwtPolicy::AccessToken(kIss, "api");
};

TEST_F(JoseHostile, GenuineTokensOfEachAlgorithmPass) {
  for (const std::string& token : {GoodHs(), GoodEs(), GoodEd(), std::string(kNodeEs256TokenLowS),
                                   std::string(kNodeEdDsaToken)}) {
    const auto claims = VerifyJwt(token, keys_, policy_, clock_);
    EXPECT_TRUE(claims.ok()) << (claims.ok() ? "" : claims.error().detail());
  }
}

TEST_F(JoseHostile, EachHostileTokenIsRefusedForItsReason) {
  const std::vector<Case> cases = Cases();
  ASSERT_GE(cases.size(), 25u);
  for (const Case& c : cases) {
    const auto claims = VerifyJwt(c.token, keys_, policy_, clock_);
    ASSERT_FALSE(claims.ok()) << c.name;
    EXPECT_EQ(claims.error().detail(), c.detail) << c.name;
    EXPECT_EQ(claims.error().code(), ErrorCode::kUnauthenticated) << c.name;
    EXPECT_EQ(claims.error().message(), "invalid token") << c.name;
  }
}

TEST_F(JoseHostile, DetailsNeverEchoTokenContent) {
  for (const Case& c : Cases()) {
    const auto claims = VerifyJwt(c.token, keys_, policy_, clock_);
    ASSERT_FALSE(claims.ok());
    const std::string& detail = claims.error().detail();
    for (const char* fragment : {"passwd", "OR 1=1", "evil", "admin", "attacker", "hs-1", "eyJ"}) {
      EXPECT_EQ(detail.find(fragment), std::string::npos) << c.name;
    }
  }
}

}  // namespace
}  // namespace gatehouse::crypto
