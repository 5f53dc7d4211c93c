#include "core/strict_json.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse::core {
namespace {

TEST(StrictJson, AcceptsOneValue) {
  StrictJsonOutcome out = ParseStrictJson(R"({"a":[1,{"b":true}],"c":"d"})", 8);
  ASSERT_EQ(out.failure, JsonFailure::kNone);
  EXPECT_EQ(out.value.as_object().at("c").as_string(), "d");
}

TEST(StrictJson, NamesTheFirstDuplicateAtAnyDepth) {
  StrictJsonOutcome shallow = ParseStrictJson(R"({"alg":"HS256","alg":"none"})", 8);
  EXPECT_EQ(shallow.failure, JsonFailure::kDuplicateName);
  EXPECT_EQ(shallow.duplicate_name, "alg");
  StrictJsonOutcome nested = ParseStrictJson(R"({"a":{"x":1,"x":2}})", 8);
  EXPECT_EQ(nested.failure, JsonFailure::kDuplicateName);
  EXPECT_EQ(nested.duplicate_name, "x");
  // The same name in sibling objects is not a duplicate.
  EXPECT_EQ(ParseStrictJson(R"([{"x":1},{"x":2}])", 8).failure, JsonFailure::kNone);
}

TEST(StrictJson, FindsDuplicatesInLargeObjects) {
  // Past the linear-scan size the check sorts the names; a late repeat is still found.
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += "\"k" + std::to_string(i) + "\":" + "0,";
  text += "\"k7\":1}";
  StrictJsonOutcome out = ParseStrictJson(text, 8);
  EXPECT_EQ(out.failure, JsonFailure::kDuplicateName);
  EXPECT_EQ(out.duplicate_name, "k7");
}

TEST(StrictJson, RefusesDepthCommentsTrailingCommasAndExtraData) {
  EXPECT_EQ(ParseStrictJson(std::string(10000, '[') + std::string(10000, ']'), 32).failure,
            JsonFailure::kTooDeep);
  EXPECT_EQ(ParseStrictJson("{\"a\":1 /* c */}", 8).failure, JsonFailure::kSyntax);
  EXPECT_EQ(ParseStrictJson("[1,2,]", 8).failure, JsonFailure::kSyntax);
  EXPECT_EQ(ParseStrictJson("{} {}", 8).failure, JsonFailure::kSyntax);
  EXPECT_EQ(ParseStrictJson("\"\xff\"", 8).failure, JsonFailure::kSyntax);
  EXPECT_EQ(ParseStrictJson("", 8).failure, JsonFailure::kSyntax);
}

}  // namespace
}  // namespace gatehouse::core
