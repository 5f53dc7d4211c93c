#include "protect/client_ip.h"

#include <algorithm>
#include <utility>

namespace gatehouse::protect {
namespace {

// The longest IPv6 text: eight 4-digit groups with a dotted IPv4 tail.
constexpr std::size_t kMaxAddressLength = 45;

// The IPv4-mapped prefix ::ffff:0:0/96 as the upper 96 bits of an address.
constexpr std::uint64_t kMappedLoPrefix = 0x0000'ffff'0000'0000ULL;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decimal digits only, no sign, no leading zero (except "0" itself), at most `max`.
std::optional<unsigned> ParseDecimal(std::string_view text, std::size_t max_digits,
                                     unsigned max_value) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  unsigned value = 0;
  for (const char c : text) {
    if (!IsDigit(c)) return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max_value) return std::nullopt;
  return value;
}

// One pass over the text: this runs for the peer of every request.
std::optional<std::uint32_t> ParseIpv4(std::string_view text) {
  std::uint32_t value = 0;
  std::size_t i = 0;
  for (int octet_index = 0; octet_index < 4; ++octet_index) {
    if (octet_index > 0) {
      if (i == text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
    // 1..3 digits, at most 255; a leading zero only as "0" itself (see ParseIp in the header
    // for why leading zeros are refused).
    const std::size_t start = i;
    unsigned octet = 0;
    while (i < text.size() && IsDigit(text[i]) && i - start < 3) {
      octet = octet * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    const std::size_t digits = i - start;
    if (digits == 0 || octet > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
    value = value << 8 | octet;
  }
  if (i != text.size()) return std::nullopt;
  return value;
}

// Parses ':'-separated hex groups (RFC 4291 section 2.2) into `groups`, appending. When
// `allow_ipv4_tail`, the last part may be dotted IPv4 and counts as two groups. An empty
// `text` is zero groups.
bool ParseGroups(std::string_view text, bool allow_ipv4_tail, std::vector<std::uint16_t>& groups) {
  if (text.empty()) return true;
  while (true) {
    const std::size_t colon = text.find(':');
    const std::string_view part = text.substr(0, colon);
    if (colon == std::string_view::npos && allow_ipv4_tail &&
        part.find('.') != std::string_view::npos) {
      const auto v4 = ParseIpv4(part);
      if (!v4) return false;
      groups.push_back(static_cast<std::uint16_t>(*v4 >> 16));
      groups.push_back(static_cast<std::uint16_t>(*v4 & 0xffff));
      return true;
    }
    if (part.empty() || part.size() > 4) return false;
    unsigned group = 0;
    for (const char c : part) {
      const int v = HexValue(c);
      if (v < 0) return false;
      group = group << 4 | static_cast<unsigned>(v);
    }
    groups.push_back(static_cast<std::uint16_t>(group));
    if (colon == std::string_view::npos) return true;
    text = text.substr(colon + 1);
  }
}

struct RawAddress {
  bool v6_text;  // Written in IPv6 notation (so not yet normalised).
  std::uint64_t hi;
  std::uint64_t lo;
};

// Parses without normalising, so that Cidr::Parse can tell "::ffff:10.0.0.0/104" from
// "10.0.0.0/8".
std::optional<RawAddress> ParseRaw(std::string_view text) {
  if (text.empty() || text.size() > kMaxAddressLength) return std::nullopt;

  if (text.find(':') == std::string_view::npos) {
    const auto v4 = ParseIpv4(text);
    if (!v4) return std::nullopt;
    return RawAddress{false, 0, *v4};
  }

  // At most one "::", standing for one or more zero groups.
  std::vector<std::uint16_t> head;
  std::vector<std::uint16_t> tail;
  head.reserve(8);
  tail.reserve(8);
  const std::size_t gap = text.find("::");
  if (gap == std::string_view::npos) {
    if (!ParseGroups(text, true, head) || head.size() != 8) return std::nullopt;
  } else {
    if (!ParseGroups(text.substr(0, gap), false, head)) return std::nullopt;
    if (!ParseGroups(text.substr(gap + 2), true, tail)) return std::nullopt;
    if (head.size() + tail.size() > 7) return std::nullopt;
    head.resize(8 - tail.size(), 0);
    head.insert(head.end(), tail.begin(), tail.end());
  }

  RawAddress raw{true, 0, 0};
  for (int i = 0; i < 4; ++i) raw.hi = raw.hi << 16 | head[i];
  for (int i = 4; i < 8; ++i) raw.lo = raw.lo << 16 | head[i];
  return raw;
}

IpAddress Normalise(const RawAddress& raw) {
  if (!raw.v6_text) return IpAddress::V4(static_cast<std::uint32_t>(raw.lo));
  std::array<std::uint8_t, 16> bytes;
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<std::uint8_t>(raw.hi >> (56 - 8 * i));
    bytes[8 + i] = static_cast<std::uint8_t>(raw.lo >> (56 - 8 * i));
  }
  return IpAddress::V6(bytes);
}

// 128-bit helpers on (hi, lo) pairs.
struct U128 {
  std::uint64_t hi;
  std::uint64_t lo;
  friend auto operator<=>(const U128&, const U128&) = default;
};

// The mask of the low `bits` bits (0..128).
U128 LowMask(int bits) {
  if (bits <= 0) return {0, 0};
  if (bits >= 128) return {~0ULL, ~0ULL};
  if (bits >= 64) return {bits == 64 ? 0 : ~0ULL >> (128 - bits), ~0ULL};
  return {0, ~0ULL >> (64 - bits)};
}

U128 Value(const IpAddress& a) { return {a.hi(), a.lo()}; }

int FamilyBits(IpAddress::Family family) { return family == IpAddress::Family::kV4 ? 32 : 128; }

IpAddress FromValue(IpAddress::Family family, U128 v) {
  if (family == IpAddress::Family::kV4) return IpAddress::V4(static_cast<std::uint32_t>(v.lo));
  std::array<std::uint8_t, 16> bytes;
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<std::uint8_t>(v.hi >> (56 - 8 * i));
    bytes[8 + i] = static_cast<std::uint8_t>(v.lo >> (56 - 8 * i));
  }
  return IpAddress::V6(bytes);
}

// ---- The forwarding walk -------------------------------------------------------------------

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 section 5.6.2 tchar.
bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (const char c : port) {
    if (!IsDigit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

// RFC 7239 section 6.3 obfport / obfnode body: "_" 1*( ALPHA / DIGIT / "." / "_" / "-" ).
bool IsObfuscated(std::string_view s) {
  if (s.size() < 2 || s[0] != '_') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '.' || c == '_' ||
           c == '-';
  });
}

// "[v6]" with an optional ":port" after it; `port_ok` says which port forms are allowed.
template <typename PortCheck>
std::optional<IpAddress> ParseBracketed(std::string_view s, PortCheck port_ok) {
  const std::size_t close = s.find(']');
  if (s.empty() || s[0] != '[' || close == std::string_view::npos) return std::nullopt;
  const std::string_view inner = s.substr(1, close - 1);
  const std::string_view rest = s.substr(close + 1);
  // Brackets belong to IPv6 only (RFC 3986 section 3.2.2).
  if (inner.find(':') == std::string_view::npos) return std::nullopt;
  if (!rest.empty() && (rest[0] != ':' || !port_ok(rest.substr(1)))) return std::nullopt;
  return ParseIp(inner);
}

// One X-Forwarded-For element (already trimmed, non-empty). See ResolveClientIp for forms.
std::optional<IpAddress> ParseXffElement(std::string_view s) {
  if (s.front() == '[') return ParseBracketed(s, IsValidPort);
  const std::size_t colon = s.find(':');
  if (colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    // One colon: IPv4 with a port. (Bare IPv6 has at least two.)
    if (!IsValidPort(s.substr(colon + 1))) return std::nullopt;
    const auto address = ParseIp(s.substr(0, colon));
    if (!address || !address->is_v4()) return std::nullopt;
    return address;
  }
  return ParseIp(s);
}

// RFC 7239 section 6 node: nodename [ ":" node-port ]. "unknown" and obfuscated names give
// no address (nullopt), like a malformed node.
std::optional<IpAddress> ParseForwardedNode(std::string_view node) {
  const auto port_ok = [](std::string_view p) { return IsValidPort(p) || IsObfuscated(p); };
  if (!node.empty() && node.front() == '[') return ParseBracketed(node, port_ok);
  const std::size_t colon = node.find(':');
  const std::string_view name = node.substr(0, colon);
  if (colon != std::string_view::npos && !port_ok(node.substr(colon + 1))) return std::nullopt;
  const auto address = ParseIp(name);
  if (!address || !address->is_v4()) return std::nullopt;
  return address;
}

// One Forwarded element (RFC 7239 section 4): pairs separated by ';', each token "=" (token
// / quoted-string). Returns the `for=` address, or nullopt when the element is malformed,
// lacks `for`, repeats a parameter, or names no address.
std::optional<IpAddress> ParseForwardedElement(std::string_view s) {
  std::optional<std::string> for_value;
  std::vector<std::string> seen;
  std::size_t i = 0;
  while (i <= s.size()) {
    // Skip OWS and empty pairs (the grammar allows ";;"; senders add spaces around ';').
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ';')) ++i;
    if (i == s.size()) break;

    const std::size_t name_start = i;
    while (i < s.size() && IsTchar(s[i])) ++i;
    if (i == name_start || i == s.size() || s[i] != '=') return std::nullopt;
    std::string name(s.substr(name_start, i - name_start));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
    ++i;  // '='

    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\') {
          if (i + 1 == s.size()) return std::nullopt;
          const auto escaped = static_cast<unsigned char>(s[i + 1]);
          if (escaped < 0x20 && escaped != '\t') return std::nullopt;
          if (escaped == 0x7f) return std::nullopt;
          value.push_back(static_cast<char>(escaped));
          i += 2;
          continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) return std::nullopt;
        value.push_back(static_cast<char>(c));
        ++i;
      }
      if (!closed) return std::nullopt;
    } else {
      const std::size_t value_start = i;
      while (i < s.size() && IsTchar(s[i])) ++i;
      if (i == value_start) return std::nullopt;
      value.assign(s.substr(value_start, i - value_start));
    }

    // RFC 7239 section 4: each parameter at most once per element.
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) return std::nullopt;
    if (name == "for") for_value = value;
    seen.push_back(std::move(name));

    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i < s.size() && s[i] != ';') return std::nullopt;
  }
  if (!for_value) return std::nullopt;
  return ParseForwardedNode(*for_value);
}

