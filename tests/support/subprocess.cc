#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace skiff::testing {
namespace {

// Closes the fds it owns on scope exit.
class Fds {
 public:
  Fds() = default;
  Fds(const Fds&) = delete;
  Fds& operator=(const Fds&) = delete;
  ~Fds() {
    for (int& fd : fds_) CloseFd(fd);
  }
  int* Pair(int i) { return &fds_[2 * i]; }
  void CloseFd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int& At(int i) { return fds_[i]; }

 private:
  int fds_[6] = {-1, -1, -1, -1, -1, -1};  // stdin pipe, stdout pipe, stderr pipe
};

Status Errno(const std::string& what) { return Status::Io(what + ": " + std::strerror(errno)); }

}  // namespace

Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 const ProcessOptions& options) {
  if (argv.empty()) return Status::Invalid("RunProcess: empty argv");
  Fds fds;
  for (int i = 0; i < 3; ++i) {
    if (::pipe2(fds.Pair(i), O_CLOEXEC) != 0) return Errno("pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds.At(0), 0);
  posix_spawn_file_actions_adddup2(&actions, fds.At(3), 1);
  posix_spawn_file_actions_adddup2(&actions, fds.At(5), 2);
  // The child starts with default signal dispositions and an empty mask, whatever the
  // test runner did to ours.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (char** e = environ; *e != nullptr; ++e) cenv.push_back(*e);
  for (const auto& e : options.extra_env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Status::Io("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  fds.CloseFd(fds.At(0));
  fds.CloseFd(fds.At(3));
  fds.CloseFd(fds.At(5));

  ProcessResult result;
  int& in_fd = fds.At(1);
  int& out_fd = fds.At(2);
  int& err_fd = fds.At(4);
  ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (options.input.empty()) fds.CloseFd(in_fd);
  char buf[65536];
  Status io_error;
  // Writing to a child that closed its stdin raises SIGPIPE in this thread; keep it
  // blocked (and discard it below) instead of killing the test program.
  sigset_t pipe_set, old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd p[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_fd >= 0) p[out_i = n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) p[err_i = n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) p[in_i = n++] = {in_fd, POLLOUT, 0};
    if (::poll(p, n, -1) < 0) {
      if (errno == EINTR) continue;
      io_error = Errno("poll");
      break;
    }
    auto drain = [&](int idx, int& fd, std::string& sink) {
      if (idx < 0 || p[idx].revents == 0) return;
      ssize_t r = ::read(fd, buf, sizeof(buf));
      if (r > 0) {
        sink.append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds.CloseFd(fd);
      }
    };
    drain(out_i, out_fd, result.out);
    drain(err_i, err_fd, result.err);
    if (in_i >= 0 && p[in_i].revents != 0) {
      ssize_t w = ::write(in_fd, options.input.data() + written, options.input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (written == options.input.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
        fds.CloseFd(in_fd);  // done, or the child closed its stdin (EPIPE)
      }
    }
  }
  fds.CloseFd(in_fd);
  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGPIPE) && !sigismember(&old_mask, SIGPIPE)) {
    timespec zero{0, 0};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Errno("waitpid " + argv[0]);
  }
  if (!io_error.ok()) return io_error;
  if (WIFEXITED(wstatus)) {
    result.exit_code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    result.exit_code = 128 + WTERMSIG(wstatus);
  }
  return result;
}

}  // namespace skiff::testing
