// A bidirectional, 8-bit-clean byte stream: an SSH subsystem or exec channel in
// production (SshConnection::OpenSubsystem / OpenExec), a pipe to a local process in
// tests (ProcessChannel). The SFTP client and the serve protocol are written on it.
//
// Thread-safety: Write may be called from several threads (writes are serialized, each
// call's bytes stay contiguous); Read is called by one reader thread at a time. Close
// may be called from any thread and wakes a blocked Read or Write with kCancelled.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "transport/status.h"

namespace skiff {

class Channel {
 public:
  virtual ~Channel() = default;
  Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends all of `data`, blocking while the peer's window or the send buffer is full.
  virtual Status Write(std::string_view data) = 0;
  // Sends `head` immediately followed by `tail`, as one Write of their concatenation
  // would (the bytes of concurrent writes never come between them), without the caller
  // concatenating: an SFTP WRITE's header and its payload. Both are copied before it
  // returns. This default concatenates; SshChannel copies each straight into its ring.
  virtual Status WriteGather(std::string_view head, std::string_view tail) {
    std::string all;
    all.reserve(head.size() + tail.size());
    all.append(head).append(tail);
    return Write(all);
  }
  // Reads at least one and at most `n` bytes, blocking until some arrive. Returns 0 at
  // a clean EOF from the peer; kConnectionLost / kTimeout when the transport dies.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // Signals EOF to the peer (no more writes); reads may continue.
  virtual Status SendEof() = 0;
  // Tears the channel down; pending and later calls fail with kCancelled.
  virtual void Close() = 0;
  // Exit status of an exec channel once the peer has closed it, else -1.
  virtual int ExitStatus() const { return -1; }
};

}  // namespace skiff
