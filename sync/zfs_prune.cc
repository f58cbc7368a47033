#include "sync/zfs_prune.h"

#include <set>

namespace skiff::sync {

Result<ZfsPrunePlan> PlanZfsPrune(const ZfsStreamIndex& index, const ZfsPruneOptions& o) {
  if (o.keep_last < 0) return Status::Invalid("--keep-last must not be negative");
  if (o.keep_last == 0 && o.keep.empty())
    return Status::Invalid("prune would keep nothing: give --keep-last N (N >= 1) or --keep NAME");
  ZfsPrunePlan plan;
  const auto& all = index.streams();
  std::set<uint64_t> selected;
  size_t n = std::min<size_t>(static_cast<size_t>(o.keep_last), all.size());
  for (size_t i = all.size() - n; i < all.size(); ++i) selected.insert(all[i].guid);
  for (const auto& name : o.keep) {
    const ZfsStreamEntry* e = index.FindName(name);
    if (!e) return Status::Invalid("--keep " + name + ": no such snapshot is stored");
    selected.insert(e->guid);
  }
  std::set<uint64_t> needed;
  for (const auto& e : all) {
    if (!selected.count(e.guid)) continue;
    plan.kept_snapshots.push_back(e.snapshot);
    SKIFF_ASSIGN_OR_RETURN(auto chain, index.ChainTo(e.guid));
    for (const auto& c : chain) needed.insert(c.guid);
  }
  for (const auto& e : all) (needed.count(e.guid) ? plan.keep : plan.remove).push_back(e);
  return plan;
}

Result<ZfsPrunePlan> PruneZfsStore(ZfsStreamStore& store, const ZfsPruneOptions& o) {
  SKIFF_ASSIGN_OR_RETURN(ZfsPrunePlan plan, PlanZfsPrune(store.index(), o));
  if (o.dry_run || plan.remove.empty()) return plan;
  ZfsStreamIndex next = store.index();
  std::vector<uint64_t> guids;
  for (const auto& e : plan.remove) guids.push_back(e.guid);
  next.Remove(guids);
  SKIFF_RETURN_IF_ERROR(store.SaveIndex(next));
  SKIFF_RETURN_IF_ERROR(store.RemoveFiles(plan.remove));
  return plan;
}

}  // namespace skiff::sync
