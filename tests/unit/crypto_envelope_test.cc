#include "crypto/envelope.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/encoding.h"

namespace gatehouse::crypto {
namespace {

const std::vector<std::uint8_t> kKey(32, 0x42);
constexpr std::uint32_t kKeyId = 0x01020304;

// Answers every key id with the same key, so a failure after an edited key id
// proves the id is authenticated, not merely used to pick a key.
Result<Secret> AnyIdSameKey(std::uint32_t) { return Secret(std::span(kKey)); }

std::vector<std::uint8_t> SealSample(std::string_view plaintext = "alice@example.com",
                                     std::string_view aad = "users/17/email") {
  auto sealed = SealEnvelope(kKey, kKeyId, AsBytes(plaintext), AsBytes(aad));
  EXPECT_TRUE(sealed.ok());
  return sealed.ok() ? *sealed : std::vector<std::uint8_t>{};
}

TEST(Envelope, RoundTrips) {
  const auto envelope = SealSample();
  auto opened = OpenEnvelope(AnyIdSameKey, envelope, AsBytes("users/17/email"));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->reveal(), "alice@example.com");
}

TEST(Envelope, HasTheDocumentedLayout) {
  const auto envelope = SealSample("12345");
  ASSERT_EQ(envelope.size(), 5 + kEnvelopeOverhead);
  EXPECT_EQ(envelope[0], 1);
  EXPECT_EQ(envelope[1], 0x01);
  EXPECT_EQ(envelope[2], 0x02);
  EXPECT_EQ(envelope[3], 0x03);
  EXPECT_EQ(envelope[4], 0x04);
  auto id = EnvelopeKeyId(envelope);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, kKeyId);
}

TEST(Envelope, NoncesAreFreshPerMessage) {
  const auto a = SealSample();
  const auto b = SealSample();
  EXPECT_NE(std::vector(a.begin() + 5, a.begin() + 17), std::vector(b.begin() + 5, b.begin() + 17));
  EXPECT_NE(a, b);
}

TEST(Envelope, FlippingAnyRegionFailsAuthentication) {
  const auto original = SealSample("0123456789");
  const struct {
    const char* region;
    std::size_t offset;
  } kRegions[] = {
      {"format version", 0},
      {"key id (high byte)", 1},
      {"key id (low byte)", 4},
      {"nonce (first byte)", 5},
      {"nonce (last byte)", 16},
      {"ciphertext (first byte)", 17},
      {"ciphertext (last byte)", 26},
      {"tag (first byte)", 27},
      {"tag (last byte)", original.size() - 1},
  };
  for (const auto& r : kRegions) {
    auto tampered = original;
    tampered[r.offset] ^= 0x01;
    auto opened = OpenEnvelope(AnyIdSameKey, tampered, AsBytes("users/17/email"));
    ASSERT_FALSE(opened.ok()) << r.region;
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss) << r.region;
  }
}

TEST(Envelope, DifferentAadFailsAuthentication) {
  const auto envelope = SealSample();
  for (std::string_view aad : {"users/18/email", "", "users/17/email "}) {
    auto opened = OpenEnvelope(AnyIdSameKey, envelope, AsBytes(aad));
    ASSERT_FALSE(opened.ok()) << aad;
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
  }
}

TEST(Envelope, TruncationIsDataLoss) {
  const auto envelope = SealSample("");
  ASSERT_EQ(envelope.size(), kEnvelopeOverhead);
  EXPECT_TRUE(OpenEnvelope(AnyIdSameKey, envelope, AsBytes("users/17/email")).ok());
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{5}, kEnvelopeOverhead - 1}) {
    auto opened = OpenEnvelope(AnyIdSameKey, std::span(envelope).first(size), {});
    ASSERT_FALSE(opened.ok()) << size;
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
  }
}

TEST(Envelope, LookupErrorsPassThrough) {
  const auto envelope = SealSample();
  std::uint32_t asked = 0;
  auto opened = OpenEnvelope(
      [&](std::uint32_t id) -> Result<Secret> {
        asked = id;
        return NotFound("encryption key not available");
      },
      envelope, AsBytes("users/17/email"));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(asked, kKeyId);
}

TEST(Envelope, TextFormIsBase64UrlOfTheBinaryForm) {
  auto text = SealEnvelopeText(kKey, 7, AsBytes("secret"), AsBytes("aad"));
  ASSERT_TRUE(text.ok());
  auto binary = Base64UrlDecode(*text);
  ASSERT_TRUE(binary.ok());
  EXPECT_EQ(binary->size(), 6 + kEnvelopeOverhead);

  auto opened = OpenEnvelopeText(AnyIdSameKey, *text, AsBytes("aad"));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->reveal(), "secret");
  auto id = EnvelopeTextKeyId(*text);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 7u);
}

TEST(Envelope, NonCanonicalTextIsDataLoss) {
  auto text = SealEnvelopeText(kKey, 7, AsBytes("secret"), AsBytes("aad"));
  ASSERT_TRUE(text.ok());
  for (const std::string& bad : {*text + "=", *text + "\n", "!" + text->substr(1), std::string()}) {
    auto opened = OpenEnvelopeText(AnyIdSameKey, bad, AsBytes("aad"));
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
  }
}

}  // namespace
}  // namespace gatehouse::crypto
