#pragma once

// The pipeline's admission step (http/gate.h) as the product runs it, in this order:
//   1. client IP    the peer, or the client behind configured trusted proxies
//                   (client_ip.h); req.client_ip is rewritten to the canonical address
//   2. IP lists     a manual deny answers 403; a manual allow skips step 3 (never
//                   authentication, never rate limits)
//   3. IP block     an automatic block (brute_force.h) answers 429 with Retry-After
//   4. rate limit   the route's class for the client address ("ip:<address>"); a refusal
//                   answers 429 with RateLimit-Policy, RateLimit and Retry-After, an
//                   admitted request carries RateLimit-Policy and RateLimit
// Per-user and per-key limits need the authenticated subject, so the handlers apply them
// (auth/routes.cc) through the same limiter.
//
// With the memory state every step decides on the I/O thread. With Redis, steps 3 and 4
// are asynchronous and pipelined: the pipeline waits without blocking its thread.
//
// Thread safety: Admit may run on any thread at once; the gate is immutable after start
// apart from the objects it points to, which are thread-safe themselves.

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "http/gate.h"
#include "protect/client_ip.h"
#include "protect/rate_limit.h"

namespace gatehouse::protect {

// What step 2 asks: the manual lists (ip_rules.h implements it).
class IpListView {
 public:
  enum class Verdict : std::uint8_t { kNeutral, kAllow, kDeny };
  virtual ~IpListView() = default;
  virtual Verdict Decide(const IpAddress& address) const = 0;
};

// What step 3 asks: the automatic blocks (brute_force.h implements it).
class IpBlockView {
 public:
  // The time the block has left, or nullopt when the address is not blocked.
  using Answer = Result<std::optional<std::chrono::milliseconds>>;
  virtual ~IpBlockView() = default;
  // Answers on the calling thread when it can without waiting (memory state; or no block
  // exists that this process could know of); nullopt means: ask BlockedAsync.
  virtual std::optional<Answer> BlockedHere(std::string_view ip) const = 0;
  // `done` runs once, on any thread, quickly.
  virtual void BlockedAsync(std::string_view ip, std::function<void(Answer)> done) const = 0;
};

struct RequestGateOptions {
  CidrSet trusted_proxies;
  ForwardedHeader forwarded_header = ForwardedHeader::kXForwardedFor;
  // Empty: no rate limits (rate_limit.enabled = false).
  std::vector<RateLimitClass> classes;
  // True when the limiter asks a server (Redis): its decisions are then taken through
  // CheckAsync and never block the I/O thread. False: Check runs inline (memory).
  bool limiter_waits = false;
};

class RequestGate final : public http::Gate {
 public:
  struct Counters {
    std::uint64_t denied = 0;       // 403: manual deny list.
    std::uint64_t blocked = 0;      // 429: automatic IP block.
    std::uint64_t rate_limited = 0;  // 429: a class refused.
    std::uint64_t errors = 0;       // 503: a limiter or block lookup failed.
  };

  // `limiter`, `lists` and `blocks` may be null (that step is skipped); none is owned and
  // each must outlive the gate.
  RequestGate(RequestGateOptions options, RateLimiter* limiter, const IpListView* lists,
              const IpBlockView* blocks);

  std::optional<http::Admission> Admit(
      http::Request& req, std::string_view rate_class,
      const std::function<Done()>& make_done) const override;

  Counters counters() const;

 private:
  const RateLimitClass* ClassFor(std::string_view name) const;
  http::Admission Refuse(const http::Request& req, int status,
                         std::chrono::milliseconds retry_after) const;
  http::Admission FromDecision(const http::Request& req, const RateLimitClass& cls,
                               Result<Decision> decision) const;
  // Steps 4 on, once the block answer is known.
  std::optional<http::Admission> AfterBlock(const http::Request& req,
                                            const RateLimitClass* cls,
                                            const IpBlockView::Answer& blocked,
                                            const std::function<Done()>& make_done) const;

  RequestGateOptions options_;
  RateLimiter* limiter_;
  const IpListView* lists_;
  const IpBlockView* blocks_;
  std::vector<std::string> policy_items_;  // RateLimit-Policy value per class, prebuilt.
  mutable std::atomic<std::uint64_t> denied_{0};
  mutable std::atomic<std::uint64_t> blocked_{0};
  mutable std::atomic<std::uint64_t> rate_limited_{0};
  mutable std::atomic<std::uint64_t> errors_{0};
};

}  // namespace gatehouse::protect
