#include "http/json_body.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "http/utf8.h"

namespace gatehouse::http {
namespace {

using namespace std::string_literals;

Request JsonRequest(std::string body, std::optional<std::string> type = "application/json") {
  Request req;
  req.method = Method::kPost;
  req.target = "/v1/x";
  if (type) req.headers.push_back({"Content-Type", *type});
  req.body = std::move(body);
  return req;
}

struct BodyCase {
  std::string name;
  Request request;
  std::optional<ErrorCode> error;  // Nothing: accepted.
  std::string message_part;        // Expected inside the client message.
};

TEST(JsonBody, ChecksInOrder) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const std::string deep_obj = "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  const std::vector<BodyCase> cases = {
      {"ok", JsonRequest(R"({"a":1,"b":"x"})"), std::nullopt, ""},
      {"ok with charset", JsonRequest("{}", "application/json; charset=utf-8"), std::nullopt, ""},
      {"ok quoted charset", JsonRequest("{}", "Application/JSON;charset=\"UTF-8\""), std::nullopt,
       ""},
      {"ok other param", JsonRequest("{}", "application/json; foo=bar"), std::nullopt, ""},
      {"ok 32 deep", JsonRequest("{\"a\":" + std::string(31, '[') + std::string(31, ']') + "}"),
       std::nullopt, ""},
      {"no content type", JsonRequest("{}", std::nullopt), ErrorCode::kUnsupportedMedia, ""},
      {"text/plain", JsonRequest("{}", "text/plain"), ErrorCode::kUnsupportedMedia, ""},
      {"json suffix", JsonRequest("{}", "application/json-patch+json"),
       ErrorCode::kUnsupportedMedia, ""},
      {"form", JsonRequest("a=1", "application/x-www-form-urlencoded"),
       ErrorCode::kUnsupportedMedia, ""},
      {"latin1", JsonRequest("{}", "application/json; charset=iso-8859-1"),
       ErrorCode::kUnsupportedMedia, ""},
      {"bad param", JsonRequest("{}", "application/json; charset"), ErrorCode::kUnsupportedMedia,
       ""},
      {"type before size", JsonRequest(std::string(70000, ' '), "text/html"),
       ErrorCode::kUnsupportedMedia, ""},
      {"oversize", JsonRequest("{\"a\":\"" + std::string(70000, 'x') + "\"}"),
       ErrorCode::kPayloadTooLarge, "65536"},
      {"empty", JsonRequest(""), ErrorCode::kInvalidArgument, "empty"},
      {"invalid utf-8 in string", JsonRequest("{\"a\":\"\xC3\x28\"}"), ErrorCode::kInvalidArgument,
       "UTF-8"},
      {"overlong utf-8", JsonRequest("{\"a\":\"\xC0\xAF\"}"), ErrorCode::kInvalidArgument, "UTF-8"},
      {"latin1 byte in key", JsonRequest("{\"caf\xE9\":1}"), ErrorCode::kInvalidArgument, "UTF-8"},
      {"lone surrogate escape", JsonRequest(R"({"a":"\ud800"})"), ErrorCode::kInvalidArgument,
       "not valid JSON"},
      {"10000 deep array", JsonRequest(deep), ErrorCode::kInvalidArgument, "deeper than 32"},
      {"10000 deep in object", JsonRequest(deep_obj), ErrorCode::kInvalidArgument,
       "deeper than 32"},
      {"33 deep", JsonRequest("{\"a\":" + std::string(32, '[') + std::string(32, ']') + "}"),
       ErrorCode::kInvalidArgument, "deeper than 32"},
      {"syntax", JsonRequest("{\"a\":}"), ErrorCode::kInvalidArgument, "not valid JSON"},
      {"comment", JsonRequest("{/*x*/}"), ErrorCode::kInvalidArgument, "not valid JSON"},
      {"trailing comma", JsonRequest("{\"a\":1,}"), ErrorCode::kInvalidArgument, "not valid JSON"},
      {"trailing data", JsonRequest("{} {}"), ErrorCode::kInvalidArgument, "not valid JSON"},
      {"nul in text", JsonRequest("{\"a\":\"x\0y\"}"s), ErrorCode::kInvalidArgument,
       "not valid JSON"},
      {"top-level array", JsonRequest("[1,2]"), ErrorCode::kInvalidArgument, "JSON object"},
      {"top-level string", JsonRequest("\"x\""), ErrorCode::kInvalidArgument, "JSON object"},
      {"duplicate key", JsonRequest(R"({"role":"user","role":"admin"})"),
       ErrorCode::kInvalidArgument, "repeats the key \"role\""},
      {"nested duplicate", JsonRequest(R"({"a":{"x":1,"y":2,"x":3}})"), ErrorCode::kInvalidArgument,
       "repeats the key \"x\""},
      {"duplicate by escape", JsonRequest(R"({"ab":1,"\u0061b":2})"), ErrorCode::kInvalidArgument,
       "repeats the key \"ab\""},
      {"same key in sibling objects", JsonRequest(R"({"a":{"x":1},"b":{"x":2}})"), std::nullopt,
       ""},
  };
  for (const BodyCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Result<boost::json::object> r = ParseJsonObject(c.request);
    if (!c.error) {
      EXPECT_TRUE(r.ok()) << r.error().message();
      continue;
    }
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), *c.error);
    EXPECT_NE(r.error().message().find(c.message_part), std::string::npos) << r.error().message();
  }
}

