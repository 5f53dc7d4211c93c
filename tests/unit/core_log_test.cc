#include "core/log.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <type_traits>

#include "core/clock.h"
#include "core/config.h"
#include "core/log_json.h"
#include "core/secret.h"

namespace gatehouse::log {
namespace {

namespace json = boost::json;

// The structured API must make logging a Secret a compile error.
static_assert(!std::is_constructible_v<Field, std::string_view, const Secret&>);
static_assert(!std::is_constructible_v<Field, std::string_view, Secret>);
static_assert(std::is_constructible_v<Field, std::string_view, int>);
static_assert(std::is_constructible_v<Field, std::string_view, const char*>);

// Captures every line; restores default-like stderr/stdout loggers afterwards so other tests
// do not write into a dead capture.
class LogTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Start(Level::kInfo, 5).ok()); }
  void TearDown() override { ASSERT_TRUE(Init(LogOptions{}).ok()); }

  Status Start(Level level, int per_second) {
    LogOptions options;
    options.level = level;
    options.clock = &clock_;
    options.capture = capture_;
    options.rate_limit_per_second = per_second;
    return Init(options);
  }

  std::vector<json::object> Parsed() {
    std::vector<json::object> out;
    for (const auto& line : capture_->Lines()) {
      boost::system::error_code ec;
      json::value v = json::parse(line, ec);
      EXPECT_FALSE(ec) << "not JSON: " << line;
      if (!ec && v.is_object()) out.push_back(v.as_object());
    }
    return out;
  }

  ManualClock clock_{std::chrono::system_clock::time_point(
      std::chrono::milliseconds(1'767'225'600'123))};  // 2026-01-01T00:00:00.123Z
  std::shared_ptr<Capture> capture_ = std::make_shared<Capture>();
};

TEST_F(LogTest, EventIsOneJsonObjectWithFixedKeysFirst) {
  Event(Level::kInfo, "login_success",
        {{"user_id", "u_123"},
         {"attempt", 2},
         {"mfa", true},
         {"score", 0.25},
         {"bytes", std::uint64_t{18446744073709551615u}}});

  auto lines = capture_->Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind(R"({"ts":"2026-01-01T00:00:00.123Z","level":"info","logger":"app",)"
                           R"("event":"login_success",)",
                           0),
            0u)
      << lines[0];
  auto objects = Parsed();
  ASSERT_EQ(objects.size(), 1u);
  const auto& o = objects[0];
  EXPECT_EQ(o.at("user_id").as_string(), "u_123");
  EXPECT_EQ(o.at("attempt").as_int64(), 2);
  EXPECT_EQ(o.at("mfa").as_bool(), true);
  EXPECT_DOUBLE_EQ(o.at("score").as_double(), 0.25);
  EXPECT_EQ(o.at("bytes").as_uint64(), 18446744073709551615u);
}

TEST_F(LogTest, ControlCharactersQuotesAndBadUtf8AreEscaped) {
  const std::string hostile = "a\"b\\c\nFAKE{\"level\":\"error\"}\r\t\x01\x7f\xff\xe2\x80\xa8z";
  Event(Level::kWarn, "bad\nevent", {{"input", hostile}, {"k\"ey", "v"}});

  auto lines = capture_->Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find('\n'), std::string::npos);
  EXPECT_EQ(lines[0].find('\r'), std::string::npos);
  EXPECT_EQ(lines[0].find('\x01'), std::string::npos);
  EXPECT_NE(lines[0].find(R"(\u0001)"), std::string::npos);
  EXPECT_NE(lines[0].find(R"(\u2028)"), std::string::npos);

  auto objects = Parsed();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].at("level").as_string(), "warn");
  EXPECT_EQ(objects[0].at("event").as_string(), "bad\nevent");
  EXPECT_EQ(objects[0].at("input").as_string(),
            "a\"b\\c\nFAKE{\"level\":\"error\"}\r\t\x01\x7f\xef\xbf\xbd\xe2\x80\xa8z");
  EXPECT_EQ(objects[0].at("k\"ey").as_string(), "v");
}

