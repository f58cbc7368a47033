// `skiff mount [user@]host:[path] MOUNTPOINT [-o opt,...] [-f]`: an SFTP directory as a
// FUSE filesystem (fs/remote_filesystem.h, doc/SEMANTICS.md).
//
// Daemonizing: unless -f, the program forks before anything else (no threads exist yet,
// so nothing is lost across fork). The parent waits on a pipe; the child connects,
// authenticates (prompting on the same terminal if it must), checks the remote
// directory and mounts, reporting errors on the terminal. Only when the mount is up does
// the child tell the parent to exit 0, detach (setsid, stdio to /dev/null) and serve.
// So `skiff mount` returns only after the mount works, or fails with the real reason.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cli/command.h"
#include "fs/fuse_adapter.h"
#include "fs/mount_options.h"
#include "fs/remote_filesystem.h"
#include "transport/sftp_connect.h"
#include "transport/ssh_options.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff mount [user@]host:[path] MOUNTPOINT [-o opt,...] [-f] [-d]\n"
    "                   [-F ssh_config] [-i identity] [-p port]\n"
    "\n"
    "Mounts the remote directory (default: the login directory) on MOUNTPOINT over SFTP.\n"
    "Runs in the background once mounted unless -f is given; -d logs every failed request.\n"
    "Unmount with 'skiff umount MOUNTPOINT' or 'fusermount3 -u MOUNTPOINT'.\n"
    "\n"
    "Mount options (-o, comma-separated; sshfs names):\n"
    "  reconnect            reconnect after the connection drops (with backoff)\n"
    "  idmap=user|none      show the remote user's files as owned by you\n"
    "  uid=N, gid=N         show every file as owned by uid/gid N\n"
    "  allow_other          let other users access the mount\n"
    "  default_permissions  let the kernel check permissions from the mode bits\n"
    "  ro                   read-only mount\n"
    "  max_conns=N          spread requests over N SSH connections (1..64)\n"
    "  follow_symlinks      show what symlinks point to instead of the links\n"
    "  cache=strict|default|loose\n"
    "                       strict: no metadata caching, page cache dropped on every open;\n"
    "                       default: metadata cached, close-to-open for content;\n"
    "                       loose: long timeouts, page cache kept across opens\n"
    "  cache_timeout=S, attr_timeout=S, entry_timeout=S, negative_timeout=S,\n"
    "  dir_timeout=S, cache_link_timeout=S   cache lifetimes in seconds (default 20)\n"
    "  readahead_requests=N requests in flight per sequential reader (default 64)\n"
    "  write_channels=N     spread a large sequential write over N SFTP sessions of one\n"
    "                       connection (1..16, default 4; 1 = off)\n"
    "  write_conns=N        ...and over N SSH connections: the file's own and N-1 more,\n"
    "                       opened for striping (1..16, default 1); spreads encryption\n"
    "                       over more threads here and sshd processes on the server\n"
    "  write_sync_mb=M      striped write: an unwaited fsync on the server every M MiB,\n"
    "                       so its disk writeback overlaps the transfer (0..4096,\n"
    "                       default 0 = off)\n"
    "\n"
    "An -o item written Name=value with a capital first letter is an ssh option\n"
    "(e.g. -o ServerAliveInterval=15,Port=2222), as with sshfs.\n";

constexpr std::chrono::milliseconds kReconnectTimeout{5000};

struct Args {
  std::string remote_spec, mountpoint;
  bool foreground = false, debug = false;
  fs::MountOptions mount;
  SshOptions ssh;
};

