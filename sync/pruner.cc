#include "sync/pruner.h"

#include <unordered_set>

#include "sync/content_hash.h"
#include "sync/manifest.h"
#include "sync/manifest_cache.h"

namespace skiff::sync {

Result<PruneResult> Prune(const Repository& repo, const PruneOptions& opts) {
  RemoteFs& fs = repo.fs();
  PruneResult result;
  std::unique_ptr<RepoLock> lock;
  if (!opts.dry_run) {
    std::string broke;
    SKIFF_ASSIGN_OR_RETURN(lock, RepoLock::Acquire(repo, opts.lock, &broke));
    if (!broke.empty() && opts.note) opts.note(broke);
  }
  SKIFF_ASSIGN_OR_RETURN(auto names, repo.ListSnapshots());
  SKIFF_ASSIGN_OR_RETURN(result.decisions, ApplyRetention(names, opts.policy, opts.now));
  if (opts.dry_run) return result;

  for (const auto& d : result.decisions) {
    if (d.keep) continue;
    std::string doomed = repo.Path("snapshots/.deleting-" + d.name);
    SKIFF_RETURN_IF_ERROR(fs.Rename(repo.SnapshotDir(d.name), doomed, RenameMode::kNoReplace)
                              .WithContext("removing snapshot " + d.name));
    Status st = fs.Remove(repo.ManifestPath(d.name));
    if (!st.ok() && !st.Is(Code::kNotFound)) return st.WithContext("removing manifest");
    ++result.removed;
  }
  // Delete the trees (also those left by an interrupted prune).
  SKIFF_ASSIGN_OR_RETURN(auto dirs, fs.ReadDir(repo.Path("snapshots")));
  for (const auto& e : dirs)
    if (e.name.rfind(".deleting-", 0) == 0)
      SKIFF_RETURN_IF_ERROR(RemoveTree(fs, repo.Path("snapshots/" + e.name)));

  // Signatures referenced by no remaining manifest.
  std::unordered_set<std::string> live;
  SKIFF_ASSIGN_OR_RETURN(names, repo.ListSnapshots());
  for (const auto& n : names) {
    SKIFF_ASSIGN_OR_RETURN(auto reader, OpenRemoteManifest(repo, n));
    while (true) {
      SKIFF_ASSIGN_OR_RETURN(auto e, reader->Next());
      if (!e) break;
      if (e->has_signature) live.insert(e->hash);
    }
  }
  SKIFF_ASSIGN_OR_RETURN(auto buckets, fs.ReadDir(repo.Path(".skiff/sigs")));
  for (const auto& b : buckets) {
    std::string dir = repo.Path(".skiff/sigs/" + b.name);
    SKIFF_ASSIGN_OR_RETURN(auto sigs, fs.ReadDir(dir));
    for (const auto& s : sigs)
      if (IsContentHash(s.name) && !live.count(s.name)) {
        SKIFF_RETURN_IF_ERROR(fs.Remove(dir + "/" + s.name));
        ++result.signatures_removed;
      }
  }
  SKIFF_RETURN_IF_ERROR(lock->Release());
  return result;
}

}  // namespace skiff::sync
