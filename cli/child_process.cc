#include "cli/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace skiff::cli {
namespace {

void CloseIf(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::string QuoteArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) {
        if (c == '\'')
          out += "'\\''";
        else
          out += c;
      }
      out += '\'';
    }
  }
  return out;
}

Result<ChildResult> RunChild(const std::vector<std::string>& argv, const ChildOptions& options) {
  if (argv.empty()) return Status::Invalid("RunChild: empty argv");
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, exec_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {out_pipe, err_pipe, exec_pipe}) {
      CloseIf(p[0]);
      CloseIf(p[1]);
    }
  };
  if ((options.capture_stdout && ::pipe2(out_pipe, O_CLOEXEC) != 0) ||
      (options.tee_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0) ||
      ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close_all();
    return Status::Io(std::string("creating pipes for ") + argv[0] + ": " + std::strerror(err));
  }
  // Everything the child needs is prepared before fork: only async-signal-safe calls after.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const auto& add : options.extra_env) {
    std::string name = add.substr(0, add.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& s) { return s.rfind(name, 0) == 0; });
    env_strings.push_back(add);
  }
  std::vector<char*> envp, cargv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) cargv.push_back(s.data());
  cargv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    close_all();
    return Status::Io(std::string("fork for ") + argv[0] + ": " + std::strerror(err));
  }
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      if (devnull != STDIN_FILENO) ::close(devnull);
    }
    if (out_pipe[1] >= 0) ::dup2(out_pipe[1], STDOUT_FILENO);
    if (err_pipe[1] >= 0) ::dup2(err_pipe[1], STDERR_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(cargv[0], cargv.data(), envp.data());
    int err = errno;
    ssize_t ignored = ::write(exec_pipe[1], &err, sizeof err);
    (void)ignored;
    ::_exit(127);
  }
  CloseIf(out_pipe[1]);
  CloseIf(err_pipe[1]);
  CloseIf(exec_pipe[1]);

  ChildResult result;
  std::string err_tail;
  int fds[2] = {out_pipe[0], err_pipe[0]};
  while (fds[0] >= 0 || fds[1] >= 0) {
    struct pollfd p[2];
    int n = 0;
    for (int fd : fds) {
      if (fd >= 0) p[n++] = {fd, POLLIN, 0};
    }
    if (::poll(p, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = 0; k < n; ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      ssize_t got = ::read(p[k].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      int idx = p[k].fd == fds[0] ? 0 : 1;
      if (got <= 0) {
        CloseIf(fds[idx]);
        continue;
      }
      if (idx == 0) {
        result.out.append(buf, static_cast<size_t>(got));
      } else {
        size_t off = 0;
        while (off < static_cast<size_t>(got)) {
          ssize_t w = ::write(STDERR_FILENO, buf + off, static_cast<size_t>(got) - off);
          if (w <= 0) break;
          off += static_cast<size_t>(w);
        }
        err_tail.append(buf, static_cast<size_t>(got));
        if (err_tail.size() > 16384) err_tail.erase(0, err_tail.size() - 8192);
      }
    }
  }
  out_pipe[0] = err_pipe[0] = -1;  // closed through fds[]

  int exec_errno = 0;
  ssize_t got = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
  CloseIf(exec_pipe[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Status::Io(std::string("waiting for ") + argv[0]);
  }
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    return Status::NotFound("cannot run " + argv[0] + ": " + std::strerror(exec_errno));
  }
  result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  // Last non-empty line of stderr, without a "skiff: error: " style prefix's noise removed.
  size_t end = err_tail.find_last_not_of("\r\n \t");
  if (end != std::string::npos) {
    size_t start = err_tail.rfind('\n', end);
    start = start == std::string::npos ? 0 : start + 1;
    result.last_error_line = err_tail.substr(start, end - start + 1);
  }
  return result;
}

}  // namespace skiff::cli
