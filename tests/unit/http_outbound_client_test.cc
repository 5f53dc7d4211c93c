// The outbound client's fixed security settings: https only unless plain HTTP is allowed,
// strict pin and option checks, the response cap and the timeout, against a local receiver.

#include "http/outbound_client.h"

#include <gtest/gtest.h>

#include "local_http_receiver.h"

namespace gatehouse::http {
namespace {

using testing_support::LocalHttpReceiver;
using namespace std::chrono_literals;

OutboundOptions PlainOptions() {
  OutboundOptions options;
  options.allow_plain_http = true;
  options.total_timeout = 2000ms;
  options.connect_timeout = 1000ms;
  return options;
}

TEST(OutboundClient, PostsAndReturnsTheAnswerWhateverItsStatus) {
  LocalHttpReceiver receiver({418});
  auto client = OutboundClient::Create(PlainOptions());
  ASSERT_TRUE(client.ok());
  OutboundRequest request;
  request.url = receiver.url("/hook");
  request.headers.push_back({"Content-Type", "text/plain"});
  request.secret_headers.emplace_back("Authorization", Secret(std::string_view("Bearer x")));
  request.body = "hello";

  auto response = (*client)->Send(request);

  ASSERT_TRUE(response.ok()) << response.error().detail();
  EXPECT_EQ(response->status, 418);
  EXPECT_EQ(response->body, "{\"status\":418}");
  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_TRUE(receiver.requests()[0].HasHeader("Authorization: Bearer x"));
  EXPECT_EQ(receiver.requests()[0].body, "hello");
  // No "Expect: 100-continue" round trip.
  EXPECT_EQ(receiver.requests()[0].head.find("Expect:"), std::string::npos);
}

TEST(OutboundClient, PlainHttpNeedsToBeAllowed) {
  LocalHttpReceiver receiver({200});
  OutboundOptions options = PlainOptions();
  options.allow_plain_http = false;
  auto client = OutboundClient::Create(options);
  ASSERT_TRUE(client.ok());
  OutboundRequest request;
  request.url = receiver.url();
  auto response = (*client)->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(receiver.requests().empty());
  request.url = "ftp://127.0.0.1/x";
  EXPECT_FALSE((*client)->Send(request).ok());
}

TEST(OutboundClient, HeadersWithLineBreaksAreRefused) {
  auto client = OutboundClient::Create(PlainOptions());
  ASSERT_TRUE(client.ok());
  OutboundRequest request;
  request.url = "http://127.0.0.1:9/x";
  request.headers.push_back({"X-Test", "a\r\nInjected: yes"});
  auto response = (*client)->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument);
}

TEST(OutboundClient, ASilentServerTimesOut) {
  LocalHttpReceiver receiver({200}, /*hold_ms=*/2000);
  OutboundOptions options = PlainOptions();
  options.total_timeout = 300ms;
  options.connect_timeout = 300ms;
  auto client = OutboundClient::Create(options);
  ASSERT_TRUE(client.ok());
  OutboundRequest request;
  request.url = receiver.url();
  const auto start = std::chrono::steady_clock::now();
  auto response = (*client)->Send(request);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
  EXPECT_LT(took, 1500ms);
}

TEST(OutboundClient, AnAnswerOverTheCapFails) {
  LocalHttpReceiver receiver({200});
  OutboundOptions options = PlainOptions();
  options.max_response_bytes = 5;  // The receiver answers {"status":200}.
  auto client = OutboundClient::Create(options);
  ASSERT_TRUE(client.ok());
  OutboundRequest request;
  request.url = receiver.url();
  auto response = (*client)->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
}

TEST(OutboundOptions, PinsAndBoundsAreCheckedStrictly) {
  OutboundOptions options;
  EXPECT_TRUE(ValidateOutboundOptions(options).ok());
  const std::string pin = "sha256//" + std::string(43, 'A') + "=";
  options.pinned_public_keys = pin + ";" + pin;
  EXPECT_TRUE(ValidateOutboundOptions(options).ok());
  options.pinned_public_keys = "sha1//" + std::string(44, 'A');
  EXPECT_FALSE(ValidateOutboundOptions(options).ok());
  options.pinned_public_keys = pin + ";";
  EXPECT_FALSE(ValidateOutboundOptions(options).ok());
  options.pinned_public_keys = "sha256//short";
  EXPECT_FALSE(ValidateOutboundOptions(options).ok());

  options = {};
  options.connect_timeout = 5000ms;
  options.total_timeout = 1000ms;
  EXPECT_FALSE(ValidateOutboundOptions(options).ok());
  options = {};
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(ValidateOutboundOptions(options).ok());
  options = {};
  options.max_response_bytes = 0;
  EXPECT_FALSE(ValidateOutboundOptions(options).ok());
}

}  // namespace
}  // namespace gatehouse::http
