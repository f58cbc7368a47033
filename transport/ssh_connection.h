// One authenticated SSH connection (libssh 0.10) carrying any number of channels.
//
// Connect() resolves ssh_config (ssh_options.h), opens TCP (or runs ProxyCommand),
// verifies the host key against known_hosts, authenticates (ssh-agent, then identity
// files, prompting for a passphrase only on a TTY) and then hands the libssh session to
// one I/O thread that owns it from then on: libssh is not thread-safe. Other threads
// talk to that thread through a queue and an eventfd wakeup (OpenSubsystem/OpenExec),
// and through the bounded per-channel buffers of SshChannel.
//
// Host keys: an unknown key is refused unless the policy is accept-new (then it is
// recorded in the first UserKnownHostsFile); a changed key is always refused. Messages
// name the host, the key type and SHA256 fingerprint, and what to do.
//
// Liveness: every keepalive_interval without a byte from the server a keepalive request
// is sent; after keepalive_count_max such intervals with nothing received the
// connection fails with kTimeout, so a silently dropped network is noticed within
// interval * (count_max + 1). A closed socket fails with kConnectionLost at once.
//
// Errors: libssh and socket errors become a Status here and only here. Connect fails
// with kHostKey, kAuth, kTimeout, kConnectionLost (retryable) or kInvalidArgument.
//
// Thread-safety: every method may be called from any thread. Ownership: shared; each
// channel keeps its connection alive, and the last reference stops the I/O thread and
// disconnects. State after failure: once the connection has died, health() returns the
// cause and every channel and Open call fails with it; a new Connect is needed.
#pragma once

#include <memory>
#include <string>

#include "transport/channel.h"
#include "transport/ssh_options.h"
#include "transport/status.h"

namespace skiff {

class SshConnection : public std::enable_shared_from_this<SshConnection> {
 public:
  static Result<std::shared_ptr<SshConnection>> Connect(const SshOptions& options);
  static Result<std::shared_ptr<SshConnection>> Connect(const SshConfig& config);
  ~SshConnection();
  SshConnection(const SshConnection&) = delete;
  SshConnection& operator=(const SshConnection&) = delete;

  // Opens a session channel and starts a subsystem ("sftp") on it.
  Result<std::unique_ptr<Channel>> OpenSubsystem(const std::string& name);
  // Opens a session channel running `command` through the user's shell. The returned
  // Channel is an SshChannel (StderrTail() holds the end of the command's stderr).
  Result<std::unique_ptr<Channel>> OpenExec(const std::string& command);

  // OK while the connection is usable, else why it died.
  Status health() const;
  const SshConfig& config() const;
  // "user@host:port" for messages.
  std::string Describe() const;
  // How many times the I/O thread slept a whole poll timeout while a channel had bytes
  // queued to send and window to send them: each is a lost wakeup (a request delayed by
  // up to a second). Always 0 unless there is a bug; tests check it.
  uint64_t missed_wakeups() const;

  // Wakes the I/O thread (used by SshChannel after it changed a buffer).
  void Wake();

  struct Impl;  // libssh state and the I/O thread (ssh_connection.cc)

 private:
  explicit SshConnection(std::unique_ptr<Impl> impl);
  Result<std::unique_ptr<Channel>> Open(bool exec, const std::string& arg);
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff
