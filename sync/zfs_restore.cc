#include "sync/zfs_restore.h"

namespace skiff::sync {

Result<std::vector<ZfsStreamEntry>> ZfsRestoreChain(const ZfsStreamIndex& index,
                                                    const std::string& snapshot) {
  const ZfsStreamEntry* e = snapshot.empty() ? index.Newest() : index.FindName(snapshot);
  if (!e) {
    if (snapshot.empty()) return Status::NotFound("no zfs streams are stored");
    std::string names;
    for (const auto& s : index.streams()) names += (names.empty() ? "" : ", ") + s.snapshot;
    return Status::NotFound("snapshot @" + snapshot + " is not stored (stored: " + names + ")");
  }
  return index.ChainTo(e->guid);
}

Result<ZfsRestoreResult> RestoreZfsChain(ZfsStreamStore& store, ZfsHost& host,
                                         const ZfsRestoreOptions& o) {
  ZfsRestoreResult result;
  SKIFF_ASSIGN_OR_RETURN(result.chain, ZfsRestoreChain(store.index(), o.snapshot));
  SKIFF_ASSIGN_OR_RETURN(bool exists, host.DatasetExists(o.target_dataset));
  if (exists)
    return Status::Exists(o.target_dataset +
                          " already exists; restore into a new dataset name (restore never "
                          "overwrites a dataset)");
  uint64_t total = 0;
  for (const auto& e : result.chain) total += e.size;
  // Pass 1: every file intact before `zfs receive` sees a byte.
  uint64_t done = 0;
  for (const auto& e : result.chain) {
    Status st = store.Verify(e, [&](uint64_t n) {
      if (o.progress) o.progress("verify", done + n, total);
    });
    if (!st.ok())
      return st.WithContext("verifying @" + e.snapshot + " before receiving (nothing received)");
    done += e.size;
  }
  // Pass 2: pipe in order.
  done = 0;
  for (size_t i = 0; i < result.chain.size(); ++i) {
    const ZfsStreamEntry& e = result.chain[i];
    SKIFF_ASSIGN_OR_RETURN(auto sink, host.Receive(o.target_dataset, /*force=*/i > 0));
    Status st = store.ReadStream(
        e, [&](std::string_view data) { return sink->Write(data); },
        [&](uint64_t n) {
          if (o.progress) o.progress("receive", done + n, total);
        });
    if (!st.ok()) {
      sink.reset();  // aborts the receive before its input ends
      return st.WithContext("receiving @" + e.snapshot + " into " + o.target_dataset);
    }
    SKIFF_RETURN_IF_ERROR(sink->Finish());
    done += e.size;
    result.bytes += e.size;
  }
  return result;
}

}  // namespace skiff::sync
