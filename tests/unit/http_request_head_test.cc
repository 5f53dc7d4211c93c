#include "http/request_head.h"

#include <gtest/gtest.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <algorithm>
#include <cctype>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace gatehouse::http {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::size_t kLimit = 8192;

// The fields as (lower-case name, name, value), stably sorted by name.
std::vector<std::tuple<std::string, std::string, std::string>> ByName(
    const std::vector<Header>& headers) {
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  for (const Header& h : headers) {
    std::string lower = h.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.emplace_back(std::move(lower), h.name, h.value);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::get<0>(a) < std::get<0>(b);
  });
  return out;
}

std::size_t Read(std::string_view bytes, Request& req) {
  return ReadCommonHead(bytes, kLimit, req);
}

TEST(ReadCommonHead, ReadsAForwardAuthCheck) {
  const std::string head =
      "GET /v1/auth/verify?x=1 HTTP/1.1\r\nHost: auth.example\r\n"
      "Authorization:   Bearer abc.def.ghi \t\r\nX-Empty:\r\nUser-Agent: a\x80\xff b\r\n\r\n";
  Request req;
  ASSERT_EQ(Read(head + "GET /next HTTP/1.1\r\n", req), head.size());
  EXPECT_EQ(req.method, Method::kGet);
  EXPECT_EQ(req.method_text, "GET");
  EXPECT_EQ(req.target, "/v1/auth/verify?x=1");
  EXPECT_EQ(req.path, "/v1/auth/verify");
  EXPECT_EQ(req.query, "x=1");
  ASSERT_EQ(req.headers.size(), 4u);
  EXPECT_EQ(req.headers[1].name, "Authorization");
  EXPECT_EQ(req.headers[1].value, "Bearer abc.def.ghi");
  EXPECT_EQ(req.headers[2].value, "");
  EXPECT_EQ(req.headers[3].value, "a\x80\xff b");
}

TEST(ReadCommonHead, ReusesTheRequestsStrings) {
  Request req;
  ASSERT_NE(Read("GET /a HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nX-Two: 2\r\n\r\n", req), 0u);
  ASSERT_NE(Read("HEAD /b HTTP/1.1\r\nHost: b\r\n\r\n", req), 0u);
  EXPECT_EQ(req.method, Method::kHead);
  ASSERT_EQ(req.headers.size(), 1u);
  EXPECT_EQ(req.headers[0].value, "b");
}

TEST(ReadCommonHead, LeavesEverythingElseToTheGeneralParser) {
  const std::vector<std::string> heads = {
      "GET /a HTTP/1.1\r\nHost: a\r\n",                        // not complete yet
      "POST /a HTTP/1.1\r\nHost: a\r\n\r\n",                   // a method that may carry a body
      "get /a HTTP/1.1\r\nHost: a\r\n\r\n",                    // methods are case-sensitive
      "GET /a HTTP/1.0\r\nHost: a\r\n\r\n",                    // other versions
      "GET /a HTTP/2.0\r\nHost: a\r\n\r\n",
      "GET  /a HTTP/1.1\r\nHost: a\r\n\r\n",                   // two spaces
      "GET /a HTTP/1.1 \r\nHost: a\r\n\r\n",
      "GET * HTTP/1.1\r\nHost: a\r\n\r\n",                     // not origin-form
      "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /a HTTP/1.1\r\n\r\n",                               // no Host
      "GET /a HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",         // two
      "GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\nconnection: close\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\nProxy-Connection: x\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n",  // obs-fold
      "GET /a HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n",         // space before the colon
      "GET /a HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\nX(A): v\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n",       // bare CR
      "GET /a HTTP/1.1\r\nHost: a\r\nX-A: a\nb\r\n\r\n",       // bare LF
      "GET /a HTTP/1.1\r\nHost: a\r\nX-A: a\x7f\r\n\r\n",      // DEL
      std::string("GET /a HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n", 41),
      "GET /a HTTP/1.1\nHost: a\r\n\r\n",                      // LF-only line end
      "\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n",                // leading empty line
  };
  for (const std::string& head : heads) {
    SCOPED_TRACE(head);
    Request req;
    EXPECT_EQ(Read(head, req), 0u);
  }
}

