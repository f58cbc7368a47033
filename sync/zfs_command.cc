#include "sync/zfs_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "transport/command_line.h"

namespace skiff::sync {
namespace {

// zfs prints a line or two on failure; a runaway child's stderr must not grow without
// bound, so only the tail is kept.
constexpr size_t kStderrLimit = 16 * 1024;

Status ErrnoStatus(const std::string& what) {
  return Status::Io(what + ": " + std::strerror(errno));
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::string ZfsProgram(std::string_view name) {
  const char* env = nullptr;
  if (name == "zfs") env = std::getenv("SKIFF_ZFS");
  if (name == "zpool") env = std::getenv("SKIFF_ZPOOL");
  if (env && *env) return env;
  // sshd gives a non-root account a PATH without the sbin directories, where zfs lives
  // (a forced-command `skiff serve --zfs-receive` runs with that PATH).
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    std::string dir = dirs.substr(start, colon - start);
    if (!dir.empty() && ::access((dir + "/" + std::string(name)).c_str(), X_OK) == 0)
      return std::string(name);
    start = colon + 1;
  }
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/local/sbin/"}) {
    std::string p = dir + std::string(name);
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::string(name);
}

Result<std::unique_ptr<ZfsProcess>> ZfsProcess::Start(std::vector<std::string> argv, Pipe pipe) {
  if (argv.empty()) return Status::Invalid("ZfsProcess: empty argv");
  std::unique_ptr<ZfsProcess> p(new ZfsProcess());
  p->pipe_ = pipe;
  p->display_ = JoinArgv(argv);
  int data[2] = {-1, -1}, err[2] = {-1, -1}, exec_status[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fds : {data, err, exec_status}) {
      CloseFd(fds[0]);
      CloseFd(fds[1]);
    }
  };
  if ((pipe != Pipe::kNone && ::pipe2(data, O_CLOEXEC) != 0) || ::pipe2(err, O_CLOEXEC) != 0 ||
      ::pipe2(exec_status, O_CLOEXEC) != 0) {
    Status st = ErrnoStatus("pipe for " + argv[0]);
    close_all();
    return st;
  }
  // 1 MiB pipe (the unprivileged maximum by default) instead of 64 KiB: zfs send and
  // receive work in bursts, and each wake-up then moves 16x more bytes.
  if (pipe != Pipe::kNone) ::fcntl(data[0], F_SETPIPE_SZ, 1 << 20);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    Status st = ErrnoStatus("fork for " + argv[0]);
    close_all();
    return st;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDWR);
    int in = devnull, out = devnull;
    if (pipe == Pipe::kStdout) out = data[1];
    if (pipe == Pipe::kStdin) in = data[0];
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err[1], 2) < 0) ::_exit(127);
    ::execvp(cargv[0], cargv.data());
    int e = errno;
    ssize_t ignored = ::write(exec_status[1], &e, sizeof(e));
    (void)ignored;
    ::_exit(127);
  }
  p->pid_ = pid;
  CloseFd(exec_status[1]);
  CloseFd(err[1]);
  if (pipe == Pipe::kStdout) {
    CloseFd(data[1]);
    p->data_fd_ = data[0];
  } else if (pipe == Pipe::kStdin) {
    CloseFd(data[0]);
    p->data_fd_ = data[1];
  }
  p->err_fd_ = err[0];
  int child_errno = 0;
  ssize_t r;
  do {
    r = ::read(exec_status[0], &child_errno, sizeof(child_errno));
  } while (r < 0 && errno == EINTR);
  CloseFd(exec_status[0]);
  if (r == static_cast<ssize_t>(sizeof(child_errno))) {
    CloseFd(p->err_fd_);
    CloseFd(p->data_fd_);
    p->Wait().IgnoreError();
    if (child_errno == ENOENT)
      return Status::NotFound(argv[0] + ": not found in PATH (is ZFS installed?)");
    return Status::Io("cannot run " + argv[0] + ": " + std::strerror(child_errno));
  }
  ZfsProcess* raw = p.get();
  p->err_thread_ = std::thread([raw] {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(raw->err_fd_, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      raw->err_.append(buf, static_cast<size_t>(n));
      if (raw->err_.size() > 2 * kStderrLimit) raw->err_.erase(0, raw->err_.size() - kStderrLimit);
    }
  });
  return p;
}