// Finds the start of the element that ends at `end` in `line`, scanning left. In Forwarded,
// commas inside quoted strings do not split. Scanning from the right means the elements our
// proxies appended are found without reading anything the client wrote to their left.
// Returns npos when the element is longer than the cap or its quotes do not balance.
std::size_t ElementStart(std::string_view line, std::size_t end, bool quoted_strings) {
  bool in_quote = false;
  std::size_t i = end;
  while (i > 0) {
    const char c = line[i - 1];
    if (!in_quote && c == ',') break;
    if (end - (i - 1) > kMaxForwardedElementLength) return std::string_view::npos;
    if (quoted_strings && c == '"') {
      // Inside a quoted string, a quote preceded by an odd run of backslashes is escaped.
      std::size_t backslashes = 0;
      while (i - 1 > backslashes && line[i - 2 - backslashes] == '\\') ++backslashes;
      if (!(in_quote && backslashes % 2 == 1)) in_quote = !in_quote;
    }
    --i;
  }
  if (in_quote) return std::string_view::npos;
  return i;
}

// The answer naming `address` as the client.
ClientIp Answer(const IpAddress& address, ClientIpSource source) {
  return {ToString(address), source, address};
}

}  // namespace

IpAddress IpAddress::V4(std::uint32_t host_order) { return {Family::kV4, 0, host_order}; }

