// HOTP and TOTP codes against the RFCs' own test vectors, the acceptance window at its exact
// edges (a ManualClock, never a sleep), base32 and the key URI.

#include "auth/totp.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace gatehouse::auth {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

system_clock::time_point At(std::int64_t unix_seconds) {
  return system_clock::time_point(seconds(unix_seconds));
}

// RFC 4226 Appendix D: the secret is the ASCII string "12345678901234567890".
TEST(Hotp, Rfc4226AppendixDVectors) {
  const Secret key(std::string_view("12345678901234567890"));
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (std::uint64_t counter = 0; counter < 10; ++counter) {
    auto code = Hotp(key, counter, 6);
    ASSERT_TRUE(code.ok()) << code.error().detail();
    EXPECT_EQ(code->reveal(), expected[counter]) << "counter " << counter;
  }
}

struct Rfc6238Case {
  std::int64_t time;
  OtpAlgorithm algorithm;
  const char* code;
};

// RFC 6238 Appendix B: 8 digits, a 30 s step, and one seed per hash (the ASCII digits
// "1234567890" repeated to 20, 32 and 64 bytes).
const Rfc6238Case kRfc6238[] = {
    {59, OtpAlgorithm::kSha1, "94287082"},
    {59, OtpAlgorithm::kSha256, "46119246"},
    {59, OtpAlgorithm::kSha512, "90693936"},
    {1111111109, OtpAlgorithm::kSha1, "07081804"},
    {1111111109, OtpAlgorithm::kSha256, "68084774"},
    {1111111109, OtpAlgorithm::kSha512, "25091201"},
    {1111111111, OtpAlgorithm::kSha1, "14050471"},
    {1111111111, OtpAlgorithm::kSha256, "67062674"},
    {1111111111, OtpAlgorithm::kSha512, "99943326"},
    {1234567890, OtpAlgorithm::kSha1, "89005924"},
    {1234567890, OtpAlgorithm::kSha256, "91819424"},
    {1234567890, OtpAlgorithm::kSha512, "93441116"},
    {2000000000, OtpAlgorithm::kSha1, "69279037"},
    {2000000000, OtpAlgorithm::kSha256, "90698825"},
    {2000000000, OtpAlgorithm::kSha512, "38618901"},
    {20000000000, OtpAlgorithm::kSha1, "65353130"},
    {20000000000, OtpAlgorithm::kSha256, "77737706"},
    {20000000000, OtpAlgorithm::kSha512, "47863826"},
};

Secret Rfc6238Seed(OtpAlgorithm algorithm) {
  const std::size_t size = algorithm == OtpAlgorithm::kSha1     ? 20
                           : algorithm == OtpAlgorithm::kSha256 ? 32
                                                                : 64;
  std::string seed;
  while (seed.size() < size) seed += "1234567890";
  seed.resize(size);
  return Secret(seed);
}