TEST_F(LogTest, NonFiniteNumbersBecomeNull) {
  Event(Level::kInfo, "e",
        {{"nan", std::nan("")}, {"inf", std::numeric_limits<double>::infinity()}});
  auto objects = Parsed();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_TRUE(objects[0].at("nan").is_null());
  EXPECT_TRUE(objects[0].at("inf").is_null());
}

TEST_F(LogTest, ReservedKeysCannotBeOverwritten) {
  Event(Level::kInfo, "real", {{"event", "forged"}, {"level", "error"}});
  auto objects = Parsed();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].at("event").as_string(), "real");
  EXPECT_EQ(objects[0].at("level").as_string(), "info");
  EXPECT_EQ(objects[0].at("field_event").as_string(), "forged");
  EXPECT_EQ(objects[0].at("field_level").as_string(), "error");
}

TEST_F(LogTest, PersonalDataFieldsAreMasked) {
  Event(Level::kInfo, "signup",
        {Field::Email("email", "john.doe@example.com"), Field::Phone("phone", "+14155552671"),
         Field::Ip("ip", "203.0.113.42"), Field::Redacted("token")});
  auto lines = capture_->Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].find("john.doe"), std::string::npos);
  EXPECT_EQ(lines[0].find("4155552671"), std::string::npos);
  auto o = Parsed().at(0);
  EXPECT_EQ(o.at("email").as_string(), "j***@e***.com");
  EXPECT_EQ(o.at("phone").as_string(), "+1*******71");
  EXPECT_EQ(o.at("ip").as_string(), "203.0.113.0/24");
  EXPECT_EQ(o.at("token").as_string(), "[redacted]");
}

TEST_F(LogTest, LinesBelowTheLevelAreDropped) {
  EXPECT_FALSE(Enabled(Level::kDebug));
  EXPECT_TRUE(Enabled(Level::kInfo));
  Event(Level::kDebug, "noise");
  Event(Level::kError, "boom");
  auto objects = Parsed();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].at("event").as_string(), "boom");
  EXPECT_EQ(objects[0].at("level").as_string(), "error");
}

TEST_F(LogTest, AccessLineStripsQueryCapsAgentAndFollowsStatus) {
  AccessRecord record;
  record.time = clock_.Now() - std::chrono::milliseconds(23);
  record.request_id = "req-1";
  record.method = "POST";
  record.path = "/v1/login?password=hunter2#frag";
  record.status = 401;
  record.bytes = 87;
  record.duration_ms = 12.5;
  record.client_ip = "198.51.100.7";
  const std::string agent = std::string(255, 'x') + "\xe2\x82\xac" + std::string(100, 'y');
  record.user_agent = agent;
  Access(record);
  record.status = 503;
  record.path = "/health";
  Access(record);

  auto lines = capture_->Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].find("hunter2"), std::string::npos);
  auto objects = Parsed();
  ASSERT_EQ(objects.size(), 2u);
  const auto& o = objects[0];
  EXPECT_EQ(o.at("logger").as_string(), "access");
  EXPECT_EQ(o.at("event").as_string(), "http_request");
  EXPECT_EQ(o.at("level").as_string(), "warn");
  EXPECT_EQ(o.at("time").as_string(), "2026-01-01T00:00:00.100Z");
  EXPECT_EQ(o.at("request_id").as_string(), "req-1");
  EXPECT_EQ(o.at("method").as_string(), "POST");
  EXPECT_EQ(o.at("path").as_string(), "/v1/login");
  EXPECT_EQ(o.at("status").as_int64(), 401);
  EXPECT_EQ(o.at("bytes").as_int64(), 87);
  EXPECT_DOUBLE_EQ(o.at("duration_ms").as_double(), 12.5);
  EXPECT_EQ(o.at("client_ip").as_string(), "198.51.100.7");
  // Capped at 256 bytes without splitting the euro sign that straddles the cap.
  EXPECT_EQ(o.at("user_agent").as_string(), std::string(255, 'x'));
  EXPECT_EQ(objects[1].at("level").as_string(), "error");
}

