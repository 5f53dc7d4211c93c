#include "protect/device_cookie.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/encoding.h"

namespace gatehouse::protect {
namespace {

using std::chrono::seconds;

const std::string kAccount(64, 'c');
const std::string kOtherAccount(64, 'd');

Secret TestKey(char fill = 'k') { return Secret(std::string(32, fill)); }

class DeviceCookieTest : public ::testing::Test {
 protected:
  DeviceCookies Make(DeviceCookieOptions options = {}, char key = 'k') {
    auto cookies = DeviceCookies::Create(TestKey(key), clock_, options);
    EXPECT_TRUE(cookies.ok()) << cookies.error().detail();
    return std::move(cookies).value();
  }
  static std::string Issue(const DeviceCookies& cookies, const std::string& account) {
    auto value = cookies.Issue(account);
    EXPECT_TRUE(value.ok());
    return value.ok() ? *value : "";
  }
  // The reason named in a refusal's detail.
  static void ExpectRefused(const Result<std::string>& verified, std::string_view reason) {
    ASSERT_FALSE(verified.ok());
    EXPECT_EQ(verified.error().code(), ErrorCode::kUnauthenticated);
    EXPECT_EQ(verified.error().message(), "device not recognised");
    EXPECT_EQ(verified.error().detail(), "device cookie refused: " + std::string(reason));
  }

