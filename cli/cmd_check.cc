// `skiff check REPO [--read-data]` (sync/repo_checker.h).
#include <iostream>

#include "cli/backup_cli.h"
#include "cli/command.h"
#include "sync/repo_checker.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff check REPO[@SNAPSHOT] [--read-data] [--json]\n"
    "                   [-F ssh_config] [-i identity] [-p port]\n"
    "\n"
    "Verifies every snapshot's manifest (or only SNAPSHOT's) against the tree on the\n"
    "server: missing or extra entries, types, sizes, modes, mtimes, symlink targets.\n"
    "--read-data also reads every file and reports each whose content does not match\n"
    "the manifest's hash. Exit status: 0 no problems, 2 problems found or failure.\n";

int Run(const std::vector<std::string>& in) {
  std::vector<std::string> args = in;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("check", ssh.status().message());
  sync::CheckOptions o;
  o.read_data = TakeFlag(args, "--read-data");
  bool json = TakeFlag(args, "--json");
  if (args.size() != 1) return UsageError("check", "need exactly one REPO");
  sync::RepoArg ra = sync::SplitSnapshot(args[0]);
  auto open = OpenRepository(ra.repo, *ssh, false);
  if (!open.ok()) return FailWith("check", open.status());
  if (!ra.snapshot.empty()) {
    auto name = (*open)->repo->ResolveSnapshot(ra.snapshot);
    if (!name.ok()) return FailWith("check", name.status());
    o.snapshots = {*name};
  }
  std::vector<std::pair<std::string, std::string>> problems;
  o.problem = [&](const std::string& snap, const std::string& p) {
    if (json)
      problems.emplace_back(snap, p);
    else
      std::cout << snap << ": " << p << "\n";
  };
  auto r = sync::CheckRepository(*(*open)->repo, o);
  if (!r.ok()) return FailWith("check", r.status());
  if (json) {
    std::cout << "{\"snapshots\":" << r->snapshots << ",\"entries\":" << r->entries
              << ",\"bytes_read\":" << r->bytes_read << ",\"problems\":[";
    for (size_t i = 0; i < problems.size(); ++i)
      std::cout << (i ? "," : "") << "{\"snapshot\":" << JsonString(problems[i].first)
                << ",\"problem\":" << JsonString(problems[i].second) << "}";
    std::cout << "]}\n";
  } else if (r->problems == 0) {
    std::cerr << "checked " << r->snapshots << " snapshots, " << r->entries
              << " entries: no problems\n";
  } else {
    std::cerr << "skiff check: " << r->problems << " problems found\n";
  }
  return r->problems ? kExitFailure : kExitOk;
}

const CommandRegistration kReg{{"check", "verify a backup repository", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
