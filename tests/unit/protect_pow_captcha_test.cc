#include "protect/pow_captcha.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/hash.h"

namespace gatehouse::protect {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::string_view kBinding = "ip:192.0.2.1";

// The interop vector shared with tests/interop/pow_solver.test.mjs: a difficulty-12
// challenge issued by this code and the smallest counter that solves it.
constexpr std::string_view kVectorChallenge =
    "AYdGPEOn5OJze65ucosaSfEAAAGLz-VoAAAAAYvP6fvgDPkBtxYfrk3I9xYp3-RYGH-BJmILlwRv3TUsOrVC5mhCQnYPhT"
    "Cb75sdZWh92GNFAA";
constexpr std::string_view kVectorSolution = "168";

// The replay store the integrator backs with StateStore::SetIfAbsent, in memory.
struct UsedMarkers {
  std::map<std::string, milliseconds> keys;
  int calls = 0;
  std::optional<Error> fail_with;
};

PowMarkUsed MarkUsedIn(std::shared_ptr<UsedMarkers> markers) {
  return [markers](std::string_view key, milliseconds ttl) -> Result<bool> {
    ++markers->calls;
    if (markers->fail_with) return *markers->fail_with;
    return markers->keys.emplace(std::string(key), ttl).second;
  };
}

Secret TestKey(char fill = 'k') { return Secret(std::string(32, fill)); }

class PowCaptchaTest : public ::testing::Test {
 protected:
  PowCaptcha Make(PowOptions options, const Clock& clock, const Secret& key) {
    auto pow = PowCaptcha::Create(key, options, clock, MarkUsedIn(markers_));
    EXPECT_TRUE(pow.ok()) << (pow.ok() ? "" : pow.error().detail());
    return std::move(pow).value();
  }
  PowCaptcha Make(PowOptions options = {.difficulty_bits = 10, .lifetime = seconds(120)}) {
    return Make(options, clock_, key_);
  }
  static std::string Solve(const std::string& challenge) {
    auto solution = SolvePow(challenge);
    EXPECT_TRUE(solution.ok());
    return solution.ok() ? *solution : "";
  }

