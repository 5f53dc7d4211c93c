// RecentMemo: an entry answers only for its own input, whatever the slot index does.

#include <string>

#include <gtest/gtest.h>

#include "core/recent_memo.h"

namespace gatehouse {
namespace {

// Every input lands in one slot: the worst an index can do.
struct OneSlot {
  std::size_t operator()(std::string_view) const { return 0; }
};

TEST(RecentMemo, FindsWhatWasRememberedForExactlyThatInput) {
  RecentMemo<int, 8, 64> memo;
  EXPECT_EQ(memo.Find("ip:192.0.2.1"), nullptr);
  memo.Remember("ip:192.0.2.1", 7);
  ASSERT_NE(memo.Find("ip:192.0.2.1"), nullptr);
  EXPECT_EQ(*memo.Find("ip:192.0.2.1"), 7);
  EXPECT_EQ(memo.Find("ip:192.0.2.10"), nullptr);
  EXPECT_EQ(memo.Find("ip:192.0.2."), nullptr);
  EXPECT_EQ(memo.Find(""), nullptr);
}

TEST(RecentMemo, InputsSharingASlotEvictEachOtherAndNeverAnswerForEachOther) {
  RecentMemo<int, 4, 64, OneSlot> memo;
  memo.Remember("first", 1);
  memo.Remember("second", 2);
  EXPECT_EQ(memo.Find("first"), nullptr);
  ASSERT_NE(memo.Find("second"), nullptr);
  EXPECT_EQ(*memo.Find("second"), 2);
  // The same bytes and length but one: still not an answer.
  EXPECT_EQ(memo.Find("secon"), nullptr);
  EXPECT_EQ(memo.Find(std::string("second\0", 7)), nullptr);
}

TEST(RecentMemo, AnEmptyInputIsAnInputLikeAnyOther) {
  RecentMemo<int, 4, 64, OneSlot> memo;
  EXPECT_EQ(memo.Find(""), nullptr);  // A fresh slot is not a remembered empty input.
  memo.Remember("", 3);
  ASSERT_NE(memo.Find(""), nullptr);
  EXPECT_EQ(*memo.Find(""), 3);
}

TEST(RecentMemo, InputsOverTheLimitAreNotRemembered) {
  RecentMemo<int, 4, 8> memo;
  memo.Remember("12345678", 1);
  memo.Remember("123456789", 2);
  ASSERT_NE(memo.Find("12345678"), nullptr);
  EXPECT_EQ(memo.Find("123456789"), nullptr);
}

TEST(RecentMemo, RememberingAgainReplacesTheValue) {
  RecentMemo<std::string, 4, 64> memo;
  memo.Remember("traits", "a");
  memo.Remember("traits", "b");
  ASSERT_NE(memo.Find("traits"), nullptr);
  EXPECT_EQ(*memo.Find("traits"), "b");
}

}  // namespace
}  // namespace gatehouse
