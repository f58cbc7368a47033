// `skiff zfs send|list|restore|prune`: ZFS snapshot streams kept as a chain of files on
// any SFTP server (sync/zfs_send.h, sync/zfs_stream_store.h, doc/ZFS.md).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "cli/backup_cli.h"
#include "cli/command.h"
#include "cli/progress_line.h"
#include "sync/repo_connect.h"
#include "sync/zfs_cli_host.h"
#include "sync/zfs_prune.h"
#include "sync/zfs_restore.h"
#include "sync/zfs_send.h"
#include "sync/zfs_serve_target.h"
#include "sync/zfs_stream_store.h"
#include "transport/serve_remote_fs.h"
#include "transport/ssh_options.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff zfs send POOL/DATASET DEST [--snapshot] [--raw] [--compressed]\n"
    "                      [--allow-full] [--verify] [-q]\n"
    "       skiff zfs list DEST\n"
    "       skiff zfs restore DEST[@SNAPSHOT] POOL/NEWDATASET [-q]\n"
    "       skiff zfs prune DEST --keep-last N [--keep SNAPSHOT]... [--dry-run]\n"
    "       (each also takes -F ssh_config, -i identity, -p port, -o Option=value)\n"
    "\n"
    "DEST is [user@]host:path (any SFTP server, also a chrooted internal-sftp account) or\n"
    "a local directory. It keeps a chain of `zfs send` streams - a full one, then\n"
    "incrementals - each with its size and xxh128, plus an index (doc/ZFS.md).\n"
    "send to a key whose forced command is `skiff serve --zfs-receive POOL/PREFIX` pipes\n"
    "the streams into `zfs receive POOL/PREFIX/NAME` there instead, NAME being DEST's path\n"
    "(default: the last component of DATASET).\n"
    "\n"
    "send: --snapshot first creates DATASET@skiff-<UTC time>. Sends every snapshot newer\n"
    "  than the newest one DEST already has (matched by guid, not name), one incremental\n"
    "  each. A DEST that has diverged from DATASET is refused; --allow-full then starts a\n"
    "  new chain with a full stream. --raw / --compressed pass -w / -c to zfs send (not\n"
    "  supported by zfs-fuse). An interrupted send leaves no stream that looks complete.\n"
    "  --verify reads each stored stream back and checks its xxh128 before publishing it.\n"
    "restore: checks every stream of the chain (size, xxh128) before piping them in order\n"
    "  into `zfs receive POOL/NEWDATASET`, which must not exist. Default: newest snapshot.\n"
    "prune: keeps the N newest snapshots and the named ones, and every stream they need.\n"
    "Exit status: 0 done, 2 failure, 64 usage error, 75 server unreachable.\n";

struct OpenStore {
  sync::RepoConnection conn;
  std::unique_ptr<sync::ZfsStreamStore> store;
};

Result<OpenStore> Open(const std::string& dest, const SshOptions& ssh, bool write) {
  OpenStore o;
  SKIFF_ASSIGN_OR_RETURN(o.conn, sync::ConnectRepository(dest, ssh));
  SKIFF_ASSIGN_OR_RETURN(o.store, sync::ZfsStreamStore::Open(*o.conn.fs, o.conn.root, write, dest));
  return o;
}

std::string FormatTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

// The dataset name a --zfs-receive endpoint receives into: DEST's path, or the last
// component of the source dataset when DEST has none ("host:").
std::string ReceiveName(const std::string& root, const std::string& dataset) {
  if (!root.empty() && root != ".") return root;
  size_t slash = dataset.rfind('/');
  return slash == std::string::npos ? dataset : dataset.substr(slash + 1);
}