TEST_F(LogTest, AccessLogOffWritesNothing) {
  LogOptions options;
  options.access_log = "off";
  options.clock = &clock_;
  options.capture = capture_;
  ASSERT_TRUE(Init(options).ok());
  AccessRecord record;
  record.status = 200;
  Access(record);
  Event(Level::kInfo, "still_here");
  auto objects = Parsed();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].at("logger").as_string(), "app");
}

TEST_F(LogTest, RateLimitedCountsSuppressedLines) {
  ASSERT_TRUE(Start(Level::kInfo, 2).ok());
  for (int i = 0; i < 5; ++i) RateLimited("bad_request", Level::kWarn, "http_bad_request");
  // Another key has its own budget.
  RateLimited("other", Level::kWarn, "other_event");
  EXPECT_EQ(capture_->Lines().size(), 3u);

  clock_.Advance(std::chrono::milliseconds(999));
  RateLimited("bad_request", Level::kWarn, "http_bad_request");  // Same window: dropped.
  clock_.Advance(std::chrono::milliseconds(1));
  RateLimited("bad_request", Level::kWarn, "http_bad_request", {{"n", 1}});
  RateLimited("bad_request", Level::kWarn, "http_bad_request", {{"n", 2}});

  auto objects = Parsed();
  ASSERT_EQ(objects.size(), 5u);
  EXPECT_FALSE(objects[0].contains("suppressed"));
  EXPECT_FALSE(objects[1].contains("suppressed"));
  EXPECT_EQ(objects[2].at("event").as_string(), "other_event");
  EXPECT_EQ(objects[3].at("suppressed").as_int64(), 4);  // 3 in the first window + 1.
  EXPECT_EQ(objects[3].at("n").as_int64(), 1);
  EXPECT_FALSE(objects[4].contains("suppressed"));
}

TEST_F(LogTest, RateLimitedManyKeysStayBounded) {
  ASSERT_TRUE(Start(Level::kInfo, 1).ok());
  for (int i = 0; i < 3000; ++i) {
    RateLimited("k" + std::to_string(i), Level::kWarn, "e");
  }
  // 1024 keys get their own line; every later key shares one budget of one line.
  EXPECT_EQ(capture_->Lines().size(), 1025u);
}

TEST(LogFile, FileSinkWritesJsonLinesWithPrivateMode) {
  auto path = std::filesystem::temp_directory_path() /
              ("gh-log-test-" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(path);
  LogOptions options;
  options.app_log = path.string();
  options.access_log = "off";
  ASSERT_TRUE(Init(options).ok());
  Event(Level::kInfo, "to_file", {{"k", "v"}});
  Flush();
  ASSERT_TRUE(Init(LogOptions{}).ok());

  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(json::parse(line).as_object().at("event").as_string(), "to_file");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 040u);  // 0640: no access for others.
  std::filesystem::remove(path);
}

TEST(LogInit, UnwritableFileIsAnError) {
  LogOptions options;
  options.app_log = "/nonexistent-dir/gatehouse.log";
  auto status = Init(options);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
}

TEST(LogInit, OptionsComeFromConfig) {
  core::Config config = core::DefaultConfig(core::Profile::kProduction);
  config.log.access_log = "off";
  LogOptions options = OptionsFromConfig(config);
  EXPECT_EQ(options.level, Level::kInfo);
  EXPECT_EQ(options.access_log, "off");
  EXPECT_EQ(options.app_log, "stderr");
}

TEST(LogJson, TimestampIsRfc3339Utc) {
  using std::chrono::milliseconds;
  EXPECT_EQ(FormatTimestamp(std::chrono::system_clock::time_point(milliseconds(0))),
            "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(std::chrono::system_clock::time_point(milliseconds(1'767'225'600'123))),
            "2026-01-01T00:00:00.123Z");
}

TEST(LogLevel, NamesRoundTrip) {
  for (Level level : {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    EXPECT_EQ(ParseLevel(LevelName(level)), level);
  }
  EXPECT_FALSE(ParseLevel("INFO").has_value());
  EXPECT_FALSE(ParseLevel("warning").has_value());
}

}  // namespace
}  // namespace gatehouse::log
