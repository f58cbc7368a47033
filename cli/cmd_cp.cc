// `skiff cp`: scp-style copies to and from an SFTP server over our pipelined client.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "transport/file_transfer.h"
#include "transport/sftp_connect.h"
#include "transport/ssh_options.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff cp [-r] [-p] [--partial] [SSH OPTIONS] SRC... DEST\n"
    "\n"
    "Copies files to or from an SFTP server, scp-style: either all SRC or DEST is\n"
    "remote, written [user@]host:path (a ':' before any '/' makes an argument remote;\n"
    "host: alone is the login directory). Reads and writes are pipelined, so a copy\n"
    "runs at the speed of the connection. If DEST is an existing directory, each SRC\n"
    "is copied into it; with several SRC it must be one.\n"
    "\n"
    "  -r          copy directories recursively (symlinks are followed, as scp does)\n"
    "  -p          preserve permission bits and modification/access times\n"
    "  --partial   make interrupted copies resumable: data is written to\n"
    "              DEST.skiff-partial and renamed to DEST when complete (always);\n"
    "              with --partial that file is kept when a copy fails, and the next\n"
    "              run with --partial resumes from its size, trusting the bytes\n"
    "              already there (like rsync --partial --append; a partial file\n"
    "              larger than the source is discarded). Without --partial a\n"
    "              failed copy removes it and DEST is never left half-written.\n"
    "\n"
    "SSH OPTIONS as for ssh(1): -F CONFIG, -i IDENTITY, -p PORT (digits only, so\n"
    "that -p alone means preserve), -o Option=value.\n"
    "A progress line (bytes, rate, ETA) is shown when stderr is a terminal.\n"
    "Exit codes: 0 all copied, 2 failure, 64 usage error, 75 server unreachable.\n";

std::string Human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

// Draws "name  done/total  rate  ETA" on stderr, at most five times a second.
class ProgressLine {
 public:
  void Update(const std::string& name, uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (name != name_) {
      Finish();
      name_ = name;
      start_ = now;
      last_ = {};
    }
    if (done < total && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? done / secs : 0;
    std::string eta = "--:--";
    if (rate > 0 && total >= done) {
      long s = static_cast<long>((total - done) / rate);
      char b[32];
      std::snprintf(b, sizeof b, "%02ld:%02ld", s / 60, s % 60);
      eta = b;
    }
    std::string shown = name_.size() > 40 ? "..." + name_.substr(name_.size() - 37) : name_;
    std::fprintf(stderr, "\r%-40s %10s / %-10s %10s/s ETA %s\033[K", shown.c_str(),
                 Human(done).c_str(), Human(total).c_str(), Human(rate).c_str(), eta.c_str());
    drawn_ = true;
  }
  void Finish() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  std::string name_;
  std::chrono::steady_clock::time_point start_, last_;
  bool drawn_ = false;
};

std::string BaseName(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == ".") return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

int Run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("cp", ssh.status().message());
  TransferOptions opts;
  std::vector<std::string> paths;
  bool flags_done = false;
  for (const auto& a : args) {
    if (flags_done || a.size() < 2 || a[0] != '-') {
      paths.push_back(a);
    } else if (a == "--") {
      flags_done = true;
    } else if (a == "--partial") {
      opts.keep_partial = true;
    } else if (a[1] != '-') {
      for (size_t i = 1; i < a.size(); ++i) {
        if (a[i] == 'r')
          opts.recursive = true;
        else if (a[i] == 'p')
          opts.preserve = true;
        else
          return UsageError("cp", std::string("unknown option -") + a[i]);
      }
    } else {
      return UsageError("cp", "unknown option " + a);
    }
  }
  if (paths.size() < 2) return UsageError("cp", "need at least one SRC and a DEST");
  std::vector<RemoteSpec> srcs;
  for (size_t i = 0; i + 1 < paths.size(); ++i) srcs.push_back(ParseRemoteSpec(paths[i]));
  RemoteSpec dest = ParseRemoteSpec(paths.back());
  const bool upload = dest.remote;
  const RemoteSpec* remote = upload ? &dest : &srcs[0];
  for (const auto& s : srcs) {
    if (s.remote == upload) {
      return UsageError("cp", upload ? "copying between two remote hosts is not supported"
                                     : "one side must be remote ([user@]host:path); "
                                       "for local copies use cp(1)");
    }
    if (!upload && (s.host != remote->host || s.user != remote->user)) {
      return UsageError("cp", "all remote sources must be on the same host");
    }
  }
  ssh->host = remote->host;
  if (!remote->user.empty()) ssh->user = remote->user;
  auto fs = ConnectSftp(*ssh);
  if (!fs.ok()) {
    std::cerr << "skiff cp: connecting to " << remote->host << ": " << fs.status().ToString()
              << "\n";
    return fs.status().retryable() ? kExitTempFail : kExitFailure;
  }
  ProgressLine progress;
  if (isatty(STDERR_FILENO)) {
    opts.progress = [&](const std::string& n, uint64_t d, uint64_t t) { progress.Update(n, d, t); };
  }
  int failures = 0;
  bool retryable = true;
  opts.on_error = [&](const Status& s) {
    progress.Finish();
    std::cerr << "skiff cp: " << s.ToString() << "\n";
  };
  auto report = [&](const Status& s) {
    if (s.ok()) return;
    progress.Finish();
    ++failures;
    retryable = retryable && s.retryable();
    std::cerr << "skiff cp: " << s.ToString() << "\n";
  };

  std::string dest_path = dest.path.empty() ? "." : dest.path;
  bool dest_is_dir = false;
  if (upload) {
    auto a = (*fs)->Stat(dest_path);
    dest_is_dir = a.ok() && a->IsDir();
  } else {
    struct stat st;
    dest_is_dir = stat(dest_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  if (srcs.size() > 1 && !dest_is_dir) {
    std::cerr << "skiff cp: " << paths.back() << " is not a directory (needed for several SRC)\n";
    return kExitFailure;
  }
  for (const auto& s : srcs) {
    std::string src = s.path.empty() ? "." : s.path;
    std::string target = dest_is_dir ? JoinPath(dest_path, BaseName(src)) : dest_path;
    report(upload ? Upload(**fs, src, target, opts) : Download(**fs, src, target, opts));
  }
  progress.Finish();
  if (failures == 0) return kExitOk;
  return retryable ? kExitTempFail : kExitFailure;
}

const CommandRegistration kReg{
    {"cp", "copy files to or from an SFTP server (scp-style)", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