  ManualClock clock_;
  Secret key_ = TestKey();
  std::shared_ptr<UsedMarkers> markers_ = std::make_shared<UsedMarkers>();
};

// ---- Construction ---------------------------------------------------------------------------

TEST_F(PowCaptchaTest, CreateEnforcesDifficultyBounds) {
  for (const int bits : {-1, 0, 7, 33, 64, 255}) {
    SCOPED_TRACE(bits);
    const auto pow =
        PowCaptcha::Create(key_, {.difficulty_bits = bits}, clock_, MarkUsedIn(markers_));
    ASSERT_FALSE(pow.ok());
    EXPECT_EQ(pow.error().code(), ErrorCode::kInvalidArgument);
  }
  for (const int bits : {8, 20, 32}) {
    SCOPED_TRACE(bits);
    EXPECT_TRUE(
        PowCaptcha::Create(key_, {.difficulty_bits = bits}, clock_, MarkUsedIn(markers_)).ok());
  }
}

TEST_F(PowCaptchaTest, CreateRejectsShortKey) {
  EXPECT_FALSE(
      PowCaptcha::Create(Secret(std::string(31, 'k')), {}, clock_, MarkUsedIn(markers_)).ok());
  EXPECT_FALSE(PowCaptcha::Create(Secret(), {}, clock_, MarkUsedIn(markers_)).ok());
  EXPECT_TRUE(
      PowCaptcha::Create(Secret(std::string(32, 'k')), {}, clock_, MarkUsedIn(markers_)).ok());
}

TEST_F(PowCaptchaTest, CreateEnforcesLifetimeBounds) {
  for (const seconds lifetime : {seconds(0), seconds(-5), seconds(3601)}) {
    EXPECT_FALSE(
        PowCaptcha::Create(key_, {.lifetime = lifetime}, clock_, MarkUsedIn(markers_)).ok());
  }
  for (const seconds lifetime : {seconds(1), seconds(3600)}) {
    EXPECT_TRUE(
        PowCaptcha::Create(key_, {.lifetime = lifetime}, clock_, MarkUsedIn(markers_)).ok());
  }
}

TEST_F(PowCaptchaTest, CreateRequiresReplayStore) {
  EXPECT_FALSE(PowCaptcha::Create(key_, {}, clock_, PowMarkUsed()).ok());
}

// ---- Round trip ----------------------------------------------------------------------------

TEST_F(PowCaptchaTest, RoundTrip) {
  const PowCaptcha pow = Make();
  const PowChallenge challenge = pow.Issue(kBinding);
  EXPECT_EQ(challenge.text.size(), 110u);
  EXPECT_EQ(challenge.difficulty_bits, 10);
  EXPECT_EQ(challenge.expires_at, clock_.Now() + seconds(120));

  const std::string solution = Solve(challenge.text);
  EXPECT_GE(LeadingZeroBits(crypto::Sha256(challenge.text + ":" + solution)), 10);

  const PowVerdict verdict = pow.Verify(challenge.text, solution, kBinding);
  EXPECT_TRUE(verdict.ok());
  EXPECT_TRUE(verdict.ToStatus().ok());
}

TEST_F(PowCaptchaTest, MarksTheNonceUsedUntilExpiryPlusSkew) {
  const PowCaptcha pow = Make();
  const PowChallenge challenge = pow.Issue(kBinding);
  clock_.Advance(seconds(20));
  ASSERT_TRUE(pow.Verify(challenge.text, Solve(challenge.text), kBinding).ok());

  ASSERT_EQ(markers_->keys.size(), 1u);
  const auto& [key, ttl] = *markers_->keys.begin();
  const auto bytes = crypto::Base64UrlDecode(challenge.text);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(key, "pow:" + crypto::HexEncode(std::span(*bytes).subspan(1, 16)));
  EXPECT_EQ(ttl, seconds(100) + kPowClockSkew);
}

TEST_F(PowCaptchaTest, ChallengesAreUnique) {
  const PowCaptcha pow = Make();
  EXPECT_NE(pow.Issue(kBinding).text, pow.Issue(kBinding).text);
}

TEST_F(PowCaptchaTest, SolveFindsTheSmallestCounter) {
  const PowCaptcha pow = Make({.difficulty_bits = 8});
  const std::string text = pow.Issue(kBinding).text;
  const std::string solution = Solve(text);
  const std::uint64_t found = std::stoull(solution);
  for (std::uint64_t c = 0; c < found; ++c) {
    EXPECT_LT(LeadingZeroBits(crypto::Sha256(text + ":" + std::to_string(c))), 8);
  }
}

TEST_F(PowCaptchaTest, SolveRejectsNonChallenges) {
  EXPECT_FALSE(SolvePow("").ok());
  EXPECT_FALSE(SolvePow("not a challenge").ok());
  EXPECT_FALSE(SolvePow(std::string(110, 'A')).ok());  // Version 0.
}

TEST_F(PowCaptchaTest, InteropVectorSolvesTheSameWay) {
  // The same vector the JavaScript solver is checked against.
  const auto solution = SolvePow(kVectorChallenge);
  ASSERT_TRUE(solution.ok());
  EXPECT_EQ(*solution, kVectorSolution);
  EXPECT_GE(LeadingZeroBits(
                crypto::Sha256(std::string(kVectorChallenge) + ":" + std::string(kVectorSolution))),
            12);
  // The vector was issued with TestKey() for kBinding at ManualClock's start.
  const PowCaptcha pow = Make({.difficulty_bits = 12});
  EXPECT_TRUE(pow.Verify(kVectorChallenge, kVectorSolution, kBinding).ok());
}

// ---- Rejections -----------------------------------------------------------------------------

TEST_F(PowCaptchaTest, RejectsMalformedChallenge) {
  const PowCaptcha pow = Make();
  const std::string good = pow.Issue(kBinding).text;
  const std::vector<std::string> texts = {
      "",
      good.substr(1),
      good + "A",
      std::string(110, '!'),
      good.substr(0, 109) + "=",
      std::string(100000, 'A'),
      "B" + good.substr(1),  // Version byte 5 (0b000001 -> 'B' changes the top bits).
  };
  for (const std::string& text : texts) {
    SCOPED_TRACE(text.substr(0, 20));
    const PowVerdict verdict = pow.Verify(text, "0", kBinding);
    ASSERT_FALSE(verdict.ok());
    EXPECT_EQ(verdict.rejection(), PowRejection::kMalformed);
  }
  EXPECT_EQ(markers_->calls, 0);
}

TEST_F(PowCaptchaTest, RejectsMalformedSolution) {
  const PowCaptcha pow = Make();
  const std::string text = pow.Issue(kBinding).text;
  const std::string solution = Solve(text);
  const std::vector<std::string> bad = {
      "",
      "0" + solution,
      "+" + solution,
      "-1",
      solution + " ",
      " " + solution,
      "1e3",
      "0x10",
      "18446744073709551616",   // 2^64: overflows.
      "100000000000000000000",  // 21 digits.
      std::string(1000, '9'),
  };
  for (const std::string& s : bad) {
    SCOPED_TRACE(s.substr(0, 30));
    const PowVerdict verdict = pow.Verify(text, s, kBinding);
    ASSERT_FALSE(verdict.ok());
    EXPECT_EQ(verdict.rejection(), PowRejection::kMalformed);
  }
  EXPECT_EQ(markers_->calls, 0);
  EXPECT_TRUE(pow.Verify(text, solution, kBinding).ok());
}

TEST_F(PowCaptchaTest, LargestCounterIsWellFormed) {
  // 2^64 - 1 parses; it is refused only for the work it lacks (or accepted if it has it).
  const PowCaptcha pow = Make();
  const std::string text = pow.Issue(kBinding).text;
  const std::string max = "18446744073709551615";
  const bool works = LeadingZeroBits(crypto::Sha256(text + ":" + max)) >= 10;
  const PowVerdict verdict = pow.Verify(text, max, kBinding);
  EXPECT_EQ(verdict.ok(), works);
  if (!works) {
    EXPECT_EQ(verdict.rejection(), PowRejection::kInsufficientWork);
  }
}

TEST_F(PowCaptchaTest, RejectsChallengeFromAnotherKey) {
  const PowCaptcha ours = Make();
  const PowCaptcha theirs =
      Make({.difficulty_bits = 10, .lifetime = seconds(120)}, clock_, TestKey('z'));
  const std::string text = theirs.Issue(kBinding).text;
  const PowVerdict verdict = ours.Verify(text, Solve(text), kBinding);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.rejection(), PowRejection::kBadTag);
}

