#include <charconv>

#include "core/config.h"

namespace gatehouse::core {

std::optional<RateSpec> ParseRateSpec(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  std::uint32_t limit = 0;
  const char* begin = text.data();
  auto [end, ec] = std::from_chars(begin, begin + slash, limit);
  if (ec != std::errc() || end != begin + slash || text[0] == '0') return std::nullopt;

  std::string_view window = text.substr(slash + 1);
  std::size_t digits = 0;
  while (digits < window.size() && window[digits] >= '0' && window[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9 || window[0] == '0') return std::nullopt;
  std::int64_t amount = 0;
  std::from_chars(window.data(), window.data() + digits, amount);
  const std::string_view unit = window.substr(digits);
  std::int64_t ms = 0;
  if (unit == "ms") {
    ms = amount;
  } else if (unit == "s") {
    ms = amount * 1000;
  } else if (unit == "m") {
    ms = amount * 60'000;
  } else if (unit == "h") {
    ms = amount * 3'600'000;
  } else {
    return std::nullopt;
  }
  if (limit < 1 || limit > 65535 || ms < 16 || ms > 24 * 3'600'000LL) return std::nullopt;
  return RateSpec{limit, std::chrono::milliseconds(ms)};
}

}  // namespace gatehouse::core
