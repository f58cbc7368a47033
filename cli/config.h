// skiff.conf: the configuration file that names backup jobs for `skiff run` and
// `skiff status` (format documented in doc/skiff.conf.5 and contrib/skiff.conf.example).
//
//   # comment            ; comment
//   [global]
//   state-dir = /var/lib/skiff/state
//   [job home]
//   source = /home                      (repeat a key to build a list)
//   repository = backup@nas:/srv/skiff/laptop
//   keep-daily = 14
//
// Parsing is all-or-nothing: a malformed file yields one Status whose message is
// "FILE:LINE: problem" and no partial Config. Values run to the end of the line
// (no inline comments, so hooks may contain '#'); surrounding blanks are trimmed and a
// value wholly enclosed in double quotes loses the quotes.
//
// Thread-safety: plain values; the functions are pure apart from LoadConfig's file read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transport/status.h"

namespace skiff::cli {

// Retention rules, passed to `skiff prune` as --keep-* flags. Unset means "not given".
struct KeepRules {
  std::optional<int64_t> last, hourly, daily, weekly, monthly, yearly;
  std::string within;  // a duration as written ("30d"), validated by ParseDuration
  bool Any() const {
    return last || hourly || daily || weekly || monthly || yearly || !within.empty();
  }
};

struct JobConfig {
  std::string name;
  int line = 0;  // line of the [job NAME] header, for messages
  std::vector<std::string> sources;
  std::string repository;
  std::vector<std::string> excludes;
  std::vector<std::string> exclude_from;
  bool one_file_system = false;
  // SSH: become -i / -F / -p / -o flags of the child commands.
  std::vector<std::string> identity_files;
  std::string ssh_config;
  std::optional<int64_t> port;
  std::vector<std::string> ssh_options;  // "Option=value"
  // Hooks, each run with /bin/sh -c. A failing pre-hook aborts the job.
  std::string pre_hook;
  std::string post_hook;
  std::optional<uint64_t> bandwidth_limit;  // bytes per second
  KeepRules keep;
  bool check = false;            // run `skiff check` after the backup
  bool check_read_data = false;  // ... with --read-data
  int64_t check_every = 0;       // seconds; 0 = on every run, else when the last is older
  std::vector<std::string> backup_options;  // extra raw flags for `skiff backup`
};

struct GlobalConfig {
  std::string state_dir;  // empty: DefaultStateDir()
  std::string lock_dir;   // empty: DefaultLockDir()
};

struct Config {
  std::string path;
  GlobalConfig global;
  std::vector<JobConfig> jobs;  // in file order

  const JobConfig* FindJob(std::string_view name) const;
};

// Parses `text`; `path` is only used in messages.
Result<Config> ParseConfig(std::string_view text, const std::string& path);

// Reads and parses the file at `path`.
Result<Config> LoadConfig(const std::string& path);

// /etc/skiff/skiff.conf for root, else $XDG_CONFIG_HOME/skiff/skiff.conf
// (~/.config/skiff/skiff.conf).
std::string DefaultConfigPath();

// The config file to use: `flag` (from --config) when set, else $SKIFF_CONFIG when set,
// else DefaultConfigPath().
std::string ResolveConfigPath(const std::string& flag);

// /var/lib/skiff/state for root, else $XDG_STATE_HOME/skiff (~/.local/state/skiff).
std::string DefaultStateDir();

// /run/skiff for root, else $XDG_RUNTIME_DIR/skiff, else the state dir.
std::string DefaultLockDir();

// "90", "90s", "15min", "26h", "7d", "2w", "6m", "1y", and sums like "1d12h" -> seconds.
// As in `skiff prune --keep-within`, m is a month (30 days) and y 365 days; minutes are
// "min". Rejects empty, negative and unknown units.
Result<int64_t> ParseDuration(std::string_view text);

// "500K", "2M", "1G" (binary multiples, bytes per second), or a plain byte count.
Result<uint64_t> ParseByteRate(std::string_view text);

// A job name usable as a file name and systemd instance: [A-Za-z0-9._-]+, not "." or "..".
bool IsValidJobName(std::string_view name);

}  // namespace skiff::cli
