#include "auth/email.h"

#include <algorithm>
#include <string>

namespace gatehouse::auth {
namespace {

Error Reject(std::string_view rule, std::string message) {
  return InvalidArgument(std::move(message), std::string(rule));
}

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// RFC 5322 section 3.2.3 `atext`.
bool IsAtext(char c) {
  if (IsAsciiAlpha(c) || IsAsciiDigit(c)) return true;
  constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return kSpecials.find(c) != std::string_view::npos;
}

Status CheckLocalPart(std::string_view local) {
  if (local.empty()) {
    return Reject(email_rule::kLocalPartEmpty, "the email address has nothing before the @");
  }
  if (local.size() > kMaxEmailLocalPartOctets) {
    return Reject(email_rule::kLocalPartTooLong,
                  "the part of the email address before the @ is longer than 64 characters");
  }

  // dot-atom (RFC 5322 section 3.2.3): atoms of atext joined by single dots.
  for (char c : local) {
    if (c != '.' && !IsAtext(c)) {
      return Reject(email_rule::kLocalPartCharacter,
                    "the part of the email address before the @ may hold only letters, "
                    "digits, dots and the symbols !#$%&'*+-/=?^_`{|}~");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return Reject(email_rule::kLocalPartDot,
                  "the part of the email address before the @ may not start or end with a "
                  "dot or hold two dots in a row");
  }
  return Ok();
}

Status CheckLabel(std::string_view label) {
  if (label.empty()) {
    return Reject(email_rule::kLabelEmpty,
                  "the domain of the email address has an empty part (two dots in a row, or "
                  "a dot at the start or end)");
  }
  if (label.size() > kMaxDnsLabelOctets) {
    return Reject(email_rule::kLabelTooLong,
                  "a part of the email domain between dots is longer than 63 characters");
  }
  for (char c : label) {
    if (!IsAsciiAlpha(c) && !IsAsciiDigit(c) && c != '-') {
      return Reject(email_rule::kLabelCharacter,
                    "the domain of the email address may hold only letters, digits, hyphens "
                    "and dots");
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return Reject(email_rule::kLabelHyphen,
                  "a part of the email domain between dots may not start or end with a hyphen");
  }
  return Ok();
}

Status CheckDomain(std::string_view domain) {
  if (domain.empty()) {
    return Reject(email_rule::kDomainEmpty, "the email address has no domain after the @");
  }
  // RFC 5321 section 4.1.3 address literals are legal but name a host, not a mail domain
  // an operator can reason about; a registration address needs a real domain.
  if (domain.front() == '[') {
    return Reject(email_rule::kAddressLiteral,
                  "email addresses with an IP address instead of a domain are not accepted");
  }
  // A dotless domain (`user@localhost`, `user@com`) is not deliverable on the public
  // internet; ICANN forbids MX records on bare TLDs.
  if (domain.find('.') == std::string_view::npos) {
    return Reject(email_rule::kDomainNoDot, "the domain of the email address needs a dot");
  }

  std::string_view rest = domain;
  std::string_view label;
  while (true) {
    std::size_t dot = rest.find('.');
    label = rest.substr(0, dot);
    GH_RETURN_IF_ERROR(CheckLabel(label));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }

  // RFC 3696 section 2: a top-level domain is never all-numeric; refusing one also keeps
  // dotted IPv4 addresses (`user@192.0.2.1`) out.
  if (std::all_of(label.begin(), label.end(), IsAsciiDigit)) {
    return Reject(email_rule::kNumericTld,
                  "the last part of the email domain may not be made of digits only");
  }
  return Ok();
}

}  // namespace

Result<NormalizedEmail> NormalizeEmail(std::string_view input) {
  if (input.empty()) return Reject(email_rule::kEmpty, "an email address is required");

  // The length cap comes before any scan, so an oversized input costs nothing more.
  if (input.size() > kMaxEmailAddressOctets) {
    return Reject(email_rule::kTooLong, "the email address is longer than 254 characters");
  }

  // Whitespace and control characters are refused, not trimmed: a CR or LF could split a
  // mail header (header injection), a NUL could cut the string short in a C library, and
  // a trimmed address would differ from the one the user typed.
  for (char c : input) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F) {
      return Reject(email_rule::kControlOrWhitespace,
                    "the email address may not contain spaces or control characters");
    }
  }

  // Non-ASCII is refused rather than converted: accepting it would need NFC normalisation
  // and IDNA 2008 (RFC 5891) mapping to compare addresses safely, and visually identical
  // Unicode spellings would otherwise register as different accounts.
  for (char c : input) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return Reject(email_rule::kNonAscii,
                    "email addresses with non-ASCII characters are not supported; for an "
                    "internationalised domain, enter its ASCII form (xn--...)");
    }
  }

  // Quoted strings and comments (RFC 5322 sections 3.2.4 and 3.2.2) are refused by name
  // before the @ is counted, since a quoted local part may itself hold an @.
  if (input.find('"') != std::string_view::npos || input.find('\\') != std::string_view::npos) {
    return Reject(email_rule::kQuotedLocalPart,
                  "email addresses with quotes or backslashes are not accepted");
  }
  if (input.find('(') != std::string_view::npos || input.find(')') != std::string_view::npos) {
    return Reject(email_rule::kComment,
                  "email addresses with comments in parentheses are not accepted");
  }

  std::size_t at = input.find('@');
  if (at == std::string_view::npos) {
    return Reject(email_rule::kMissingAt, "the email address needs an @");
  }
  if (input.find('@', at + 1) != std::string_view::npos) {
    return Reject(email_rule::kMultipleAt, "the email address may contain only one @");
  }

  std::string_view local = input.substr(0, at);
  std::string_view domain = input.substr(at + 1);
  GH_RETURN_IF_ERROR(CheckLocalPart(local));
  GH_RETURN_IF_ERROR(CheckDomain(domain));

  // Domains are case-insensitive (RFC 5321 section 2.4, RFC 4343). The local part may be
  // case-sensitive by the letter of RFC 5321 section 2.4, but providers treat it
  // case-insensitively in practice: `Alice@` and `alice@` reach one mailbox, so they must
  // be one account, or a second registration could shadow the first.
  NormalizedEmail result;
  result.display.assign(input);
  result.normalized.resize(input.size());
  std::transform(input.begin(), input.end(), result.normalized.begin(), AsciiLower);
  return result;
}

}  // namespace gatehouse::auth
