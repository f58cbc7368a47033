// `skiff check`: verifies every snapshot's manifest against the tree on the server.
//
// For each snapshot the manifest is read (and its trailer hash verified) while the
// server's tree is walked in the same order, so both stream. Reported as problems:
// entries missing on the server, entries on the server that the manifest lacks, type,
// size, mode or mtime differences, wrong symlink targets, snapshot directories without a
// manifest, unreadable manifests; with `read_data` also every file whose content does
// not hash to the manifest's xxh128 (the whole file is read).
//
// Read-only: takes no lock. Not thread-safe; the Repository must outlive the call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sync/repository.h"

namespace skiff::sync {

struct CheckOptions {
  bool read_data = false;
  std::vector<std::string> snapshots;  // empty = all
  std::function<void(const std::string& snapshot, const std::string& problem)> problem;
};

struct CheckStats {
  uint64_t snapshots = 0, entries = 0, problems = 0, bytes_read = 0;
};

Result<CheckStats> CheckRepository(const Repository& repo, const CheckOptions& opts);

}  // namespace skiff::sync
