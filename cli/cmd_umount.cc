// `skiff umount [-z] MOUNTPOINT`: unmounts a `skiff mount`. The mount's process sees the
// FUSE session end, closes its remote files and connections and exits.
//
// Uses fusermount3 (works for the user who mounted, root or not), like
// `fusermount3 -u`. With open files the kernel refuses (EBUSY); -z detaches the mount
// now and lets it finish when the last file is closed.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff umount [-z|--lazy] MOUNTPOINT\n"
    "\n"
    "Unmounts a filesystem mounted with 'skiff mount'; its background process exits.\n"
    "If files on it are still open the unmount fails ('busy'); -z detaches it at once\n"
    "and completes when the last open file is closed.\n";

int RunUmount(const std::vector<std::string>& args) {
  bool lazy = false;
  std::string mountpoint;
  for (const auto& a : args) {
    if (a == "-z" || a == "--lazy") {
      lazy = true;
    } else if (!a.empty() && a[0] == '-') {
      return UsageError("umount", "unknown flag " + a);
    } else if (mountpoint.empty()) {
      mountpoint = a;
    } else {
      return UsageError("umount", "expected one MOUNTPOINT");
    }
  }
  if (mountpoint.empty()) return UsageError("umount", "expected MOUNTPOINT");
  std::vector<std::string> argv = {"fusermount3", "-u"};
  if (lazy) argv.push_back("-z");
  argv.push_back("--");
  argv.push_back(mountpoint);
  pid_t pid = fork();
  if (pid < 0) {
    std::cerr << "skiff umount: fork: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  if (pid == 0) {
    std::vector<char*> cargv;
    for (auto& s : argv) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    std::cerr << "skiff umount: cannot run fusermount3: " << std::strerror(errno) << "\n";
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return kExitOk;
  std::cerr << "skiff umount: unmounting " << mountpoint << " failed"
            << (lazy ? "" : " (if it is busy, close the files or use -z)") << "\n";
  return kExitFailure;
}

const CommandRegistration kReg{Command{"umount", "unmount a 'skiff mount'", kUsage, RunUmount}};

}  // namespace
}  // namespace skiff::cli
