// A private OpenSSH sshd on 127.0.0.1 for integration tests.
//
// SshdFixture drives tests/support/sshd-env (the same setup scripts and benchmarks use):
// a free loopback port, a generated ed25519 host key and user keys, its own sshd_config,
// pid file and log, in a fresh directory under /tmp plus a root-owned base under
// /var/lib/skiff-test (ChrootDirectory needs a root-owned path). sshd runs as root in its
// own session (setsid). Stopping it stops everything it started: its process group, its
// descendants (per-connection sshd and session commands, which call setsid() themselves)
// and session processes marked SKIFF_SSHD_ENV_DIR=dir() (sshd_config SetEnv); never
// anything else. The machine's sshd and ~/.ssh are never touched.
//
// Accounts, reachable through the Host aliases in ssh_config_path():
//   skiff-plain       a normal shell account; plain_local_dir() is a writable directory
//                     (world-writable, so root-run tests can put and check files there).
//                     AddPlainKey() adds more identities for it.
//   skiff-sftp        Match block with ForceCommand internal-sftp and a root-owned
//                     ChrootDirectory holding only data/ (sftp_remote_dir() == "/data");
//                     no shell, no binaries.
//   skiff-restricted  every key carries authorized_keys options; the alias's default key
//                     has restrict,command="/usr/lib/openssh/sftp-server" (SFTP only);
//                     AddRestrictedKey() adds keys with other options.
// Each alias sets HostName 127.0.0.1, Port, User, IdentityFile, IdentitiesOnly yes,
// UserKnownHostsFile known_hosts_path() (holding the host key as [127.0.0.1]:port and
// [localhost]:port), StrictHostKeyChecking yes and BatchMode yes.
//
// Usage: as a Boost fixture (BOOST_FIXTURE_TEST_CASE(t, skiff::testing::SshdFixture));
// the default constructor starts sshd and throws std::runtime_error (with the sshd log
// tail) if it cannot, which fails the test case with that message. Create() is the
// Status-returning alternative. The destructor stops sshd and removes every file.
//
// Thread-safety: accessors are safe from any thread; Start/Stop/Add*Key must not run
// concurrently with each other. Requires root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "transport/status.h"

namespace skiff::testing {

class SshdFixture {
 public:
  // Sets up and starts sshd; throws std::runtime_error on failure.
  SshdFixture();
  // Same, as a Result.
  static Result<std::unique_ptr<SshdFixture>> Create();
  // Stops sshd and its sessions (SIGTERM, then SIGKILL after a bound) and removes its
  // directories; prints what survived SIGKILL, if anything, to stderr.
  ~SshdFixture();
  SshdFixture(const SshdFixture&) = delete;
  SshdFixture& operator=(const SshdFixture&) = delete;

  // Stops sshd and ends its open sessions, keeping keys, config and port: connections
  // then fail (port refuses) until Start(). Fails naming any process that survived
  // SIGKILL. Idempotent.
  Status Stop();
  // Starts sshd again on the same port with the same host key. Idempotent.
  Status Start();
  // pid of the running sshd listener, 0 while stopped.
  pid_t pid() const;

  uint16_t port() const { return port_; }
  // The directory holding sshd_config, ssh_config, known_hosts, keys/, sshd.log.
  const std::string& dir() const { return dir_; }
  std::string ssh_config_path() const { return dir_ + "/ssh_config"; }
  std::string known_hosts_path() const { return dir_ + "/known_hosts"; }
  std::string sshd_log_path() const { return dir_ + "/sshd.log"; }
  // Private keys of the three aliases' default identities.
  std::string plain_key_path() const { return dir_ + "/keys/plain"; }
  std::string sftp_key_path() const { return dir_ + "/keys/sftp"; }
  std::string restricted_key_path() const { return dir_ + "/keys/restricted"; }

  // skiff-plain's writable directory; the same absolute path locally and on the server.
  const std::string& plain_local_dir() const { return plain_local_dir_; }
  const std::string& plain_remote_dir() const { return plain_remote_dir_; }
  // skiff-sftp's writable directory inside the chroot: a local path, and "/data".
  const std::string& sftp_local_dir() const { return sftp_local_dir_; }
  const std::string& sftp_remote_dir() const { return sftp_remote_dir_; }

  // A new identity for skiff-restricted whose authorized_keys line carries
  // `authorized_keys_options` (e.g. R"(restrict,command="echo hi")"); returns the
  // private key's path. Use it with `-i KEY skiff-restricted`.
  Result<std::string> AddRestrictedKey(const std::string& authorized_keys_options);
  // Another identity for skiff-plain (options may be empty); returns its path.
  Result<std::string> AddPlainKey(const std::string& authorized_keys_options = "");

  // Trusts this sshd's host key on 127.0.0.1:port as well, for clients that reach it
  // through a FaultProxy (connect with `-p PORT` or `-o Port=PORT` and the same aliases).
  Status TrustPort(uint16_t port);

  // Last `lines` lines of sshd's log, for failure messages.
  std::string LogTail(int lines = 30) const;

  // Path of the sshd-env script (SKIFF_SSHD_ENV overrides the built-in source path).
  static std::string SshdEnvPath();

 private:
  SshdFixture(std::string dir, bool);
  Status Setup();
  Result<std::string> AddKey(const std::string& user, const std::string& options);

  std::string dir_;
  uint16_t port_ = 0;
  std::string plain_local_dir_, plain_remote_dir_, sftp_local_dir_, sftp_remote_dir_;
  bool started_ = false;  // sshd-env start succeeded: the destructor must run stop
};

}  // namespace skiff::testing
