#include "audit/events.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/log.h"

namespace gatehouse::audit {
namespace {

TEST(EventTypeName, NamesMatchTheDesign) {
  EXPECT_EQ(EventTypeName(EventType::kLoginSuccess), "login_success");
  EXPECT_EQ(EventTypeName(EventType::kLoginFailure), "login_failure");
  EXPECT_EQ(EventTypeName(EventType::kPasswordChange), "password_change");
  EXPECT_EQ(EventTypeName(EventType::kAccountLockout), "account_lockout");
  EXPECT_EQ(EventTypeName(EventType::kApiKeyUsage), "api_key_usage");
  EXPECT_EQ(EventTypeName(EventType::kSuspiciousActivity), "suspicious_activity");
  EXPECT_EQ(EventTypeName(EventType::kUnauthorizedAccess), "unauthorized_access");
  EXPECT_EQ(EventTypeName(EventType::kDataAccess), "data_access");
  EXPECT_EQ(EventTypeName(EventType::kPrivilegeEscalation), "privilege_escalation");
  EXPECT_EQ(EventTypeName(EventType::kMfaChange), "mfa_change");
  EXPECT_EQ(EventTypeName(EventType::kBackupCodeUse), "backup_code_use");
}

class LogEventSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    capture_ = std::make_shared<log::Capture>();
    log::LogOptions options;
    options.level = log::Level::kInfo;
    options.capture = capture_;
    ASSERT_TRUE(log::Init(options).ok());
  }
  void TearDown() override { ASSERT_TRUE(log::Init(log::LogOptions{}).ok()); }

  std::shared_ptr<log::Capture> capture_;
};

TEST_F(LogEventSinkTest, WritesOneJsonLineWithMaskedAddressAndCounts) {
  LogEventSink sink;
  SecurityEvent event;
  event.type = EventType::kLoginFailure;
  event.severity = Severity::kLow;
  event.request_id = "req-1";
  event.user_id = "u_42";
  event.client_ip = "203.0.113.77";
  event.reason = "wrong_password";
  sink.Emit(event);

  ASSERT_EQ(capture_->Lines().size(), 1u);
  const std::string line = capture_->Lines()[0];
  boost::json::object obj = boost::json::parse(line).as_object();
  EXPECT_EQ(obj.at("event").as_string(), "security_event");
  EXPECT_EQ(obj.at("type").as_string(), "login_failure");
  EXPECT_EQ(obj.at("reason").as_string(), "wrong_password");
  EXPECT_EQ(obj.at("user_id").as_string(), "u_42");
  EXPECT_EQ(line.find("203.0.113.77"), std::string::npos) << line;
  EXPECT_EQ(sink.counters().Get(EventType::kLoginFailure), 1u);
  EXPECT_EQ(sink.counters().Get(EventType::kLoginSuccess), 0u);
}

TEST_F(LogEventSinkTest, AttackSignalsAreWrittenAtWarn) {
  LogEventSink sink;
  SecurityEvent event;
  event.type = EventType::kSuspiciousActivity;
  event.severity = Severity::kHigh;
  event.reason = "refresh_reuse";
  sink.Emit(event);
  ASSERT_EQ(capture_->Lines().size(), 1u);
  boost::json::object obj = boost::json::parse(capture_->Lines()[0]).as_object();
  EXPECT_EQ(obj.at("level").as_string(), "warn");
}

TEST(MemoryEventSink, KeepsEventsInOrder) {
  MemoryEventSink sink;
  SecurityEvent a;
  a.type = EventType::kLoginSuccess;
  SecurityEvent b;
  b.type = EventType::kPasswordChange;
  sink.Emit(a);
  sink.Emit(b);
  ASSERT_EQ(sink.Events().size(), 2u);
  EXPECT_EQ(sink.Events()[1].type, EventType::kPasswordChange);
  EXPECT_EQ(sink.CountOf(EventType::kLoginSuccess), 1u);
  sink.Clear();
  EXPECT_TRUE(sink.Events().empty());
}

TEST(FanoutEventSink, ReachesEverySink) {
  MemoryEventSink one;
  MemoryEventSink two;
  FanoutEventSink fanout({&one, &two});
  SecurityEvent event;
  event.type = EventType::kUnauthorizedAccess;
  fanout.Emit(event);
  EXPECT_EQ(one.CountOf(EventType::kUnauthorizedAccess), 1u);
  EXPECT_EQ(two.CountOf(EventType::kUnauthorizedAccess), 1u);
}

}  // namespace
}  // namespace gatehouse::audit
