// `skiff restore REPO[@SNAPSHOT] TARGET [PATHS...]` (sync/restore_engine.h).
#include <unistd.h>

#include <iostream>

#include "cli/backup_cli.h"
#include "cli/command.h"
#include "cli/progress_line.h"
#include "sync/posix_local_fs.h"
#include "sync/restore_engine.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff restore REPO[@SNAPSHOT] TARGET [PATH|PATTERN...] [--json] [-q]\n"
    "                     [-F ssh_config] [-i identity] [-p port]\n"
    "\n"
    "Restores a snapshot (default: the newest; a unique prefix of a name works) into the\n"
    "local directory TARGET, or only the given snapshot-relative paths or globs (e.g.\n"
    "home/alice/doc 'home/*/.bashrc'). Writes only inside TARGET; refuses a damaged or\n"
    "hostile repository. Every file is checked against the manifest's hash; one that\n"
    "does not match is reported and removed, never left in TARGET.\n"
    "Exit status: 0 done, 2 failure (some file could not be restored or verified).\n";

int Run(const std::vector<std::string>& in) {
  std::vector<std::string> args = in;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("restore", ssh.status().message());
  bool json = TakeFlag(args, "--json");
  bool quiet = TakeFlag(args, "-q") | TakeFlag(args, "--quiet");
  TakeFlag(args, "--");
  if (args.size() < 2) return UsageError("restore", "need REPO[@SNAPSHOT] and TARGET");
  sync::RepoArg ra = sync::SplitSnapshot(args[0]);
  auto open = OpenRepository(ra.repo, *ssh, false);
  if (!open.ok()) return FailWith("restore", open.status());
  auto name = (*open)->repo->ResolveSnapshot(ra.snapshot);
  if (!name.ok()) return FailWith("restore", name.status());
  sync::PosixLocalFs local;
  sync::RestoreOptions o;
  o.snapshot = *name;
  o.target = args[1];
  o.patterns.assign(args.begin() + 2, args.end());
  o.preserve_owner = geteuid() == 0;
  ProgressLine progress(ProgressLine::ForTerminal(quiet || json));
  o.error = [&](const std::string& e) {
    progress.Clear();
    std::cerr << "skiff restore: error: " << e << "\n";
  };
  o.progress = [&](uint64_t files, uint64_t bytes) { progress.Update("", bytes, 0, files); };
  auto stats = sync::RestoreEngine(*(*open)->repo, local, o).Run();
  progress.Clear();
  if (!stats.ok()) return FailWith("restore", stats.status());
  if (json)
    std::cout << "{\"snapshot\":" << JsonString(*name) << ",\"files\":" << stats->files
              << ",\"dirs\":" << stats->dirs << ",\"symlinks\":" << stats->symlinks
              << ",\"bytes\":" << stats->bytes << ",\"errors\":" << stats->errors << "}\n";
  if (stats->files + stats->dirs + stats->symlinks == 0 && !o.patterns.empty()) {
    std::cerr << "skiff restore: nothing in " << *name << " matches the given paths\n";
    return kExitFailure;
  }
  return stats->errors ? kExitFailure : kExitOk;
}

const CommandRegistration kReg{{"restore", "restore a snapshot or part of it", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
