#pragma once

// Who is the client? IP addresses, CIDR sets and the trusted-proxy walk over
// X-Forwarded-For / Forwarded (RFC 7239).
//
// The rule: the client is the TCP peer, unless the peer is a configured trusted proxy; then
// the forwarding header is read from the right, trusted hops are skipped, and the first
// untrusted address is the client. Nothing is trusted by default (an empty CidrSet).
//
// Why from the right: every proxy appends the address it received the connection from, so
// the rightmost entries were written by our own proxies and everything left of the first
// untrusted entry was written by the client (or by proxies we know nothing about) and may be
// any value an attacker likes.
//
// Addresses are normalised: IPv4-mapped IPv6 (::ffff:192.0.2.1) is the IPv4 address
// 192.0.2.1 everywhere (parsing, CIDR matching, text), so a dual-stack socket and an IPv4
// socket name the same client the same way and a block on 192.0.2.1 cannot be dodged by
// writing it as ::ffff:c000:201.
//
// Thread safety: IpAddress, Cidr and CidrSet are immutable values; all functions are pure and
// may run concurrently.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "http/message.h"

namespace gatehouse::protect {

// An IPv4 or IPv6 address, always normalised (see above): an IPv4-mapped IPv6 address is
// stored as IPv4. Scope/zone ids are not part of the value (ParseIp rejects them).
class IpAddress {
 public:
  enum class Family : std::uint8_t { kV4, kV6 };

  static IpAddress V4(std::uint32_t host_order);
  // An IPv4-mapped address (::ffff:0:0/96) becomes the IPv4 address.
  static IpAddress V6(const std::array<std::uint8_t, 16>& bytes);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  // REQUIRES: is_v4().
  std::uint32_t v4() const { return static_cast<std::uint32_t>(lo_); }
  // The 16 network-order bytes. REQUIRES: !is_v4().
  std::array<std::uint8_t, 16> v6_bytes() const;

  // The address as a number: IPv4 in the low 32 bits of `lo`, IPv6 big-endian across both.
  std::uint64_t hi() const { return hi_; }
  std::uint64_t lo() const { return lo_; }

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  IpAddress(Family family, std::uint64_t hi, std::uint64_t lo)
      : family_(family), hi_(hi), lo_(lo) {}

  Family family_;
  std::uint64_t hi_;
  std::uint64_t lo_;
};

// Parses a bare IPv4 or IPv6 address, strictly:
//  - IPv4: exactly four decimal octets 0..255. Leading zeros are refused ("010.0.0.1"):
//    inet_aton() and many tools read them as octal, so the same text names 10.0.0.1 here
//    and 8.0.0.1 there; a block list or proxy list must not mean two things.
//  - IPv6: RFC 4291 section 2.2 text forms (groups of 1..4 hex digits, one "::", an
//    embedded dotted IPv4 tail), either case.
//  - Refused: zone ids ("fe80::1%eth0": a zone names an interface of the sender, not a
//    client), brackets, ports, surrounding whitespace, anything longer than 45 characters.
// IPv4-mapped IPv6 is normalised to IPv4.
std::optional<IpAddress> ParseIp(std::string_view text);

// Canonical text: dotted decimal for IPv4, RFC 5952 for IPv6 (lowercase, no leading zeros,
// the longest run of two or more zero groups shortened to "::", the first on a tie).
std::string ToString(const IpAddress& address);

// A network: an address and a prefix length (0..32 for IPv4, 0..128 for IPv6).
class Cidr {
 public:
  // Accepts "10.0.0.0/8", "2001:db8::/32" and a bare address ("192.0.2.7" is /32, "::1" is
  // /128). Refuses garbage, prefixes out of range or with leading zeros or signs, and
  // networks with host bits set ("10.0.0.1/8"): that is almost always a typo for /32 or for
  // 10.0.0.0/8, and silently masking it would trust (or block) a network the operator did
  // not write. The error detail names the masked network so the fix is obvious.
  // An IPv4-mapped network with prefix >= 96 (::ffff:10.0.0.0/104) becomes the IPv4 network
  // (10.0.0.0/8), matching the address normalisation. Other IPv6 networks never contain an
  // IPv4 address, even "::/0": list "0.0.0.0/0" to mean every IPv4 address.
  // Errors: kInvalidArgument; the detail quotes the configured text (not secret).
  static Result<Cidr> Parse(std::string_view text);

  const IpAddress& network() const { return network_; }
  int prefix_length() const { return prefix_length_; }
  bool Contains(const IpAddress& address) const;

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  Cidr(IpAddress network, int prefix_length) : network_(network), prefix_length_(prefix_length) {}

  IpAddress network_;
  int prefix_length_;
};

// Canonical "address/prefix".
std::string ToString(const Cidr& cidr);

// A set of networks, answering Contains() in O(log n): the networks are merged into sorted,
// disjoint address ranges per family and searched by binary search. Built once (from the
// configuration), read on every request; immutable, so shareable between threads.
class CidrSet {
 public:
  CidrSet() = default;  // Empty: contains nothing.
  explicit CidrSet(std::span<const Cidr> networks);

