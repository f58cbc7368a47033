// `skiff snapshots REPO`: lists the published snapshots, oldest first.
#include <iostream>

#include "cli/backup_cli.h"
#include "cli/command.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff snapshots REPO [--json] [-F ssh_config] [-i identity] [-p port]\n"
    "\n"
    "Lists the snapshots of REPO, oldest first, one name a line (or a JSON array).\n";

int Run(const std::vector<std::string>& in) {
  std::vector<std::string> args = in;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("snapshots", ssh.status().message());
  bool json = TakeFlag(args, "--json");
  if (args.size() != 1) return UsageError("snapshots", "need exactly one REPO");
  auto open = OpenRepository(args[0], *ssh, false);
  if (!open.ok()) return FailWith("snapshots", open.status());
  auto names = (*open)->repo->ListSnapshots();
  if (!names.ok()) return FailWith("snapshots", names.status());
  if (json) {
    std::cout << "[";
    for (size_t i = 0; i < names->size(); ++i)
      std::cout << (i ? "," : "") << JsonString((*names)[i]);
    std::cout << "]\n";
  } else {
    for (const auto& n : *names) std::cout << n << "\n";
  }
  return kExitOk;
}

const CommandRegistration kReg{
    {"snapshots", "list the snapshots of a backup repository", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
