#include "crypto/aead.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/encoding.h"

namespace gatehouse::crypto {
namespace {

std::vector<std::uint8_t> Hex(const boost::json::value& v) {
  auto bytes = HexDecode(std::string_view(v.as_string()));
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : std::vector<std::uint8_t>{};
}

boost::json::value LoadVectors() {
  const std::string path = std::string(GATEHOUSE_TEST_VECTORS_DIR) + "/aes_gcm_256_wycheproof.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return boost::json::parse(buffer.str());
}

// Wycheproof AES-GCM, group with 256-bit keys, 96-bit IVs and 128-bit tags
// (see tests/vectors/README.md). Valid vectors must seal to exactly the given
// ciphertext and tag and open again; invalid ones (modified tags) must fail
// authentication.
TEST(AesGcm, PassesWycheproofVectors) {
  const boost::json::value doc = LoadVectors();
  const auto& tests = doc.at("tests").as_array();
  ASSERT_GE(tests.size(), 66u);

  int valid = 0;
  int invalid = 0;
  for (const auto& t : tests) {
    const auto id = t.at("tcId").as_int64();
    const auto key = Hex(t.at("key"));
    const auto iv = Hex(t.at("iv"));
    const auto aad = Hex(t.at("aad"));
    const auto msg = Hex(t.at("msg"));
    std::vector<std::uint8_t> sealed = Hex(t.at("ct"));
    const auto tag = Hex(t.at("tag"));
    sealed.insert(sealed.end(), tag.begin(), tag.end());

    auto opened = Open(key, iv, sealed, aad);
    if (t.at("result").as_string() == "valid") {
      ++valid;
      ASSERT_TRUE(opened.ok()) << "tcId " << id;
      EXPECT_EQ(HexEncode(opened->bytes()), HexEncode(msg)) << "tcId " << id;
      auto resealed = Seal(key, iv, msg, aad);
      ASSERT_TRUE(resealed.ok()) << "tcId " << id;
      EXPECT_EQ(*resealed, sealed) << "tcId " << id;
    } else {
      ++invalid;
      ASSERT_FALSE(opened.ok()) << "tcId " << id;
      EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss) << "tcId " << id;
    }
  }
  EXPECT_GT(valid, 0);
  EXPECT_GT(invalid, 0);
}

TEST(AesGcm, RejectsWrongKeyAndNonceSizes) {
  const std::vector<std::uint8_t> key(32, 1), nonce(12, 2), msg(5, 3);
  const std::vector<std::uint8_t> short_key(16, 1), long_nonce(16, 2);
  EXPECT_EQ(Seal(short_key, nonce, msg, {}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Seal(key, long_nonce, msg, {}).error().code(), ErrorCode::kInvalidArgument);
  auto sealed = Seal(key, nonce, msg, {});
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(Open(short_key, nonce, *sealed, {}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Open(key, long_nonce, *sealed, {}).error().code(), ErrorCode::kInvalidArgument);
}

TEST(AesGcm, InputShorterThanTagIsDataLoss) {
  const std::vector<std::uint8_t> key(32, 1), nonce(12, 2), stub(15, 0);
  auto opened = Open(key, nonce, stub, {});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
}

TEST(AesGcm, AuthenticationFailureMessageIsGeneric) {
  const std::vector<std::uint8_t> key(32, 1), other_key(32, 9), nonce(12, 2);
  auto sealed = Seal(key, nonce, AsBytes("personal data"), AsBytes("row 7"));
  ASSERT_TRUE(sealed.ok());
  auto wrong_key = Open(other_key, nonce, *sealed, AsBytes("row 7"));
  auto wrong_aad = Open(key, nonce, *sealed, AsBytes("row 8"));
  ASSERT_FALSE(wrong_key.ok());
  ASSERT_FALSE(wrong_aad.ok());
  EXPECT_EQ(wrong_key.error().message(), wrong_aad.error().message());
  EXPECT_EQ(wrong_key.error().message().find("personal"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::crypto