int SendToServe(sync::ZfsServeTarget& target, const sync::ZfsSendOptions& o, bool quiet) {
  ProgressLine progress(ProgressLine::ForTerminal(quiet));
  sync::ZfsSendOptions opts = o;
  opts.progress = [&](const std::string& snap, uint64_t bytes) {
    progress.Update("@" + snap, bytes, 0);
  };
  sync::ZfsCliHost host;
  auto r = sync::ZfsSender(host, target, opts).Run();
  progress.Clear();
  if (!r.ok()) return FailWith("zfs send", r.status());
  if (quiet) return kExitOk;
  if (!r->created_snapshot.empty())
    std::cout << "created " << o.dataset << "@" << r->created_snapshot << "\n";
  if (r->sent.empty()) std::cout << target.dataset() << " is up to date\n";
  for (const auto& s : r->sent)
    std::cout << "received @" << s.snapshot
              << (s.from.empty() ? std::string(" (full)") : " (incremental from @" + s.from + ")")
              << " into " << target.dataset() << ": " << s.bytes << " bytes, xxh128 " << s.xxh128
              << "\n";
  return kExitOk;
}

int Send(std::vector<std::string> args, const SshOptions& ssh) {
  sync::ZfsSendOptions o;
  o.create_snapshot = TakeFlag(args, "--snapshot");
  o.raw = TakeFlag(args, "--raw");
  o.compressed = TakeFlag(args, "--compressed");
  o.allow_full = TakeFlag(args, "--allow-full");
  bool verify = TakeFlag(args, "--verify");
  bool quiet = TakeFlag(args, "-q") | TakeFlag(args, "--quiet");
  TakeFlag(args, "--");
  if (args.size() != 2) return UsageError("zfs send", "need POOL/DATASET and DEST");
  o.dataset = args[0];
  auto conn = sync::ConnectRepository(args[1], ssh);
  if (!conn.ok()) return FailWith("zfs send", conn.status());
  if (auto* serve = dynamic_cast<ServeRemoteFs*>(conn->fs.get())) {
    // A --zfs-receive endpoint takes the streams into zfs; any other serve endpoint
    // (kUnsupported) stores stream files like an SFTP server.
    auto target = sync::ZfsServeTarget::Open(*serve, ReceiveName(conn->root, o.dataset), args[1]);
    if (target.ok()) return SendToServe(**target, o, quiet);
    if (!target.status().Is(Code::kUnsupported)) return FailWith("zfs send", target.status());
  }
  OpenStore opened;
  opened.conn = std::move(conn).value();
  auto store = sync::ZfsStreamStore::Open(*opened.conn.fs, opened.conn.root, true, args[1]);
  if (!store.ok()) return FailWith("zfs send", store.status());
  opened.store = std::move(store).value();
  Result<OpenStore> open = std::move(opened);
  open->store->set_verify_uploads(verify);
  ProgressLine progress(ProgressLine::ForTerminal(quiet));
  o.progress = [&](const std::string& snap, uint64_t bytes) {
    progress.Update("@" + snap, bytes, 0);
  };
  sync::ZfsCliHost host;
  auto r = sync::ZfsSender(host, *open->store, o).Run();
  progress.Clear();
  if (!r.ok()) return FailWith("zfs send", r.status());
  if (!r->created_snapshot.empty() && !quiet)
    std::cout << "created " << o.dataset << "@" << r->created_snapshot << "\n";
  if (r->sent.empty() && !quiet) std::cout << args[1] << " is up to date\n";
  for (const auto& s : r->sent) {
    if (quiet) continue;
    std::cout << "sent @" << s.snapshot
              << (s.from.empty() ? std::string(" (full)") : " (incremental from @" + s.from + ")")
              << ": " << s.bytes << " bytes, xxh128 " << s.xxh128 << "\n";
  }
  return kExitOk;
}

int List(std::vector<std::string> args, const SshOptions& ssh) {
  TakeFlag(args, "--");
  if (args.size() != 1) return UsageError("zfs list", "need DEST");
  auto open = Open(args[0], ssh, false);
  if (!open.ok()) return FailWith("zfs list", open.status());
  const auto& idx = open->store->index();
  if (!idx.dataset().empty()) std::cout << "# dataset " << idx.dataset() << "\n";
  std::cout << "SNAPSHOT\tGUID\tFROM\tBYTES\tSTORED\tXXH128\n";
  for (const auto& e : idx.streams()) {
    std::string from = "(full)";
    if (!e.full()) {
      const auto* p = idx.FindGuid(e.parent_guid);
      from = p ? "@" + p->snapshot : std::to_string(e.parent_guid);
    }
    std::cout << "@" << e.snapshot << "\t" << e.guid << "\t" << from << "\t" << e.size << "\t"
              << FormatTime(e.created) << "\t" << e.xxh128 << "\n";
  }
  return kExitOk;
}

