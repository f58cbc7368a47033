// `skiff diff REPO@A REPO@B` (sync/manifest_diff.h).
#include <iostream>

#include "cli/backup_cli.h"
#include "cli/command.h"
#include "sync/manifest_cache.h"
#include "sync/manifest_diff.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff diff REPO@A REPO@B [-F ssh_config] [-i identity] [-p port]\n"
    "       skiff diff REPO@A @B\n"
    "\n"
    "Lists what changed from snapshot A to snapshot B, one path a line:\n"
    "  + added   - removed   M content changed   T type changed   m metadata only\n";

int Run(const std::vector<std::string>& in) {
  std::vector<std::string> args = in;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("diff", ssh.status().message());
  if (args.size() != 2) return UsageError("diff", "need REPO@A and REPO@B");
  sync::RepoArg a = sync::SplitSnapshot(args[0]);
  sync::RepoArg b = args[1].rfind('@', 0) == 0 ? sync::RepoArg{a.repo, args[1].substr(1)}
                                               : sync::SplitSnapshot(args[1]);
  if (a.snapshot.empty() || b.snapshot.empty())
    return UsageError("diff", "name both snapshots (REPO@SNAPSHOT; 'latest' works)");
  if (a.repo != b.repo) return UsageError("diff", "both snapshots must be in the same repository");
  auto open = OpenRepository(a.repo, *ssh, false);
  if (!open.ok()) return FailWith("diff", open.status());
  const auto& repo = *(*open)->repo;
  auto na = repo.ResolveSnapshot(a.snapshot);
  if (!na.ok()) return FailWith("diff", na.status());
  auto nb = repo.ResolveSnapshot(b.snapshot);
  if (!nb.ok()) return FailWith("diff", nb.status());
  auto ra = sync::OpenRemoteManifest(repo, *na);
  if (!ra.ok()) return FailWith("diff", ra.status());
  auto rb = sync::OpenRemoteManifest(repo, *nb);
  if (!rb.ok()) return FailWith("diff", rb.status());
  Status st = sync::DiffManifests(**ra, **rb, [](char kind, const std::string& path) {
    std::cout << kind << " " << path << "\n";
  });
  if (!st.ok()) return FailWith("diff", st);
  return kExitOk;
}

const CommandRegistration kReg{{"diff", "show what changed between two snapshots", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
