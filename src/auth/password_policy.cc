#include "auth/password_policy.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <system_error>

#include "crypto/password.h"

namespace gatehouse::auth {
namespace {

// A blocklist file larger than this is not a password list; refusing it keeps a wrong
// path (a disk image, a log) from eating memory at start, and keeps offsets in 32 bits.
constexpr std::uintmax_t kMaxBlocklistFileBytes = 64u * 1024 * 1024;

unsigned char AsciiLower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + 32) : c;
}

bool IsC0OrDel(unsigned char c) { return c < 0x20 || c == 0x7F; }

// Three-way comparison of a (lower-case) entry with the ASCII-lower-cased password, byte
// by byte as unsigned values, the order std::string_view sorts in.
int CompareFolded(std::string_view entry, std::string_view password) {
  std::size_t n = std::min(entry.size(), password.size());
  for (std::size_t i = 0; i < n; ++i) {
    auto a = static_cast<unsigned char>(entry[i]);
    auto b = AsciiLower(static_cast<unsigned char>(password[i]));
    if (a != b) return a < b ? -1 : 1;
  }
  if (entry.size() == password.size()) return 0;
  return entry.size() < password.size() ? -1 : 1;
}

// True when `needle` (at least one byte) occurs in `haystack`, ignoring ASCII case.
bool ContainsFolded(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t start = 0; start + needle.size() <= haystack.size(); ++start) {
    bool match = true;
    for (std::size_t i = 0; i < needle.size() && match; ++i) {
      match = AsciiLower(static_cast<unsigned char>(haystack[start + i])) ==
              AsciiLower(static_cast<unsigned char>(needle[i]));
    }
    if (match) return true;
  }
  return false;
}

struct CharacterClasses {
  bool upper = false;
  bool lower = false;
  bool digit = false;
  bool symbol = false;
  bool control = false;
};

CharacterClasses Classify(std::string_view password) {
  CharacterClasses classes;
  for (std::size_t i = 0; i < password.size(); ++i) {
    auto c = static_cast<unsigned char>(password[i]);
    if (c >= 'A' && c <= 'Z') {
      classes.upper = true;
    } else if (c >= 'a' && c <= 'z') {
      classes.lower = true;
    } else if (c >= '0' && c <= '9') {
      classes.digit = true;
    } else if (IsC0OrDel(c)) {
      classes.control = true;
    } else if (c == 0xC2 && i + 1 < password.size() &&
               static_cast<unsigned char>(password[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(password[i + 1]) <= 0x9F) {
      // U+0080..U+009F (C1 controls) in UTF-8: two bytes, C2 80 to C2 9F.
      classes.control = true;
      ++i;
    } else {
      // ASCII punctuation, the space, and every byte of a non-ASCII character.
      classes.symbol = true;
    }
  }
  return classes;
}

// The text before the last '@', or all of it when there is none.
std::string_view LocalPartOf(std::string_view email) {
  std::size_t at = email.rfind('@');
  return at == std::string_view::npos ? email : email.substr(0, at);
}

// The local part must be this long before it is searched for: shorter ones ("al", "bob")
// occur by chance in good passwords.
constexpr std::size_t kMinEmailContextBytes = 4;

}  // namespace

Status ValidatePasswordPolicy(const PasswordPolicy& policy) {
  if (policy.min_bytes < kMinPasswordPolicyMinBytes) {
    return InvalidArgument("password policy: min_bytes must be at least " +
                           std::to_string(kMinPasswordPolicyMinBytes));
  }
  if (policy.max_bytes < kMinPasswordPolicyMaxBytes) {
    return InvalidArgument("password policy: max_bytes must be at least " +
                           std::to_string(kMinPasswordPolicyMaxBytes));
  }
  if (policy.max_bytes > crypto::kMaxPasswordBytes) {
    return InvalidArgument("password policy: max_bytes must be at most " +
                           std::to_string(crypto::kMaxPasswordBytes));
  }
  if (policy.min_bytes > policy.max_bytes) {
    return InvalidArgument("password policy: min_bytes must not exceed max_bytes");
  }
  return Ok();
}

Result<PasswordBlocklist> PasswordBlocklist::Load(const std::filesystem::path& path) {
  // Filesystem calls take an error_code so that no exception leaves this module.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFound("password blocklist not found",
                    "password blocklist " + path.string() + " does not exist");
  }
  std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return Unavailable("password blocklist unreadable",
                       "password blocklist " + path.string() + ": " + ec.message());
  }
  if (size > kMaxBlocklistFileBytes) {
    return InvalidArgument("password blocklist invalid",
                           "password blocklist " + path.string() + " is larger than 64 MiB");
  }

  std::ifstream file(path, std::ios::binary);
  std::string text;
  text.reserve(static_cast<std::size_t>(size));
  text.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  if (!file.good() && !file.eof()) {
    return Unavailable("password blocklist unreadable",
                       "password blocklist " + path.string() + " could not be read");
  }

  auto list = FromText(text);
  if (!list.ok()) return std::move(list).error().WithContext(path.string());
  return list;
}