int Restore(std::vector<std::string> args, const SshOptions& ssh) {
  bool quiet = TakeFlag(args, "-q") | TakeFlag(args, "--quiet");
  TakeFlag(args, "--");
  if (args.size() != 2) return UsageError("zfs restore", "need DEST[@SNAPSHOT] and POOL/DATASET");
  sync::RepoArg ra = sync::SplitSnapshot(args[0]);
  auto open = Open(ra.repo, ssh, false);
  if (!open.ok()) return FailWith("zfs restore", open.status());
  sync::ZfsRestoreOptions o;
  o.snapshot = ra.snapshot;
  o.target_dataset = args[1];
  ProgressLine progress(ProgressLine::ForTerminal(quiet));
  o.progress = [&](const std::string& phase, uint64_t done, uint64_t total) {
    progress.Update(phase, done, total);
  };
  sync::ZfsCliHost host;
  auto r = sync::RestoreZfsChain(*open->store, host, o);
  progress.Clear();
  if (!r.ok()) return FailWith("zfs restore", r.status());
  if (!quiet) {
    for (const auto& e : r->chain)
      std::cout << "received @" << e.snapshot << " (" << e.size << " bytes, xxh128 verified)\n";
    std::cout << "restored " << o.target_dataset << "@" << r->chain.back().snapshot << "\n";
  }
  return kExitOk;
}

int Prune(std::vector<std::string> args, const SshOptions& ssh) {
  sync::ZfsPruneOptions o;
  o.dry_run = TakeFlag(args, "--dry-run") | TakeFlag(args, "-n");
  auto keep_last = TakeValues(args, "--keep-last");
  auto keep = TakeValues(args, "--keep");
  if (!keep_last.ok()) return UsageError("zfs prune", keep_last.status().message());
  if (!keep.ok()) return UsageError("zfs prune", keep.status().message());
  TakeFlag(args, "--");
  if (args.size() != 1) return UsageError("zfs prune", "need DEST");
  if (keep_last->size() > 1) return UsageError("zfs prune", "--keep-last given twice");
  if (!keep_last->empty()) {
    char* end = nullptr;
    long n = std::strtol(keep_last->front().c_str(), &end, 10);
    if (keep_last->front().empty() || *end != '\0' || n < 1 || n > 1000000)
      return UsageError("zfs prune", "--keep-last needs a number >= 1");
    o.keep_last = static_cast<int>(n);
  }
  o.keep = *keep;
  if (o.keep_last == 0 && o.keep.empty())
    return UsageError("zfs prune", "give --keep-last N and/or --keep SNAPSHOT");
  auto open = Open(args[0], ssh, !o.dry_run);
  if (!open.ok()) return FailWith("zfs prune", open.status());
  auto plan = sync::PruneZfsStore(*open->store, o);
  if (!plan.ok()) return FailWith("zfs prune", plan.status());
  for (const auto& e : plan->keep) std::cout << "keep   @" << e.snapshot << "\n";
  for (const auto& e : plan->remove)
    std::cout << (o.dry_run ? "would remove @" : "remove @") << e.snapshot << " (" << e.size
              << " bytes)\n";
  return kExitOk;
}

int Run(const std::vector<std::string>& in) {
  std::vector<std::string> args = in;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("zfs", ssh.status().message());
  if (args.empty()) return UsageError("zfs", "need a subcommand: send, list, restore or prune");
  std::string sub = args.front();
  args.erase(args.begin());
  if (sub == "send") return Send(args, *ssh);
  if (sub == "list") return List(args, *ssh);
  if (sub == "restore") return Restore(args, *ssh);
  if (sub == "prune") return Prune(args, *ssh);
  return UsageError("zfs", "unknown subcommand '" + sub + "' (send, list, restore, prune)");
}

const CommandRegistration kReg{
    {"zfs", "send ZFS snapshots as stream chains to an SFTP server; list, restore, prune", kUsage,
     Run}};

}  // namespace
}  // namespace skiff::cli
