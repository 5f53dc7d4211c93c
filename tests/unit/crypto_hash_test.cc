#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/encoding.h"

namespace gatehouse::crypto {
namespace {

std::vector<std::uint8_t> Repeat(std::uint8_t byte, std::size_t n) {
  return std::vector<std::uint8_t>(n, byte);
}

std::vector<std::uint8_t> Range(int first, int last) {  // [first, last]
  std::vector<std::uint8_t> out;
  for (int b = first; b <= last; ++b) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

std::vector<std::uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }

// FIPS 180-4 examples (NIST CSRC "SHA256.pdf"), plus the empty message.
TEST(Sha256, MatchesFipsVectors) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

struct HmacCase {
  int number;
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> data;
  std::string mac_hex;  // Case 5 is truncated to 128 bits by the RFC.
};

// RFC 4231 section 4, HMAC-SHA-256 results.
std::vector<HmacCase> Rfc4231Cases() {
  return {
      {1, Repeat(0x0b, 20), Bytes("Hi There"),
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {2, Bytes("Jefe"), Bytes("what do ya want for nothing?"),
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {3, Repeat(0xaa, 20), Repeat(0xdd, 50),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {4, Range(0x01, 0x19), Repeat(0xcd, 50),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {5, Repeat(0x0c, 20), Bytes("Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"},
      {6, Repeat(0xaa, 131), Bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {7, Repeat(0xaa, 131),
       Bytes("This is a test using a larger than block-size key and a larger than block-size "
             "data. The key needs to be hashed before being used by the HMAC algorithm."),
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
}

TEST(HmacSha256, MatchesRfc4231) {
  for (const HmacCase& c : Rfc4231Cases()) {
    const std::string mac = HexEncode(HmacSha256(c.key, c.data));
    EXPECT_EQ(mac.substr(0, c.mac_hex.size()), c.mac_hex) << "case " << c.number;
  }
}

TEST(HmacSha256, KeyedMatchesRfc4231) {
  for (const HmacCase& c : Rfc4231Cases()) {
    HmacSha256Keyed keyed(c.key);
    // Twice: the second call takes the cached, already keyed context.
    for (int round = 0; round < 2; ++round) {
      const std::string mac = HexEncode(keyed.Compute(c.data));
      EXPECT_EQ(mac.substr(0, c.mac_hex.size()), c.mac_hex) << "case " << c.number;
    }
  }
}

TEST(HmacSha256, AlternatingKeysOnOneThreadStayIndependent) {
  // The free function re-keys one per-thread context; the keyed objects share
  // a per-thread cache. Interleaving must not mix keys up.
  const auto cases = Rfc4231Cases();
  HmacSha256Keyed first(cases[0].key);
  HmacSha256Keyed second(cases[1].key);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(HexEncode(first.Compute(cases[0].data)), cases[0].mac_hex);
    EXPECT_EQ(HexEncode(HmacSha256(cases[2].key, cases[2].data)), cases[2].mac_hex);
    EXPECT_EQ(HexEncode(second.Compute(cases[1].data)), cases[1].mac_hex);
  }
}

TEST(HmacSha256, EmptyKeyIsAKeyNotAReuse) {
  const auto cases = Rfc4231Cases();
  const Sha256Digest empty_key = HmacSha256({}, std::string_view("data"));
  // Run with a real key in between: an empty key must not reuse it.
  (void)HmacSha256(cases[0].key, cases[0].data);
  EXPECT_EQ(HmacSha256({}, std::string_view("data")), empty_key);
  // Expected value from Python's hmac module.
  EXPECT_EQ(HexEncode(empty_key),
            "e528c4d99e6177f5841f712a143b90843299a4aa181a06501422d9ca862bd2a5");
}

TEST(HmacSha256, KeyedObjectsReplacedInPlaceUseTheirOwnKey) {
  // A new object may land at a dead one's address; the per-thread cache must
  // not hand it the old key's context. More objects than cache slots also
  // exercises eviction.
  const auto cases = Rfc4231Cases();
  for (int round = 0; round < 20; ++round) {
    const HmacCase& c = cases[round % cases.size()];
    std::optional<HmacSha256Keyed> keyed;
    keyed.emplace(c.key);
    const std::string mac = HexEncode(keyed->Compute(c.data));
    EXPECT_EQ(mac.substr(0, c.mac_hex.size()), c.mac_hex) << "round " << round;
  }
}

TEST(HmacSha256, KeyedIsSafeAcrossThreads) {
  const auto cases = Rfc4231Cases();
  const HmacSha256Keyed keyed(cases[0].key);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (HexEncode(keyed.Compute(cases[0].data)) != cases[0].mac_hex) ++failures[t];
        if (HexEncode(HmacSha256(cases[1].key, cases[1].data)) != cases[1].mac_hex) ++failures[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(HmacSha256, KeyedVerifyComparesWholeMac) {
  const auto cases = Rfc4231Cases();
  const HmacSha256Keyed keyed(cases[0].key);
  Sha256Digest mac = keyed.Compute(cases[0].data);
  EXPECT_TRUE(keyed.Verify(cases[0].data, mac));
  mac[31] ^= 1;
  EXPECT_FALSE(keyed.Verify(cases[0].data, mac));
  mac[31] ^= 1;
  EXPECT_FALSE(keyed.Verify(cases[0].data, std::span(mac).first(16)));  // truncated
  EXPECT_FALSE(keyed.Verify(std::string_view("other data"), mac));
}

struct HkdfCase {
  int number;
  std::vector<std::uint8_t> ikm;
  std::vector<std::uint8_t> salt;
  std::vector<std::uint8_t> info;
  std::size_t length;
  std::string okm_hex;
};

// RFC 5869 appendix A.1-A.3 (SHA-256).
TEST(HkdfSha256, MatchesRfc5869) {
  const HkdfCase cases[] = {
      {1, Repeat(0x0b, 22), Range(0x00, 0x0c), Range(0xf0, 0xf9), 42,
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
      {2, Range(0x00, 0x4f), Range(0x60, 0xaf), Range(0xb0, 0xff), 82,
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c6"
       "5e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      {3,
       Repeat(0x0b, 22),
       {},
       {},
       42,
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
  };
  for (const HkdfCase& c : cases) {
    auto okm = HkdfSha256(c.ikm, c.salt, c.info, c.length);
    ASSERT_TRUE(okm.ok()) << "case " << c.number;
    EXPECT_EQ(HexEncode(okm->bytes()), c.okm_hex) << "case " << c.number;
  }
}

TEST(HkdfSha256, EnforcesLengthBounds) {
  const auto ikm = Repeat(0x0b, 22);
  EXPECT_EQ(HkdfSha256(ikm, {}, {}, 0).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(HkdfSha256(ikm, {}, {}, kHkdfSha256MaxLength + 1).error().code(),
            ErrorCode::kInvalidArgument);
  auto longest = HkdfSha256(ikm, {}, {}, kHkdfSha256MaxLength);
  ASSERT_TRUE(longest.ok());
  EXPECT_EQ(longest->size(), kHkdfSha256MaxLength);
  EXPECT_EQ(HkdfSha256({}, {}, {}, 32).error().code(), ErrorCode::kInvalidArgument);
}

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("token-value", "token-value"));
  EXPECT_FALSE(ConstantTimeEquals("token-value", "token-valuf"));
  EXPECT_FALSE(ConstantTimeEquals("Token-value", "token-value"));
  EXPECT_FALSE(ConstantTimeEquals("token", "token-value"));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

}  // namespace
}  // namespace gatehouse::crypto
