// Runs a helper program (a hook through /bin/sh, or skiff itself as a subcommand) to
// completion for `skiff run`, without a shell unless the argv names one.
//
// stdin is /dev/null. stdout is captured when `capture_stdout` (for --json summaries),
// else inherited. stderr is inherited when `tee_stderr` is false; when true it is read
// through a pipe, copied to our stderr as it arrives, and its last non-empty line is kept
// for the failure message. The child gets our environment plus `extra_env`.
//
// Thread-compatible: uses fork/exec and waits for the child; no shared state.
#pragma once

#include <string>
#include <vector>

#include "transport/status.h"

namespace skiff::cli {

struct ChildOptions {
  bool capture_stdout = false;
  bool tee_stderr = false;
  std::vector<std::string> extra_env;  // "NAME=value"
};

struct ChildResult {
  int exit_code = -1;           // exit status, or 128 + signal if killed by a signal
  std::string out;              // captured stdout (when asked)
  std::string last_error_line;  // last non-empty stderr line (when teeing)
};

// A failure Status means the program could not be started (fork/pipe failure, or exec
// failed: then exit_code would have been 127 and the message says why).
Result<ChildResult> RunChild(const std::vector<std::string>& argv, const ChildOptions& options);

// "a b 'c d'": argv quoted for display in logs (not for a shell to run).
std::string QuoteArgv(const std::vector<std::string>& argv);

}  // namespace skiff::cli
