// `skiff backup SOURCE... REPO`: adds one snapshot (sync/backup_engine.h, doc/FORMAT.md).
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <iostream>

#include "cli/backup_cli.h"
#include "cli/command.h"
#include "cli/progress_line.h"
#include "sync/backup_engine.h"
#include "sync/posix_local_fs.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff backup SOURCE... REPO [options] [-F ssh_config] [-i identity] [-p port]\n"
    "\n"
    "Adds a snapshot of the SOURCE paths to REPO ([user@]host:path, or a local path),\n"
    "named by the UTC start time. Each SOURCE becomes a top-level directory of the\n"
    "snapshot, named by its last component. Unchanged files become hard links to the\n"
    "previous snapshot; changed files are rebuilt on the server from the previous\n"
    "version's blocks plus the new bytes. An interrupted run is resumed by the next one.\n"
    "\n"
    "  --exclude PATTERN      skip entries matching PATTERN (a name glob like '*.o', or a\n"
    "                         path glob relative to the snapshot like 'home/tmp')\n"
    "  --exclude-from FILE    read patterns from FILE, one a line ('#' comments)\n"
    "  -x, --one-file-system  do not descend into other filesystems\n"
    "  -c, --checksum         compare content, not only size/mtime/inode, to find changes\n"
    "  --json                 print a JSON summary on stdout\n"
    "  -q, --quiet            no progress line\n"
    "\n"
    "Pull mode: when the SOURCEs are [user@]host:path and REPO is local, the files are\n"
    "read from host through a key with `skiff serve --read-only --root DIR` there (the\n"
    "rsync matcher runs on host, so only changes cross the network). host:path is the\n"
    "absolute path under DIR, or relative to DIR; host: alone is DIR itself.\n"
    "\n"
    "Exit status: 0 done, 1 done with warnings (files vanished, changed or unreadable),\n"
    "2 failure, 75 server unreachable.\n";

int Run(const std::vector<std::string>& in) {
  std::vector<std::string> args = in;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("backup", ssh.status().message());
  auto excludes = TakeValues(args, "--exclude");
  auto exclude_files = TakeValues(args, "--exclude-from");
  if (!excludes.ok()) return UsageError("backup", excludes.status().message());
  if (!exclude_files.ok()) return UsageError("backup", exclude_files.status().message());
  bool one_fs = TakeFlag(args, "-x") | TakeFlag(args, "--one-file-system");
  bool checksum = TakeFlag(args, "-c") | TakeFlag(args, "--checksum");
  bool json = TakeFlag(args, "--json");
  bool quiet = TakeFlag(args, "-q") | TakeFlag(args, "--quiet");
  TakeFlag(args, "--");
  for (const auto& a : args)
    if (a.size() > 1 && a[0] == '-') return UsageError("backup", "unknown option " + a);
  if (args.size() < 2) return UsageError("backup", "need at least one SOURCE and a REPO");
  for (const auto& f : *exclude_files) {
    std::ifstream in(f);
    if (!in) return UsageError("backup", "cannot read exclude file " + f);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      excludes->push_back(line);
    }
  }
  std::string repo_arg = args.back();
  args.pop_back();

  // Pull mode: host:path sources (all on one host), a local repository.
  std::vector<RemoteSpec> specs;
  size_t remote_sources = 0;
  for (const auto& a : args) {
    specs.push_back(ParseRemoteSpec(a));
    if (specs.back().remote) ++remote_sources;
  }
  std::unique_ptr<sync::ServeSourceFs> pull;
  std::vector<std::string> sources = args;
  if (remote_sources > 0) {
    if (remote_sources != specs.size())
      return UsageError("backup",
                        "a pull backup takes every SOURCE from one host (host:path); "
                        "back up local paths in a separate run");
    for (const auto& sp : specs)
      if (sp.host != specs[0].host || sp.user != specs[0].user)
        return UsageError("backup", "a pull backup takes every SOURCE from one host, not " +
                                        specs[0].host + " and " + sp.host);
    if (ParseRemoteSpec(repo_arg).remote)
      return UsageError("backup",
                        "a pull backup (host:path SOURCE) writes to a local REPO, not " + repo_arg);
    SshOptions s = *ssh;
    s.host = specs[0].host;
    if (!specs[0].user.empty()) s.user = specs[0].user;
    auto src = ConnectPullSource(s);
    if (!src.ok()) return FailWith("backup", src.status());
    pull = std::move(src).value();
    sources.clear();
    for (const auto& sp : specs) {
      std::string p = sp.path;
      if (p.empty() || p == ".")
        p = pull->root();
      else if (p[0] != '/')
        p = pull->root() + "/" + p;
      auto rel = pull->ToRel(p);
      if (!rel.ok()) return FailWith("backup", rel.status());
      sources.push_back(p);
    }
  }

  auto open = OpenRepository(repo_arg, *ssh, /*create=*/true);
  if (!open.ok()) return FailWith("backup", open.status());
  sync::PosixLocalFs posix;
  sync::LocalFs& local = pull ? static_cast<sync::LocalFs&>(*pull) : posix;
  sync::BackupOptions o;
  o.sources = sources;
  o.excludes = *excludes;
  o.one_file_system = one_fs;
  o.checksum = checksum;
  o.preserve_owner = geteuid() == 0;
  o.now = static_cast<int64_t>(time(nullptr));
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  o.lock.host = host;
  o.lock.pid = getpid();
  o.lock.now = o.now;
  o.lock.pid_alive = [](int64_t pid) {
    return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
  };
  o.cache_dir = sync::CacheDirFor((*open)->conn.id);
  ProgressLine progress(ProgressLine::ForTerminal(quiet || json));
  o.warn = [&](const std::string& w) {
    progress.Clear();
    std::cerr << "skiff backup: warning: " << w << "\n";
  };
  o.progress = [&](const sync::BackupStats& s) { progress.Update("", s.bytes, 0, s.files); };
  sync::BackupEngine engine(*(*open)->repo, local, o);
  auto stats = engine.Run();
  progress.Clear();
  if (!stats.ok()) return FailWith("backup", stats.status());
  const auto& s = *stats;
  if (json) {
    std::cout << "{\"snapshot\":" << JsonString(s.snapshot)
              << ",\"resumed\":" << (s.resumed ? "true" : "false") << ",\"files\":" << s.files
              << ",\"dirs\":" << s.dirs << ",\"symlinks\":" << s.symlinks
              << ",\"bytes\":" << s.bytes << ",\"new_files\":" << s.new_files
              << ",\"changed_files\":" << s.changed_files
              << ",\"unchanged_files\":" << s.unchanged_files
              << ",\"reused_files\":" << s.reused_files << ",\"delta_files\":" << s.delta_files
              << ",\"bytes_sent\":" << s.bytes_sent << ",\"bytes_copied\":" << s.bytes_copied
              << ",\"warnings\":" << s.warnings << "}\n";
  } else if (isatty(STDOUT_FILENO) && !quiet) {
    std::cout << "snapshot " << s.snapshot << (s.resumed ? " (resumed)" : "") << ": " << s.files
              << " files, " << s.bytes << " bytes; " << s.new_files << " new, " << s.changed_files
              << " changed (" << s.delta_files << " by delta), " << s.unchanged_files
              << " unchanged; " << s.bytes_sent << " bytes sent\n";
  }
  return s.warnings > 0 ? kExitWarnings : kExitOk;
}

const CommandRegistration kReg{
    {"backup", "add a snapshot of local files to a repository", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
