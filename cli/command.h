// Subcommand registry of the `skiff` program. Each subcommand lives in its own file and
// registers itself with a file-scope `const CommandRegistration kReg{...};`, so adding a
// command never touches a shared table.
//
// Exit codes (documented in `skiff --help`): 0 success, 1 done with warnings,
// 2 failure, 64 usage error (bad arguments), 75 temporary failure (server unreachable).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace skiff::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitWarnings = 1;
inline constexpr int kExitFailure = 2;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitTempFail = 75;

struct Command {
  std::string name;
  std::string summary;  // one line for `skiff --help`
  std::string usage;    // full text for `skiff help NAME` and `skiff NAME --help`
  // Receives the arguments after the command name. Returns the exit code.
  std::function<int(const std::vector<std::string>& args)> run;
};

// All registered commands by name.
std::map<std::string, Command>& Commands();

struct CommandRegistration {
  explicit CommandRegistration(Command c);
};

// Prints "skiff NAME: message" to stderr and returns kExitUsage.
int UsageError(const std::string& command, const std::string& message);

}  // namespace skiff::cli
