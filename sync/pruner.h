// `skiff prune`: removes whole snapshots that no retention rule keeps (retention.h),
// then the signatures no remaining manifest refers to.
//
// A snapshot is removed by renaming snapshots/NAME to snapshots/.deleting-NAME (one
// rename: it stops being a snapshot at once), removing its manifest, then deleting the
// tree; leftovers of an interrupted prune are finished by the next one. Files shared by
// hard links with kept snapshots stay, as the server's filesystem keeps them.
// Takes the repository lock (not with dry_run). Not thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "sync/repo_lock.h"
#include "sync/repository.h"
#include "sync/retention.h"

namespace skiff::sync {

struct PruneOptions {
  RetentionPolicy policy;
  int64_t now = 0;
  bool dry_run = false;
  LockIdentity lock;
  std::function<void(const std::string&)> note;  // progress / warnings
};

struct PruneResult {
  std::vector<RetentionDecision> decisions;  // newest first
  uint64_t removed = 0, signatures_removed = 0;
};

Result<PruneResult> Prune(const Repository& repo, const PruneOptions& opts);

}  // namespace skiff::sync
