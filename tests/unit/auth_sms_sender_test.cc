// The HTTP SMS sender against a receiver started by the test: retries after failures (a
// receiver that fails twice and then succeeds), no retry on a final 4xx, the body templates
// and the Twilio preset's shape, the auth header, and a full queue refused at once.

#include "auth/sms_sender.h"

#include <gtest/gtest.h>

#include <future>

#include "local_http_receiver.h"

namespace gatehouse::auth {
namespace {

using testing_support::LocalHttpReceiver;
using namespace std::chrono_literals;

SmsSenderOptions LocalOptions(const LocalHttpReceiver& receiver) {
  SmsSenderOptions options;
  options.url = receiver.url();
  options.format = SmsBodyFormat::kForm;
  options.body_template = "To=${to}&From=${from}&Body=${message}";
  options.from = "Gatehouse";
  options.auth_header_value = Secret(std::string_view("Bearer sms-test-credential"));
  options.attempts = 3;
  // Retries wait on the sender's own thread; a millisecond keeps the test fast.
  options.backoff = 1ms;
  options.http.allow_plain_http = true;
  options.http.total_timeout = 2000ms;
  options.http.connect_timeout = 1000ms;
  return options;
}

// Sends one message and waits for its outcome.
Status SendAndWait(HttpSmsSender& sender, std::string to, std::string text) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto outcome = promise->get_future();
  const bool queued = sender.Send({std::move(to), Secret(text)},
                                  [promise](Status s) { promise->set_value(std::move(s)); });
  if (!queued) return Unavailable("not queued");
  if (outcome.wait_for(10s) != std::future_status::ready) return Unavailable("no outcome");
  return outcome.get();
}

TEST(SmsSender, RetriesAReceiverThatFailsTwiceThenSucceeds) {
  LocalHttpReceiver receiver({500, 503, 200});
  auto sender = HttpSmsSender::Create(LocalOptions(receiver));
  ASSERT_TRUE(sender.ok()) << sender.error().message();

  Status sent = SendAndWait(**sender, "+14155552671", "Your code is 123456");

  EXPECT_TRUE(sent.ok()) << sent.error().detail();
  ASSERT_EQ(receiver.requests().size(), 3u);
  EXPECT_EQ((*sender)->counters().attempts, 3u);
  EXPECT_EQ((*sender)->counters().delivered, 1u);
  for (const auto& request : receiver.requests()) {
    EXPECT_EQ(request.head.rfind("POST /send HTTP/1.1\r\n", 0), 0u) << request.head;
    EXPECT_TRUE(request.HasHeader("Authorization: Bearer sms-test-credential"));
    EXPECT_TRUE(request.HasHeader("Content-Type: application/x-www-form-urlencoded"));
    EXPECT_EQ(request.body, "To=%2B14155552671&From=Gatehouse&Body=Your+code+is+123456");
  }
}

TEST(SmsSender, GivesUpAfterTheLastAttemptAndSaysSo) {
  LocalHttpReceiver receiver({500});
  auto sender = HttpSmsSender::Create(LocalOptions(receiver));
  ASSERT_TRUE(sender.ok());

  Status sent = SendAndWait(**sender, "+14155552671", "code 1");

  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(sent.error().message(), "the text message could not be delivered");
  EXPECT_EQ(sent.error().detail(), "provider answered 500");
  EXPECT_EQ(receiver.requests().size(), 3u);
  EXPECT_EQ((*sender)->counters().failed, 1u);
}

TEST(SmsSender, AFinalClientErrorIsNotRetried) {
  LocalHttpReceiver receiver({400, 200});
  auto sender = HttpSmsSender::Create(LocalOptions(receiver));
  ASSERT_TRUE(sender.ok());

  Status sent = SendAndWait(**sender, "+14155552671", "code 2");

  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST(SmsSender, TooManyRequestsIsRetried) {
  LocalHttpReceiver receiver({429, 200});
  auto sender = HttpSmsSender::Create(LocalOptions(receiver));
  ASSERT_TRUE(sender.ok());
  EXPECT_TRUE(SendAndWait(**sender, "+14155552671", "code 3").ok());
  EXPECT_EQ(receiver.requests().size(), 2u);
}

TEST(SmsSender, AnUnreachableProviderFailsAfterEveryAttempt) {
  std::string url;
  {
    LocalHttpReceiver gone({200});
    url = gone.url();
  }  // Nobody listens on that port any more.
  LocalHttpReceiver unused({200});
  SmsSenderOptions options = LocalOptions(unused);
  options.url = url;
  auto sender = HttpSmsSender::Create(options);
  ASSERT_TRUE(sender.ok());
  Status sent = SendAndWait(**sender, "+14155552671", "code 4");
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ((*sender)->counters().attempts, 3u);
}

TEST(SmsSender, JsonTemplateEscapesValues) {
  LocalHttpReceiver receiver({200});
  SmsSenderOptions options = LocalOptions(receiver);
  options.format = SmsBodyFormat::kJson;
  options.body_template = R"({"to":"${to}","text":"${message}"})";
  auto sender = HttpSmsSender::Create(options);
  ASSERT_TRUE(sender.ok());

  ASSERT_TRUE(SendAndWait(**sender, "+447700900123", "say \"hi\"\\ 1\n2").ok());

  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_TRUE(receiver.requests()[0].HasHeader("Content-Type: application/json"));
  EXPECT_EQ(receiver.requests()[0].body, R"({"to":"+447700900123","text":"say \"hi\"\\ 1\n2"})");
}

TEST(SmsSender, TwilioPresetPostsTheMessagesApiForm) {
  SmsSenderOptions twilio = TwilioSmsOptions("AC0123456789abcdef0123456789abcdef", "+15005550006");
  EXPECT_EQ(twilio.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/"
            "Messages.json");
  EXPECT_EQ(twilio.format, SmsBodyFormat::kForm);
  EXPECT_EQ(RenderSmsBody(twilio, "+14155552671", "Your Gatehouse code is 042917"),
            "To=%2B14155552671&From=%2B15005550006&Body=Your+Gatehouse+code+is+042917");

  // The same shape reaches a receiver (standing in for the API) with the Basic credential.
  LocalHttpReceiver receiver({201});
  twilio.url = receiver.url("/2010-04-01/Accounts/AC0123/Messages.json");
  twilio.auth_header_value = Secret(std::string_view("Basic QUMwMTIzOnRva2Vu"));
  twilio.http.allow_plain_http = true;
  twilio.backoff = 1ms;
  auto sender = HttpSmsSender::Create(twilio);
  ASSERT_TRUE(sender.ok()) << sender.error().message();
  ASSERT_TRUE(SendAndWait(**sender, "+14155552671", "hello").ok());
  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(receiver.requests()[0].head.rfind(
                "POST /2010-04-01/Accounts/AC0123/Messages.json HTTP/1.1\r\n", 0),
            0u);
  EXPECT_TRUE(receiver.requests()[0].HasHeader("Authorization: Basic QUMwMTIzOnRva2Vu"));
}

TEST(SmsSender, AFullQueueIsRefusedAtOnce) {
  // The receiver holds every request, so the single sender thread stays busy.
  LocalHttpReceiver receiver({200}, /*hold_ms=*/1500);
  SmsSenderOptions options = LocalOptions(receiver);
  options.queue = 1;
  options.attempts = 1;
  options.http.total_timeout = 1000ms;
  options.http.connect_timeout = 500ms;
  auto sender = HttpSmsSender::Create(options);
  ASSERT_TRUE(sender.ok());

  // Shared: the sender's destructor still runs the queued message and its callback.
  auto outcomes = std::make_shared<std::atomic<int>>(0);
  auto count = [outcomes](Status) { (*outcomes)++; };
  ASSERT_TRUE((*sender)->Send({"+14155552671", Secret(std::string_view("a"))}, count));
  ASSERT_TRUE(receiver.WaitFor(1, 2s));  // The first one is in flight, the queue empty.
  EXPECT_TRUE((*sender)->Send({"+14155552671", Secret(std::string_view("b"))}, count));
  EXPECT_FALSE((*sender)->Send({"+14155552671", Secret(std::string_view("c"))}, count));
}

TEST(SmsSenderOptions, RefusesBrokenTemplatesAndPlainHttp) {
  LocalHttpReceiver receiver({200});
  SmsSenderOptions options = LocalOptions(receiver);
  EXPECT_TRUE(ValidateSmsSenderOptions(options).ok());

  SmsSenderOptions no_to = options;
  no_to.body_template = "Body=${message}";
  EXPECT_FALSE(ValidateSmsSenderOptions(no_to).ok());
  SmsSenderOptions typo = options;
  typo.body_template = "To=${to}&Body=${mesage}${message}";
  EXPECT_FALSE(ValidateSmsSenderOptions(typo).ok());
  SmsSenderOptions plain = options;
  plain.http.allow_plain_http = false;
  EXPECT_FALSE(ValidateSmsSenderOptions(plain).ok());
  SmsSenderOptions attempts = options;
  attempts.attempts = 0;
  EXPECT_FALSE(ValidateSmsSenderOptions(attempts).ok());
  SmsSenderOptions header = options;
  header.auth_header_name = "Bad: Header";
  EXPECT_FALSE(ValidateSmsSenderOptions(header).ok());
}

}  // namespace
}  // namespace gatehouse::auth
