// `skiff zfs prune`: drop stored streams no kept snapshot needs.
//
// A snapshot is kept when it is among the `keep_last` newest stored snapshots or named
// in `keep`. Restoring a kept snapshot needs its whole chain (the full stream and every
// incremental up to it), so every stream on a kept snapshot's chain is kept, whatever
// its own age. Streams are only ever removed whole-chain-safely: the index is saved
// without them first, then their files are removed, so an interruption leaves at most
// unreferenced files, never an index entry without its file.
//
// Thread-safety: one thread. The store must be opened for writing.
#pragma once

#include <string>
#include <vector>

#include "sync/zfs_stream_store.h"

namespace skiff::sync {

struct ZfsPruneOptions {
  int keep_last = 0;
  std::vector<std::string> keep;  // snapshot names to keep
  bool dry_run = false;
};

struct ZfsPrunePlan {
  std::vector<std::string> kept_snapshots;  // what the options selected
  std::vector<ZfsStreamEntry> keep;         // streams kept (selected and their chains)
  std::vector<ZfsStreamEntry> remove;       // streams removed
};

// Pure: what pruning `index` with `options` keeps and removes. kInvalidArgument when the
// options would keep nothing or name a snapshot that is not stored.
Result<ZfsPrunePlan> PlanZfsPrune(const ZfsStreamIndex& index, const ZfsPruneOptions& options);

// Plans, then (unless dry_run) saves the index without the removed streams and removes
// their files.
Result<ZfsPrunePlan> PruneZfsStore(ZfsStreamStore& store, const ZfsPruneOptions& options);

}  // namespace skiff::sync
