// Runs a program to completion and captures its output; used by the test harness to
// drive tests/support/sshd-env and OpenSSH's own clients (ssh, sftp, ssh-keygen).
//
// Thread-safety: RunProcess may be called from several threads at once (posix_spawn, no
// shared state). The child inherits the environment plus `extra_env`; its stdin is
// `input` (then EOF), stdout and stderr are captured separately.
#pragma once

#include <string>
#include <vector>

#include "transport/command_line.h"
#include "transport/status.h"

namespace skiff::testing {

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128 + signal number if killed by a signal
  std::string out;     // everything the child wrote to stdout
  std::string err;     // everything the child wrote to stderr
};

struct ProcessOptions {
  std::string input;                   // written to the child's stdin, then closed
  std::vector<std::string> extra_env;  // "NAME=value" entries added to the environment
};

// Runs argv[0] (looked up in PATH) with argv and waits for it. A failure Status means the
// program could not be run at all; a non-zero exit is reported in exit_code, not as an
// error.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 const ProcessOptions& options = {});

// "argv[0] arg1 ..." for messages (the one implementation, shared with sync/zfs_command).
using skiff::JoinArgv;

}  // namespace skiff::testing