IpAddress IpAddress::V6(const std::array<std::uint8_t, 16>& bytes) {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  for (int i = 0; i < 8; ++i) {
    hi = hi << 8 | bytes[i];
    lo = lo << 8 | bytes[8 + i];
  }
  // ::ffff:a.b.c.d is the IPv4 client a.b.c.d (RFC 4291 section 2.5.5.2).
  if (hi == 0 && (lo & 0xffff'ffff'0000'0000ULL) == kMappedLoPrefix) {
    return V4(static_cast<std::uint32_t>(lo));
  }
  return {Family::kV6, hi, lo};
}

std::array<std::uint8_t, 16> IpAddress::v6_bytes() const {
  std::array<std::uint8_t, 16> bytes;
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<std::uint8_t>(hi_ >> (56 - 8 * i));
    bytes[8 + i] = static_cast<std::uint8_t>(lo_ >> (56 - 8 * i));
  }
  return bytes;
}

std::optional<IpAddress> ParseIp(std::string_view text) {
  const auto raw = ParseRaw(text);
  if (!raw) return std::nullopt;
  return Normalise(*raw);
}

std::string ToString(const IpAddress& address) {
  if (address.is_v4()) {
    // Written into one buffer: the text of every request's client address comes from here.
    char text[16];
    char* out = text;
    const std::uint32_t v = address.v4();
    for (int shift = 24; shift >= 0; shift -= 8) {
      const unsigned octet = v >> shift & 0xff;
      if (octet >= 100) *out++ = static_cast<char>('0' + octet / 100);
      if (octet >= 10) *out++ = static_cast<char>('0' + octet / 10 % 10);
      *out++ = static_cast<char>('0' + octet % 10);
      if (shift > 0) *out++ = '.';
    }
    return std::string(text, out);
  }

  std::array<unsigned, 8> groups;
  for (int i = 0; i < 4; ++i) {
    groups[i] = static_cast<unsigned>(address.hi() >> (48 - 16 * i) & 0xffff);
    groups[4 + i] = static_cast<unsigned>(address.lo() >> (48 - 16 * i) & 0xffff);
  }

  // RFC 5952 section 4.2: shorten the longest run of two or more zero groups, the first one
  // when two runs tie; a single zero group stays "0".
  int best_start = -1;
  int best_length = 1;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_length) {
      best_start = i;
      best_length = j - i;
    }
    i = j;
  }

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(39);
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_length - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    // RFC 5952 section 4.1: no leading zeros; section 4.3: lowercase.
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nibble = groups[i] >> shift & 0xf;
      if (nibble == 0 && !started && shift != 0) continue;
      started = true;
      out += kHex[nibble];
    }
  }
  return out;
}

