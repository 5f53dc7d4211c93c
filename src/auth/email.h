#pragma once

// Email addresses as account identifiers: strict validation and the normal form used to
// decide whether two addresses belong to the same account.
//
// Accepted syntax is the practical subset of RFC 5322 section 3.4.1 `addr-spec`:
//   local-part  = dot-atom (atext characters and dots; no leading, trailing or double dot)
//   domain      = two or more DNS labels of letters, digits and hyphens (RFC 1035 section
//                 2.3.1 as relaxed by RFC 1123 section 2.1), the last one not all digits
// Refused on purpose, each with its own message: quoted local parts, comments, address
// literals (`[192.0.2.1]`), whitespace and control characters anywhere, and any non-ASCII
// byte (internationalised addresses, RFC 6530, are not supported; an internationalised
// domain is accepted only in its ASCII A-label form, `xn--...`).
//
// Errors are kInvalidArgument. `message()` is a sentence for the user naming the rule;
// `detail()` is the stable rule code (listed below) for logs, metrics and tests. Neither
// ever contains the address itself (it is personal data).
//
// Thread safety: the functions are pure and may be called concurrently.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gatehouse::auth {

// Size limits in octets (= characters, since only ASCII is accepted).
// RFC 5321 section 4.5.3.1.1: local part at most 64 octets.
inline constexpr std::size_t kMaxEmailLocalPartOctets = 64;
// RFC 5321 section 4.5.3.1.3 limits a path to 256 octets including the two angle
// brackets, which leaves 254 for the address (RFC 3696 erratum 1690).
inline constexpr std::size_t kMaxEmailAddressOctets = 254;
// A DNS name in text form is at most 253 octets (255 on the wire, RFC 1035 section
// 2.3.4); RFC 5321 section 4.5.3.1.2 allows 255. The total limit above already caps the
// domain at 254 - 2 = 252 octets, stricter than both, so no separate domain check exists.
inline constexpr std::size_t kMaxEmailDomainOctets = 253;
static_assert(kMaxEmailAddressOctets - 2 <= kMaxEmailDomainOctets);
// RFC 1035 section 2.3.4: a label is 1 to 63 octets.
inline constexpr std::size_t kMaxDnsLabelOctets = 63;

// Rule codes found in Error::detail().
namespace email_rule {
inline constexpr std::string_view kEmpty = "empty";
inline constexpr std::string_view kTooLong = "too_long";
inline constexpr std::string_view kControlOrWhitespace = "control_or_whitespace";
inline constexpr std::string_view kNonAscii = "non_ascii";
inline constexpr std::string_view kQuotedLocalPart = "quoted_local_part";
inline constexpr std::string_view kComment = "comment";
inline constexpr std::string_view kMissingAt = "missing_at";
inline constexpr std::string_view kMultipleAt = "multiple_at";
inline constexpr std::string_view kLocalPartEmpty = "local_part_empty";
inline constexpr std::string_view kLocalPartTooLong = "local_part_too_long";
inline constexpr std::string_view kLocalPartCharacter = "local_part_character";
inline constexpr std::string_view kLocalPartDot = "local_part_dot";
inline constexpr std::string_view kDomainEmpty = "domain_empty";
inline constexpr std::string_view kAddressLiteral = "address_literal";
inline constexpr std::string_view kDomainNoDot = "domain_no_dot";
inline constexpr std::string_view kLabelEmpty = "label_empty";
inline constexpr std::string_view kLabelTooLong = "label_too_long";
inline constexpr std::string_view kLabelCharacter = "label_character";
inline constexpr std::string_view kLabelHyphen = "label_hyphen";
inline constexpr std::string_view kNumericTld = "numeric_tld";
}  // namespace email_rule

struct NormalizedEmail {
  // The uniqueness key: local part and domain lower-cased (ASCII). Store and look up
  // accounts by this value.
  std::string normalized;
  // The address exactly as entered (it passed validation, so it is plain ASCII). Send mail
  // to this form: RFC 5321 section 2.4 lets a receiving host treat the local part's case
  // as significant, even though almost none do.
  std::string display;
};

// Validates `input` and returns its normal and display forms. Nothing is trimmed or
// repaired: surrounding spaces or a trailing dot on the domain are refused, not silently
// fixed, so the stored address is exactly one the user saw.
// Provider-specific aliasing (Gmail ignoring dots, `+tag` suffixes) is not undone: those
// rules hold only at some providers, and applying them elsewhere would merge different
// people's accounts.
Result<NormalizedEmail> NormalizeEmail(std::string_view input);

}  // namespace gatehouse::auth
