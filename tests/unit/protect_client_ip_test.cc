#include "protect/client_ip.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace gatehouse::protect {
namespace {

using namespace std::string_literals;

std::string Canonical(std::string_view text) {
  const auto address = ParseIp(text);
  return address ? ToString(*address) : "<invalid>";
}

CidrSet Set(std::vector<std::string> texts) {
  auto set = CidrSet::Parse(texts);
  EXPECT_TRUE(set.ok()) << (set.ok() ? "" : set.error().detail());
  return set.ok() ? *set : CidrSet();
}

http::Request WithHeaders(std::vector<std::pair<std::string, std::string>> headers) {
  http::Request request;
  for (auto& [name, value] : headers) request.headers.push_back({name, value});
  return request;
}

http::Request Xff(std::string value) { return WithHeaders({{"X-Forwarded-For", value}}); }
http::Request Fwd(std::string value) { return WithHeaders({{"Forwarded", value}}); }

// Trusted: the private 10/8 range, one IPv6 proxy network and a single host.
const CidrSet& Proxies() {
  static const CidrSet set = Set({"10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.7"});
  return set;
}

// ---- ParseIp / ToString ---------------------------------------------------------------------

TEST(ParseIp, CanonicalTextTable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0.0.0.0", "0.0.0.0"},
      {"255.255.255.255", "255.255.255.255"},
      {"192.0.2.1", "192.0.2.1"},
      {"::", "::"},
      {"::1", "::1"},
      {"1::", "1::"},
      {"2001:DB8::1", "2001:db8::1"},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      // RFC 5952 section 4.2.2: a single zero group is not shortened.
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      // Section 4.2.3: the first of two equally long runs.
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
      // Section 4.2.1: the longest run.
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
      {"fe80::", "fe80::"},
      {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
      {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
      {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
      {"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
      // IPv4-compatible (deprecated) stays IPv6; only the mapped range is IPv4.
      {"::192.0.2.1", "::c000:201"},
      // IPv4-mapped, in every spelling, is the IPv4 address.
      {"::ffff:192.0.2.1", "192.0.2.1"},
      {"::FFFF:192.0.2.1", "192.0.2.1"},
      {"::ffff:c000:201", "192.0.2.1"},
      {"0:0:0:0:0:ffff:192.0.2.1", "192.0.2.1"},
      {"::ffff:0.0.0.0", "0.0.0.0"},
      // Neighbours of the mapped range stay IPv6.
      {"::fffe:c000:201", "::fffe:c000:201"},
      {"1::ffff:c000:201", "1::ffff:c000:201"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
  };
  for (const auto& [input, expected] : cases) {
    SCOPED_TRACE(input);
    EXPECT_EQ(Canonical(input), expected);
  }
}

TEST(ParseIp, RejectsTable) {
  const std::vector<std::string> rejected = {
      "",
      " 192.0.2.1",
      "192.0.2.1 ",
      "192.0.2",
      "192.0.2.1.5",
      "192.0.2.256",
      "192.0.2.-1",
      "192.0.2.+1",
      "192..2.1",
      "192.0.2.",
      ".192.0.2",
      "010.0.0.1",  // Octal to inet_aton(): ambiguous.
      "10.0.0.01",
      "10.0.0.00",
      "0x7f.0.0.1",
      "1234.0.0.1",
      "4294967295",  // A bare number is not an address here.
      "192.0.2.1:80",
      "[::1]",
      "fe80::1%eth0",  // Zone ids name the sender's interface.
      "fe80::1%25eth0",
      ":",
      ":::",
      "::1::",
      "1::2::3",
      ":1::",
      "1::2:",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::",
      "::192.0.2.1.1",
      "::ffff:010.0.0.1",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "1:2:3:4:5:6:7:1.2.3.4",
      "00000::1",
      "0000:0000:0000:0000:0000:ffff:255.255.255.255:",  // 46 characters.
      "192.0.2.1\0"s,
      "caf\xC3\xA9::1",
  };
  for (const std::string& text : rejected) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(ParseIp(text).has_value());
  }
}

TEST(ParseIp, MappedAndPlainIpv4AreEqual) {
  EXPECT_EQ(*ParseIp("::ffff:10.1.2.3"), *ParseIp("10.1.2.3"));
  EXPECT_TRUE(ParseIp("::ffff:10.1.2.3")->is_v4());
  EXPECT_EQ(ParseIp("10.1.2.3")->v4(), 0x0a010203u);
}

TEST(ParseIp, LongestValidTextIsAccepted) {
  const std::string longest = "0000:0000:0000:0000:0000:0000:255.255.255.255";
  ASSERT_EQ(longest.size(), 45u);
  EXPECT_EQ(Canonical(longest), "::ffff:ffff");
}

// ---- Cidr -----------------------------------------------------------------------------------

TEST(Cidr, ParsesTable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"192.0.2.7", "192.0.2.7/32"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"192.0.2.7/32", "192.0.2.7/32"},
      {"::1", "::1/128"},
      {"::1/128", "::1/128"},
      {"::/0", "::/0"},
      {"2001:DB8::/32", "2001:db8::/32"},
      {"fe80::/10", "fe80::/10"},
      // Mapped networks become IPv4 networks.
      {"::ffff:10.0.0.0/104", "10.0.0.0/8"},
      {"::ffff:0:0/96", "0.0.0.0/0"},
      {"::ffff:192.0.2.7", "192.0.2.7/32"},
  };
  for (const auto& [input, expected] : cases) {
    SCOPED_TRACE(input);
    const auto cidr = Cidr::Parse(input);
    ASSERT_TRUE(cidr.ok()) << cidr.error().detail();
    EXPECT_EQ(ToString(*cidr), expected);
  }
}

TEST(Cidr, RejectsTable) {
  const std::vector<std::string> rejected = {
      "",
      "/8",
      "10.0.0.0/",
      "10.0.0.0/33",
      "10.0.0.0/-1",
      "10.0.0.0/+8",
      "10.0.0.0/08",
      "10.0.0.0/8 ",
      "10.0.0.0/8/8",
      "10.0.0.0/1000",
      "10.0.0.0/x",
      "::/129",
      "010.0.0.0/8",
      "fe80::%eth0/64",
      "garbage",
      "10.0.0.0\0/8"s,
      // Host bits set.
      "10.0.0.1/8",
      "192.0.2.7/31",
      "2001:db8::1/32",
      "::ffff:10.0.0.0/80",
      "::ffff:10.0.0.1/104",
  };
  for (const std::string& text : rejected) {
    SCOPED_TRACE(text);
    const auto cidr = Cidr::Parse(text);
    ASSERT_FALSE(cidr.ok());
    EXPECT_EQ(cidr.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(Cidr, HostBitsErrorSuggestsTheNetwork) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"10.0.0.1/8", "did you mean 10.0.0.0/8?"},
      {"2001:db8::1/32", "did you mean 2001:db8::/32?"},
      {"::ffff:10.0.0.1/104", "did you mean ::ffff:10.0.0.0/104?"},
  };
  for (const auto& [input, suggestion] : cases) {
    SCOPED_TRACE(input);
    const auto cidr = Cidr::Parse(input);
    ASSERT_FALSE(cidr.ok());
    EXPECT_NE(cidr.error().detail().find(suggestion), std::string::npos) << cidr.error().detail();
  }
}

TEST(Cidr, ContainsRespectsPrefixAndFamily) {
  const auto net = Cidr::Parse("10.0.0.0/8");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->Contains(*ParseIp("10.0.0.0")));
  EXPECT_TRUE(net->Contains(*ParseIp("10.255.255.255")));
  EXPECT_TRUE(net->Contains(*ParseIp("::ffff:10.1.1.1")));
  EXPECT_FALSE(net->Contains(*ParseIp("11.0.0.0")));
  EXPECT_FALSE(net->Contains(*ParseIp("9.255.255.255")));
  EXPECT_FALSE(net->Contains(*ParseIp("::a00:1")));

  // An IPv6 network, even ::/0, never holds an IPv4 (or IPv4-mapped) address.
  const auto all6 = Cidr::Parse("::/0");
  ASSERT_TRUE(all6.ok());
  EXPECT_TRUE(all6->Contains(*ParseIp("2001:db8::1")));
  EXPECT_FALSE(all6->Contains(*ParseIp("::ffff:10.1.1.1")));
}

// ---- CidrSet --------------------------------------------------------------------------------

TEST(CidrSet, EmptyContainsNothing) {
  const CidrSet empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.Contains(*ParseIp("127.0.0.1")));
  EXPECT_FALSE(empty.Contains(*ParseIp("::1")));
}

TEST(CidrSet, ContainsTable) {
  // Overlapping, adjacent, nested and unsorted networks, merged into ranges.
  const CidrSet set = Set({"192.168.1.0/24", "10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/24",
                           "172.16.0.5", "2001:db8::/64", "2001:db8:0:1::/64", "::1",
                           "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"});
  const std::vector<std::pair<std::string, bool>> cases = {
      {"10.0.0.0", true},
      {"10.200.3.4", true},
      {"9.255.255.255", false},
      {"11.0.0.0", false},
      {"192.168.0.0", true},
      {"192.168.1.255", true},
      {"192.168.2.0", false},
      {"192.167.255.255", false},
      {"172.16.0.5", true},
      {"172.16.0.4", false},
      {"172.16.0.6", false},
      {"255.255.255.255", true},
      {"255.255.255.254", false},
      {"0.0.0.0", false},
      {"2001:db8::", true},
      {"2001:db8:0:1:ffff:ffff:ffff:ffff", true},
      {"2001:db8:0:2::", false},
      {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
      {"::1", true},
      {"::2", false},
      {"::", false},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff", false},
      {"::ffff:192.168.1.1", true},  // Mapped: matched as IPv4.
      {"::c0a8:101", false},         // IPv4-compatible: IPv6, not matched.
  };
  for (const auto& [ip, expected] : cases) {
    SCOPED_TRACE(ip);
    EXPECT_EQ(set.Contains(*ParseIp(ip)), expected);
  }
}

TEST(CidrSet, EverythingNetworks) {
  const CidrSet set = Set({"0.0.0.0/0", "::/0"});
  EXPECT_TRUE(set.Contains(*ParseIp("0.0.0.0")));
  EXPECT_TRUE(set.Contains(*ParseIp("255.255.255.255")));
  EXPECT_TRUE(set.Contains(*ParseIp("::")));
  EXPECT_TRUE(set.Contains(*ParseIp("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
}

TEST(CidrSet, OneBadEntryFailsTheSet) {
  const std::vector<std::string> texts = {"10.0.0.0/8", "10.0.0.1/8"};
  const auto set = CidrSet::Parse(texts);
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.error().detail().find("10.0.0.1/8"), std::string::npos);
}

TEST(ParseIp, Ipv4OctetBoundaries) {
  EXPECT_EQ(Canonical("0.0.0.0"), "0.0.0.0");
  EXPECT_EQ(Canonical("9.10.99.100"), "9.10.99.100");
  EXPECT_EQ(Canonical("255.255.255.255"), "255.255.255.255");
  for (const std::string& text :
       {"256.0.0.0"s, "0.0.0.256"s, "0.0.0.999"s, "00.0.0.0"s, "0.0.0.00"s, "0.0.0.0000"s,
        "1.2.3.4a"s, "a1.2.3.4"s, "1.2.3.4\0"s, "1.2\0.3.4"s, "1.2.3.4.\xff"s, "1.2.3.\xb9"s}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(ParseIp(text).has_value());
  }
}

TEST(ParseIp, Ipv4TextRoundTrips) {
  // Every octet value in every position, written the way ToString writes it.
  for (std::uint32_t octet = 0; octet < 256; ++octet) {
    for (int shift = 0; shift < 32; shift += 8) {
      const IpAddress address = IpAddress::V4(octet << shift | 0x01010101u);
      const std::string text = ToString(address);
      SCOPED_TRACE(text);
      EXPECT_EQ(ParseIp(text), address);
    }
  }
}

// ---- ResolveClient: X-Forwarded-For ---------------------------------------------------------

struct Case {
  std::string name;
  std::string peer;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string expected_ip;
  ClientIpSource expected_source;
};

void RunTable(const std::vector<Case>& cases, const CidrSet& trusted, ForwardedHeader header) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const ClientIp got = ResolveClient(c.peer, WithHeaders(c.headers), trusted, header);
    EXPECT_EQ(got.ip, c.expected_ip);
    EXPECT_EQ(got.source, c.expected_source);
    EXPECT_EQ(ResolveClientIp(c.peer, WithHeaders(c.headers), trusted, header), c.expected_ip);
    // The parsed address travels with the text, so the gate need not parse it again.
    EXPECT_EQ(got.address, ParseIp(got.ip));
    EXPECT_EQ(got.address.has_value(), c.expected_source != ClientIpSource::kPeerUnparsable);
  }
}

TEST(ResolveClient, XForwardedForTable) {
  using S = ClientIpSource;
  const std::string xff = "X-Forwarded-For";
  const std::vector<Case> cases = {
      {"untrusted peer, no header", "203.0.113.5", {}, "203.0.113.5", S::kPeerUntrusted},
      {"spoofed XFF from an untrusted peer is ignored",
       "203.0.113.5",
       {{xff, "1.1.1.1, 10.0.0.1"}},
       "203.0.113.5",
       S::kPeerUntrusted},
      {"untrusted mapped peer is normalised",
       "::ffff:203.0.113.5",
       {{xff, "1.1.1.1"}},
       "203.0.113.5",
       S::kPeerUntrusted},
      {"trusted peer without header", "10.0.0.1", {}, "10.0.0.1", S::kNoForwarding},
      {"trusted peer, empty header", "10.0.0.1", {{xff, ""}}, "10.0.0.1", S::kNoForwarding},
      {"trusted peer, only empty elements",
       "10.0.0.1",
       {{xff, " , ,"}},
       "10.0.0.1",
       S::kNoForwarding},
      {"one proxy", "10.0.0.1", {{xff, "203.0.113.9"}}, "203.0.113.9", S::kUntrustedHop},
      {"client-written values left of the client are ignored",
       "10.0.0.1",
       {{xff, "6.6.6.6, 10.0.0.99, 203.0.113.9"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"several trusted proxies",
       "10.0.0.1",
       {{xff, "6.6.6.6, 203.0.113.9, 192.0.2.7, 10.9.9.9, 2001:db8:ffff::2"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"header name is case-insensitive",
       "10.0.0.1",
       {{"x-forwarded-for", "203.0.113.9"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"field lines are joined in order",
       "10.0.0.1",
       {{xff, "6.6.6.6"}, {"Accept", "*/*"}, {xff, "203.0.113.9, 10.0.0.2"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"walk continues into earlier field lines",
       "10.0.0.1",
       {{xff, "6.6.6.6, 203.0.113.9"}, {xff, "10.0.0.3"}, {xff, "10.0.0.2"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"all hops trusted: the leftmost",
       "10.0.0.1",
       {{xff, "10.0.0.3, 10.0.0.2"}},
       "10.0.0.3",
       S::kAllTrusted},
      {"IPv6 client through an IPv6 proxy",
       "2001:db8:ffff::1",
       {{xff, "2001:DB8:1::0:5"}},
       "2001:db8:1::5",
       S::kUntrustedHop},
      {"IPv6 peer written in full",
       "2001:0db8:ffff:0000:0000:0000:0000:0001",
       {{xff, "203.0.113.9"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"mapped peer matches an IPv4 proxy network",
       "::ffff:10.0.0.1",
       {{xff, "203.0.113.9"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"mapped hop matches an IPv4 proxy network and is skipped",
       "10.0.0.1",
       {{xff, "203.0.113.9, ::ffff:10.0.0.2"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"mapped client is normalised",
       "10.0.0.1",
       {{xff, "::ffff:203.0.113.9"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"IPv4 with a port",
       "10.0.0.1",
       {{xff, "203.0.113.9:4711"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"bracketed IPv6", "10.0.0.1", {{xff, "[2001:db8::9]"}}, "2001:db8::9", S::kUntrustedHop},
      {"bracketed IPv6 with a port",
       "10.0.0.1",
       {{xff, "[2001:db8::9]:443"}},
       "2001:db8::9",
       S::kUntrustedHop},
      {"tabs and spaces around elements",
       "10.0.0.1",
       {{xff, "\t203.0.113.9 \t,  10.0.0.2 "}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"empty elements are skipped",
       "10.0.0.1",
       {{xff, "203.0.113.9,,  , 10.0.0.2,"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"garbage stops the walk at the peer",
       "10.0.0.1",
       {{xff, "6.6.6.6, garbage"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"garbage stops the walk at the hop right of it",
       "10.0.0.1",
       {{xff, "6.6.6.6, not-an-ip, 10.0.0.2"}},
       "10.0.0.2",
       S::kMalformedHop},
      {"garbage left of the client is never read",
       "10.0.0.1",
       {{xff, "garbage, 203.0.113.9, 10.0.0.2"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"unknown is malformed",
       "10.0.0.1",
       {{xff, "6.6.6.6, unknown"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"octal-looking octets are malformed",
       "10.0.0.1",
       {{xff, "6.6.6.6, 010.0.0.1"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"zone id is malformed", "10.0.0.1", {{xff, "fe80::1%eth0"}}, "10.0.0.1", S::kMalformedHop},
      {"bad port is malformed",
       "10.0.0.1",
       {{xff, "203.0.113.9:65536"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"empty port is malformed",
       "10.0.0.1",
       {{xff, "203.0.113.9:"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"bracketed IPv4 is malformed",
       "10.0.0.1",
       {{xff, "[203.0.113.9]"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"unclosed bracket is malformed",
       "10.0.0.1",
       {{xff, "[2001:db8::9"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"an inner space is malformed",
       "10.0.0.1",
       {{xff, "203.0.113 .9"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"a quoted value is malformed",
       "10.0.0.1",
       {{xff, "\"203.0.113.9\""}},
       "10.0.0.1",
       S::kMalformedHop},
      {"NUL is malformed", "10.0.0.1", {{xff, "203.0.113.9\0"s}}, "10.0.0.1", S::kMalformedHop},
      {"an over-long element is malformed",
       "10.0.0.1",
       {{xff, "6.6.6.6, " + std::string(300, ' ') + "203.0.113.9"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"a long left side is not read",
       "10.0.0.1",
       {{xff, std::string(100000, 'x') + ", 203.0.113.9"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"Forwarded is not read in X-Forwarded-For mode",
       "10.0.0.1",
       {{"Forwarded", "for=6.6.6.6"}, {xff, "203.0.113.9"}},
       "203.0.113.9",
       S::kUntrustedHop},
      {"unparsable peer is returned as given and not trusted",
       "unix:/run/gh.sock",
       {{xff, "203.0.113.9"}},
       "unix:/run/gh.sock",
       S::kPeerUnparsable},
  };
  RunTable(cases, Proxies(), ForwardedHeader::kXForwardedFor);
}

TEST(ResolveClient, NothingIsTrustedByDefault) {
  const CidrSet nothing;
  EXPECT_EQ(ResolveClientIp("127.0.0.1", Xff("203.0.113.9"), nothing), "127.0.0.1");
  EXPECT_EQ(ResolveClientIp("::1", Xff("203.0.113.9"), nothing), "::1");
}

TEST(ResolveClient, ThousandHopsStopAtTheCap) {
  // 1000 trusted hops: only kMaxForwardedHops are read; the answer is the leftmost read.
  std::string chain;
  for (int i = 0; i < 1000; ++i) {
    if (i > 0) chain += ", ";
    chain += "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
  }
  const ClientIp got = ResolveClient("10.0.0.1", Xff(chain), Proxies());
  EXPECT_EQ(got.source, ClientIpSource::kHopLimit);
  const int leftmost_read = 1000 - kMaxForwardedHops;
  EXPECT_EQ(got.ip, "10.0." + std::to_string(leftmost_read / 256) + "." +
                        std::to_string(leftmost_read % 256));

  // A client hidden beyond the cap is not found.
  const ClientIp hidden = ResolveClient("10.0.0.1", Xff("203.0.113.9, " + chain), Proxies());
  EXPECT_EQ(hidden.source, ClientIpSource::kHopLimit);
}

TEST(ResolveClient, ThousandUntrustedHopsAnswerTheRightmost) {
  std::string chain;
  for (int i = 0; i < 1000; ++i) chain += "198.51.100." + std::to_string(i % 256) + ", ";
  chain += "203.0.113.9";
  EXPECT_EQ(ResolveClient("10.0.0.1", Xff(chain), Proxies()).ip, "203.0.113.9");
}

TEST(ResolveClient, HopCapBoundary) {
  // Exactly kMaxForwardedHops trusted hops: all read, the leftmost is the client.
  std::string exact;
  for (int i = 0; i < kMaxForwardedHops; ++i) {
    exact += (i ? ", 10.1.0." : "10.1.0.") + std::to_string(i);
  }
  const ClientIp at_cap = ResolveClient("10.0.0.1", Xff(exact), Proxies());
  EXPECT_EQ(at_cap.source, ClientIpSource::kAllTrusted);
  EXPECT_EQ(at_cap.ip, "10.1.0.0");

  // The untrusted client as the last element read is still found; one further left is not.
  const ClientIp client_at_cap = ResolveClient(
      "10.0.0.1", Xff("203.0.113.9, " + exact.substr(exact.find(',') + 2)), Proxies());
  EXPECT_EQ(client_at_cap.source, ClientIpSource::kUntrustedHop);
  EXPECT_EQ(client_at_cap.ip, "203.0.113.9");
  const ClientIp client_past_cap =
      ResolveClient("10.0.0.1", Xff("203.0.113.9, " + exact), Proxies());
  EXPECT_EQ(client_past_cap.source, ClientIpSource::kHopLimit);
  EXPECT_EQ(client_past_cap.ip, "10.1.0.0");
}

TEST(ResolveClient, ElementLengthBoundary) {
  // 256 bytes (the cap) with padding is read; 257 is malformed.
  const std::string ip = "203.0.113.9";
  const std::string at_cap = std::string(kMaxForwardedElementLength - ip.size(), ' ') + ip;
  EXPECT_EQ(ResolveClient("10.0.0.1", Xff("x," + at_cap), Proxies()).ip, ip);
  EXPECT_EQ(ResolveClient("10.0.0.1", Xff("x, " + at_cap), Proxies()).source,
            ClientIpSource::kMalformedHop);
}

// ---- ResolveClient: Forwarded (RFC 7239) ----------------------------------------------------

TEST(ResolveClient, ForwardedTable) {
  using S = ClientIpSource;
  const std::string fwd = "Forwarded";
  const std::vector<Case> cases = {
      {"spoofed Forwarded from an untrusted peer is ignored",
       "203.0.113.5",
       {{fwd, "for=1.1.1.1"}},
       "203.0.113.5",
       S::kPeerUntrusted},
      {"one proxy", "10.0.0.1", {{fwd, "for=203.0.113.9"}}, "203.0.113.9", S::kUntrustedHop},
      {"RFC 7239 section 4 examples",
       "10.0.0.1",
       {{fwd, "for=\"_gazonk\""}, {fwd, "For=\"[2001:db8:cafe::17]:4711\""}},
       "2001:db8:cafe::17",
       S::kUntrustedHop},
      {"other parameters are allowed",
       "10.0.0.1",
       {{fwd, "for=192.0.2.60;proto=http;by=203.0.113.43"}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"spaces around semicolons",
       "10.0.0.1",
       {{fwd, "proto=https ; for=192.0.2.60 ;"}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"trusted hops are skipped",
       "10.0.0.1",
       {{fwd, "for=6.6.6.6, for=192.0.2.60, for=10.0.0.5;proto=https, for=\"[2001:db8:ffff::3]\""}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"quoted IPv4 with a port",
       "10.0.0.1",
       {{fwd, "for=\"192.0.2.60:8080\""}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"quoted IPv6 with an obfuscated port",
       "10.0.0.1",
       {{fwd, "for=\"[2001:db8::9]:_p1\""}},
       "2001:db8::9",
       S::kUntrustedHop},
      {"quoted plain IPv4",
       "10.0.0.1",
       {{fwd, "for=\"192.0.2.60\""}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"escaped characters in a quoted value",
       "10.0.0.1",
       {{fwd, "for=\"192.0.2.6\\0\""}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"a comma in a quoted value does not split",
       "10.0.0.1",
       {{fwd, "for=192.0.2.60;ext=\"a, for=6.6.6.6\""}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"an escaped quote in a quoted value",
       "10.0.0.1",
       {{fwd, "for=192.0.2.60;ext=\"a\\\", for=6.6.6.6\""}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"all trusted: the leftmost",
       "10.0.0.1",
       {{fwd, "for=10.0.0.3, for=10.0.0.2"}},
       "10.0.0.3",
       S::kAllTrusted},
      {"mapped client is normalised",
       "10.0.0.1",
       {{fwd, "for=\"[::ffff:192.0.2.60]\""}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"unknown stops the walk",
       "10.0.0.1",
       {{fwd, "for=6.6.6.6, for=unknown"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"an obfuscated node stops at the hop right of it",
       "10.0.0.1",
       {{fwd, "for=6.6.6.6, for=_hidden, for=10.0.0.4"}},
       "10.0.0.4",
       S::kMalformedHop},
      {"unquoted IPv6 is malformed",
       "10.0.0.1",
       {{fwd, "for=[2001:db8::9]"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"unquoted port is malformed",
       "10.0.0.1",
       {{fwd, "for=192.0.2.60:80"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"unbracketed IPv6 is malformed",
       "10.0.0.1",
       {{fwd, "for=\"2001:db8::9\""}},
       "10.0.0.1",
       S::kMalformedHop},
      {"no for parameter is malformed",
       "10.0.0.1",
       {{fwd, "for=6.6.6.6, proto=https"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"a repeated parameter is malformed",
       "10.0.0.1",
       {{fwd, "for=6.6.6.6;for=203.0.113.9"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"a repeated parameter in another case is malformed",
       "10.0.0.1",
       {{fwd, "for=6.6.6.6;FOR=203.0.113.9"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"an unclosed quote is malformed",
       "10.0.0.1",
       {{fwd, "for=\"192.0.2.60"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"a stray quote is malformed",
       "10.0.0.1",
       {{fwd, "for=192.0.2.60\""}},
       "10.0.0.1",
       S::kMalformedHop},
      {"a missing value is malformed", "10.0.0.1", {{fwd, "for="}}, "10.0.0.1", S::kMalformedHop},
      {"an empty quoted value is malformed",
       "10.0.0.1",
       {{fwd, "for=\"\""}},
       "10.0.0.1",
       S::kMalformedHop},
      {"a bare address is malformed",
       "10.0.0.1",
       {{fwd, "192.0.2.60"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"garbage after a value is malformed",
       "10.0.0.1",
       {{fwd, "for=192.0.2.60 x"}},
       "10.0.0.1",
       S::kMalformedHop},
      {"client garbage left of our proxy's element is never read",
       "10.0.0.1",
       {{fwd, "for=\"1.1.1.1, for=192.0.2.60"}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"empty elements are skipped",
       "10.0.0.1",
       {{fwd, "for=192.0.2.60, ,"}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"X-Forwarded-For is not read in Forwarded mode",
       "10.0.0.1",
       {{"X-Forwarded-For", "6.6.6.6"}, {fwd, "for=192.0.2.60"}},
       "192.0.2.60",
       S::kUntrustedHop},
      {"X-Forwarded-For alone gives the peer in Forwarded mode",
       "10.0.0.1",
       {{"X-Forwarded-For", "6.6.6.6"}},
       "10.0.0.1",
       S::kNoForwarding},
  };
  RunTable(cases, Proxies(), ForwardedHeader::kForwarded);
}

TEST(ResolveClient, XForwardedForModeIgnoresAClientsForwardedHeader) {
  // The attack a "Forwarded wins when present" rule would allow: the client sends its own
  // Forwarded header, which an X-Forwarded-For proxy passes through untouched.
  const http::Request request =
      WithHeaders({{"Forwarded", "for=1.2.3.4"}, {"X-Forwarded-For", "203.0.113.9"}});
  EXPECT_EQ(ResolveClientIp("10.0.0.1", request, Proxies()), "203.0.113.9");
}

TEST(ResolveClient, ForwardedThousandHopsStopAtTheCap) {
  std::string chain;
  for (int i = 0; i < 1000; ++i)
    chain +=
        "for=10.2." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ";proto=https, ";
  chain += "for=10.0.0.9";
  const ClientIp got =
      ResolveClient("10.0.0.1", Fwd(chain), Proxies(), ForwardedHeader::kForwarded);
  EXPECT_EQ(got.source, ClientIpSource::kHopLimit);
  const int leftmost_read = 1000 - (kMaxForwardedHops - 1);
  EXPECT_EQ(got.ip, "10.2." + std::to_string(leftmost_read / 256) + "." +
                        std::to_string(leftmost_read % 256));
}

}  // namespace
}  // namespace gatehouse::protect
