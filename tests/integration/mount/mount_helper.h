// Test helpers for real FUSE mounts: SkiffMount runs `skiff mount -f` as a child process
// we own (so it is stopped by its pid), waits for the kernel mount to appear and tears
// everything down in its destructor (lazy unmount, wait, SIGKILL if still there).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/sshd_fixture.h"

namespace skiff::testing {

// The sshd shared by all test cases of a module (started once, stopped at exit).
SshdFixture& SharedSshd();

// Whether `path` is currently a skiff FUSE mount point (per /proc/self/mountinfo).
bool IsSkiffMount(const std::string& path);

// Runs `skiff ARGS...`, returns its exit code; output goes to `out` if given.
int RunSkiff(const std::vector<std::string>& args, std::string* out = nullptr);

class SkiffMount {
 public:
  // Mounts `remote` (e.g. "skiff-plain:/dir") on a fresh temporary directory with
  // `skiff mount -f -F <ssh_config> remote MNT extra...`. Throws std::runtime_error with
  // the process's output if the mount does not appear.
  SkiffMount(const std::string& remote, const std::vector<std::string>& extra = {});
  ~SkiffMount();
  SkiffMount(const SkiffMount&) = delete;
  SkiffMount& operator=(const SkiffMount&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  pid_t pid() const { return pid_; }
  // Waits up to `timeout` for the mount process to exit; true if it did.
  bool WaitExit(std::chrono::seconds timeout);
  std::string Log() const;

 private:
  std::string path_, log_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

// Runs `f` on its own thread and waits at most `timeout`. Returns false if it did not
// finish (it hung); the thread is then left behind (detached) and the test fails.
bool FinishesWithin(std::chrono::seconds timeout, std::function<void()> f);

}  // namespace skiff::testing
