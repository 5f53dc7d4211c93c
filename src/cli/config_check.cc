#include <iostream>

#include "cli/commands.h"
#include "cli/protect_setup.h"
#include "core/config.h"
#include "core/profile.h"

namespace gatehouse::cli {

int RunConfigCheck(const char* config_path) {
  auto config = core::LoadAndValidate(config_path, core::ProcessEnvironment());
  if (!config.ok()) {
    std::cerr << "gatehouse: " << config_path << ": " << config.error().message() << "\n";
    for (const std::string& problem : core::ConfigProblems(config.error())) {
      std::cerr << "  " << problem << "\n";
    }
    return kExitUsage;
  }
  if (Status s = ValidateProtectConfig(*config); !s.ok()) {
    std::cerr << "gatehouse: " << config_path << ": " << s.error().message() << ": "
              << s.error().detail() << "\n";
    return kExitUsage;
  }
  std::cout << core::RenderMasked(*config);
  for (const std::string& warning : config->warnings) {
    std::cerr << "warning: " << warning << "\n";
  }
  return kExitOk;
}

}  // namespace gatehouse::cli
