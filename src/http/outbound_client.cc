#include "http/outbound_client.h"

#include <curl/curl.h>

#include <cstring>
#include <mutex>
#include <system_error>

namespace gatehouse::http {
namespace {

constexpr std::size_t kMaxResponseCap = 16 * 1024 * 1024;
constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::minutes(5);

bool CurlReady() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; });
  return ready;
}

bool IsBase64Char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         ch == '+' || ch == '/' || ch == '=';
}

bool ValidPins(std::string_view pins) {
  constexpr std::string_view kPrefix = "sha256//";
  while (true) {
    const std::size_t end = pins.find(';');
    const std::string_view pin = pins.substr(0, end);
    if (!pin.starts_with(kPrefix) || pin.size() != kPrefix.size() + 44) return false;
    for (char ch : pin.substr(kPrefix.size())) {
      if (!IsBase64Char(ch)) return false;
    }
    if (end == std::string_view::npos) return true;
    pins.remove_prefix(end + 1);
  }
}

bool HasLineBreak(std::string_view text) {
  return text.find_first_of("\r\n") != std::string_view::npos || text.find('\0') != text.npos;
}

// The body collector: refuses to grow past the cap (curl then fails the transfer).
struct Sink {
  std::string body;
  std::size_t cap = 0;
  bool overflow = false;
};

std::size_t Collect(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  if (sink->body.size() + n > sink->cap) {
    sink->overflow = true;
    return 0;
  }
  sink->body.append(data, n);
  return n;
}

// curl keeps its own copies of header lines; the credential ones are wiped before release.
struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() {
    for (curl_slist* node = list; node != nullptr; node = node->next) {
      SecureWipe(node->data, std::strlen(node->data));
    }
    curl_slist_free_all(list);
  }
  bool Append(const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (next == nullptr) return false;
    list = next;
    return true;
  }
};

struct EasyFree {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};

}  // namespace

Status ValidateOutboundOptions(const OutboundOptions& options) {
  if (options.connect_timeout.count() < 1 || options.connect_timeout > kMaxTimeout ||
      options.total_timeout.count() < 1 || options.total_timeout > kMaxTimeout) {
    return InvalidArgument("outbound timeouts must be 1 ms .. 5 min");
  }
  if (options.connect_timeout > options.total_timeout) {
    return InvalidArgument("the outbound connect timeout must not exceed the total timeout");
  }
  if (!options.pinned_public_keys.empty() && !ValidPins(options.pinned_public_keys)) {
    return InvalidArgument(
        "pinned public keys must be sha256//<base64> entries (44 characters) separated by ';'");
  }
  if (options.max_response_bytes < 1 || options.max_response_bytes > kMaxResponseCap) {
    return InvalidArgument("the outbound response cap must be 1 B .. 16 MiB");
  }
  if (!options.ca_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(options.ca_file, ec)) {
      return InvalidArgument("the outbound CA file is not a readable file",
                             options.ca_file.string());
    }
  }
  return Ok();
}

Result<std::unique_ptr<OutboundClient>> OutboundClient::Create(OutboundOptions options) {
  GH_RETURN_IF_ERROR(ValidateOutboundOptions(options));
  if (!CurlReady()) return Internal("curl_global_init failed");
  return std::unique_ptr<OutboundClient>(new OutboundClient(std::move(options)));
}

Result<OutboundResponse> OutboundClient::Send(const OutboundRequest& request) const {
  const bool https = request.url.starts_with("https://");
  const bool http = request.url.starts_with("http://");
  if (!https && !(http && options_.allow_plain_http)) {
    return InvalidArgument("outbound URL must be https://");
  }
  if (HasLineBreak(request.url) || HasLineBreak(request.method)) {
    return InvalidArgument("outbound URL or method has control characters");
  }
  if (request.method != "GET" && request.method != "POST" && request.method != "PUT" &&
      request.method != "PATCH" && request.method != "DELETE") {
    return InvalidArgument("outbound method not supported");
  }

  std::unique_ptr<CURL, EasyFree> curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  CURL* h = curl.get();

  HeaderList headers;
  for (const Header& header : request.headers) {
    if (HasLineBreak(header.name) || HasLineBreak(header.value)) {
      return InvalidArgument("outbound header has control characters");
    }
    if (!headers.Append(header.name + ": " + header.value)) return Internal("curl_slist_append");
  }
  for (const auto& [name, value] : request.secret_headers) {
    if (HasLineBreak(name) || HasLineBreak(value.reveal())) {
      return InvalidArgument("outbound header has control characters");
    }
    std::string line = name + ": " + std::string(value.reveal());
    const bool appended = headers.Append(line);
    SecureWipe(line);
    if (!appended) return Internal("curl_slist_append");
  }
  // curl would otherwise send "Expect: 100-continue" for larger bodies and wait a second.
  if (!headers.Append("Expect:")) return Internal("curl_slist_append");

  Sink sink;
  sink.cap = options_.max_response_bytes;
  char error_text[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, options_.allow_plain_http ? "http,https" : "https");
  // Redirects are never followed: see the header.
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  // Several threads call curl: no signals (the default resolver would use SIGALRM).
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  if (!options_.pinned_public_keys.empty()) {
    curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, options_.pinned_public_keys.c_str());
  }
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "gatehouse/" GATEHOUSE_VERSION);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text);

  const CURLcode rc = curl_easy_perform(h);
  if (sink.overflow) {
    return Unavailable("the remote service answered too much",
                       "response over " + std::to_string(sink.cap) + " bytes");
  }
  if (rc != CURLE_OK) {
    std::string detail = curl_easy_strerror(rc);
    if (error_text[0] != '\0') detail += ": " + std::string(error_text);
    if (rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
      return Unavailable(std::string(kPinMismatchMessage), std::move(detail));
    }
    return Unavailable("the remote service could not be reached", std::move(detail));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  OutboundResponse response;
  response.status = static_cast<int>(status);
  response.body = std::move(sink.body);
  return response;
}

bool IsPinMismatch(const Error& error) {
  return error.code() == ErrorCode::kUnavailable && error.message() == kPinMismatchMessage;
}

}  // namespace gatehouse::http
