#include "http/url_encoding.h"

#include <gtest/gtest.h>

namespace gatehouse::http {
namespace {

TEST(UrlEncoding, PercentEncodeKeepsOnlyRfc3986Unreserved) {
  EXPECT_EQ(PercentEncode("a b&c=d/e+f~g.h_i-j*"), "a%20b%26c%3Dd%2Fe%2Bf~g.h_i-j%2A");
  EXPECT_EQ(PercentEncode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(PercentEncode(std::string_view("\0\x7f", 2)), "%00%7F");
  EXPECT_EQ(PercentEncode(""), "");
}

TEST(UrlEncoding, FormEncodeIsTheWhatwgFormSerializer) {
  EXPECT_EQ(FormEncode("a b&c=d/e+f~g.h_i-j*"), "a+b%26c%3Dd%2Fe%2Bf%7Eg.h_i-j*");
  EXPECT_EQ(FormEncode("+14155552671"), "%2B14155552671");
  EXPECT_EQ(FormEncode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(FormEncode(""), "");
}

}  // namespace
}  // namespace gatehouse::http
