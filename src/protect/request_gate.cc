#include "protect/request_gate.h"

#include <cstring>
#include <utility>

#include "http/problem.h"

namespace gatehouse::protect {

RequestGate::RequestGate(RequestGateOptions options, RateLimiter* limiter,
                         const IpListView* lists, const IpBlockView* blocks)
    : options_(std::move(options)), limiter_(limiter), lists_(lists), blocks_(blocks) {
  if (options_.classes.empty()) limiter_ = nullptr;
  for (const RateLimitClass& cls : options_.classes) {
    policy_items_.push_back(RateLimitPolicyItem(cls));
  }
}

const RateLimitClass* RequestGate::ClassFor(std::string_view name) const {
  for (const RateLimitClass& cls : options_.classes) {
    if (cls.name == name) return &cls;
  }
  // A route naming a class nobody configured is counted as "default", never unlimited.
  for (const RateLimitClass& cls : options_.classes) {
    if (cls.name == "default") return &cls;
  }
  return options_.classes.empty() ? nullptr : &options_.classes.front();
}

http::Admission RequestGate::Refuse(const http::Request& req, int status,
                                    std::chrono::milliseconds retry_after) const {
  http::Admission admission;
  admission.refusal = http::MakeStatusProblem(status, req.request_id);
  if (retry_after.count() > 0) {
    admission.refusal->AddHeader("Retry-After", std::to_string(RetryAfterSeconds(retry_after)));
  }
  return admission;
}

http::Admission RequestGate::FromDecision(const http::Request& req, const RateLimitClass& cls,
                                          Result<Decision> decision) const {
  if (!decision.ok()) {
    // Callers refuse on any limiter error (rate_limit.h): a limiter that cannot count must
    // not become a way around the limit.
    errors_.fetch_add(1, std::memory_order_relaxed);
    return Refuse(req, 503, std::chrono::seconds(1));
  }
  const std::size_t index = static_cast<std::size_t>(&cls - options_.classes.data());
  http::Admission admission;
  if (!decision->allowed) {
    rate_limited_.fetch_add(1, std::memory_order_relaxed);
    admission.refusal = http::MakeStatusProblem(429, req.request_id);
    admission.refusal->AddHeader("RateLimit-Policy", policy_items_[index]);
    admission.refusal->AddHeader("RateLimit", RateLimitItem(cls, *decision));
    admission.refusal->AddHeader("Retry-After",
                                 std::to_string(RetryAfterSeconds(decision->retry_after)));
    return admission;
  }
  static_assert(kMaxRateLimitItem <= http::RateLimitFields::kMaxState);
  http::RateLimitFields& fields = admission.rate_limit;
  fields.policy = policy_items_[index];
  fields.state_size =
      static_cast<std::uint8_t>(WriteRateLimitItem(cls, *decision, fields.state.data()));
  return admission;
}

std::optional<http::Admission> RequestGate::Admit(
    http::Request& req, std::string_view rate_class,
    const std::function<Done()>& make_done) const {
  // 1. The client: req.client_ip holds the peer until now. The walk hands back the parsed
  // address too, so it is not parsed a second time, and the text is only replaced when it
  // changes (the usual untrusted peer is already in canonical form).
  ClientIp client =
      ResolveClient(req.client_ip, req, options_.trusted_proxies, options_.forwarded_header);
  if (client.ip != req.client_ip) req.client_ip = std::move(client.ip);
  const std::optional<IpAddress>& address = client.address;

  // 2. Manual lists.
  bool listed_allow = false;
  if (lists_ != nullptr && address) {
    switch (lists_->Decide(*address)) {
      case IpListView::Verdict::kDeny:
        denied_.fetch_add(1, std::memory_order_relaxed);
        return Refuse(req, 403, std::chrono::milliseconds(0));
      case IpListView::Verdict::kAllow:
        listed_allow = true;
        break;
      case IpListView::Verdict::kNeutral:
        break;
    }
  }

  const RateLimitClass* cls = limiter_ != nullptr ? ClassFor(rate_class) : nullptr;
  const IpBlockView::Answer not_blocked{std::optional<std::chrono::milliseconds>()};
  // 3. Automatic blocks; the allow list exists to exempt known addresses from them.
  if (blocks_ == nullptr || listed_allow || !address) {
    return AfterBlock(req, cls, not_blocked, make_done);
  }
  std::optional<IpBlockView::Answer> here = blocks_->BlockedHere(req.client_ip);
  if (here) return AfterBlock(req, cls, *here, make_done);

  blocks_->BlockedAsync(req.client_ip, [this, &req, cls, done = make_done()](
                                           IpBlockView::Answer blocked) {
    std::optional<http::Admission> admission =
        AfterBlock(req, cls, blocked, [&done] { return done; });
    if (admission) done(std::move(*admission));
  });
  return std::nullopt;
}

std::optional<http::Admission> RequestGate::AfterBlock(
    const http::Request& req, const RateLimitClass* cls, const IpBlockView::Answer& blocked,
    const std::function<Done()>& make_done) const {
  if (!blocked.ok()) {
    // The shared state is down: the class's outage policy decides, as for its limit (the
    // limiter below applies it again). Without a class, or for any other error, refuse.
    const bool outage = blocked.error().code() == ErrorCode::kUnavailable;
    if (!outage || cls == nullptr || cls->on_unavailable == FailurePolicy::kFailClosed) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      return Refuse(req, 503, std::chrono::seconds(1));
    }
  } else if (*blocked) {
    blocked_.fetch_add(1, std::memory_order_relaxed);
    return Refuse(req, 429, **blocked);
  }

  // 4. The route's class, counted per client address.
  if (cls == nullptr) return http::Admission{};
  // "ip:<address>", built on the stack for any address (at most 45 characters); the limiter
  // copies what it keeps.
  char inline_subject[64];
  std::string heap_subject;
  std::string_view subject;
  if (req.client_ip.size() + 3 <= sizeof(inline_subject)) {
    std::memcpy(inline_subject, "ip:", 3);
    std::memcpy(inline_subject + 3, req.client_ip.data(), req.client_ip.size());
    subject = std::string_view(inline_subject, req.client_ip.size() + 3);
  } else {
    heap_subject = "ip:" + req.client_ip;
    subject = heap_subject;
  }
  if (!options_.limiter_waits) return FromDecision(req, *cls, limiter_->Check(*cls, subject));
  limiter_->CheckAsync(*cls, subject, [this, &req, cls, done = make_done()](
                                          Result<Decision> decision) {
    done(FromDecision(req, *cls, std::move(decision)));
  });
  return std::nullopt;
}

RequestGate::Counters RequestGate::counters() const {
  Counters c;
  c.denied = denied_.load(std::memory_order_relaxed);
  c.blocked = blocked_.load(std::memory_order_relaxed);
  c.rate_limited = rate_limited_.load(std::memory_order_relaxed);
  c.errors = errors_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace gatehouse::protect
