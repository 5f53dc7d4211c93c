#pragma once

// The admission step of the pipeline, between routing and the handler: who the client is
// (trusted proxies), whether its address may be served (IP lists, automatic blocks) and
// whether it is within its rate limits. The HTTP room only defines the seam; the protect
// room implements it (protect/request_gate.h), so the server knows nothing of limiters.
//
// Every request passes the gate, unmatched ones too (a 404 flood is still a flood): they
// are counted under the "default" class.
//
// Thread safety: Admit may run on any I/O thread at once.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"

namespace gatehouse::http {

struct Admission {
  // Set: answer this (a 403 or a 429 with its headers) instead of running the handler.
  std::optional<Response> refusal;
  // RateLimit-Policy and RateLimit for the response when the request goes on.
  RateLimitFields rate_limit;
};

class Gate {
 public:
  using Done = std::function<void(Admission)>;

  virtual ~Gate() = default;

  // Decides for `req`, whose route names `rate_class`. May rewrite req.client_ip (the
  // client behind trusted proxies). Returns the admission when it was decided on the
  // calling thread. Otherwise calls `make_done` exactly once, returns nullopt, and calls
  // the Done it got later, on any thread (a Redis client thread). REQUIRES: req stays
  // valid and unmodified until then.
  virtual std::optional<Admission> Admit(Request& req, std::string_view rate_class,
                                         const std::function<Done()>& make_done) const = 0;
};

}  // namespace gatehouse::http