TEST_F(PowCaptchaTest, TamperingAnyByteIsRefused) {
  const PowCaptcha pow = Make();
  const std::string text = pow.Issue(kBinding).text;
  const auto decoded = crypto::Base64UrlDecode(text);
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->size(), 82u);

  for (std::size_t i = 0; i < decoded->size(); ++i) {
    for (const std::uint8_t flip : {0x01, 0x80}) {
      SCOPED_TRACE(testing::Message() << "byte " << i << " xor " << int{flip});
      std::vector<std::uint8_t> bytes = *decoded;
      bytes[i] ^= flip;
      const std::string tampered = crypto::Base64UrlEncode(bytes);
      // Solved honestly where the solver can, so only the tampering can be the reason for
      // refusal. (A tampered version or a difficulty above 32 cannot be solved.)
      const auto solution = SolvePow(tampered);
      const PowVerdict verdict = pow.Verify(tampered, solution.ok() ? *solution : "0", kBinding);
      ASSERT_FALSE(verdict.ok());
      EXPECT_EQ(verdict.rejection(), i == 0 ? PowRejection::kMalformed : PowRejection::kBadTag);
    }
  }
  EXPECT_EQ(markers_->calls, 0);
  EXPECT_TRUE(pow.Verify(text, Solve(text), kBinding).ok());
}

