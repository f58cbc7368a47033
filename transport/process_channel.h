// A Channel over a local process's stdin/stdout (a socketpair), or over any connected
// stream socket handed in. Tests run the real /usr/lib/openssh/sftp-server through it,
// giving a genuine SFTP server without SSH; fake servers in tests use a socketpair.
//
// Thread-safety: as Channel. Close() may be called from any thread: it shuts the socket
// down (waking a blocked Read or Write with kCancelled), then terminates the child with
// SIGTERM and reaps it by pid. The destructor does the same and closes the descriptor.
// The child's stderr is inherited.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "transport/channel.h"

namespace skiff {

class ProcessChannel : public Channel {
 public:
  // Starts argv[0] (looked up in PATH) with `argv`, its stdin and stdout connected to
  // the returned channel. Fails with kInvalidArgument for an empty argv and kIo when
  // the process cannot be started (the message names the program).
  static Result<std::unique_ptr<ProcessChannel>> Spawn(std::vector<std::string> argv);

  // Adopts a connected stream socket `fd` (closed by the destructor); `pid` > 0 is a
  // child to terminate and reap on Close, or -1 for none.
  ProcessChannel(int fd, pid_t pid);
  ~ProcessChannel() override;

  Status Write(std::string_view data) override;
  Result<size_t> Read(char* buf, size_t n) override;
  Status SendEof() override;
  void Close() override;
  // The child's exit status once it has been reaped (after Close), else -1.
  int ExitStatus() const override;

  pid_t pid() const { return pid_; }

 private:
  const int fd_;
  const pid_t pid_;
  std::atomic<bool> closed_{false};
  std::mutex write_mu_;         // serializes Write so each call's bytes stay contiguous
  mutable std::mutex reap_mu_;  // guards exit_status_ and the one-time reaping
  bool reaped_ = false;
  int exit_status_ = -1;
};

}  // namespace skiff
