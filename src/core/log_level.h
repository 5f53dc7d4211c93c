#pragma once

// Log severity, shared by the configuration (log.level) and the logging API. Kept apart from
// log.h so that config.h does not pull in the logging declarations.

#include <cstdint>
#include <optional>
#include <string_view>

namespace gatehouse::log {

enum class Level : std::uint8_t { kTrace, kDebug, kInfo, kWarn, kError };

// "trace", "debug", "info", "warn", "error".
std::string_view LevelName(Level level);

// Inverse of LevelName; exact lower-case match only. nullopt for anything else.
std::optional<Level> ParseLevel(std::string_view name);

}  // namespace gatehouse::log
