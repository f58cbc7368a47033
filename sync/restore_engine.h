// RestoreEngine: `skiff restore` — writes a snapshot (or the selected paths of it) into a
// local target directory.
//
// Safety: the whole manifest is read and checked first (every path valid per
// ValidateRelPath, strict order, trailer hash), so a hostile or truncated manifest is
// refused before anything is written. Writing goes through LocalFs's confined
// operations, which never follow a symlink as a parent, so nothing lands outside the
// target even if the snapshot holds symlinks pointing out. Each file's content is
// checked against the manifest's size and xxh128 while it is written; a mismatch is an
// error: the file is removed from the target (never left looking restored), the run
// continues, and Run reports failure.
// Metadata: modes and mtimes (directories after their content), numeric owners when
// `preserve_owner`; runs of zero bytes become holes, so sparse files stay sparse.
//
// Files are restored several at a time on worker threads (see JobWindow), spread over
// several sessions of the repository's server when it can open them (small files kept
// off the sessions streaming a big file: SessionPicker), while
// directories, symlinks, hard links and directory metadata are handled in manifest order
// on the calling thread. Run is not thread-safe (one call at a time); the Repository and
// LocalFs must outlive the engine.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sync/local_fs.h"
#include "sync/manifest.h"
#include "sync/repository.h"
#include "sync/session_picker.h"

namespace skiff::sync {

struct RestoreOptions {
  std::string snapshot;               // resolved name
  std::string target;                 // local directory (created if missing)
  std::vector<std::string> patterns;  // empty = everything; else paths or globs
  bool preserve_owner = false;
  // Sessions (server processes) the files are read over, when the transport can open
  // more than one (sync/repo_connect.h FileSessions); 1 = the repository's only.
  size_t sessions = 4;
  std::function<void(const std::string&)> error;  // each per-file failure
  std::function<void(uint64_t files, uint64_t bytes)> progress;
};

struct RestoreStats {
  uint64_t files = 0, dirs = 0, symlinks = 0, bytes = 0, errors = 0;
};

// True if the snapshot-relative `path` is selected by one of `patterns`: equal to it or
// below it, or matching it as a glob (fnmatch with FNM_PATHNAME, below a match too).
bool RestoreSelected(const std::vector<std::string>& patterns, const std::string& path);

class RestoreEngine {
 public:
  RestoreEngine(const Repository& repo, LocalFs& local, RestoreOptions opts)
      : repo_(repo), local_(local), opts_(std::move(opts)) {}
  // Fails (nothing written) on a bad manifest; otherwise returns stats, with
  // stats.errors counting files that could not be restored or verified.
  Result<RestoreStats> Run();

 private:
  // One regular file: content (verified against the manifest) and metadata, read through
  // `fs` (one of the repository's sessions). Any thread.
  Status RestoreFile(RemoteFs& fs, const ManifestEntry& e, const std::string& snap,
                     uint64_t* bytes);

  const Repository& repo_;
  LocalFs& local_;
  RestoreOptions opts_;
};

}  // namespace skiff::sync
