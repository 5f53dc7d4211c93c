#include "http/security_headers.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse::http {
namespace {

TEST(SecurityHeaders, BlockHoldsTheSevenDesignHeaders) {
  EXPECT_EQ(SecurityHeaderBlock(),
            "X-Frame-Options: DENY\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "X-XSS-Protection: 1; mode=block\r\n"
            "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
            "Content-Security-Policy: default-src 'self'\r\n"
            "Referrer-Policy: strict-origin-when-cross-origin\r\n"
            "Permissions-Policy: geolocation=(), microphone=(), camera=()\r\n");
}

TEST(SecurityHeaders, ListAndBlockAgree) {
  ASSERT_EQ(SecurityHeaders().size(), 7u);
  std::string rebuilt;
  for (const SecurityHeader& h : SecurityHeaders()) {
    EXPECT_EQ(h.name.find_first_of(": \r\n"), std::string_view::npos) << h.name;
    EXPECT_EQ(h.value.find_first_of("\r\n"), std::string_view::npos) << h.value;
    rebuilt += std::string(h.name) + ": " + std::string(h.value) + "\r\n";
  }
  EXPECT_EQ(rebuilt, SecurityHeaderBlock());
}

}  // namespace
}  // namespace gatehouse::http
