#include "http/request_id.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse::http {
namespace {

using namespace std::string_literals;

bool IsGenerated(const std::string& id) {
  if (id.size() != 32) return false;
  for (const char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(RequestId, AcceptsSafeClientIds) {
  const std::vector<std::string> accepted = {
      "a",
      "abc-123",
      "0af7651916cd43dd8448eb211c80319c",
      "trace:span.1_2-3",
      "ABCxyz",
      std::string(128, 'x'),
  };
  for (const std::string& id : accepted) {
    SCOPED_TRACE(id);
    EXPECT_TRUE(IsAcceptableRequestId(id));
    EXPECT_EQ(AcceptOrGenerateRequestId(std::string_view(id)), id);
  }
}

TEST(RequestId, ReplacesUnsafeClientIds) {
  const std::vector<std::string> rejected = {
      "",
      std::string(129, 'x'),
      "abc\r\nX-Evil: 1",
      "abc\n",
      "abc\r",
      "a b",
      "a\tb",
      "a\0b"s,
      "caf\xC3\xA9",
      "\xFF",
      "a/b",
      "a\"b",
      "a=b",
      "a;b",
      "a%0Ab",
      "<script>",
  };
  for (const std::string& id : rejected) {
    SCOPED_TRACE(testing::PrintToString(id));
    EXPECT_FALSE(IsAcceptableRequestId(id));
    const std::string got = AcceptOrGenerateRequestId(std::string_view(id));
    EXPECT_NE(got, id);
    EXPECT_TRUE(IsGenerated(got)) << got;
  }
}

TEST(RequestId, GeneratesWhenAbsent) {
  EXPECT_TRUE(IsGenerated(AcceptOrGenerateRequestId(std::nullopt)));
}

TEST(RequestId, GeneratedIdsAreUniqueAcrossThreads) {
  std::mutex mu;
  std::set<std::string> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < 2000; ++i) mine.push_back(GenerateRequestId());
      std::lock_guard<std::mutex> lock(mu);
      seen.insert(mine.begin(), mine.end());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(seen.size(), 8000u);
  for (const std::string& id : seen) ASSERT_TRUE(IsGenerated(id)) << id;
}

TEST(RequestId, ThreadsUseDifferentPrefixes) {
  std::string other;
  std::thread([&other] { other = GenerateRequestId(); }).join();
  const std::string mine = GenerateRequestId();
  EXPECT_NE(mine.substr(0, 16), other.substr(0, 16));
}

}  // namespace
}  // namespace gatehouse::http
