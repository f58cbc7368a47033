#include "transport/process_channel.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skiff {
namespace {

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

Result<std::unique_ptr<ProcessChannel>> ProcessChannel::Spawn(std::vector<std::string> argv) {
  if (argv.empty()) return Status::Invalid("ProcessChannel::Spawn: empty command");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Status::Io(Errno("socketpair"));
  }
  // A pipe that the child closes on a successful exec (CLOEXEC) or writes errno into.
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) {
    close(sv[0]);
    close(sv[1]);
    return Status::Io(Errno("pipe"));
  }
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    Status st = Status::Io(Errno("fork"));
    close(sv[0]);
    close(sv[1]);
    close(ep[0]);
    close(ep[1]);
    return st;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    dup2(sv[1], 0);
    dup2(sv[1], 1);
    signal(SIGPIPE, SIG_DFL);
    execvp(cargv[0], cargv.data());
    int e = errno;
    ssize_t ignored = write(ep[1], &e, sizeof e);
    (void)ignored;
    _exit(127);
  }
  close(sv[1]);
  close(ep[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(ep[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(ep[0]);
  if (n == sizeof child_errno) {
    int status;
    waitpid(pid, &status, 0);
    close(sv[0]);
    return Status::Io("cannot start " + argv[0] + ": " + std::strerror(child_errno));
  }
  return std::make_unique<ProcessChannel>(sv[0], pid);
}

ProcessChannel::ProcessChannel(int fd, pid_t pid) : fd_(fd), pid_(pid) {}

ProcessChannel::~ProcessChannel() {
  Close();
  close(fd_);
}

Status ProcessChannel::Write(std::string_view data) {
  std::lock_guard<std::mutex> l(write_mu_);
  while (!data.empty()) {
    if (closed_.load()) return Status(Code::kCancelled, "channel closed");
    ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (closed_.load()) return Status(Code::kCancelled, "channel closed");
      return Status::ConnectionLost(Errno("writing to the peer process"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Result<size_t> ProcessChannel::Read(char* buf, size_t n) {
  for (;;) {
    if (closed_.load()) return Status(Code::kCancelled, "channel closed");
    ssize_t r = recv(fd_, buf, n, 0);
    if (r >= 0) {
      // After Close, shutdown makes recv return 0; report that as cancelled, not EOF.
      if (r == 0 && closed_.load()) return Status(Code::kCancelled, "channel closed");
      return static_cast<size_t>(r);
    }
    if (errno == EINTR) continue;
    if (closed_.load()) return Status(Code::kCancelled, "channel closed");
    return Status::ConnectionLost(Errno("reading from the peer process"));
  }
}

Status ProcessChannel::SendEof() {
  if (shutdown(fd_, SHUT_WR) != 0) return Status::ConnectionLost(Errno("shutdown"));
  return Status::Ok();
}

void ProcessChannel::Close() {
  closed_.store(true);
  shutdown(fd_, SHUT_RDWR);
  if (pid_ <= 0) return;
  std::lock_guard<std::mutex> l(reap_mu_);
  if (reaped_) return;
  int status = 0;
  // Reap a child that already exited; otherwise terminate it.
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) {
    kill(pid_, SIGTERM);
    while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
  }
  reaped_ = true;
  if (r == pid_) exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int ProcessChannel::ExitStatus() const {
  std::lock_guard<std::mutex> l(reap_mu_);
  return exit_status_;
}

}  // namespace skiff