  ManualClock clock_;
};

TEST_F(DeviceCookieTest, VerifyReturnsTheDeviceIdOfAFreshCookie) {
  const DeviceCookies cookies = Make();
  const std::string value = Issue(cookies, kAccount);
  EXPECT_EQ(value.size(), 98u);
  auto device = cookies.Verify(value, kAccount);
  ASSERT_TRUE(device.ok()) << device.error().detail();
  EXPECT_EQ(device->size(), 32u);
  EXPECT_TRUE(crypto::HexDecode(*device).ok());
  // Stable: verifying again gives the same id.
  EXPECT_EQ(cookies.Verify(value, kAccount).value(), *device);
}

TEST_F(DeviceCookieTest, EveryCookieHasItsOwnRandomDeviceId) {
  const DeviceCookies cookies = Make();
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i)
    ids.insert(cookies.Verify(Issue(cookies, kAccount), kAccount).value());
  EXPECT_EQ(ids.size(), 100u);
}

TEST_F(DeviceCookieTest, TheAccountKeyIsNotInTheCookie) {
  const DeviceCookies cookies = Make();
  const std::string account = "0123456789abcdef0123456789abcdef";
  const std::string value = Issue(cookies, account);
  auto bytes = crypto::Base64UrlDecode(value);
  ASSERT_TRUE(bytes.ok());
  const std::string raw(crypto::AsChars(*bytes));
  EXPECT_EQ(raw.find(account), std::string::npos);
  EXPECT_EQ(value.find(account), std::string::npos);
  // Nor its raw bytes.
  const std::string decoded(crypto::AsChars(crypto::HexDecode(account).value()));
  EXPECT_EQ(raw.find(decoded), std::string::npos);
  // Two cookies of one account carry different bindings, so they cannot be linked.
  auto other = crypto::Base64UrlDecode(Issue(cookies, account));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(std::string(crypto::AsChars(*other)).substr(17, 16), raw.substr(17, 16));
}

TEST_F(DeviceCookieTest, ACookieOfAnotherAccountIsRefused) {
  const DeviceCookies cookies = Make();
  ExpectRefused(cookies.Verify(Issue(cookies, kOtherAccount), kAccount), "wrong_account");
}

TEST_F(DeviceCookieTest, ACookieUnderAnotherKeyIsRefused) {
  const DeviceCookies ours = Make({}, 'k');
  const DeviceCookies theirs = Make({}, 'x');
  ExpectRefused(ours.Verify(Issue(theirs, kAccount), kAccount), "bad_tag");
}

TEST_F(DeviceCookieTest, AnyAlteredByteIsRefused) {
  const DeviceCookies cookies = Make();
  const auto original = crypto::Base64UrlDecode(Issue(cookies, kAccount)).value();
  for (std::size_t i = 0; i < original.size(); ++i) {
    auto altered = original;
    altered[i] ^= 0x01;
    auto verified = cookies.Verify(crypto::Base64UrlEncode(altered), kAccount);
    ASSERT_FALSE(verified.ok()) << "byte " << i;
    // The version byte is read first; every other change breaks the tag.
    ExpectRefused(verified, i == 0 ? "malformed" : "bad_tag");
  }
}

TEST_F(DeviceCookieTest, MalformedValuesAreRefused) {
  const DeviceCookies cookies = Make();
  const std::string good = Issue(cookies, kAccount);
  const std::vector<std::string> bad = {
      "",
      good.substr(0, good.size() - 1),
      good + "A",
      std::string(98, '*'),
      good.substr(0, 97) + "=",
      std::string(4096, 'A'),
      std::string(good.data(), 50) + std::string(1, '\0') + good.substr(51),
  };
  for (const std::string& value : bad) ExpectRefused(cookies.Verify(value, kAccount), "malformed");
  ExpectRefused(cookies.Verify(good, ""), "malformed");
}

TEST_F(DeviceCookieTest, ExpiresExactlyAfterItsLifetime) {
  const DeviceCookies cookies = Make({.lifetime = seconds(3600)});
  const std::string value = Issue(cookies, kAccount);
  clock_.Advance(seconds(3599));
  EXPECT_TRUE(cookies.Verify(value, kAccount).ok());
  clock_.Advance(seconds(1));
  ExpectRefused(cookies.Verify(value, kAccount), "expired");
}

TEST_F(DeviceCookieTest, DefaultLifetimeIs180Days) {
  const DeviceCookies cookies = Make();
  EXPECT_EQ(cookies.lifetime(), std::chrono::hours(24 * 180));
  const std::string value = Issue(cookies, kAccount);
  clock_.Advance(std::chrono::hours(24 * 180) - seconds(1));
  EXPECT_TRUE(cookies.Verify(value, kAccount).ok());
  clock_.Advance(seconds(1));
  ExpectRefused(cookies.Verify(value, kAccount), "expired");
}

TEST_F(DeviceCookieTest, ACookieFromTheFutureIsAcceptedOnlyWithinTheSkew) {
  ManualClock ahead(clock_.Now() + kDeviceCookieClockSkew);
  ManualClock too_far(clock_.Now() + kDeviceCookieClockSkew + seconds(1));
  const DeviceCookies here = Make();
  auto at_skew = DeviceCookies::Create(TestKey(), ahead, {});
  auto beyond = DeviceCookies::Create(TestKey(), too_far, {});
  ASSERT_TRUE(at_skew.ok() && beyond.ok());
  EXPECT_TRUE(here.Verify(Issue(*at_skew, kAccount), kAccount).ok());
  ExpectRefused(here.Verify(Issue(*beyond, kAccount), kAccount), "not_yet_valid");
}

TEST_F(DeviceCookieTest, CreateRefusesWeakSettings) {
  EXPECT_FALSE(DeviceCookies::Create(Secret(std::string(31, 'k')), clock_, {}).ok());
  EXPECT_FALSE(DeviceCookies::Create(TestKey(), clock_, {.lifetime = seconds(0)}).ok());
  EXPECT_FALSE(DeviceCookies::Create(TestKey(), clock_,
                                     {.lifetime = std::chrono::hours(24 * 400) + seconds(1)})
                   .ok());
  EXPECT_TRUE(
      DeviceCookies::Create(TestKey(), clock_, {.lifetime = std::chrono::hours(24 * 400)}).ok());
  const DeviceCookies cookies = Make();
  EXPECT_FALSE(cookies.Issue("").ok());
}

}  // namespace
}  // namespace gatehouse::protect