TEST(ReadCommonHead, LeavesHeadsNearTheLimitToTheGeneralParser) {
  const std::string head = "GET /a HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(200, 'p') +
                           "\r\n\r\n";
  Request req;
  EXPECT_EQ(ReadCommonHead(head, head.size() + 8, req), head.size());
  EXPECT_EQ(ReadCommonHead(head, head.size() + 7, req), 0u);
  EXPECT_EQ(ReadCommonHead(head, 4, req), 0u);
}

// Random heads built from well-formed and hostile pieces, some with a byte changed: every
// head ReadCommonHead takes, Beast's parser must take too, in the same length, and read
// the same way (the server falls back to Beast for all others, so this is what keeps the
// two from ever disagreeing about a request).
TEST(ReadCommonHead, TakesOnlyWhatBeastReadsTheSameWay) {
  const std::vector<std::string> methods = {"GET", "HEAD", "DELETE", "OPTIONS", "POST", "PUT",
                                            "get", "GET ", "G\x01T", ""};
  const std::vector<std::string> targets = {"/", "/v1/auth/verify", "/a?b=c&d", "/%41%2f",
                                            "/a b", "*", "http://x/", "/a#f", "/\x80", "/%zz",
                                            "", "/a?\x7f"};
  const std::vector<std::string> versions = {"HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1",
                                             "HTTP/1.1 ", "HTTP/11"};
  const std::vector<std::string> lines = {
      "Host: a",          "host:a",           "Host:  a \t",       "Host: b",
      "X-A: \x01",        "X-A: a\rb",        "X-A: a\nb",         " folded",
      "\tfolded",         "X A: b",           ": novalue",         "X-A:",
      "X-A:   ",          "Content-Length: 0", "Connection: close", "Transfer-Encoding: chunked",
      "Upgrade: h2c",     "X-B: \x80\xff",    "X-C: a\x7f",        "Bad\x01Name: v",
      "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64)", "Accept-Language: en-GB,en;q=0.9",
      "X-Tab:\tv\t",      "X-Q: \"quoted\"",  "Expect: 100-continue", "",
  };
  std::mt19937 rng(20261204);
  const auto pick = [&rng](const std::vector<std::string>& from) -> const std::string& {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  };
  int taken = 0;
  for (int round = 0; round < 40000; ++round) {
    std::string head = pick(methods) + " " + pick(targets) + " " + pick(versions) + "\r\n";
    const int fields = std::uniform_int_distribution<int>(0, 5)(rng);
    for (int i = 0; i < fields; ++i) head += pick(lines) + "\r\n";
    if (round % 3 == 0) {
      head = "GET /v1/auth/verify HTTP/1.1\r\n" + head.substr(head.find('\n') + 1);
    }
    if (round % 2 == 0) head.insert(head.find('\n') + 1, "Host: h\r\n");
    head += "\r\n";
    if (round % 5 == 0) {
      const std::size_t at = std::uniform_int_distribution<std::size_t>(0, head.size() - 1)(rng);
      head[at] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    }
    Request req;
    const std::size_t used = Read(head, req);
    if (used == 0) continue;
    ++taken;
    SCOPED_TRACE(head);

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kLimit);
    boost::system::error_code ec;
    const std::size_t consumed = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(parser.is_done());
    EXPECT_EQ(consumed, used);
    const auto& msg = parser.get();
    EXPECT_EQ(msg.version(), 11);
    EXPECT_TRUE(msg.keep_alive());
    EXPECT_EQ(std::string(msg.method_string()), req.method_text);
    EXPECT_EQ(std::string(msg.target()), req.target);
    EXPECT_TRUE(msg.body().empty());
    // Beast keeps fields of one name together (a repeated name is inserted after its
    // namesakes); the order within a name, the only one anything reads, must be the same.
    std::vector<Header> beast_fields;
    for (const auto& field : msg) {
      beast_fields.push_back({std::string(field.name_string()), std::string(field.value())});
    }
    EXPECT_EQ(ByName(beast_fields), ByName(req.headers));
  }
  // The check means something only if many heads were taken.
  EXPECT_GT(taken, 2000);
}

}  // namespace
}  // namespace gatehouse::http
