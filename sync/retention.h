// Retention rules of `skiff prune`: which snapshots to keep. Pure logic; thread-safe.
//
// Snapshots are identified by their names ("2026-11-22T031500Z", optionally followed by
// ".N" when several were taken within one second), which encode their UTC start time.
// Rules, each optional, are the union of (as restic and borg define them):
//   keep_last N            the N newest snapshots
//   keep_hourly/daily/weekly/monthly/yearly N
//                          for the N newest hours (days, ISO weeks, months, years) that
//                          hold a snapshot, the newest snapshot in each
//   keep_within D          every snapshot taken less than D seconds before `now` (now,
//                          not the newest snapshot: a client that adds junk snapshots with
//                          future names cannot push real ones out of the window)
// A snapshot is removed only if no rule keeps it. With no rule at all nothing is decided:
// callers must refuse (ApplyRetention returns kInvalidArgument).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "transport/status.h"

namespace skiff::sync {

struct RetentionPolicy {
  int keep_last = 0, keep_hourly = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0,
      keep_yearly = 0;
  int64_t keep_within_seconds = 0;
  bool Empty() const;
};

struct RetentionDecision {
  std::string name;
  bool keep = false;
  std::vector<std::string> reasons;  // e.g. "last", "daily", "within"; empty if removed
};

// Decides for each snapshot; the result is sorted newest first. Names that are not
// snapshot names give kInvalidArgument.
Result<std::vector<RetentionDecision>> ApplyRetention(const std::vector<std::string>& names,
                                                      const RetentionPolicy& policy, int64_t now);

// "2026-11-22T031500Z[.N]" -> seconds since the epoch (UTC); nullopt if malformed.
std::optional<int64_t> ParseSnapshotName(const std::string& name);
// The name of a snapshot started at `t` (without the ".N" suffix).
std::string FormatSnapshotName(int64_t t);

// "90d", "12h", "2w", "1y6m" (y = 365 days, m = 30 days, w, d, h, plus s) -> seconds.
Result<int64_t> ParseDuration(const std::string& s);

}  // namespace skiff::sync
