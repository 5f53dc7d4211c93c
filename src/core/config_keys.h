#pragma once

// Internal to the configuration loader and renderer (config.cc, config_render.cc): the table
// of every key, its type, its range and how it is stored. Other rooms use core/config.h.
//
// One table drives the TOML pass, the environment pass and the rendering, so a key cannot be
// loadable from one source and missing from another.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/config.h"

namespace gatehouse::core::config_internal {

using Value = std::variant<std::string, std::int64_t, bool>;

enum class Kind : std::uint8_t { kString, kInteger, kBoolean };
// "a string", "an integer", "a boolean".
std::string_view KindName(Kind kind);

// Where a value came from: relative paths resolve against `base`; `env_var` is the variable
// that supplied it (empty for the TOML file).
struct Origin {
  std::filesystem::path base;
  std::string env_var;
};

struct KeySpec {
  std::string_view section;  // Empty for top-level keys.
  std::string_view key;
  Kind kind;
  // Stores a value of `kind`. Returns a problem text without the key path ("must be 1..10"),
  // or an empty string when the value was accepted.
  std::function<std::string(Config&, const Value&, const Origin&)> set;
  // The current value as a TOML value literal.
  std::function<std::string(const Config&)> render;
  // Name under which RenderMasked shows the key; differs for secret file keys, which are
  // shown as the secret itself ("hmac_secret = \"[secret: ...]\"").
  std::string_view render_key;
};

// A secret given as `<name>_file` in TOML or GATEHOUSE_<SECTION>_<NAME>[_FILE] in the
// environment.
struct SecretSpec {
  std::string_view section;
  std::string_view name;
  SecretSetting& (*get)(Config&);
  const SecretSetting& (*cget)(const Config&);
};

// In file order: profile, then [server], [log], [crypto], [tokens], [store], [rate_limit].
const std::vector<KeySpec>& KeySpecs();
const std::vector<SecretSpec>& SecretSpecs();
// Section names in file order.
const std::vector<std::string_view>& Sections();

// "server.port", or "profile" for a top-level key.
std::string KeyPath(std::string_view section, std::string_view key);
// "GATEHOUSE_SERVER_PORT", or "GATEHOUSE_PROFILE" for a top-level key.
std::string EnvName(std::string_view section, std::string_view key);

// What loading found: the configuration as far as it could be built, and the problems that
// make it invalid. LoadAndValidate adds the profile findings to these, so an operator sees
// every problem in one run. Fails only when the file cannot be read or parsed at all.
struct LoadOutcome {
  Config config;
  std::vector<std::string> errors;
};
Result<LoadOutcome> LoadCollecting(const std::filesystem::path& file,
                                   const std::map<std::string, std::string>& env);
// One problem per line.
std::string JoinProblems(const std::vector<std::string>& lines);

// A TOML basic string literal, quotes included, with control characters escaped.
std::string TomlString(std::string_view text);
// "[secret: set, N bytes, from ...]" or "[secret: missing]" as a TOML string literal.
std::string RenderSecretState(const SecretSetting& secret);

}  // namespace gatehouse::core::config_internal
