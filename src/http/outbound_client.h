#pragma once

// Outbound HTTP(S) requests on libcurl: the SMS sender today, OIDC providers and alert
// webhooks later. One small blocking call, with the security settings fixed at creation:
//
//   - TLS verification (peer and host name) is on unless the options turn it off, which only
//     the development profile allows (the caller enforces that; see core/profile.cc).
//   - TLS 1.2 at least; redirects are never followed (a redirect could carry an auth header
//     to another host, or point at an internal address).
//   - Optional public-key pinning (CURLOPT_PINNEDPUBLICKEY, "sha256//<base64>" entries
//     separated by ';'): the connection fails unless the server's key is one of them, even
//     when a public CA vouches for another key.
//   - Connect and whole-request timeouts; a response body over max_response_bytes is cut off
//     and the call fails, so a hostile endpoint cannot fill memory.
//   - Only https:// URLs, unless allow_plain_http (tests and development receivers).
//
// Blocking: Send() waits for the remote end. Call it on the worker pool or a sender's own
// thread, never on an I/O thread.
// Thread safety: Send() may be called from several threads at once (each call uses its own
// curl handle).

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/secret.h"
#include "core/status.h"
#include "http/message.h"

namespace gatehouse::http {

struct OutboundOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds total_timeout{10000};
  // PEM bundle of trusted CAs; empty: the system's store.
  std::filesystem::path ca_file;
  bool verify_tls = true;
  // "sha256//<base64 of the SHA-256 of the SubjectPublicKeyInfo>", several joined by ';'.
  std::string pinned_public_keys;
  std::size_t max_response_bytes = 64 * 1024;
  bool allow_plain_http = false;
};

// kInvalidArgument naming the problem: timeouts 1 ms..5 min with connect <= total, a pin
// list that is not sha256// entries of 44 base64 characters, a response cap of 1 B..16 MiB,
// a CA file that is not a readable regular file.
Status ValidateOutboundOptions(const OutboundOptions& options);

struct OutboundRequest {
  std::string method = "POST";  // GET, POST, PUT, PATCH or DELETE.
  std::string url;
  std::vector<Header> headers;  // Never credentials: those go in `secret_headers`.
  // Headers whose values are credentials (Authorization): kept as Secrets and wiped from
  // curl's copies after the call.
  std::vector<std::pair<std::string, Secret>> secret_headers;
  std::string body;
};

struct OutboundResponse {
  int status = 0;
  std::string body;
};

// The client-facing message of the error Send() returns when the server's public key is not
// one of the pins: callers tell it apart from an ordinary outage, since it means someone
// else answered for the remote service.
inline constexpr std::string_view kPinMismatchMessage = "the remote service's key is not pinned";
bool IsPinMismatch(const Error& error);

class OutboundClient {
 public:
  // Errors: ValidateOutboundOptions; kInternal when libcurl cannot be initialised.
  static Result<std::unique_ptr<OutboundClient>> Create(OutboundOptions options);

  // Sends `request` and returns the answer, whatever its status (the caller decides what a
  // 4xx or 5xx means). Errors: kInvalidArgument for a URL with a scheme the options do not
  // allow or a header with CR/LF; kUnavailable when the request could not be completed
  // (DNS, connect, TLS, pin mismatch, timeout, oversized answer). The detail names curl's
  // reason; neither face ever holds the URL's query, a header value or the body.
  Result<OutboundResponse> Send(const OutboundRequest& request) const;

  const OutboundOptions& options() const { return options_; }

 private:
  explicit OutboundClient(OutboundOptions options) : options_(std::move(options)) {}

  OutboundOptions options_;
};

}  // namespace gatehouse::http