  // Parses every entry with Cidr::Parse; the first bad entry fails the whole set, so a typo
  // in a trusted-proxy list stops the start instead of trusting less (or more) than written.
  static Result<CidrSet> Parse(std::span<const std::string> texts);

  bool Contains(const IpAddress& address) const;
  bool empty() const { return v4_.empty() && v6_.empty(); }

 private:
  // An inclusive range [first, last] of addresses as 128-bit numbers (hi, lo).
  struct Range {
    std::uint64_t first_hi, first_lo, last_hi, last_lo;
  };

  std::vector<Range> v4_;
  std::vector<Range> v6_;
};

// Which forwarding header the trusted proxies write. Exactly one is read, never both, and
// it is chosen by configuration, not by which header a request happens to carry: a proxy
// that appends to X-Forwarded-For passes a client's own `Forwarded` header through
// untouched (and the other way round), so "use Forwarded when present" would let any client
// name its own address by sending the header the proxy does not manage.
enum class ForwardedHeader : std::uint8_t {
  kXForwardedFor,  // X-Forwarded-For: nginx, HAProxy, Envoy, Traefik, cloud load balancers.
  kForwarded,      // RFC 7239 Forwarded, `for=` parameters.
};

// Hard caps on the walk. The work per request is bounded by kMaxForwardedHops elements of
// at most kMaxForwardedElementLength bytes each, however long the header is: elements are
// found by scanning from the right, so padding on the (attacker-written) left is never read.
inline constexpr int kMaxForwardedHops = 32;
inline constexpr std::size_t kMaxForwardedElementLength = 256;

// How the client address was decided; for counters and tests.
enum class ClientIpSource : std::uint8_t {
  kPeerUntrusted,   // The peer is not a trusted proxy: headers were not read.
  kPeerUnparsable,  // The peer string is not an IP address: returned as given.
  kNoForwarding,    // The peer is trusted but sent no forwarding element: the peer.
  kUntrustedHop,    // The first untrusted hop from the right (the normal proxied case).
  kAllTrusted,      // Every hop is trusted: the leftmost.
  kMalformedHop,    // A malformed or obfuscated hop stopped the walk: the hop right of it.
  kHopLimit,        // kMaxForwardedHops trusted hops examined: the leftmost examined.
};

struct ClientIp {
  std::string ip;  // Canonical text (see ToString), or the raw peer for kPeerUnparsable.
  ClientIpSource source;
  // The address `ip` names, so that callers need not parse the text again; nullopt exactly
  // for kPeerUnparsable. ParseIp(ip) == address always holds.
  std::optional<IpAddress> address;
};

// Resolves the client address of `request` that arrived from `peer` (the socket's remote
// address as text). `trusted` is the trusted-proxy set; `header` selects the forwarding
// header (see ForwardedHeader). All field lines of that header are read, in order, as one
// comma-separated list (RFC 9110 section 5.3).
//
// The walk, right to left from the peer:
//  - An empty list element is skipped (RFC 9110 section 5.6.1.2: recipients ignore empty
//    elements); it claims no address, so skipping it cannot promote anything.
//  - A trusted address is a proxy of ours: keep walking.
//  - The first untrusted address is the client.
//  - A malformed element stops the walk and the answer is the last address known good: the
//    trusted hop right of it, or the peer. Everything right of it was written by our
//    proxies, so the malformed value is what one of them said about its own peer, or a
//    broken proxy; skipping it would instead believe the next value to its left, which the
//    unknown sender wrote and an attacker controls. Answering with our own proxy's address
//    is the conservative choice: it cannot be chosen by the client. "unknown" and
//    obfuscated identifiers ("_hidden", RFC 7239 section 6.3) are handled the same way: they
//    name no address we could rate-limit or block.
//  - If every hop is trusted, the leftmost is the client (a request from inside).
//  - After kMaxForwardedHops elements the walk stops at the leftmost one examined.
// Element forms accepted:
//  - X-Forwarded-For: an address, optionally with a port as some proxies (IIS ARR, Azure
//    Application Gateway) write it: "192.0.2.1", "192.0.2.1:8080", "2001:db8::1",
//    "[2001:db8::1]", "[2001:db8::1]:8080". The port is dropped; the address is still parsed
//    strictly, so accepting it gives an attacker nothing.
//  - Forwarded: `for=` per element (RFC 7239 section 4: parameter names case-insensitive,
//    each at most once, token or quoted-string values; IPv6 and ports only quoted, as the
//    RFC requires: for="[2001:db8::1]:4711"). An element without `for=` is malformed.
//  - Anything longer than kMaxForwardedElementLength is malformed.
std::string ResolveClientIp(std::string_view peer, const http::Request& request,
                            const CidrSet& trusted,
                            ForwardedHeader header = ForwardedHeader::kXForwardedFor);

// The same, saying how the answer was reached.
ClientIp ResolveClient(std::string_view peer, const http::Request& request, const CidrSet& trusted,
                       ForwardedHeader header = ForwardedHeader::kXForwardedFor);

}  // namespace gatehouse::protect