TEST_F(PowCaptchaTest, TamperingAnyCharacterIsRefused) {
  const PowCaptcha pow = Make();
  const std::string text = pow.Issue(kBinding).text;
  for (std::size_t i = 0; i < text.size(); ++i) {
    SCOPED_TRACE(i);
    std::string tampered = text;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    const PowVerdict verdict = pow.Verify(tampered, "0", kBinding);
    ASSERT_FALSE(verdict.ok());
    EXPECT_TRUE(verdict.rejection() == PowRejection::kMalformed ||
                verdict.rejection() == PowRejection::kBadTag)
        << PowRejectionName(verdict.rejection());
  }
}

TEST_F(PowCaptchaTest, ExpiryEdges) {
  const PowCaptcha pow = Make();
  const PowChallenge first = pow.Issue(kBinding);
  const PowChallenge second = pow.Issue(kBinding);

  // One millisecond before expiry: accepted.
  clock_.Advance(seconds(120) - milliseconds(1));
  EXPECT_TRUE(pow.Verify(first.text, Solve(first.text), kBinding).ok());

  // At expires_at exactly: refused.
  clock_.Advance(milliseconds(1));
  ASSERT_EQ(clock_.Now(), second.expires_at);
  const PowVerdict at_expiry = pow.Verify(second.text, Solve(second.text), kBinding);
  ASSERT_FALSE(at_expiry.ok());
  EXPECT_EQ(at_expiry.rejection(), PowRejection::kExpired);
  EXPECT_EQ(markers_->calls, 1);
}

TEST_F(PowCaptchaTest, ExpiryIsWholeMilliseconds) {
  // A clock with sub-millisecond time: expiry is truncated to the millisecond, never later.
  ManualClock clock(std::chrono::system_clock::time_point(ManualClock::kDefaultStart) +
                    std::chrono::microseconds(1500));
  const PowCaptcha pow = Make({.difficulty_bits = 8, .lifetime = seconds(1)}, clock, key_);
  const PowChallenge challenge = pow.Issue(kBinding);
  EXPECT_EQ(challenge.expires_at,
            std::chrono::system_clock::time_point(ManualClock::kDefaultStart) + milliseconds(1001));
  clock.Advance(seconds(1) - std::chrono::microseconds(500));  // Exactly expires_at.
  const PowVerdict verdict = pow.Verify(challenge.text, Solve(challenge.text), kBinding);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.rejection(), PowRejection::kExpired);
}

TEST_F(PowCaptchaTest, IssuedInTheFutureBeyondSkewIsRefused) {
  // Another node whose clock runs ahead issues; this node verifies.
  const PowCaptcha verifier = Make();
  ManualClock ahead_ok(clock_.Now() + kPowClockSkew);
  ManualClock ahead_too_far(clock_.Now() + kPowClockSkew + milliseconds(1));
  const PowCaptcha node_ok =
      Make({.difficulty_bits = 10, .lifetime = seconds(120)}, ahead_ok, key_);
  const PowCaptcha node_far =
      Make({.difficulty_bits = 10, .lifetime = seconds(120)}, ahead_too_far, key_);

  const std::string ok_text = node_ok.Issue(kBinding).text;
  EXPECT_TRUE(verifier.Verify(ok_text, Solve(ok_text), kBinding).ok());

  const std::string far_text = node_far.Issue(kBinding).text;
  const PowVerdict verdict = verifier.Verify(far_text, Solve(far_text), kBinding);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.rejection(), PowRejection::kNotYetValid);
}

