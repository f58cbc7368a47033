// The repository layout on the server (doc/FORMAT.md, repository version 1):
//
//   REPO/snapshots/<NAME>/          published snapshots: plain trees of the source
//   REPO/snapshots/.incomplete/     the snapshot being built (resumed by the next run)
//   REPO/snapshots/.deleting-<NAME>/  a snapshot being removed by prune
//   REPO/.skiff/format              "skiff-repository 1\n"
//   REPO/.skiff/manifests/<NAME>    manifest of each snapshot (manifest.h)
//   REPO/.skiff/sigs/<h[0:2]>/<h>   block signatures keyed by whole-file hash h
//   REPO/.skiff/tmp/                files being uploaded, renamed into place when complete
//   REPO/.skiff/lock                writer lock (repo_lock.h)
//
// A snapshot exists when snapshots/<NAME> exists and its manifest does too.
// Repository is a cheap value holding a RemoteFs reference (which must outlive it).
// Thread-safety: as the RemoteFs.
#pragma once

#include <string>
#include <vector>

#include "transport/remote_fs.h"

namespace skiff::sync {

inline constexpr int kRepositoryVersion = 1;

class Repository {
 public:
  // Opens the repository at `root` (a server path; "" or "." = the login directory).
  // With `create`, makes the layout if missing. A directory that is not a repository,
  // or one of a newer format, is refused with a message saying so.
  static Result<Repository> Open(RemoteFs& fs, const std::string& root, bool create);

  RemoteFs& fs() const { return *fs_; }
  const std::string& root() const { return root_; }

  // Published snapshot names, oldest first.
  Result<std::vector<std::string>> ListSnapshots() const;
  // Resolves a user's snapshot selector: "" or "latest" = newest; else an exact name or
  // a unique prefix of one.
  Result<std::string> ResolveSnapshot(const std::string& selector) const;

  std::string Path(const std::string& rel) const;  // root + "/" + rel
  std::string SnapshotDir(const std::string& name) const { return Path("snapshots/" + name); }
  std::string ManifestPath(const std::string& name) const {
    return Path(".skiff/manifests/" + name);
  }
  std::string SignaturePath(const std::string& hash) const;
  std::string IncompleteDir() const { return Path("snapshots/.incomplete"); }
  std::string TmpDir() const { return Path(".skiff/tmp"); }
  std::string LockPath() const { return Path(".skiff/lock"); }

 private:
  Repository(RemoteFs& fs, std::string root) : fs_(&fs), root_(std::move(root)) {}
  RemoteFs* fs_;
  std::string root_;
};

// Removes a remote tree (files, symlinks, directories) depth-first. kNotFound if absent.
Status RemoveTree(RemoteFs& fs, const std::string& path);

}  // namespace skiff::sync
