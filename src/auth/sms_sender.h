#pragma once

// Text messages through an operator-configured HTTP API (docs/mfa.md): a URL, a body
// template in form or JSON encoding, and an auth header whose value comes from a secret file.
// The Twilio message API is a preset (TwilioSmsOptions).
//
// Sending is asynchronous: Send() queues the message for the sender's own bounded thread(s)
// and returns at once, so neither an I/O thread nor a request worker ever waits on the
// provider unless it chooses to. A failed attempt (transport error, 429 or 5xx) is retried
// with a doubling backoff up to `attempts` times; a 4xx other than 429 is final at once (the
// request itself is wrong and would fail again). Every failure is logged with the masked
// number and the provider's status, never the message (it holds the code) or the auth
// header.
//
// Thread safety: Send() may be called from any thread. `done` runs on a sender thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/secret.h"
#include "core/status.h"
#include "core/worker_pool.h"
#include "http/outbound_client.h"

namespace gatehouse::auth {

enum class SmsBodyFormat : std::uint8_t { kForm, kJson };

struct SmsSenderOptions {
  std::string url;
  SmsBodyFormat format = SmsBodyFormat::kForm;
  // The request body with ${to}, ${from} and ${message} placeholders, each replaced by the
  // value encoded for the format: form-urlencoded (RFC 1866 section 8.2.1) or the inside of
  // a JSON string (RFC 8259 section 7). ${to} and ${message} must appear.
  std::string body_template;
  std::string from;  // The sender number or name for ${from}; may be empty if unused.
  std::string auth_header_name = "Authorization";
  Secret auth_header_value;                // Empty: no auth header.
  unsigned attempts = 3;                   // 1..10.
  std::chrono::milliseconds backoff{500};  // Before the second attempt; doubles after.
  unsigned threads = 1;                    // 1..16.
  std::size_t queue = 256;                 // Messages waiting at most.
  http::OutboundOptions http;
};

// The Twilio Programmable Messaging API: POST .../Accounts/<sid>/Messages.json, form body
// To, From, Body, HTTP Basic auth (the auth header file holds "Basic base64(sid:token)").
SmsSenderOptions TwilioSmsOptions(std::string_view account_sid, std::string_view from);

// kInvalidArgument naming the problem: URL not http(s), template without ${to} or
// ${message} or with another ${...}, attempts/threads/queue out of range, and the outbound
// options' own rules.
Status ValidateSmsSenderOptions(const SmsSenderOptions& options);

// The body for one message (exposed for tests).
std::string RenderSmsBody(const SmsSenderOptions& options, std::string_view to,
                          std::string_view message);

struct SmsMessage {
  std::string to;  // E.164.
  Secret text;     // Holds the code: never logged.
};

class SmsSender {
 public:
  using Done = std::function<void(Status)>;
  virtual ~SmsSender() = default;
  // Queues `message`; `done` is called once with the final outcome (Ok when delivered to the
  // provider; kUnavailable after the last failed attempt or a final 4xx). Returns false at
  // once, without calling `done`, when the queue is full or the sender is stopping.
  [[nodiscard]] virtual bool Send(SmsMessage message, Done done) = 0;
};

class HttpSmsSender final : public SmsSender {
 public:
  struct Counters {
    std::uint64_t delivered = 0;
    std::uint64_t failed = 0;    // Messages given up on.
    std::uint64_t attempts = 0;  // HTTP requests made.
  };

  static Result<std::unique_ptr<HttpSmsSender>> Create(SmsSenderOptions options);
  // Stops taking messages, cuts retry waits short, and joins the threads.
  ~HttpSmsSender() override;

  bool Send(SmsMessage message, Done done) override;
  Counters counters() const;

 private:
  HttpSmsSender(SmsSenderOptions options, std::unique_ptr<http::OutboundClient> client);
  Status Deliver(const SmsMessage& message);
  // Waits `delay` unless the sender stops first; false when stopping.
  bool Backoff(std::chrono::milliseconds delay);

  SmsSenderOptions options_;
  std::unique_ptr<http::OutboundClient> client_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> attempts_{0};
  // Last: its threads use everything above, so it is destroyed (joined) first.
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace gatehouse::auth