TEST(JsonBody, KeepsValues) {
  const auto r = ParseJsonObject(JsonRequest(R"({"n":-5,"s":"h\u00e9","o":{"k":[true,null]}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at("n").as_int64(), -5);
  EXPECT_EQ(r->at("s").as_string(), "h\xC3\xA9");
  EXPECT_TRUE(r->at("o").as_object().at("k").as_array()[0].as_bool());
}

TEST(JsonBody, LimitsAreConfigurable) {
  JsonLimits limits;
  limits.max_body_bytes = 8;
  limits.max_depth = 2;
  EXPECT_TRUE(ParseJsonObject(JsonRequest("{\"a\":[]}"), limits).ok());  // 8 bytes, depth 2.
  EXPECT_EQ(ParseJsonObject(JsonRequest("{\"a\": []}"), limits).error().code(),
            ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(ParseJsonObject(JsonRequest("{\"a\":[[]]}", "application/json"), JsonLimits{64, 2})
                .error()
                .message(),
            "The request body is nested deeper than 2 levels.");
}

TEST(JsonBody, RejectsTwoContentTypeHeaders) {
  Request req = JsonRequest("{}");
  req.headers.push_back({"content-type", "application/json"});
  const auto r = ParseJsonObject(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

const JsonFields kLogin = JsonFields()
                              .Required("email", JsonType::kString)
                              .Required("password", JsonType::kString)
                              .Optional("remember", JsonType::kBool)
                              .Optional("ttl", JsonType::kInteger)
                              .Optional("score", JsonType::kNumber)
                              .Optional("meta", JsonType::kObject)
                              .Optional("tags", JsonType::kArray);

struct FieldsCase {
  std::string body;
  bool ok;
  std::string message;  // Exact client message when refused.
};

TEST(JsonFields, ChecksDeclaredFields) {
  const std::vector<FieldsCase> cases = {
      {R"({"email":"a","password":"b"})", true, ""},
      {R"({"email":"a","password":"b","remember":true,"ttl":60,"score":1.5,"meta":{},"tags":[]})",
       true, ""},
      {R"({"email":"a","password":"b","ttl":9223372036854775807,"score":3})", true, ""},
      {R"({"email":"a","password":"b","role":"admin"})", false,
       "Unknown field(s) in the request: \"role\"."},
      {R"({"email":"a","password":"b","x\n\"y":1})", false,
       "Unknown field(s) in the request: \"x\\x0A\\\"y\"."},
      {R"({"email":"a","password":"b",")" + std::string(40, 'k') + R"(":1})", false,
       "Unknown field(s) in the request: \"" + std::string(32, 'k') + "...\"."},
      {R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7})", false,
       "Unknown field(s) in the request: \"a\", \"b\", \"c\", \"d\", \"e\" and 2 more."},
      {R"({"email":"a"})", false, "The field \"password\" is required."},
      {R"({"email":1,"password":"b"})", false, "The field \"email\" must be a string."},
      {R"({"email":"a","password":"b","remember":null})", false,
       "The field \"remember\" must be a boolean."},
      {R"({"email":"a","password":"b","ttl":1.0})", false, "The field \"ttl\" must be an integer."},
      {R"({"email":"a","password":"b","ttl":9223372036854775808})", false,
       "The field \"ttl\" must be an integer."},
      {R"({"email":"a","password":"b","score":"1"})", false,
       "The field \"score\" must be a number."},
      {R"({"email":"a","password":"b","meta":[]})", false, "The field \"meta\" must be an object."},
      {R"({"email":"a","password":"b","tags":{}})", false, "The field \"tags\" must be an array."},
  };
  for (const FieldsCase& c : cases) {
    SCOPED_TRACE(c.body);
    const auto body = ParseJsonObject(JsonRequest(c.body));
    ASSERT_TRUE(body.ok()) << body.error().message();
    const Status s = kLogin.Check(*body);
    ASSERT_EQ(s.ok(), c.ok);
    if (c.ok) continue;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.error().message(), c.message);
  }
}

TEST(JsonFields, EscapesNonAsciiNames) {
  EXPECT_EQ(EscapeForMessage("caf\xC3\xA9"), "caf\\xC3\\xA9");
  EXPECT_EQ(EscapeForMessage("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeForMessage(""), "");
}

TEST(Utf8, ValidatesPerRfc3629) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"", true},
      {"plain ascii", true},
      {"\xC3\xA9", true},           // U+00E9
      {"\xE2\x82\xAC", true},       // U+20AC
      {"\xF0\x9F\x98\x80", true},   // U+1F600
      {"\xF4\x8F\xBF\xBF", true},   // U+10FFFF
      {"\xED\x9F\xBF", true},       // U+D7FF
      {"\xEE\x80\x80", true},       // U+E000
      {"\x80", false},              // Lone continuation.
      {"\xC3", false},              // Truncated.
      {"\xE2\x82", false},          // Truncated.
      {"\xC0\xAF", false},          // Overlong '/'.
      {"\xC1\xBF", false},          // Overlong.
      {"\xE0\x80\xAF", false},      // Overlong.
      {"\xF0\x80\x80\xAF", false},  // Overlong.
      {"\xED\xA0\x80", false},      // U+D800 surrogate.
      {"\xED\xBF\xBF", false},      // U+DFFF surrogate.
      {"\xF4\x90\x80\x80", false},  // U+110000.
      {"\xF5\x80\x80\x80", false},
      {"\xFF", false},
      {"\xC3\x28", false},              // Bad continuation.
      {"ok\xE2\x82\xACok\xC3", false},  // Truncated at the end.
  };
  for (const auto& [text, valid] : cases) {
    SCOPED_TRACE(testing::PrintToString(text));
    EXPECT_EQ(IsValidUtf8(text), valid);
  }
}

}  // namespace
}  // namespace gatehouse::http