TEST_F(PowCaptchaTest, RejectsWrongBinding) {
  const PowCaptcha pow = Make();
  const std::string text = pow.Issue(kBinding).text;
  const std::string solution = Solve(text);
  for (const std::string_view other : {"ip:192.0.2.2", "", "ip:192.0.2.1 ", "IP:192.0.2.1"}) {
    SCOPED_TRACE(other);
    const PowVerdict verdict = pow.Verify(text, solution, other);
    ASSERT_FALSE(verdict.ok());
    EXPECT_EQ(verdict.rejection(), PowRejection::kWrongBinding);
  }
  EXPECT_TRUE(pow.Verify(text, solution, kBinding).ok());
}

TEST_F(PowCaptchaTest, BindingIsNotReadableFromTheChallenge) {
  // The binding field is keyed: not the plain SHA-256 of the binding string.
  const PowCaptcha pow = Make();
  const auto bytes = crypto::Base64UrlDecode(pow.Issue(kBinding).text);
  ASSERT_TRUE(bytes.ok());
  const crypto::Sha256Digest plain = crypto::Sha256(kBinding);
  EXPECT_FALSE(std::equal(plain.begin(), plain.begin() + 16, bytes->begin() + 34));
}

TEST_F(PowCaptchaTest, RejectsInsufficientWork) {
  const PowCaptcha pow = Make({.difficulty_bits = 16});
  const std::string text = pow.Issue(kBinding).text;
  // The first counter whose hash has fewer than 16 leading zero bits.
  std::uint64_t c = 0;
  while (LeadingZeroBits(crypto::Sha256(text + ":" + std::to_string(c))) >= 16) ++c;
  const PowVerdict verdict = pow.Verify(text, std::to_string(c), kBinding);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.rejection(), PowRejection::kInsufficientWork);
  EXPECT_EQ(markers_->calls, 0);

  // A failed attempt does not use the challenge up.
  EXPECT_TRUE(pow.Verify(text, Solve(text), kBinding).ok());
}

TEST_F(PowCaptchaTest, WorkIsCheckedAgainstTheChallengeDifficultyNotJustTheMinimum) {
  const PowCaptcha pow = Make({.difficulty_bits = 8});
  const auto hard = pow.Issue(kBinding, 14);
  ASSERT_TRUE(hard.ok());
  EXPECT_EQ(hard->difficulty_bits, 14);
  // A counter meeting the configured 8 bits but not the challenge's 14 is refused.
  std::uint64_t c = 0;
  while (true) {
    const int bits = LeadingZeroBits(crypto::Sha256(hard->text + ":" + std::to_string(c)));
    if (bits >= 8 && bits < 14) break;
    ++c;
  }
  const PowVerdict verdict = pow.Verify(hard->text, std::to_string(c), kBinding);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.rejection(), PowRejection::kInsufficientWork);
  EXPECT_TRUE(pow.Verify(hard->text, Solve(hard->text), kBinding).ok());
}

TEST_F(PowCaptchaTest, IssueDifficultyOverrideBounds) {
  const PowCaptcha pow = Make({.difficulty_bits = 10});
  EXPECT_FALSE(pow.Issue(kBinding, 9).ok());
  EXPECT_FALSE(pow.Issue(kBinding, 33).ok());
  EXPECT_TRUE(pow.Issue(kBinding, 10).ok());
  EXPECT_TRUE(pow.Issue(kBinding, 32).ok());
}

TEST_F(PowCaptchaTest, RejectsChallengeBelowConfiguredDifficulty) {
  // Issued while the setting was 10; the setting is now 12.
  const PowCaptcha before = Make({.difficulty_bits = 10});
  const PowCaptcha after = Make({.difficulty_bits = 12});
  const std::string text = before.Issue(kBinding).text;
  const PowVerdict verdict = after.Verify(text, Solve(text), kBinding);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.rejection(), PowRejection::kDifficultyTooLow);

  // The other way round is fine: harder than required.
  const std::string harder = after.Issue(kBinding).text;
  EXPECT_TRUE(before.Verify(harder, Solve(harder), kBinding).ok());
}

