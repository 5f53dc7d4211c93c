#include "protect/ip_rules.h"

#include <algorithm>
#include <tuple>
#include <utility>

namespace gatehouse::protect {

// One immutable state of the lists. The configured and runtime networks are merged into
// one CidrSet per action, so Decide() does two binary searches however the rules arrived.
struct IpRules::Snapshot {
  CidrSet allow;
  CidrSet deny;
  std::vector<IpRule> runtime;  // Sorted and deduplicated, for runtime() and comparison.
};

namespace {

auto SortKey(const IpRule& rule) {
  const IpAddress& n = rule.cidr.network();
  return std::make_tuple(rule.action, n.family(), n.hi(), n.lo(), rule.cidr.prefix_length());
}

void SortUnique(std::vector<IpRule>& rules) {
  std::sort(rules.begin(), rules.end(),
            [](const IpRule& a, const IpRule& b) { return SortKey(a) < SortKey(b); });
  rules.erase(std::unique(rules.begin(), rules.end()), rules.end());
}

Result<std::vector<Cidr>> ParseList(std::span<const std::string> texts, std::string_view name) {
  std::vector<Cidr> out;
  out.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto cidr = Cidr::Parse(texts[i]);
    if (!cidr.ok()) {
      Error error = std::move(cidr).error();
      error.WithContext(std::string(name) + " list entry " + std::to_string(i + 1));
      return error;
    }
    out.push_back(*cidr);
  }
  return out;
}

}  // namespace

std::string_view IpRuleActionName(IpRuleAction action) {
  switch (action) {
    case IpRuleAction::kAllow:
      return "allow";
    case IpRuleAction::kDeny:
      return "deny";
  }
  return "deny";
}

std::optional<IpRuleAction> ParseIpRuleAction(std::string_view text) {
  if (text == "allow") return IpRuleAction::kAllow;
  if (text == "deny") return IpRuleAction::kDeny;
  return std::nullopt;
}

Result<IpRuleSet> IpRuleSet::Parse(std::span<const std::string> allow,
                                   std::span<const std::string> deny) {
  auto allowed = ParseList(allow, "allow");
  if (!allowed.ok()) return std::move(allowed).error();
  auto denied = ParseList(deny, "deny");
  if (!denied.ok()) return std::move(denied).error();
  return IpRuleSet{std::move(*allowed), std::move(*denied)};
}

std::vector<Cidr> ShadowedAllows(const IpRuleSet& rules) {
  std::vector<Cidr> shadowed;
  for (const Cidr& allow : rules.allow) {
    // A deny covers the allow network when it is no longer and holds its first address
    // (Contains also checks the family).
    const bool covered = std::any_of(rules.deny.begin(), rules.deny.end(), [&](const Cidr& d) {
      return d.prefix_length() <= allow.prefix_length() && d.Contains(allow.network());
    });
    if (covered) shadowed.push_back(allow);
  }
  return shadowed;
}

IpRules::IpRules(IpRuleSet configured) : configured_(std::move(configured)) {
  snapshot_.store(Build({}), std::memory_order_release);
  empty_.store(configured_.empty(), std::memory_order_release);
}

std::shared_ptr<const IpRules::Snapshot> IpRules::Build(std::vector<IpRule> runtime) const {
  auto snapshot = std::make_shared<Snapshot>();
  std::vector<Cidr> allow = configured_.allow;
  std::vector<Cidr> deny = configured_.deny;
  for (const IpRule& rule : runtime) {
    (rule.action == IpRuleAction::kAllow ? allow : deny).push_back(rule.cidr);
  }
  snapshot->allow = CidrSet(allow);
  snapshot->deny = CidrSet(deny);
  snapshot->runtime = std::move(runtime);
  return snapshot;
}

IpListView::Verdict IpRules::Decide(const IpAddress& address) const {
  // Most deployments configure no lists: answer without touching the shared reference
  // count, which every request thread would otherwise write.
  if (empty_.load(std::memory_order_acquire)) return Verdict::kNeutral;

  const std::shared_ptr<const Snapshot> snapshot = snapshot_.load(std::memory_order_acquire);

  // Deny first: an explicit deny wins over any allow (see the header for why).
  if (snapshot->deny.Contains(address)) {
    denied_.fetch_add(1, std::memory_order_relaxed);
    return Verdict::kDeny;
  }
  if (snapshot->allow.Contains(address)) {
    allowed_.fetch_add(1, std::memory_order_relaxed);
    return Verdict::kAllow;
  }
  return Verdict::kNeutral;
}

bool IpRules::Reload(std::vector<IpRule> runtime) {
  SortUnique(runtime);

  std::lock_guard lock(reload_mu_);
  const std::shared_ptr<const Snapshot> current = snapshot_.load(std::memory_order_acquire);
  // Most periodic reloads find nothing new; keep the snapshot (and the readers' cache lines).
  if (current->runtime == runtime) return false;

  const bool empty = configured_.empty() && runtime.empty();
  snapshot_.store(Build(std::move(runtime)), std::memory_order_release);
  empty_.store(empty, std::memory_order_release);
  reloads_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::vector<IpRule> IpRules::runtime() const {
  return snapshot_.load(std::memory_order_acquire)->runtime;
}

IpRules::Counters IpRules::counters() const {
  return Counters{
      .allowed = allowed_.load(std::memory_order_relaxed),
      .denied = denied_.load(std::memory_order_relaxed),
      .reloads = reloads_.load(std::memory_order_relaxed),
  };
}

}  // namespace gatehouse::protect
