// The local side of backup and restore: scanning and reading the source tree, and
// writing restored files. The engine reaches the local disk only through this interface
// (production: PosixLocalFs; tests may wrap it to inject faults).
//
// Source-side paths are ordinary local paths. Restore-side operations take a `root`
// (the restore target, opened as given) and a snapshot-relative path below it; they walk
// the path one component at a time with O_NOFOLLOW, so a symlink (pre-existing or
// restored) is never followed as a parent directory and nothing is ever written outside
// `root`. Such an attempt fails with kPermission naming the path.
//
// Thread-safety: PosixLocalFs methods may be called concurrently; a reader or writer
// object belongs to one thread. State after failure: a failed call has no effect, except
// that a failed write leaves the partly written file in place.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sync/signature.h"
#include "transport/status.h"

namespace skiff {
class DeltaSink;
}

namespace skiff::sync {

struct LocalStat {
  uint32_t mode = 0;  // st_mode, including the S_IFMT type bits
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0, ino = 0, dev = 0, nlink = 0;
  int64_t mtime = 0, ctime = 0;  // seconds
};

// What LocalReader::MatchAtSource reports about the content it matched.
struct SourceMatch {
  uint64_t size = 0;
  std::string hash;  // xxh128 hex (sync/content_hash.h)
  bool has_signature = false;
  FileSignature signature;  // of the content, when a block size was asked for
  LocalStat after;          // the file's stat after the last read
};

class LocalReader {
 public:
  virtual ~LocalReader() = default;
  // Up to `max` bytes from the current position; empty at EOF.
  virtual Result<std::string> Read(size_t max) = 0;
  // fstat of the open file (to notice changes while it was read).
  virtual Result<LocalStat> Stat() = 0;
  // For a source that runs the delta matcher next to the file (a remote one,
  // sync/serve_source_fs.h): matches the whole file against `base` and feeds `sink`,
  // instead of the caller reading it; `sig_block_size` > 0 also asks for the content's
  // signature. Call it instead of Read, at most once. kUnsupported (the default): the
  // caller reads the file and matches it itself. On failure the sink may have received
  // a prefix of the instructions.
  virtual Result<SourceMatch> MatchAtSource(const FileSignature& base, uint32_t sig_block_size,
                                            DeltaSink& sink) {
    return Status::Unsupported("this source is matched where it is read");
  }
};

struct LocalMeta {
  uint32_t mode = 0;  // permission bits
  int64_t mtime = 0;
  bool set_owner = false;  // also set uid/gid (root only)
  uint32_t uid = 0, gid = 0;
};

class LocalWriter {
 public:
  virtual ~LocalWriter() = default;
  virtual Status Write(uint64_t offset, std::string_view data) = 0;
  // Sets the length (extends with a hole, which is how sparse files are restored).
  virtual Status Truncate(uint64_t size) = 0;
  // Sets mode, mtime and optionally owner through the open file (no path lookup); no
  // write may follow. The default, for writers that cannot: kUnsupported, and the caller
  // uses LocalFs::SetMetaUnder after Close.
  virtual Status SetMeta(const LocalMeta& /*meta*/) {
    return Status::Unsupported("setting metadata through an open file");
  }
  virtual Status Close() = 0;
};

class LocalFs {
 public:
  virtual ~LocalFs() = default;

  // --- source side ---
  virtual Result<LocalStat> Lstat(const std::string& path) = 0;
  // Names in a directory (no "." / ".."), unsorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual Result<std::string> Readlink(const std::string& path) = 0;
  // Opens a regular file for reading without following a final symlink.
  virtual Result<std::unique_ptr<LocalReader>> OpenRead(const std::string& path) = 0;

  // --- restore side (confined below `root`, see the file comment) ---
  // Creates `root` itself if missing (with parents, like mkdir -p).
  virtual Status MakeRoot(const std::string& root) = 0;
  // Creates a directory; an existing directory is fine.
  virtual Status MkdirUnder(const std::string& root, const std::string& rel) = 0;
  // Creates (replacing any existing non-directory) an empty file, owner-only writable.
  virtual Result<std::unique_ptr<LocalWriter>> CreateUnder(const std::string& root,
                                                           const std::string& rel) = 0;
  // Creates a symlink (replacing any existing non-directory).
  virtual Status SymlinkUnder(const std::string& root, const std::string& rel,
                              const std::string& target) = 0;
  // Hard-links `existing_rel` to `rel` (replacing any existing non-directory).
  virtual Status LinkUnder(const std::string& root, const std::string& existing_rel,
                           const std::string& rel) = 0;
  // Sets mode, mtime and optionally owner, never following a final symlink (a symlink's
  // mode is left alone).
  virtual Status SetMetaUnder(const std::string& root, const std::string& rel,
                              const LocalMeta& meta, bool is_symlink) = 0;
  // Removes a non-directory (restore drops a file that failed verification); absent is
  // fine. The default, for sources that never write: kUnsupported.
  virtual Status RemoveUnder(const std::string& root, const std::string& rel) {
    return Status::Unsupported("removing " + root + "/" + rel + ": this file system is read-only");
  }
};

}  // namespace skiff::sync
