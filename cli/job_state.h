// The local record of a backup job's runs: what `skiff run` writes after each run and
// what `skiff status` reads. One JSON file per job, STATE_DIR/JOB.json, replaced
// atomically (write a temporary file in the same directory, fsync, rename, fsync the
// directory), so a reader sees either the previous or the new record, never a torn one.
//
// Times are Unix seconds (UTC); 0 means "never". Optional figures are unknown when the
// backup did not report them. Plain value type; the functions are thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "transport/status.h"

namespace skiff::cli {

struct JobState {
  std::string job;
  std::string repository;
  // The most recent run.
  int64_t last_run_start = 0;
  int64_t last_run_end = 0;
  int last_exit_code = 0;
  std::string last_result;  // "success", "warnings", "failure", "unreachable", "busy"
  // Last success (exit 0 or 1 of the backup) and last failure with its message.
  int64_t last_success = 0;
  int64_t last_failure = 0;
  std::string last_failure_message;
  int64_t consecutive_failures = 0;
  int64_t last_check = 0;  // last completed `skiff check`, for check-every
  // Repository figures from the last successful run.
  std::optional<int64_t> snapshot_count;
  std::optional<int64_t> repository_bytes;  // only when a backup reports it
  std::string newest_snapshot;              // its name, e.g. "2026-11-22T001000Z"
  int64_t newest_snapshot_time = 0;
  std::optional<int64_t> snapshot_bytes;  // bytes of files in the newest snapshot
};

// STATE_DIR/JOB.json
std::string StateFilePath(const std::string& state_dir, const std::string& job);

// Reads a state file. A missing file yields NotFound (the job has never run).
Result<JobState> LoadJobState(const std::string& path);

// Creates the directory (mode 0755, parents too) when needed, then replaces the file.
Status SaveJobState(const std::string& path, const JobState& state);

// Serialisation, exposed for tests.
std::string JobStateToJson(const JobState& state);
Result<JobState> JobStateFromJson(const std::string& text, const std::string& path);

// "3h 12m", "2d 4h", "45s": a compact rendering of a non-negative duration.
std::string FormatAge(int64_t seconds);

// "2026-11-22 00:10:00 UTC"
std::string FormatTime(int64_t unix_seconds);

// 1536 -> "1.5 KiB"
std::string FormatBytes(int64_t bytes);

// The human-readable block `skiff status` prints for one job.
std::string FormatStatus(const JobState& state, int64_t now);

// Node-exporter textfile metrics for the given jobs (HELP/TYPE once per metric).
std::string FormatPrometheus(const std::vector<JobState>& states, int64_t now);

// Empty when the job's last success is at most `max_age` seconds old at `now`; otherwise
// the reason it is too old (never succeeded, or "last success 30h ago").
std::string StalenessProblem(const JobState& state, int64_t max_age, int64_t now);

// Writes `content` to `path` atomically (temporary file + fsync + rename) with `mode`.
Status WriteFileAtomically(const std::string& path, const std::string& content, unsigned mode);

// mkdir -p with `mode` for the created components.
Status MakeDirs(const std::string& path, unsigned mode);

}  // namespace skiff::cli
