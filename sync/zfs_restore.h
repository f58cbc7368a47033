// `skiff zfs restore`: fetch the chain of streams that produces one stored snapshot and
// pipe it, in order, into the local `zfs receive`.
//
// Every stream file of the chain is read and checked (size and xxh128 against the
// index) BEFORE anything is piped into `zfs receive`, so a damaged store never gets as
// far as the pool. The streams are then read again while piping and checked again; a
// file that changed in between aborts that `zfs receive` (killed before its input
// ends, so ZFS commits nothing of that stream).
//
// The target dataset must not exist: restore never overwrites a dataset. The full
// stream creates it; incrementals are received with -F, which only rolls back changes
// made to the new dataset since the previous stream (e.g. atime updates on a mounted
// zfs-fuse dataset).
//
// Thread-safety: one thread. State after failure: streams received before the failure
// stay received (the dataset then holds an older snapshot of the chain).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sync/zfs_host.h"
#include "sync/zfs_stream_store.h"

namespace skiff::sync {

struct ZfsRestoreOptions {
  std::string snapshot;        // stored snapshot name; "" = the newest stored
  std::string target_dataset;  // pool/new-fs
  // phase is "verify" or "receive"; bytes done of total in that phase.
  std::function<void(const std::string& phase, uint64_t done, uint64_t total)> progress;
};

struct ZfsRestoreResult {
  std::vector<ZfsStreamEntry> chain;  // the streams received, in order
  uint64_t bytes = 0;
};

// The chain that produces `snapshot` ("" = newest) in `index`.
Result<std::vector<ZfsStreamEntry>> ZfsRestoreChain(const ZfsStreamIndex& index,
                                                    const std::string& snapshot);

Result<ZfsRestoreResult> RestoreZfsChain(ZfsStreamStore& store, ZfsHost& host,
                                         const ZfsRestoreOptions& options);

}  // namespace skiff::sync
