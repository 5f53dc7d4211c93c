#include "http/url_encoding.h"

namespace gatehouse::http {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool IsAlnum(unsigned char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

void AppendEscaped(std::string& out, unsigned char ch) {
  out += '%';
  out += kHex[ch >> 4];
  out += kHex[ch & 0xf];
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    if (IsAlnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      AppendEscaped(out, ch);
    }
  }
  return out;
}

std::string FormEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    if (IsAlnum(ch) || ch == '*' || ch == '-' || ch == '.' || ch == '_') {
      out += static_cast<char>(ch);
    } else if (ch == ' ') {
      out += '+';
    } else {
      AppendEscaped(out, ch);
    }
  }
  return out;
}

}  // namespace gatehouse::http
