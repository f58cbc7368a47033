// `skiff serve --root DIR [--append-only | --read-only | --write-only]`: the endpoint an
// administrator puts behind a forced-command key (doc/SERVE.md, sync/serve_server.h).
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cli/command.h"
#include "sync/serve_server.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff serve --root DIR [--append-only | --read-only | --write-only]\n"
    "\n"
    "Serves the repository (or, with --read-only, any tree) under DIR to one skiff\n"
    "client over stdin/stdout. Meant as the forced command of an SSH key; print the\n"
    "authorized_keys line with `skiff authorize`. Every path stays inside DIR.\n"
    "  --append-only  the key can add snapshots and resume its own, nothing else\n"
    "  --write-only   as --append-only, and it cannot read backed-up file contents\n"
    "  --read-only    the key can only read (restore, check, pull backups)\n"
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
  std::string root;
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
    } else if (a == "--zfs-receive") {
      std::cerr << "skiff serve: --zfs-receive is not available in this version; see "
                   "doc/ZFS.md for the stream store (use skiff zfs send over SFTP)\n";
      return kExitUsage;
    } else {
      return UsageError("serve", "unknown argument '" + a + "'\n" + kUsage);
    }
  }
  if (root.empty()) return UsageError("serve", "--root DIR is required\n" + std::string(kUsage));
  if (modes > 1)
    return UsageError("serve", "choose one of --append-only, --read-only, --write-only");
  Status cmd = sync::ServePolicy::CheckOriginalCommand(getenv("SSH_ORIGINAL_COMMAND"));
  if (!cmd.ok()) {
    std::cerr << "skiff serve: " << cmd.message() << "\n";
    return 126;
  }
  auto confined = sync::ConfinedRoot::Open(root);
  if (!confined.ok()) {
    std::cerr << "skiff serve: " << confined.status().ToString() << "\n";
    return kExitFailure;
  }
  sync::ServeServer server(std::move(confined).value(), mode);
  StdioChannel ch;
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
