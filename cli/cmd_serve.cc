// `skiff serve --root DIR [--append-only | --read-only | --write-only]
// [--zfs-receive POOL/PREFIX]`: the endpoint an administrator puts behind a forced-command
// key (doc/SERVE.md, sync/serve_server.h; zfs receive: sync/serve_zfs_receive.h).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "sync/serve_server.h"
#include "sync/serve_zfs_receive.h"
#include "sync/zfs_cli_host.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff serve --root DIR [--append-only | --read-only | --write-only]\n"
    "                   [--zfs-receive POOL/PREFIX]\n"
    "       skiff serve --zfs-receive POOL/PREFIX\n"
    "\n"
    "Serves the repository (or, with --read-only, any tree) under DIR to one skiff\n"
    "client over stdin/stdout. Meant as the forced command of an SSH key; print the\n"
    "authorized_keys line with `skiff authorize`. Every path stays inside DIR.\n"
    "  --append-only  the key can add snapshots and resume its own, nothing else\n"
    "  --write-only   as --append-only, and it cannot read backed-up file contents\n"
    "  --read-only    the key can only read (restore, check, pull backups)\n"
    "  --zfs-receive POOL/PREFIX  `skiff zfs send` streams are piped into `zfs receive`\n"
    "                 here, only into datasets under POOL/PREFIX (never -R streams, never\n"
    "                 over an existing dataset's history); alone, the key can do nothing else\n"
    "SSH_ORIGINAL_COMMAND is read only to refuse anything but `skiff serve`; no\n"
    "command or shell is ever run. Exit status 0 at the client's end of session,\n"
    "2 on a protocol error, 126 when the requested command is refused.\n";

// stdin/stdout as a Channel.
class StdioChannel : public Channel {
 public:
  Status Write(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = write(STDOUT_FILENO, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::ConnectionLost(std::string("writing stdout: ") + strerror(errno));
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }
  Result<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = read(STDIN_FILENO, buf, n);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Status::ConnectionLost(std::string("reading stdin: ") + strerror(errno));
      return static_cast<size_t>(r);
    }
  }
  Status SendEof() override {
    close(STDOUT_FILENO);
    return Status::Ok();
  }
  void Close() override {}
};

int Run(const std::vector<std::string>& args) {
  std::string root, zfs_prefix;
  serve::Mode mode = serve::Mode::kFull;
  int modes = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--root" && i + 1 < args.size()) {
      root = args[++i];
    } else if (a.rfind("--root=", 0) == 0) {
      root = a.substr(7);
    } else if (a == "--append-only") {
      mode = serve::Mode::kAppendOnly, ++modes;
    } else if (a == "--read-only") {
      mode = serve::Mode::kReadOnly, ++modes;
    } else if (a == "--write-only") {
      mode = serve::Mode::kWriteOnly, ++modes;
    } else if (a == "--zfs-receive" && i + 1 < args.size()) {
      zfs_prefix = args[++i];
      if (!sync::IsSafeZfsDatasetName(zfs_prefix))
        return UsageError(
            "serve", "--zfs-receive needs a dataset name (POOL/PREFIX), not '" + zfs_prefix + "'");
    } else {
      return UsageError("serve", "unknown argument '" + a + "'\n" + kUsage);
    }
  }
  if (root.empty() && zfs_prefix.empty())
    return UsageError(
        "serve", "--root DIR or --zfs-receive POOL/PREFIX is required\n" + std::string(kUsage));
  if (root.empty() && modes > 0)
    return UsageError("serve", "--append-only, --read-only and --write-only need --root");
  if (modes > 1)
    return UsageError("serve", "choose one of --append-only, --read-only, --write-only");
  Status cmd = sync::ServePolicy::CheckOriginalCommand(getenv("SSH_ORIGINAL_COMMAND"));
  if (!cmd.ok()) {
    std::cerr << "skiff serve: " << cmd.message() << "\n";
    return 126;
  }
  sync::ZfsCliHost zfs_host;
  std::unique_ptr<sync::ServeZfsReceive> zfs;
  if (!zfs_prefix.empty()) zfs = std::make_unique<sync::ServeZfsReceive>(zfs_prefix, zfs_host);
  StdioChannel ch;
  if (root.empty()) {
    Status st = sync::RunZfsReceiveSession(ch, *zfs);
    if (!st.ok()) {
      std::cerr << "skiff serve: " << st.ToString() << "\n";
      return kExitFailure;
    }
    return kExitOk;
  }
  auto confined = sync::ConfinedRoot::Open(root);
  if (!confined.ok()) {
    std::cerr << "skiff serve: " << confined.status().ToString() << "\n";
    return kExitFailure;
  }
  sync::ServeServer server(std::move(confined).value(), mode);
  server.set_zfs_receive(zfs.get());
  Status st = server.Run(ch);
  if (!st.ok()) {
    std::cerr << "skiff serve: " << st.ToString() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

const CommandRegistration kReg{{"serve", "endpoint for forced-command backup keys", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