Result<Cidr> Cidr::Parse(std::string_view text) {
  const auto invalid = [&](std::string_view why) {
    return InvalidArgument("invalid network",
                           "network \"" + std::string(text) + "\": " + std::string(why));
  };

  const std::size_t slash = text.find('/');
  const auto raw = ParseRaw(text.substr(0, slash));
  if (!raw) return invalid("not an IPv4 or IPv6 address");
  const int written_bits = raw->v6_text ? 128 : 32;

  int prefix = written_bits;
  if (slash != std::string_view::npos) {
    const auto parsed =
        ParseDecimal(text.substr(slash + 1), 3, static_cast<unsigned>(written_bits));
    if (!parsed) {
      return invalid("prefix length must be a number from 0 to " + std::to_string(written_bits));
    }
    prefix = static_cast<int>(*parsed);
  }

  // Host bits set: refuse and say what the masked network would be (see the header).
  const U128 host = LowMask(written_bits - prefix);
  const U128 value{raw->hi, raw->lo};
  if ((value.hi & host.hi) != 0 || (value.lo & host.lo) != 0) {
    const U128 masked{value.hi & ~host.hi, value.lo & ~host.lo};
    const IpAddress shown =
        FromValue(raw->v6_text ? IpAddress::Family::kV6 : IpAddress::Family::kV4, masked);
    // A masked network inside ::ffff:0:0/96 prints as IPv4; show it the way it was written.
    const std::string suggestion =
        (raw->v6_text && shown.is_v4() ? "::ffff:" : "") + ToString(shown);
    return invalid("host bits are set; did you mean " + suggestion + "/" + std::to_string(prefix) +
                   "?");
  }

  const IpAddress address = Normalise(*raw);
  if (raw->v6_text && address.is_v4()) {
    // ::ffff:a.b.c.d/n with n >= 96 (smaller n would have had host bits set above).
    return Cidr(address, prefix - 96);
  }
  return Cidr(address, prefix);
}

bool Cidr::Contains(const IpAddress& address) const {
  if (address.family() != network_.family()) return false;
  const U128 host = LowMask(FamilyBits(network_.family()) - prefix_length_);
  return (address.hi() & ~host.hi) == network_.hi() && (address.lo() & ~host.lo) == network_.lo();
}

std::string ToString(const Cidr& cidr) {
  return ToString(cidr.network()) + "/" + std::to_string(cidr.prefix_length());
}

