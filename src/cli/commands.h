#pragma once

// The `gatehouse` binary's subcommands. Each returns the process exit code:
// 0 success, 1 runtime failure, 2 invalid usage or configuration.

namespace gatehouse::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int Run(int argc, char** argv);

int RunServe(const char* config_path);
int RunConfigCheck(const char* config_path);

}  // namespace gatehouse::cli