ZfsProcess::~ZfsProcess() {
  if (!reaped_) Kill();
  CloseFd(data_fd_);
  if (err_thread_.joinable()) err_thread_.join();
  CloseFd(err_fd_);
}

Result<size_t> ZfsProcess::Read(char* buf, size_t n) {
  if (pipe_ != Pipe::kStdout || data_fd_ < 0) return Status::Invalid(display_ + ": not readable");
  for (;;) {
    ssize_t r = ::read(data_fd_, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) return ErrnoStatus("reading from " + display_);
  }
}

Status ZfsProcess::Write(std::string_view data) {
  if (pipe_ != Pipe::kStdin || data_fd_ < 0) return Status::Invalid(display_ + ": not writable");
  // A child that exited raises SIGPIPE in this thread; keep it blocked and discard it so
  // the failure becomes a Status carrying the child's message.
  sigset_t pipe_set, old_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  Status st;
  while (!data.empty()) {
    ssize_t w = ::write(data_fd_, data.data(), data.size());
    if (w > 0) {
      data.remove_prefix(static_cast<size_t>(w));
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else {
      st = errno == EPIPE ? Status::Io("") : ErrnoStatus("writing to " + display_);
      break;
    }
  }
  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGPIPE) && !sigismember(&old_mask, SIGPIPE)) {
    timespec zero{0, 0};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (!st.ok() && st.message().empty()) {
    // EPIPE: the child stopped reading, normally because it failed; report why.
    CloseFd(data_fd_);
    Status w = Wait();
    return ChildFailed(w.ok() ? "exited before reading all of its input" : "");
  }
  return st;
}

Status ZfsProcess::Wait() {
  if (reaped_) return Status::Ok();
  int wstatus = 0;
  while (::waitpid(pid_, &wstatus, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus("waitpid " + display_);
  }
  reaped_ = true;
  exit_code_ = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return Status::Ok();
}

std::string ZfsProcess::StderrText() {
  if (err_thread_.joinable()) err_thread_.join();
  std::string s = err_;
  if (s.size() > kStderrLimit) s = "..." + s.substr(s.size() - kStderrLimit);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  // zfs often prints its usage after the real message; keep the message.
  size_t usage = s.find("\nusage:");
  if (usage != std::string::npos) s.resize(usage);
  return s;
}

Status ZfsProcess::ChildFailed(const std::string& what) {
  std::string text = StderrText();
  std::string msg = display_ + ": ";
  if (!text.empty()) {
    msg += text;
  } else if (!what.empty()) {
    msg += what;
  } else {
    msg += "exited with status " + std::to_string(exit_code_);
  }
  return Status::Io(msg);
}

Status ZfsProcess::Finish() {
  CloseFd(data_fd_);
  SKIFF_RETURN_IF_ERROR(Wait());
  if (exit_code_ == 0) {
    if (err_thread_.joinable()) err_thread_.join();
    return Status::Ok();
  }
  return ChildFailed("");
}

void ZfsProcess::Kill() {
  if (reaped_ || pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  CloseFd(data_fd_);
  Wait().IgnoreError();
}

Result<std::string> RunZfsCommand(const std::vector<std::string>& argv) {
  SKIFF_ASSIGN_OR_RETURN(auto p, ZfsProcess::Start(argv, ZfsProcess::Pipe::kStdout));
  std::string out;
  char buf[8192];
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(size_t n, p->Read(buf, sizeof(buf)));
    if (n == 0) break;
    out.append(buf, n);
  }
  SKIFF_RETURN_IF_ERROR(p->Finish());
  return out;
}

}  // namespace skiff::sync
