// The one self-overwriting progress line on stderr that backup, restore, cp and the zfs
// commands share.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace skiff::cli {

// Draws "[LABEL: ][N files, ]DONE[ of TOTAL], RATE/s[, ETA …]" on stderr, at most four times
// a second (and always when an item completes). Draws nothing unless constructed enabled:
// callers pass "stderr is a terminal and neither --quiet nor --json" (see ForTerminal).
// The rate and ETA are measured from the first update of the current label, so a
// command that moves from item to item (cp's files, zfs's snapshots) shows each one's
// own rate; they are left out until half a second has been measured, rather than
// showing "0 B/s" on the first draw. Not thread-safe: call from one thread.
class ProgressLine {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // `out` (stderr unless a test passes its own stream) must outlive the line; `clock`
  // is steady_clock::now unless a test passes its own.
  explicit ProgressLine(bool enabled, std::FILE* out = stderr, Clock clock = {});
  ~ProgressLine();  // Clear()
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // enabled = !quiet and stderr is a terminal.
  static bool ForTerminal(bool quiet);

  // `total` 0 means unknown (no "of", no ETA); `files` < 0 leaves the file count out.
  void Update(std::string_view label, uint64_t done, uint64_t total, int64_t files = -1);
  // Erases the line (before other output, and at the end).
  void Clear();
  // Ends the line with a newline so it stays on screen (cp: one line per file, like scp).
  void Keep();

 private:
  bool enabled_;
  std::FILE* out_;
  Clock clock_;
  bool shown_ = false;
  std::string label_;
  std::chrono::steady_clock::time_point start_, last_;
};

// 1536 -> "1.5 KiB"; bytes below 1 KiB without a decimal.
std::string HumanBytes(double bytes);

}  // namespace skiff::cli