TEST_F(PowCaptchaTest, ReplayIsRefused) {
  const PowCaptcha pow = Make({.difficulty_bits = 8});
  const std::string text = pow.Issue(kBinding).text;
  const std::string solution = Solve(text);
  ASSERT_TRUE(pow.Verify(text, solution, kBinding).ok());

  const PowVerdict again = pow.Verify(text, solution, kBinding);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.rejection(), PowRejection::kReplayed);

  // Another valid counter for the same challenge is the same challenge used twice.
  std::uint64_t c = std::stoull(solution) + 1;
  while (LeadingZeroBits(crypto::Sha256(text + ":" + std::to_string(c))) < 8) ++c;
  const PowVerdict other = pow.Verify(text, std::to_string(c), kBinding);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.rejection(), PowRejection::kReplayed);
}

TEST_F(PowCaptchaTest, ReplayIsRefusedAcrossInstancesSharingTheStore) {
  // Two nodes with the same key and the same shared store.
  const PowCaptcha node_a = Make();
  const PowCaptcha node_b = Make();
  const std::string text = node_a.Issue(kBinding).text;
  const std::string solution = Solve(text);
  ASSERT_TRUE(node_a.Verify(text, solution, kBinding).ok());
  const PowVerdict verdict = node_b.Verify(text, solution, kBinding);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.rejection(), PowRejection::kReplayed);
}

TEST_F(PowCaptchaTest, StoreFailureRefuses) {
  const PowCaptcha pow = Make();
  const std::string text = pow.Issue(kBinding).text;
  markers_->fail_with = Unavailable("state unavailable", "redis: connection refused");
  const PowVerdict verdict = pow.Verify(text, Solve(text), kBinding);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.rejection(), PowRejection::kStoreFailed);
  const Status status = verdict.ToStatus();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(status.error().detail().find("redis: connection refused"), std::string::npos);

  // Once the store is back, the same challenge is still usable: it was never marked.
  markers_->fail_with.reset();
  EXPECT_TRUE(pow.Verify(text, Solve(text), kBinding).ok());
}

// ---- Errors ---------------------------------------------------------------------------------

TEST(PowVerdict, RefusalsShareOneClientMessageAndNameTheReasonInTheDetail) {
  const std::vector<std::pair<PowRejection, std::string>> names = {
      {PowRejection::kMalformed, "malformed"},
      {PowRejection::kBadTag, "bad_tag"},
      {PowRejection::kExpired, "expired"},
      {PowRejection::kNotYetValid, "not_yet_valid"},
      {PowRejection::kWrongBinding, "wrong_binding"},
      {PowRejection::kDifficultyTooLow, "difficulty_too_low"},
      {PowRejection::kInsufficientWork, "insufficient_work"},
      {PowRejection::kReplayed, "replayed"},
  };
  std::optional<std::string> message;
  for (const auto& [rejection, name] : names) {
    SCOPED_TRACE(name);
    EXPECT_EQ(PowRejectionName(rejection), name);
    const Status status = PowVerdict::Rejected(rejection).ToStatus();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(status.error().detail(), "proof-of-work refused: " + name);
    if (!message) message = status.error().message();
    EXPECT_EQ(status.error().message(), *message);
  }
  EXPECT_EQ(PowRejectionName(PowRejection::kStoreFailed), "store_failed");
}

TEST(PowLeadingZeroBits, Table) {
  crypto::Sha256Digest digest{};
  EXPECT_EQ(LeadingZeroBits(digest), 256);
  digest[0] = 0x80;
  EXPECT_EQ(LeadingZeroBits(digest), 0);
  digest[0] = 0x01;
  EXPECT_EQ(LeadingZeroBits(digest), 7);
  digest[0] = 0;
  digest[1] = 0x10;
  EXPECT_EQ(LeadingZeroBits(digest), 11);
  digest[1] = 0;
  digest[31] = 0x01;
  EXPECT_EQ(LeadingZeroBits(digest), 255);
}

}  // namespace
}  // namespace gatehouse::protect
