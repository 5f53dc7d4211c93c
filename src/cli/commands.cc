#include "cli/commands.h"

#include <cstdlib>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

namespace gatehouse::cli {
namespace {

// The configuration file: --config, else $GATEHOUSE_CONFIG, else the sample path.
std::string DefaultConfigPath() {
  if (const char* env = std::getenv("GATEHOUSE_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  return "config/gatehouse.toml";
}

}  // namespace

int Run(int argc, char** argv) {
  CLI::App app{"Gatehouse: authentication and security service", "gatehouse"};
  app.require_subcommand(1);
  std::string config_path = DefaultConfigPath();

  CLI::App* serve = app.add_subcommand("serve", "Serve HTTPS until SIGTERM");
  serve->add_option("-c,--config", config_path, "Configuration file (TOML)");

  CLI::App* config = app.add_subcommand("config", "Configuration commands");
  config->require_subcommand(1);
  CLI::App* check =
      config->add_subcommand("check", "Print the effective configuration, secrets masked");
  check->add_option("-c,--config", config_path, "Configuration file (TOML)");

  CLI::App* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (*serve) return RunServe(config_path.c_str());
  if (*check) return RunConfigCheck(config_path.c_str());
  if (*version) {
    std::cout << "gatehouse " << GATEHOUSE_VERSION << "\n";
    return kExitOk;
  }
  return kExitUsage;
}

}  // namespace gatehouse::cli
