// BackupEngine: one `skiff backup` run. Scans the local sources (LocalFs), writes a new
// snapshot into the repository (RemoteFs) and publishes it atomically.
//
// How a run goes (doc/FORMAT.md has the layout):
//  1. Take REPO/.skiff/lock. Find the newest snapshot and stream its manifest (from the
//     local cache when the cache's trailer matches the server's copy, else from the
//     server) alongside the scan: both are in manifest order, so the lookup is a merge
//     and memory does not grow with the tree.
//  2. Build the tree in snapshots/.incomplete. If that directory exists, an earlier run
//     was interrupted: entries already there with the expected size, mtime and mode are
//     reused (files only ever appear there complete: they are uploaded into .skiff/tmp
//     and renamed into place), and entries no longer in the source are removed.
//  3. Per regular file, a BackupFileJob (sync/backup_file_job.h): reuse from the
//     interrupted run, hard link when unchanged, else the delta or an upload.
//  4. Write the manifest into .skiff/tmp, fsync it, rename it to .skiff/manifests/NAME,
//     then publish with ONE rename of snapshots/.incomplete to snapshots/NAME.
// Files that vanish, change while read, or cannot be read, and special files, are
// warnings: the run completes without them (or with what was read) and reports them.
//
// Concurrency: files (and, in a fresh tree, directories) are transferred by a JobWindow
// of worker threads, many at once; the manifest, statistics, warnings' order relative to
// the manifest and the progress callback stay in scan order on the calling thread
// (`warn` may be called from a worker thread, one call at a time).
// Not thread-safe; one Run per engine. The Repository and LocalFs must outlive it.
// After a failed Run the repository holds no new snapshot; the next Run resumes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sync/local_fs.h"
#include "sync/repo_lock.h"
#include "sync/repository.h"

namespace skiff::sync {

struct BackupStats {
  std::string snapshot;
  bool resumed = false;
  uint64_t files = 0, dirs = 0, symlinks = 0, bytes = 0;
  uint64_t new_files = 0, changed_files = 0, unchanged_files = 0, reused_files = 0;
  uint64_t delta_files = 0;
  uint64_t bytes_sent = 0;    // file content written over the wire (literals and uploads)
  uint64_t bytes_copied = 0;  // bytes rebuilt on the server from the previous version
  uint64_t warnings = 0;
};

struct BackupOptions {
  std::vector<std::string> sources;   // local paths; each becomes a top-level entry
  std::vector<std::string> excludes;  // fnmatch patterns (see MatchesExclude)
  bool one_file_system = false;
  bool checksum = false;        // compare content, not only metadata
  bool preserve_owner = false;  // record and set numeric uid/gid (root)
  int64_t now = 0;              // start time, names the snapshot
  LockIdentity lock;            // who we are, for the repository lock
  std::string cache_dir;        // local manifest cache for this repository; "" = none
  // Sessions (server processes) the files are spread over, when the transport can open
  // more than one (sync/repo_connect.h FileSessions); 1 = the repository's only.
  size_t sessions = 4;
  std::function<void(const std::string&)> warn;      // each warning, as it happens
  std::function<void(const BackupStats&)> progress;  // called after each file
};

// Exclude rule: a pattern without '/' matches any entry whose name matches it; a pattern
// with '/' matches the snapshot-relative path (a leading '/' is ignored), and an entry
// below a matching directory is excluded with it.
bool MatchesExclude(const std::vector<std::string>& patterns, const std::string& rel_path);

class BackupEngine {
 public:
  BackupEngine(const Repository& repo, LocalFs& local, BackupOptions opts);
  ~BackupEngine();
  BackupEngine(const BackupEngine&) = delete;
  BackupEngine& operator=(const BackupEngine&) = delete;

  Result<BackupStats> Run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace skiff::sync