Result<PasswordBlocklist> PasswordBlocklist::FromText(std::string_view text) {
  if (text.size() > kMaxBlocklistFileBytes) {
    return InvalidArgument("password blocklist invalid", "password blocklist above 64 MiB");
  }

  // Lower-case everything once, then cut it into lines that view the lowered copy.
  std::string lowered(text.size(), '\0');
  std::transform(text.begin(), text.end(), lowered.begin(), [](char c) {
    return static_cast<char>(AsciiLower(static_cast<unsigned char>(c)));
  });
  std::vector<std::string_view> entries;
  std::string_view rest = lowered;
  std::size_t line_number = 0;
  while (!rest.empty()) {
    ++line_number;
    std::size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    // A password holding a control character is refused by its own rule anyway, so such
    // a line means the file is not a password list (a wrong path, binary data).
    if (std::any_of(line.begin(), line.end(),
                    [](char c) { return IsC0OrDel(static_cast<unsigned char>(c)); })) {
      return InvalidArgument(
          "password blocklist invalid",
          "password blocklist line " + std::to_string(line_number) + " holds a control character");
    }
    entries.push_back(line);
  }
  // Fail closed: an empty list would turn the check off without anyone noticing.
  if (entries.empty()) {
    return InvalidArgument("password blocklist invalid", "password blocklist has no entries");
  }

  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());

  PasswordBlocklist list;
  std::size_t total = 0;
  for (std::string_view entry : entries) total += entry.size();
  list.text_.reserve(total);
  list.offsets_.reserve(entries.size() + 1);
  for (std::string_view entry : entries) {
    list.offsets_.push_back(static_cast<std::uint32_t>(list.text_.size()));
    list.text_.append(entry);
    list.longest_ = std::max(list.longest_, entry.size());
  }
  list.offsets_.push_back(static_cast<std::uint32_t>(list.text_.size()));
  return list;
}

std::string_view PasswordBlocklist::Entry(std::size_t index) const {
  return std::string_view(text_).substr(offsets_[index], offsets_[index + 1] - offsets_[index]);
}

bool PasswordBlocklist::Contains(std::string_view password) const {
  if (password.size() > longest_) return false;

  // Lower bound by binary search over the sorted entries.
  std::size_t low = 0;
  std::size_t high = size();
  while (low < high) {
    std::size_t mid = low + (high - low) / 2;
    if (CompareFolded(Entry(mid), password) < 0) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return low < size() && CompareFolded(Entry(low), password) == 0;
}

std::vector<PolicyViolation> CheckPassword(std::string_view password, const PasswordPolicy& policy,
                                           const PasswordBlocklist& blocklist,
                                           std::string_view email_for_context) {
  std::vector<PolicyViolation> violations;

  // The length cap comes before everything else, so that an oversized input is refused
  // without being scanned, folded or looked up.
  if (password.size() > policy.max_bytes) {
    violations.push_back({password_rule::kTooLong,
                          "the password must be at most " + std::to_string(policy.max_bytes) +
                              " bytes long (a non-ASCII character counts 2 to 4 bytes)"});
    return violations;
  }
  if (password.size() < policy.min_bytes) {
    violations.push_back({password_rule::kTooShort,
                          "the password must be at least " + std::to_string(policy.min_bytes) +
                              " bytes long (a non-ASCII character counts 2 to 4 bytes)"});
  }

  CharacterClasses classes = Classify(password);
  if (classes.control) {
    violations.push_back({password_rule::kControlCharacter,
                          "the password may not contain control characters such as tabs or "
                          "line breaks"});
  }
  if (policy.require_complexity) {
    if (!classes.upper) {
      violations.push_back(
          {password_rule::kMissingUpper, "the password needs an upper-case letter (A-Z)"});
    }
    if (!classes.lower) {
      violations.push_back(
          {password_rule::kMissingLower, "the password needs a lower-case letter (a-z)"});
    }
    if (!classes.digit) {
      violations.push_back({password_rule::kMissingDigit, "the password needs a digit (0-9)"});
    }
    if (!classes.symbol) {
      violations.push_back({password_rule::kMissingSymbol,
                            "the password needs a symbol, a space or a non-ASCII character"});
    }
  }

  if (blocklist.Contains(password)) {
    violations.push_back(
        {password_rule::kCommonPassword, "the password is on a list of commonly used passwords"});
  }

  // A password built from the account name is the first thing a targeted guesser tries.
  std::string_view local = LocalPartOf(email_for_context);
  if (local.size() >= kMinEmailContextBytes && ContainsFolded(password, local)) {
    violations.push_back({password_rule::kContainsEmail,
                          "the password may not contain the name part of your email address"});
  }
  return violations;
}

}  // namespace gatehouse::auth
