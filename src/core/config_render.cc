#include "core/config.h"
#include "core/config_keys.h"
#include "core/config_oidc.h"

namespace gatehouse::core {
namespace config_internal {

// Only the presence, the length and the origin are shown. The length is already implied by
// the file size, so it tells an attacker with the rendered text nothing new, and it lets an
// operator see at a glance that a 32-byte key really is 32 bytes.
std::string RenderSecretState(const SecretSetting& secret) {
  if (!secret.present()) return TomlString("[secret: missing]");
  std::string text = "[secret: set, " + std::to_string(secret.value.size()) + " bytes";
  if (secret.development_marker) text += ", development secret";
  if (!secret.file.empty()) {
    text += ", from file " + secret.file.string();
  } else if (!secret.env_var.empty()) {
    text += ", from " + secret.env_var;
  }
  text += "]";
  return TomlString(text);
}

}  // namespace config_internal

std::string RenderMasked(const Config& config) {
  using config_internal::KeySpecs;
  using config_internal::Sections;

  std::string out = "# Effective configuration";
  if (!config.source_file.empty()) out += " loaded from " + config.source_file.string();
  out += "\n# Secrets are masked; relative paths have been resolved.\n\n";

  for (const auto& spec : KeySpecs()) {
    if (!spec.section.empty()) continue;
    out += std::string(spec.render_key) + " = " + spec.render(config) + "\n";
  }
  for (auto section : Sections()) {
    out += "\n[" + std::string(section) + "]\n";
    for (const auto& spec : KeySpecs()) {
      if (spec.section != section) continue;
      out += std::string(spec.render_key) + " = " + spec.render(config) + "\n";
    }
  }

  out += config_internal::RenderOidcProviders(config);

  if (!config.warnings.empty()) {
    out += "\n# Warnings:\n";
    for (const auto& warning : config.warnings) {
      // One comment line per warning; a newline inside one cannot start a TOML line.
      std::string line = warning;
      for (char& ch : line) {
        if (ch == '\n' || ch == '\r') ch = ' ';
      }
      out += "#   " + line + "\n";
    }
  }
  return out;
}

}  // namespace gatehouse::core
