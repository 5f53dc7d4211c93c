#pragma once

// The manual IP lists: networks an operator allows or denies by hand. Step 2 of the request
// pipeline (request_gate.h) asks Decide() for every request.
//
// What the verdicts mean:
//   kDeny     the request is refused (403) before anything else runs.
//   kAllow    the address is exempt from AUTOMATIC IP BLOCKS only (the brute-force guard's
//             block list). It still passes rate limits, authentication, account lockouts and
//             every other check. An allow-listed network is typically an office NAT or a
//             monitoring probe that many people share; the exemption stops an attacker
//             behind the same address from getting it blocked for everyone (a lockout must
//             not become a way to lock victims out). It does not exempt rate limits: those
//             protect capacity and slow guessing, and a compromised host inside a trusted
//             network must not get unlimited guesses.
//   kNeutral  on neither list: the normal pipeline applies.
//
// Precedence: an explicit deny wins over an allow when both match. Reasons:
//   - The lists come from two places: the configuration (fixed until a restart) and runtime
//     rules (added by admins, see protect_repository.h). During an incident an admin must be
//     able to deny one host inside a broad, configured allow range (the compromised machine
//     in the office network) without a redeploy; if allow won, that deny would be silently
//     ignored.
//   - Allow ranges are usually broad and old, deny entries narrow and recent; when two
//     operator statements conflict, refusing is the outcome that cannot let an attacker in.
//   - One rule that needs no prefix arithmetic is easy to predict and to audit.
// The consequence: these lists cannot express "admit only these networks" (deny 0.0.0.0/0
// plus allow 10.0.0.0/8 denies everyone). Restricting who may reach the service is the job
// of the firewall or the reverse proxy; ShadowedAllows() finds such dead allow entries so a
// start-up warning can name them.
//
// Addresses are compared in normalised form (client_ip.h): an IPv4-mapped IPv6 address
// (::ffff:192.0.2.1) is the IPv4 address, and an IPv4-mapped network (::ffff:10.0.0.0/104)
// is the IPv4 network, so neither a rule nor a client can dodge a match by spelling an
// address the other way. Plain IPv6 networks (even ::/0) never contain an IPv4 address.
//
// Thread safety: Decide() may run on any number of threads at once, concurrently with
// Reload(). The lists live in an immutable snapshot behind an atomically swapped
// shared_ptr: Decide() loads it (no mutex, no allocation) and searches two sorted range
// vectors (O(log n)); Reload() builds a new snapshot off to the side and swaps it in. A
// Decide() that overlaps a Reload() answers from the old or the new lists, never a mix.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "protect/client_ip.h"
#include "protect/request_gate.h"

namespace gatehouse::protect {

enum class IpRuleAction : std::uint8_t { kAllow, kDeny };

// "allow" / "deny": the spelling used in the store and in admin answers.
std::string_view IpRuleActionName(IpRuleAction action);
// The inverse; exact lowercase spelling only (anything else is nullopt).
std::optional<IpRuleAction> ParseIpRuleAction(std::string_view text);

// One rule: a network and what to do with it.
struct IpRule {
  Cidr cidr;
  IpRuleAction action;

  friend bool operator==(const IpRule&, const IpRule&) = default;
};

// A pair of lists, as written in the configuration.
struct IpRuleSet {
  std::vector<Cidr> allow;
  std::vector<Cidr> deny;

  // Parses both lists with Cidr::Parse (strict: no host bits, no leading zeros; see
  // client_ip.h). The first bad entry fails the whole set, so a typo in a deny list stops
  // the start instead of leaving an address unblocked. The error detail names the list, the
  // entry's position and the text as configured.
  static Result<IpRuleSet> Parse(std::span<const std::string> allow,
                                 std::span<const std::string> deny);

  bool empty() const { return allow.empty() && deny.empty(); }
};

// Allow entries that have no effect because a single deny entry covers them entirely (deny
// wins, see above), in the order of `rules.allow`. Networks covered only by the union of
// several deny entries are not reported.
std::vector<Cidr> ShadowedAllows(const IpRuleSet& rules);

class IpRules final : public IpListView {
 public:
  struct Counters {
    std::uint64_t allowed = 0;  // Decide() answered kAllow.
    std::uint64_t denied = 0;   // Decide() answered kDeny.
    std::uint64_t reloads = 0;  // Reload() swapped in a new snapshot (the rules changed).
  };

  // `configured` stays fixed for the life of the object; runtime rules start empty.
  explicit IpRules(IpRuleSet configured = {});

  IpRules(const IpRules&) = delete;
  IpRules& operator=(const IpRules&) = delete;

  // The verdict for `address` (see the header comment). Lock-free apart from whatever the
  // standard library's atomic shared_ptr does internally (a spin bit held for a few
  // instructions); allocates nothing.
  Verdict Decide(const IpAddress& address) const override;

  // Replaces the runtime rules (the configured ones stay). Duplicates are harmless. When the
  // rules are the same as the current ones (in any order) nothing is swapped and it returns
  // false; otherwise a new snapshot is in force for every Decide() that starts after the
  // call returns, and it returns true. Concurrent Reload() calls are serialised; the last
  // one to finish wins.
  bool Reload(std::vector<IpRule> runtime);

  // The configured lists, as given.
  const IpRuleSet& configured() const { return configured_; }
  // The runtime rules in force, sorted (allow before deny, then by address and prefix).
  std::vector<IpRule> runtime() const;

  Counters counters() const;

 private:
  struct Snapshot;

  std::shared_ptr<const Snapshot> Build(std::vector<IpRule> runtime) const;

  const IpRuleSet configured_;
  std::mutex reload_mu_;  // Serialises Reload(); Decide() never takes it.
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  // True while both lists are empty (most deployments): Decide() then answers without
  // touching the shared_ptr's reference count.
  std::atomic<bool> empty_{true};
  mutable std::atomic<std::uint64_t> allowed_{0};
  mutable std::atomic<std::uint64_t> denied_{0};
  std::atomic<std::uint64_t> reloads_{0};
};

}  // namespace gatehouse::protect
