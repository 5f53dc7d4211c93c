#include "auth/sms_sender.h"

#include "core/log.h"
#include "http/url_encoding.h"

namespace gatehouse::auth {
namespace {

constexpr std::string_view kPlaceholders[] = {"${to}", "${from}", "${message}"};

std::string JsonEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : text) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (ch < 0x20) {
          out += "\\u00";
          out += kHex[ch >> 4];
          out += kHex[ch & 0xf];
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out;
}

bool Retryable(int status) { return status == 429 || status >= 500; }

}  // namespace

SmsSenderOptions TwilioSmsOptions(std::string_view account_sid, std::string_view from) {
  SmsSenderOptions options;
  options.url =
      "https://api.twilio.com/2010-04-01/Accounts/" + std::string(account_sid) + "/Messages.json";
  options.format = SmsBodyFormat::kForm;
  options.body_template = "To=${to}&From=${from}&Body=${message}";
  options.from = std::string(from);
  options.auth_header_name = "Authorization";
  return options;
}

Status ValidateSmsSenderOptions(const SmsSenderOptions& options) {
  if (!options.url.starts_with("https://") && !options.url.starts_with("http://")) {
    return InvalidArgument("the SMS sender URL must be an http(s) URL");
  }
  if (options.body_template.find("${to}") == std::string::npos ||
      options.body_template.find("${message}") == std::string::npos) {
    return InvalidArgument("the SMS body template must contain ${to} and ${message}");
  }
  // Any other ${...} is a typo that would otherwise go to the provider verbatim.
  for (std::size_t at = options.body_template.find("${"); at != std::string::npos;
       at = options.body_template.find("${", at + 2)) {
    bool known = false;
    for (std::string_view p : kPlaceholders) {
      known = known || options.body_template.compare(at, p.size(), p) == 0;
    }
    if (!known) {
      return InvalidArgument(
          "the SMS body template has an unknown placeholder (use ${to}, ${from}, ${message})");
    }
  }
  if (options.attempts < 1 || options.attempts > 10) {
    return InvalidArgument("SMS attempts must be 1..10");
  }
  if (options.backoff.count() < 1 || options.backoff > std::chrono::minutes(1)) {
    return InvalidArgument("the SMS retry backoff must be 1 ms .. 1 min");
  }
  if (options.threads < 1 || options.threads > 16) {
    return InvalidArgument("SMS sender threads must be 1..16");
  }
  if (options.queue < 1 || options.queue > 100'000) {
    return InvalidArgument("the SMS queue must hold 1..100000 messages");
  }
  if (options.auth_header_name.empty() ||
      options.auth_header_name.find_first_of(": \r\n") != std::string::npos) {
    return InvalidArgument("the SMS auth header name must be a header field name");
  }
  if (options.url.starts_with("http://") && !options.http.allow_plain_http) {
    return InvalidArgument("the SMS sender URL must be https://");
  }
  return http::ValidateOutboundOptions(options.http);
}

std::string RenderSmsBody(const SmsSenderOptions& options, std::string_view to,
                          std::string_view message) {
  auto encode = [&](std::string_view value) {
    return options.format == SmsBodyFormat::kForm ? http::FormEncode(value) : JsonEscape(value);
  };
  std::string out;
  const std::string& tpl = options.body_template;
  std::size_t i = 0;
  while (i < tpl.size()) {
    if (tpl.compare(i, 5, "${to}") == 0) {
      out += encode(to);
      i += 5;
    } else if (tpl.compare(i, 7, "${from}") == 0) {
      out += encode(options.from);
      i += 7;
    } else if (tpl.compare(i, 10, "${message}") == 0) {
      out += encode(message);
      i += 10;
    } else {
      out += tpl[i++];
    }
  }
  return out;
}

Result<std::unique_ptr<HttpSmsSender>> HttpSmsSender::Create(SmsSenderOptions options) {
  GH_RETURN_IF_ERROR(ValidateSmsSenderOptions(options));
  auto client = http::OutboundClient::Create(options.http);
  if (!client.ok()) return std::move(client).error();
  return std::unique_ptr<HttpSmsSender>(
      new HttpSmsSender(std::move(options), std::move(client).value()));
}

HttpSmsSender::HttpSmsSender(SmsSenderOptions options, std::unique_ptr<http::OutboundClient> client)
    : options_(std::move(options)), client_(std::move(client)) {
  pool_ = std::make_unique<WorkerPool>(options_.threads, options_.queue);
}

HttpSmsSender::~HttpSmsSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  pool_->Shutdown();
}

bool HttpSmsSender::Send(SmsMessage message, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
  }
  auto shared = std::make_shared<SmsMessage>(std::move(message));
  return pool_->TrySubmit([this, shared, done = std::move(done)] {
    Status outcome = Deliver(*shared);
    if (done) done(std::move(outcome));
  });
}

HttpSmsSender::Counters HttpSmsSender::counters() const {
  return {delivered_.load(), failed_.load(), attempts_.load()};
}

bool HttpSmsSender::Backoff(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mu_);
  return !stop_cv_.wait_for(lock, delay, [this] { return stopping_; });
}

Status HttpSmsSender::Deliver(const SmsMessage& message) {
  http::OutboundRequest request;
  request.method = "POST";
  request.url = options_.url;
  request.headers.push_back({"Content-Type", options_.format == SmsBodyFormat::kForm
                                                 ? "application/x-www-form-urlencoded"
                                                 : "application/json"});
  if (!options_.auth_header_value.empty()) {
    request.secret_headers.emplace_back(options_.auth_header_name, options_.auth_header_value);
  }
  request.body = RenderSmsBody(options_, message.to, message.text.reveal());

  std::chrono::milliseconds delay = options_.backoff;
  std::string last_problem;
  for (unsigned attempt = 1; attempt <= options_.attempts; ++attempt) {
    attempts_.fetch_add(1, std::memory_order_relaxed);
    auto response = client_->Send(request);
    bool retry = true;
    if (response.ok() && response->status >= 200 && response->status < 300) {
      SecureWipe(request.body);
      delivered_.fetch_add(1, std::memory_order_relaxed);
      return Ok();
    }
    if (response.ok()) {
      last_problem = "provider answered " + std::to_string(response->status);
      retry = Retryable(response->status);
    } else {
      last_problem = response.error().detail().empty() ? response.error().message()
                                                       : response.error().detail();
    }
    log::Event(log::Level::kWarn, "sms_attempt_failed",
               {log::Field::Phone("to", message.to), log::Field("attempt", attempt),
                log::Field("of", options_.attempts), log::Field("problem", last_problem),
                log::Field("retry", retry && attempt < options_.attempts)});
    if (!retry || attempt == options_.attempts) break;
    if (!Backoff(delay)) {
      last_problem = "sender stopping";
      break;
    }
    delay *= 2;
  }
  SecureWipe(request.body);
  failed_.fetch_add(1, std::memory_order_relaxed);
  log::Event(log::Level::kError, "sms_delivery_failed",
             {log::Field::Phone("to", message.to), log::Field("problem", last_problem)});
  return Unavailable("the text message could not be delivered", last_problem);
}

}  // namespace gatehouse::auth
