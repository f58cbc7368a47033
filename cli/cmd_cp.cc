// `skiff cp`: scp-style copies to and from an SFTP server over our pipelined client.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/progress_line.h"
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
  ProgressLine progress(ProgressLine::ForTerminal(false));
  std::string last_name;
  opts.progress = [&](const std::string& n, uint64_t d, uint64_t t) {
    if (n != last_name) progress.Keep();
    last_name = n;
    progress.Update(n, d, t);
  };
  int failures = 0;
  bool retryable = true;
  opts.on_error = [&](const Status& s) {
    progress.Keep();
    std::cerr << "skiff cp: " << s.ToString() << "\n";
  };
  auto report = [&](const Status& s) {
    if (s.ok()) return;
    progress.Keep();
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
  progress.Keep();
  if (failures == 0) return kExitOk;
  return retryable ? kExitTempFail : kExitFailure;
}

const CommandRegistration kReg{
    {"cp", "copy files to or from an SFTP server (scp-style)", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