CidrSet::CidrSet(std::span<const Cidr> networks) {
  for (const Cidr& cidr : networks) {
    const IpAddress& n = cidr.network();
    const U128 host = LowMask(FamilyBits(n.family()) - cidr.prefix_length());
    const Range range{n.hi(), n.lo(), n.hi() | host.hi, n.lo() | host.lo};
    (n.is_v4() ? v4_ : v6_).push_back(range);
  }

  // Sort by first address and merge overlapping or adjacent ranges, so that Contains() needs
  // one binary search and the vectors stay as small as the configuration allows.
  for (std::vector<Range>* ranges : {&v4_, &v6_}) {
    std::sort(ranges->begin(), ranges->end(), [](const Range& a, const Range& b) {
      return U128{a.first_hi, a.first_lo} < U128{b.first_hi, b.first_lo};
    });
    std::vector<Range> merged;
    for (const Range& r : *ranges) {
      if (!merged.empty()) {
        Range& last = merged.back();
        const U128 last_end{last.last_hi, last.last_lo};
        const bool at_max = last_end == U128{~0ULL, ~0ULL};
        const U128 next =
            last_end.lo == ~0ULL ? U128{last_end.hi + 1, 0} : U128{last_end.hi, last_end.lo + 1};
        if (at_max || U128{r.first_hi, r.first_lo} <= next) {
          if (U128{r.last_hi, r.last_lo} > last_end) {
            last.last_hi = r.last_hi;
            last.last_lo = r.last_lo;
          }
          continue;
        }
      }
      merged.push_back(r);
    }
    *ranges = std::move(merged);
  }
}

Result<CidrSet> CidrSet::Parse(std::span<const std::string> texts) {
  std::vector<Cidr> networks;
  networks.reserve(texts.size());
  for (const std::string& text : texts) {
    auto cidr = Cidr::Parse(text);
    if (!cidr.ok()) return std::move(cidr).error();
    networks.push_back(*cidr);
  }
  return CidrSet(networks);
}

bool CidrSet::Contains(const IpAddress& address) const {
  const std::vector<Range>& ranges = address.is_v4() ? v4_ : v6_;
  const U128 a = Value(address);
  // The last range starting at or before `a` is the only one that can hold it.
  auto it = std::upper_bound(ranges.begin(), ranges.end(), a, [](const U128& v, const Range& r) {
    return v < U128{r.first_hi, r.first_lo};
  });
  if (it == ranges.begin()) return false;
  --it;
  return a <= U128{it->last_hi, it->last_lo};
}

ClientIp ResolveClient(std::string_view peer, const http::Request& request, const CidrSet& trusted,
                       ForwardedHeader header) {
  const auto peer_address = ParseIp(peer);
  if (!peer_address) return {std::string(peer), ClientIpSource::kPeerUnparsable, std::nullopt};

  // An untrusted peer is the client whatever its headers claim: anyone can send them.
  if (!trusted.Contains(*peer_address)) {
    return Answer(*peer_address, ClientIpSource::kPeerUntrusted);
  }

  const bool forwarded = header == ForwardedHeader::kForwarded;
  const std::string_view name = forwarded ? "Forwarded" : "X-Forwarded-For";
  IpAddress last_good = *peer_address;
  bool moved = false;  // last_good came from the header, not the peer.
  int examined = 0;

  // Field lines from last to first, elements within a line from right to left: together the
  // list "all lines joined with commas" read from its right end (RFC 9110 section 5.3).
  for (auto line_it = request.headers.rbegin(); line_it != request.headers.rend(); ++line_it) {
    if (!http::EqualsIgnoreCase(line_it->name, name)) continue;
    const std::string_view line = line_it->value;
    std::size_t end = line.size();
    while (true) {
      if (examined == kMaxForwardedHops) {
        return Answer(last_good, ClientIpSource::kHopLimit);
      }
      ++examined;

      const std::size_t start = ElementStart(line, end, forwarded);
      if (start == std::string_view::npos) {
        return Answer(last_good, ClientIpSource::kMalformedHop);
      }
      const std::string_view element = TrimOws(line.substr(start, end - start));
      if (!element.empty()) {
        const auto hop = forwarded ? ParseForwardedElement(element) : ParseXffElement(element);
        if (!hop) return Answer(last_good, ClientIpSource::kMalformedHop);
        if (!trusted.Contains(*hop)) return Answer(*hop, ClientIpSource::kUntrustedHop);
        last_good = *hop;
        moved = true;
      }

      if (start == 0) break;
      end = start - 1;  // Before the comma.
    }
  }

  return Answer(last_good, moved ? ClientIpSource::kAllTrusted : ClientIpSource::kNoForwarding);
}

std::string ResolveClientIp(std::string_view peer, const http::Request& request,
                            const CidrSet& trusted, ForwardedHeader header) {
  return ResolveClient(peer, request, trusted, header).ip;
}

}  // namespace gatehouse::protect
