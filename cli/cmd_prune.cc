// `skiff prune REPO --keep-... [--dry-run]` (sync/pruner.h, sync/retention.h).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>
#include <iostream>

#include "cli/backup_cli.h"
#include "cli/command.h"
#include "sync/pruner.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff prune REPO [--keep-last N] [--keep-hourly N] [--keep-daily N]\n"
    "                   [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]\n"
    "                   [--keep-within DURATION] [--dry-run] [--json]\n"
    "                   [-F ssh_config] [-i identity] [-p port]\n"
    "\n"
    "Removes the snapshots no rule keeps (whole snapshots only). --keep-hourly etc. keep\n"
    "the newest snapshot of each of the N newest hours/days/ISO weeks/months/years that\n"
    "have one; --keep-within keeps all taken within DURATION of now (e.g. 30d, 12h, 2w,\n"
    "1y6m). At least one rule is required. --dry-run only shows what would be removed.\n";

int Run(const std::vector<std::string>& in) {
  std::vector<std::string> args = in;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("prune", ssh.status().message());
  sync::PruneOptions o;
  struct {
    const char* flag;
    int* field;
  } counts[] = {
      {"--keep-last", &o.policy.keep_last},       {"--keep-hourly", &o.policy.keep_hourly},
      {"--keep-daily", &o.policy.keep_daily},     {"--keep-weekly", &o.policy.keep_weekly},
      {"--keep-monthly", &o.policy.keep_monthly}, {"--keep-yearly", &o.policy.keep_yearly}};
  for (auto& c : counts) {
    auto v = TakeValues(args, c.flag);
    if (!v.ok()) return UsageError("prune", v.status().message());
    if (v->empty()) continue;
    const std::string& s = v->back();
    int n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size() || n < 0)
      return UsageError("prune", std::string(c.flag) + " needs a count, not '" + s + "'");
    *c.field = n;
  }
  auto within = TakeValues(args, "--keep-within");
  if (!within.ok()) return UsageError("prune", within.status().message());
  if (!within->empty()) {
    auto d = sync::ParseDuration(within->back());
    if (!d.ok()) return UsageError("prune", d.status().message());
    o.policy.keep_within_seconds = *d;
  }
  o.dry_run = TakeFlag(args, "--dry-run") | TakeFlag(args, "-n");
  bool json = TakeFlag(args, "--json");
  if (args.size() != 1) return UsageError("prune", "need exactly one REPO");
  if (o.policy.Empty()) return UsageError("prune", "give at least one --keep-* rule");
  auto open = OpenRepository(args[0], *ssh, false);
  if (!open.ok()) return FailWith("prune", open.status());
  o.now = static_cast<int64_t>(time(nullptr));
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  o.lock = {host, getpid(), o.now, 24 * 3600,
            [](int64_t pid) { return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }};
  o.note = [](const std::string& m) { std::cerr << "skiff prune: " << m << "\n"; };
  auto r = sync::Prune(*(*open)->repo, o);
  if (!r.ok()) return FailWith("prune", r.status());
  if (json) {
    std::cout << "{\"dry_run\":" << (o.dry_run ? "true" : "false") << ",\"snapshots\":[";
    bool first = true;
    for (const auto& d : r->decisions) {
      std::cout << (first ? "" : ",") << "{\"name\":" << JsonString(d.name)
                << ",\"keep\":" << (d.keep ? "true" : "false") << ",\"reasons\":[";
      for (size_t i = 0; i < d.reasons.size(); ++i)
        std::cout << (i ? "," : "") << JsonString(d.reasons[i]);
      std::cout << "]}";
      first = false;
    }
    std::cout << "],\"removed\":" << r->removed
              << ",\"signatures_removed\":" << r->signatures_removed << "}\n";
  } else {
    for (const auto& d : r->decisions) {
      std::cout << (d.keep ? "keep   " : (o.dry_run ? "would remove " : "remove ")) << d.name;
      if (d.keep) {
        std::cout << " (";
        for (size_t i = 0; i < d.reasons.size(); ++i) std::cout << (i ? ", " : "") << d.reasons[i];
        std::cout << ")";
      }
      std::cout << "\n";
    }
  }
  return kExitOk;
}

const CommandRegistration kReg{{"prune", "remove old snapshots by retention rules", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