// Splits mount options from ssh flags. -o lists are taken first: items that are mount
// options are applied, ssh-style items are handed to ParseSshFlags (which validates them)
// as separate `-o Item` flags.
Result<Args> Parse(std::vector<std::string> args) {
  Args a;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    if (s == "--") {
      rest.insert(rest.end(), args.begin() + static_cast<long>(i), args.end());
      break;
    }
    std::string list;
    if (s == "-o") {
      if (i + 1 >= args.size()) return Status::Invalid("-o needs an option list");
      list = args[++i];
    } else if (s.rfind("-o", 0) == 0) {
      list = s.substr(2);
    } else {
      rest.push_back(s);
      continue;
    }
    SKIFF_RETURN_IF_ERROR(fs::ApplyMountOptions(list, a.mount));
  }
  for (const auto& o : a.mount.ssh_options) {
    rest.push_back("-o");
    rest.push_back(o);
  }
  SKIFF_ASSIGN_OR_RETURN(a.ssh, ParseSshFlags(rest));
  std::vector<std::string> positional;
  for (const auto& s : rest) {
    if (s == "-f") {
      a.foreground = true;
    } else if (s == "-d" || s == "--debug") {
      a.debug = true;
      a.foreground = true;
    } else if (s == "--") {
      continue;
    } else if (!s.empty() && s[0] == '-') {
      return Status::Invalid("unknown flag " + s);
    } else {
      positional.push_back(s);
    }
  }
  if (positional.size() != 2)
    return Status::Invalid("expected [user@]host:[path] and MOUNTPOINT, got " +
                           std::to_string(positional.size()) + " arguments");
  a.remote_spec = positional[0];
  a.mountpoint = positional[1];
  return a;
}

int ExitFor(const Status& s) { return s.retryable() ? kExitTempFail : kExitFailure; }

