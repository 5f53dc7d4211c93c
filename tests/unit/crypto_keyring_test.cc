#include "crypto/keyring.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/encoding.h"
#include "crypto/envelope.h"
#include "crypto/hkdf.h"

namespace gatehouse::crypto {
namespace {

// Fixed test keys (32 bytes each, standard base64).
const std::string kKey1 = Base64Encode(std::vector<std::uint8_t>(32, 0x11));
const std::string kKey2 = Base64Encode(std::vector<std::uint8_t>(32, 0x22));

KeyRing MustParse(const std::string& text) {
  auto ring = KeyRing::Parse(Secret(text));
  EXPECT_TRUE(ring.ok()) << (ring.ok() ? "" : ring.error().detail());
  return std::move(ring).value();
}

TEST(KeyRing, ParsesCommentsBlankLinesAndCrlf) {
  const KeyRing ring =
      MustParse("# master keys\r\n\r\n  v1:" + kKey1 + "  \r\n#v9:x\n\tv2:" + kKey2 + "\n");
  EXPECT_EQ(ring.current_version(), 2u);
  EXPECT_EQ(ring.versions(), (std::vector<std::uint32_t>{1, 2}));
}

TEST(KeyRing, HighestVersionIsCurrentWhateverTheOrder) {
  const KeyRing ring = MustParse("v7:" + kKey2 + "\nv3:" + kKey1);
  EXPECT_EQ(ring.current_version(), 7u);
}

TEST(KeyRing, ParseErrorsNameTheLineAndNeverTheKey) {
  const std::string short_key = Base64Encode(std::vector<std::uint8_t>(16, 0x33));
  const std::string zero_key = Base64Encode(std::vector<std::uint8_t>(32, 0));
  const struct {
    std::string text;
    std::string detail;
  } kCases[] = {
      {"", "no key lines (expected v<N>:<base64 key>)"},
      {"# only a comment\n\n", "no key lines (expected v<N>:<base64 key>)"},
      {"v1 " + kKey1, "line 1: expected v<N>:<base64 key>"},
      {"\nv0:" + kKey1, "line 2: version must be v followed by a positive number"},
      {"v01:" + kKey1, "line 1: version must be v followed by a positive number"},
      {"V1:" + kKey1, "line 1: version must be v followed by a positive number"},
      {"v-1:" + kKey1, "line 1: version must be v followed by a positive number"},
      {"v4294967296:" + kKey1, "line 1: version must be v followed by a positive number"},
      {"v1:" + kKey1 + "\n# c\nv1:" + kKey2, "line 3: version v1 already defined on line 1"},
      {"v1:" + kKey1.substr(0, 43), "line 1: key is not valid padded base64"},
      {"v1:" + kKey1 + "!", "line 1: key is not valid padded base64"},
      {"v1:" + short_key, "line 1: key must be exactly 32 bytes, got 16"},
      {"v1:" + zero_key, "line 1: key is all zero bytes"},
  };
  for (const auto& c : kCases) {
    auto ring = KeyRing::Parse(Secret(c.text));
    ASSERT_FALSE(ring.ok()) << c.text;
    EXPECT_EQ(ring.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(ring.error().message(), "invalid master key file");
    EXPECT_EQ(ring.error().detail(), c.detail);
    EXPECT_EQ(ring.error().detail().find(kKey1.substr(0, 8)), std::string::npos);
  }
}

TEST(KeyRing, DerivesWithHkdfFromTheVersionsMasterKey) {
  const KeyRing ring = MustParse("v1:" + kKey1 + "\nv2:" + kKey2);
  auto derived = ring.DeriveKey("field:email", 1);
  ASSERT_TRUE(derived.ok());
  auto expected = HkdfSha256(std::vector<std::uint8_t>(32, 0x11), AsBytes("gatehouse keyring v1"),
                             AsBytes("field:email"), 32);
  ASSERT_TRUE(expected.ok());
  EXPECT_TRUE(derived->Equals(*expected));

  // Cached and uncached answers agree.
  EXPECT_TRUE(ring.DeriveKey("field:email", 1)->Equals(*expected));
  EXPECT_FALSE(ring.DeriveKey("field:phone", 1)->Equals(*derived));
  EXPECT_FALSE(ring.DeriveKey("field:email", 2)->Equals(*derived));
}

TEST(KeyRing, RejectsUnknownVersionsAndBadPurposes) {
  const KeyRing ring = MustParse("v1:" + kKey1);
  EXPECT_EQ(ring.DeriveKey("field:email", 2).error().code(), ErrorCode::kNotFound);
  for (const std::string& purpose : {std::string(), std::string("field/email"),
                                     std::string("field email"), std::string(65, 'a')}) {
    EXPECT_EQ(ring.DeriveKey(purpose, 1).error().code(), ErrorCode::kInvalidArgument) << purpose;
    EXPECT_EQ(ring.Encrypt(purpose, "x", "").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(ring.BlindIndex(purpose, "x").error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(ring.DeriveKey(std::string(64, 'a'), 1).ok());
}

TEST(KeyRing, EncryptDecryptBindsPurposeAndAad) {
  const KeyRing ring = MustParse("v1:" + kKey1);
  auto text = ring.Encrypt("field:email", "alice@example.com", "users/17/email");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->find("alice"), std::string::npos);

  auto plain = ring.Decrypt("field:email", *text, "users/17/email");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->reveal(), "alice@example.com");

  EXPECT_EQ(ring.Decrypt("field:email", *text, "users/18/email").error().code(),
            ErrorCode::kDataLoss);
  EXPECT_EQ(ring.Decrypt("field:phone", *text, "users/17/email").error().code(),
            ErrorCode::kDataLoss);
}

TEST(KeyRing, EncryptionKeyDiffersFromTheRawDerivedKey) {
  // Encrypt must not use DeriveKey(purpose) itself, or a key handed out for
  // another algorithm would also open these values.
  const KeyRing ring = MustParse("v1:" + kKey1);
  auto text = ring.Encrypt("field:email", "alice@example.com", "");
  ASSERT_TRUE(text.ok());
  auto raw = ring.DeriveKey("field:email", 1);
  ASSERT_TRUE(raw.ok());
  auto opened = OpenEnvelopeText([&](std::uint32_t) -> Result<Secret> { return *raw; }, *text, {});
  EXPECT_EQ(opened.error().code(), ErrorCode::kDataLoss);
}

TEST(KeyRing, RotationKeepsOldDataReadableAndWritesUnderTheNewVersion) {
  const Secret file_v1("# keys\nv1:" + kKey1);
  const KeyRing before = MustParse(std::string(file_v1.reveal()));
  auto old_text = before.Encrypt("field:email", "bob@example.com", "users/5/email");
  ASSERT_TRUE(old_text.ok());
  EXPECT_EQ(*KeyRing::VersionOf(*old_text), 1u);

  auto file_v2 = AddMasterKeyVersion(file_v1);
  ASSERT_TRUE(file_v2.ok());
  EXPECT_EQ(file_v2->reveal().rfind("# keys\nv1:" + kKey1 + "\nv2:", 0), 0u);
  auto after = KeyRing::Parse(*file_v2);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->current_version(), 2u);

  auto still_readable = after->Decrypt("field:email", *old_text, "users/5/email");
  ASSERT_TRUE(still_readable.ok());
  EXPECT_EQ(still_readable->reveal(), "bob@example.com");

  auto new_text = after->Encrypt("field:email", "bob@example.com", "users/5/email");
  ASSERT_TRUE(new_text.ok());
  EXPECT_EQ(*KeyRing::VersionOf(*new_text), 2u);
  // The old ring does not know v2.
  EXPECT_EQ(before.Decrypt("field:email", *new_text, "users/5/email").error().code(),
            ErrorCode::kNotFound);
}

TEST(KeyRing, BlindIndexIsDeterministicPerPurposeAndVersion) {
  const KeyRing ring = MustParse("v1:" + kKey1 + "\nv2:" + kKey2);
  auto a = ring.BlindIndex("blind-index:email", "alice@example.com");
  auto b = ring.BlindIndex("blind-index:email", "alice@example.com");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->size(), 43u);
  EXPECT_TRUE(Base64UrlDecode(*a).ok());
  EXPECT_EQ(*ring.BlindIndex("blind-index:email", "alice@example.com", 2), *a);

  EXPECT_NE(*ring.BlindIndex("blind-index:email", "alice@example.org"), *a);
  EXPECT_NE(*ring.BlindIndex("blind-index:phone", "alice@example.com"), *a);
  EXPECT_NE(*ring.BlindIndex("blind-index:email", "alice@example.com", 1), *a);
  EXPECT_EQ(ring.BlindIndex("blind-index:email", "x", 3).error().code(), ErrorCode::kNotFound);
}

TEST(KeyRing, GeneratedFilesParseAndDiffer) {
  const Secret first = GenerateMasterKeyFile();
  const Secret second = GenerateMasterKeyFile();
  EXPECT_FALSE(first.Equals(second));
  auto ring = KeyRing::Parse(first);
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(ring->current_version(), 1u);
  EXPECT_NE(first.reveal().find("\nv1:"), std::string_view::npos);
}

TEST(KeyRing, AddMasterKeyVersionRefusesInvalidFiles) {
  auto bad = AddMasterKeyVersion(Secret(std::string_view("v1:short")));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  auto full = AddMasterKeyVersion(Secret("v4294967295:" + kKey1));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code(), ErrorCode::kFailedPrecondition);
}

TEST(KeyRing, ConcurrentUseIsSafe) {
  const KeyRing ring = MustParse("v1:" + kKey1 + "\nv2:" + kKey2);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string purpose = "field:f" + std::to_string(i % 7);
        const std::string value = "value " + std::to_string(i);
        auto text = ring.Encrypt(purpose, value, "aad");
        auto plain = text.ok() ? ring.Decrypt(purpose, *text, "aad") : text.error();
        if (!plain.ok() || plain->reveal() != value) ++failures[t];
        if (!ring.BlindIndex(purpose, value, 1 + i % 2).ok()) ++failures[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
}  // namespace gatehouse::crypto