TEST(Totp, Rfc6238AppendixBVectors) {
  for (const Rfc6238Case& c : kRfc6238) {
    TotpParams params;
    params.algorithm = c.algorithm;
    params.digits = 8;
    const Secret seed = Rfc6238Seed(c.algorithm);

    const std::uint64_t step = static_cast<std::uint64_t>(c.time) / 30;
    auto code = TotpAt(seed, step, params);
    ASSERT_TRUE(code.ok()) << code.error().detail();
    EXPECT_EQ(code->reveal(), c.code) << c.time << " " << OtpAlgorithmName(c.algorithm);

    // The same vector through the verifier, at the vector's own instant. The year-2603 vector
    // is past what a nanosecond system_clock can hold (year 2262), so it stops at TotpAt.
    if (c.time > 9'000'000'000) continue;
    EXPECT_EQ(TotpStep(At(c.time), params.period), step);
    auto matched = MatchTotp(seed, c.code, At(c.time), params);
    ASSERT_TRUE(matched.ok());
    EXPECT_EQ(*matched, step) << c.time;
  }
}

class TotpWindow : public ::testing::Test {
 protected:
  // A step boundary: 1,700,000,010 is 56,666,667 steps of 30 s exactly.
  static constexpr std::int64_t kBoundary = 1'700'000'010;
  const Secret key_ = Secret(std::string_view("window-test-secret-20"));
  TotpParams params_;

  std::string CodeAtStep(std::uint64_t step) {
    auto code = TotpAt(key_, step, params_);
    EXPECT_TRUE(code.ok());
    return std::string(code->reveal());
  }
  std::optional<std::uint64_t> Match(const std::string& code, std::int64_t now) {
    auto matched = MatchTotp(key_, code, At(now), params_);
    EXPECT_TRUE(matched.ok());
    return *matched;
  }
};

TEST_F(TotpWindow, AcceptsOneStepEitherSideAndNoFurther) {
  const std::uint64_t current = TotpStep(At(kBoundary), params_.period);
  ASSERT_EQ(current * 30, static_cast<std::uint64_t>(kBoundary));
  EXPECT_EQ(Match(CodeAtStep(current), kBoundary), current);
  EXPECT_EQ(Match(CodeAtStep(current - 1), kBoundary), current - 1);
  EXPECT_EQ(Match(CodeAtStep(current + 1), kBoundary), current + 1);
  EXPECT_EQ(Match(CodeAtStep(current - 2), kBoundary), std::nullopt);
  EXPECT_EQ(Match(CodeAtStep(current + 2), kBoundary), std::nullopt);
}

TEST_F(TotpWindow, EdgesMoveWithTheStepBoundary) {
  const std::uint64_t step = TotpStep(At(kBoundary), params_.period);
  const std::string old_code = CodeAtStep(step - 1);
  // At the last second of step+0 the previous step is still inside the window ...
  EXPECT_EQ(Match(old_code, kBoundary + 29), step - 1);
  // ... and one second later (step+1 is current) it is two steps back: refused.
  EXPECT_EQ(Match(old_code, kBoundary + 30), std::nullopt);
  // The code of step+1 is two steps ahead one second before the boundary (refused) and one
  // step ahead at the boundary (accepted).
  const std::string ahead = CodeAtStep(step + 1);
  EXPECT_EQ(Match(ahead, kBoundary - 1), std::nullopt);
  EXPECT_EQ(Match(ahead, kBoundary), step + 1);
}

TEST_F(TotpWindow, WindowZeroAcceptsOnlyTheCurrentStep) {
  params_.window = 0;
  const std::uint64_t step = TotpStep(At(kBoundary), params_.period);
  EXPECT_EQ(Match(CodeAtStep(step), kBoundary), step);
  EXPECT_EQ(Match(CodeAtStep(step - 1), kBoundary), std::nullopt);
  EXPECT_EQ(Match(CodeAtStep(step + 1), kBoundary), std::nullopt);
}

TEST_F(TotpWindow, WrongShapesNeverMatch) {
  const std::uint64_t step = TotpStep(At(kBoundary), params_.period);
  const std::string code = CodeAtStep(step);
  EXPECT_EQ(Match(code.substr(0, 5), kBoundary), std::nullopt);
  EXPECT_EQ(Match(code + "0", kBoundary), std::nullopt);
  EXPECT_EQ(Match("", kBoundary), std::nullopt);
  EXPECT_EQ(Match(std::string("12345\0", 6), kBoundary), std::nullopt);
  EXPECT_EQ(Match("12a456", kBoundary), std::nullopt);
}

TEST(TotpParamsCheck, RefusesOutOfRangeValues) {
  TotpParams params;
  EXPECT_TRUE(ValidateTotpParams(params).ok());
  params.digits = 5;
  EXPECT_FALSE(ValidateTotpParams(params).ok());
  params.digits = 9;
  EXPECT_FALSE(ValidateTotpParams(params).ok());
  params = {};
  params.period = seconds(9);
  EXPECT_FALSE(ValidateTotpParams(params).ok());
  params = {};
  params.window = 11;
  EXPECT_FALSE(ValidateTotpParams(params).ok());
}

TEST(Base32, RoundTripsASecretWithoutPadding) {
  const Secret secret = NewTotpSecret();
  ASSERT_EQ(secret.size(), kTotpSecretBytes);
  const std::string text = Base32Encode(secret.bytes());
  EXPECT_EQ(text.size(), 32u);  // 160 bits, 5 bits a character, no padding.
  EXPECT_EQ(text.find('='), std::string::npos);
  auto decoded = Base32Decode(text);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->Equals(secret));
  // RFC 4648 section 10 test vector.
  EXPECT_EQ(Base32Encode(
                std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>("foobar"), 6)),
            "MZXW6YTBOI");
  EXPECT_FALSE(Base32Decode("not base32!").ok());
}

TEST(OtpauthUri, HasTheKeyUriFormatWithEncodedLabel) {
  TotpParams params;
  EXPECT_EQ(OtpauthUri("Gatehouse", "ada@example.org", "JBSWY3DPEHPK3PXP", params),
            "otpauth://totp/Gatehouse:ada%40example.org?secret=JBSWY3DPEHPK3PXP"
            "&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30");
  params.algorithm = OtpAlgorithm::kSha512;
  params.digits = 8;
  params.period = seconds(60);
  EXPECT_EQ(OtpauthUri("Acme Corp", "a b", "ABC", params),
            "otpauth://totp/Acme%20Corp:a%20b?secret=ABC&issuer=Acme%20Corp&algorithm=SHA512"
            "&digits=8&period=60");
}

}  // namespace
}  // namespace gatehouse::auth
