// Shared plumbing of the backup commands (backup, snapshots, restore, prune, check, diff):
// opening a repository from the command line, JSON output, and
// the mapping of a failure to an exit code. Not thread-safe (used from main only).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sync/repo_connect.h"
#include "sync/repository.h"
#include "sync/serve_source_fs.h"
#include "transport/ssh_options.h"

namespace skiff::cli {

struct OpenRepo {
  sync::RepoConnection conn;
  std::optional<sync::Repository> repo;
};

// Connects and opens (with `create`, initialises) the repository named by `arg`.
Result<std::unique_ptr<OpenRepo>> OpenRepository(const std::string& arg, const SshOptions& ssh,
                                                 bool create);

// The source side of a pull backup: connects to `ssh.host` and opens `skiff serve`
// there (a key with `skiff serve --read-only --root DIR`). A peer that is not a serve
// endpoint gives kUnsupported saying what the key needs.
Result<std::unique_ptr<sync::ServeSourceFs>> ConnectPullSource(const SshOptions& ssh);

// Prints "skiff CMD: <status>" and returns 75 for an unreachable server, else 2.
int FailWith(const std::string& command, const Status& st);

// "a\"b" with JSON escaping.
std::string JsonString(std::string_view s);

// Takes "--flag" out of args; true if it was there.
bool TakeFlag(std::vector<std::string>& args, std::string_view flag);
// Takes "--name VALUE" and "--name=VALUE" (all occurrences); error if VALUE is missing.
Result<std::vector<std::string>> TakeValues(std::vector<std::string>& args, std::string_view name);

}  // namespace skiff::cli
