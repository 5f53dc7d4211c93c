#include "core/status.h"

#include <gtest/gtest.h>

#include "core/secret.h"

namespace gatehouse {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return InvalidArgument("odd value", "got " + std::to_string(v));
  return v / 2;
}

Status Chain(int v) {
  GH_RETURN_IF_ERROR(Half(v));
  return Ok();
}

TEST(Result, CarriesValueOrError) {
  auto good = Half(4);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 2);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "odd value");
  EXPECT_EQ(bad.error().detail(), "got 3");
}

TEST(Result, ReturnIfErrorPropagates) {
  EXPECT_TRUE(Chain(2).ok());
  auto s = Chain(5);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Secret, ComparesInConstantTimeAndMoves) {
  Secret a("hunter22hunter22");
  Secret b("hunter22hunter22");
  Secret c("hunter22hunter23");
  EXPECT_TRUE(a.Equals(b));
  EXPECT_FALSE(a.Equals(c));
  EXPECT_FALSE(a.Equals(Secret("short")));
  Secret moved(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is defined empty.
  EXPECT_EQ(moved.reveal(), "hunter22hunter22");
}

}  // namespace
}  // namespace gatehouse
