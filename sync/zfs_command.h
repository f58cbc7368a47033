// Running `zfs` / `zpool` as child processes: argv only (execvp, never a shell), stderr
// captured so that a failure is reported with zfs's own message.
//
// ZfsProcess is one running child with at most one data pipe: its stdout (`zfs send`) or
// its stdin (`zfs receive`). stderr is drained by a helper thread into a bounded buffer
// (the last kStderrLimit bytes are kept), so a chatty child never blocks on it.
//
// The program name "zfs"/"zpool" is looked up in PATH; $SKIFF_ZFS / $SKIFF_ZPOOL override
// it (tests and unusual installs).
//
// Thread-safety: one ZfsProcess is used by one thread at a time (Read/Write from one
// thread, then Finish). Ownership: the object owns the child; destroying it without
// Finish() kills the child (SIGTERM) and reaps it, so no zombie and no half-fed
// `zfs receive` outlives a failed transfer. State after failure: a failed Read/Write
// leaves the child running until Finish() or Kill().
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "transport/status.h"

namespace skiff::sync {

// The argv[0] to use for "zfs" or "zpool" (honours $SKIFF_ZFS / $SKIFF_ZPOOL).
std::string ZfsProgram(std::string_view name);

class ZfsProcess {
 public:
  enum class Pipe { kNone, kStdout, kStdin };

  // Starts argv. With kStdout we read the child's stdout; with kStdin we write its stdin;
  // the other standard stream is /dev/null. Fails if the program cannot be started
  // (the message names the program and the reason, e.g. "zfs: not found in PATH").
  static Result<std::unique_ptr<ZfsProcess>> Start(std::vector<std::string> argv, Pipe pipe);
  ~ZfsProcess();
  ZfsProcess(const ZfsProcess&) = delete;
  ZfsProcess& operator=(const ZfsProcess&) = delete;

  // kStdout only: reads up to `n` bytes; 0 at EOF.
  Result<size_t> Read(char* buf, size_t n);
  // kStdin only: writes all of `data`. If the child has exited (EPIPE) the error carries
  // the child's own message.
  Status Write(std::string_view data);
  // Closes our pipe end, waits for the child, and returns OK on exit status 0; otherwise
  // an error whose message is "<argv>: <zfs's stderr>" (or the exit status if silent).
  Status Finish();
  // Terminates the child (SIGTERM) and reaps it. Idempotent.
  void Kill();

  pid_t pid() const { return pid_; }
  const std::string& command_line() const { return display_; }

 private:
  ZfsProcess() = default;
  Status Wait();
  std::string StderrText();
  Status ChildFailed(const std::string& what);

  pid_t pid_ = -1;
  int data_fd_ = -1;
  int err_fd_ = -1;
  Pipe pipe_ = Pipe::kNone;
  std::string display_;
  std::thread err_thread_;
  std::string err_;  // written only by err_thread_ until it is joined
  bool reaped_ = false;
  int exit_code_ = -1;
};

// Runs argv to completion with no input; returns its stdout, or the failure with zfs's
// own message.
Result<std::string> RunZfsCommand(const std::vector<std::string>& argv);

}  // namespace skiff::sync