// Connects, mounts and serves. `ready` (a pipe to the waiting parent, or -1) receives
// one byte, the exit code, once the mount is up or has failed.
int Serve(Args& a, int ready) {
  auto report = [&](int code) {
    if (ready < 0) return;
    unsigned char c = static_cast<unsigned char>(code);
    if (write(ready, &c, 1) != 1) std::perror("skiff mount: reporting to the parent");
    close(ready);
    ready = -1;
  };
  auto fail = [&](const std::string& what, const Status& s) {
    std::cerr << "skiff mount: " << what << ": " << s.ToString() << "\n";
    int code = ExitFor(s);
    report(code);
    return code;
  };

  RemoteSpec spec = ParseRemoteSpec(a.remote_spec);
  if (!spec.remote)
    return fail("argument",
                Status::Invalid("'" + a.remote_spec + "' is not remote; write host:path or host:"));
  a.ssh.host = spec.host;
  if (!spec.user.empty()) a.ssh.user = spec.user;

  char real[PATH_MAX];
  struct stat st {};
  if (!realpath(a.mountpoint.c_str(), real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
    return fail("mount point", Status::Invalid(a.mountpoint + " is not an existing directory"));

  // The SSH connection under each SFTP session, so that more sessions (write striping)
  // can be opened on it, and the extra connections a primary session's siblings are
  // spread over (write_conns > 1).
  struct Spread {
    std::weak_ptr<SshConnection> own;  // the primary's connection when `extra` was made
    std::vector<std::shared_ptr<SshConnection>> extra;  // write_conns - 1, made on demand
    uint32_t next = 0;                                  // siblings opened so far
  };
  struct Sessions {
    std::mutex mu;  // guards by_fs
    std::map<const RemoteFs*, std::weak_ptr<SshConnection>> by_fs;
    // Guards spread; held while an extra connection is made (siblings wait for it).
    // Taken before `mu`, never the other way round.
    std::mutex spread_mu;
    std::map<const RemoteFs*, Spread> spread;
  };
  auto sessions = std::make_shared<Sessions>();
  auto connect = [sessions](const SshOptions& o) -> Result<std::shared_ptr<RemoteFs>> {
    SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<SshConnection> conn, SshConnection::Connect(o));
    SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<RemoteFs> c, ConnectSftp(conn));
    std::shared_ptr<RemoteFs> fs(std::move(c));
    std::lock_guard<std::mutex> l(sessions->mu);
    sessions->by_fs[fs.get()] = conn;
    return fs;
  };
  std::vector<std::shared_ptr<RemoteFs>> conns;
  for (int i = 0; i < a.mount.max_conns; ++i) {
    Result<std::shared_ptr<RemoteFs>> c = connect(a.ssh);
    if (!c.ok()) return fail("connecting to " + spec.host, c.status());
    conns.push_back(std::move(c).value());
  }
  fs::ConnectionKeeper::Connector reconnect;
  if (a.mount.reconnect) {
    SshOptions again = a.ssh;
    again.batch_mode = true;  // a background daemon cannot prompt
    // A reconnect runs inside some file operation that is waiting for it: on a dead
    // network give up after 5 s (the operation then fails with EIO) rather than the
    // default 30 s connect timeout.
    if (again.connect_timeout.count() == 0) again.connect_timeout = kReconnectTimeout;
    reconnect = [again, connect]() { return connect(again); };
  }
  fs::RemoteFilesystem filesystem(std::move(conns), reconnect, spec.path, a.mount);
  SshOptions stripe_ssh = a.ssh;
  stripe_ssh.batch_mode = true;  // extra connections are made in the background daemon
  const uint32_t write_conns = a.mount.write_conns;
  filesystem.set_session_opener(
      [sessions, stripe_ssh,
       write_conns](const std::shared_ptr<RemoteFs>& primary) -> Result<std::shared_ptr<RemoteFs>> {
        std::shared_ptr<SshConnection> conn;
        {
          std::lock_guard<std::mutex> l(sessions->mu);
          auto it = sessions->by_fs.find(primary.get());
          if (it != sessions->by_fs.end()) conn = it->second.lock();
        }
        if (!conn) return Status::ConnectionLost("the SSH connection of this session is gone");
        if (write_conns > 1) {
          // Sibling k (from 1) goes to connection k % write_conns, 0 being the primary's
          // own: with 4 handles and 2 connections, 2 sessions on each.
          std::lock_guard<std::mutex> l(sessions->spread_mu);
          Spread& sp = sessions->spread[primary.get()];
          if (sp.own.lock() != conn) sp = Spread{conn, {}, 0};  // a new primary there
          sp.extra.resize(write_conns - 1);
          uint32_t k = ++sp.next % write_conns;
          if (k != 0) {
            std::shared_ptr<SshConnection>& extra = sp.extra[k - 1];
            if (!extra || !extra->health().ok()) {
              extra.reset();
              Result<std::shared_ptr<SshConnection>> c = SshConnection::Connect(stripe_ssh);
              if (!c.ok()) return c.status().WithContext("another SSH connection for striping");
              extra = std::move(c).value();
            }
            conn = extra;
          }
        }
        SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<RemoteFs> c, ConnectSftp(conn));
        return std::shared_ptr<RemoteFs>(std::move(c));
      });
  Status s = filesystem.Init();
  if (!s.ok()) return fail("remote directory '" + spec.path + "'", s);

  fs::FuseConfig cfg;
  cfg.mountpoint = real;
  cfg.fsname = (spec.user.empty() ? "" : spec.user + "@") + spec.host + ":" + spec.path;
  cfg.allow_other = a.mount.allow_other;
  cfg.default_permissions = a.mount.default_permissions;
  cfg.read_only = a.mount.read_only;
  cfg.debug = a.debug;
  cfg.fuse_options = a.mount.fuse_options;
  fs::FuseAdapter adapter(&filesystem);
  s = adapter.Mount(cfg);
  if (!s.ok()) return fail("mounting", s);

  if (ready >= 0) {
    report(kExitOk);
    setsid();
    if (chdir("/") != 0) std::perror("skiff mount: chdir /");
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      if (null > 2) close(null);
    }
  }
  s = adapter.Run();
  if (!s.ok()) {
    std::cerr << "skiff mount: " << s.ToString() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int RunMount(const std::vector<std::string>& argv) {
  Result<Args> parsed = Parse(argv);
  if (!parsed.ok()) return UsageError("mount", parsed.status().message());
  Args a = std::move(parsed).value();
  if (a.foreground) return Serve(a, -1);

  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("skiff mount: pipe");
    return kExitFailure;
  }
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("skiff mount: fork");
    return kExitFailure;
  }
  if (pid == 0) {
    close(fds[0]);
    std::exit(Serve(a, fds[1]));
  }
  close(fds[1]);
  unsigned char code = kExitFailure;
  ssize_t n;
  do {
    n = read(fds[0], &code, 1);
  } while (n < 0 && errno == EINTR);
  close(fds[0]);
  if (n != 1) {
    // The child died before reporting: collect it so no zombie is left.
    int status = 0;
    waitpid(pid, &status, 0);
    std::cerr << "skiff mount: the mount process exited before the mount was up\n";
    return kExitFailure;
  }
  if (code != kExitOk) waitpid(pid, nullptr, 0);
  return code;
}

const CommandRegistration kReg{
    Command{"mount", "mount a remote directory over SFTP (FUSE)", kUsage, RunMount}};

}  // namespace
}  // namespace skiff::cli
