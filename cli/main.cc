// Entry point of the `skiff` program: dispatches to the registered subcommands.
#include <cstdio>
#include <iostream>

#include "cli/command.h"

namespace skiff::cli {

std::map<std::string, Command>& Commands() {
  static std::map<std::string, Command> commands;
  return commands;
}

CommandRegistration::CommandRegistration(Command c) {
  std::string name = c.name;
  Commands().emplace(std::move(name), std::move(c));
}

int UsageError(const std::string& command, const std::string& message) {
  std::cerr << "skiff " << command << ": " << message << "\n"
            << "Try 'skiff " << command << " --help'.\n";
  return kExitUsage;
}

namespace {

void PrintOverview(std::ostream& out) {
  out << "usage: skiff COMMAND [ARGS...]\n\n"
         "skiff mounts, copies and backs up files on machines reached over SSH.\n\n"
         "Commands:\n";
  for (const auto& [name, c] : Commands()) {
    out << "  " << name;
    for (size_t i = name.size(); i < 12; ++i) out << ' ';
    out << c.summary << "\n";
  }
  out << "\nSSH options accepted by every remote command: -F CONFIG, -i IDENTITY, -p PORT,\n"
         "-o Option=value (as for ssh(1)).\n"
         "Run 'skiff help COMMAND' for a command's options.\n"
         "Exit codes: 0 success, 1 done with warnings, 2 failure, 64 usage error,\n"
         "75 server unreachable (try again later).\n";
}

}  // namespace
}  // namespace skiff::cli

int main(int argc, char** argv) {
  using namespace skiff::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintOverview(std::cerr);
    return kExitUsage;
  }
  if (args[0] == "--help" || args[0] == "-h") {
    PrintOverview(std::cout);
    return kExitOk;
  }
  if (args[0] == "--version") {
    std::cout << "skiff 0.1.0\n";
    return kExitOk;
  }
  if (args[0] == "help") {
    if (args.size() < 2) {
      PrintOverview(std::cout);
      return kExitOk;
    }
    auto it = Commands().find(args[1]);
    if (it == Commands().end()) {
      std::cerr << "skiff help: unknown command '" << args[1] << "'\n";
      return kExitUsage;
    }
    std::cout << it->second.usage;
    return kExitOk;
  }
  auto it = Commands().find(args[0]);
  if (it == Commands().end()) {
    std::cerr << "skiff: unknown command '" << args[0] << "'. Run 'skiff --help' for the list.\n";
    return kExitUsage;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& a : rest) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      std::cout << it->second.usage;
      return kExitOk;
    }
  }
  return it->second.run(rest);
}
