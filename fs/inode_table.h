// The inode table of a mount: FUSE inode numbers <-> remote paths, the kernel's lookup
// counts, and the per-inode caches (attributes, symlink target, and the content
// version the kernel's page cache holds).
//
// SFTP v3 has no inode numbers, so an inode is a path: a hard link gets its own inode
// (as in sshfs), and rename moves the inodes of the whole subtree. An inode whose path
// was unlinked or replaced by a rename is "detached": it lives on (open files still
// work through their handles) until the kernel forgets it, but path operations on it
// fail with kStale.
//
// Thread-safe: one mutex guards the table; no method blocks or calls out while holding
// it. Inode 1 is the mount root and is never forgotten.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "transport/remote_fs.h"

namespace skiff::fs {

class InodeTable {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr uint64_t kRootIno = 1;

  explicit InodeTable(std::string root_path);
  // Points the root inode at `root_path` (once, before any other inode exists).
  void SetRootPath(const std::string& root_path);

  // Finds or creates the inode for `path` and adds `lookups` to its lookup count. Caches
  // `attr` until `expiry` if `authoritative` (fresh from the server) or if the inode has
  // no fresh attributes of its own (attributes from a cached listing must not overwrite
  // newer ones). Returns the inode number and the attributes now cached.
  std::pair<uint64_t, FileAttr> Remember(const std::string& path, const FileAttr& attr,
                                         TimePoint expiry, uint64_t lookups, bool authoritative,
                                         TimePoint now);
  // The kernel dropped `n` references; the inode disappears at zero.
  void Forget(uint64_t ino, uint64_t n);

  // Path of a live inode; kNotFound for an unknown inode, kStale for a detached one.
  Result<std::string> Path(uint64_t ino) const;
  // The inode currently at `path`, if any.
  std::optional<uint64_t> Find(const std::string& path) const;

  std::optional<FileAttr> CachedAttr(uint64_t ino, TimePoint now) const;
  // The last attributes known for `ino`, however old.
  std::optional<FileAttr> LastAttr(uint64_t ino) const;
  void SetAttr(uint64_t ino, const FileAttr& attr, TimePoint expiry);
  void InvalidateAttr(uint64_t ino);
  // Our own write reached `end`: the cached size grows and mtime becomes `mtime`, and
  // the page cache version is forgotten. Returns the updated attributes (if cached).
  std::optional<FileAttr> NoteWrite(uint64_t ino, uint64_t end, int64_t mtime);

  std::optional<std::string> CachedLink(uint64_t ino, TimePoint now) const;
  void SetLink(uint64_t ino, const std::string& target, TimePoint expiry);

  // Close-to-open: records that the kernel's page cache for `ino` now holds content of
  // (size, mtime) and returns whether it already held exactly that content.
  bool SwapContentVersion(uint64_t ino, uint64_t size, int64_t mtime);
  // The content changed in a way we cannot describe (our own writes): the next open
  // must drop the page cache.
  void ForgetContentVersion(uint64_t ino);

  // Bookkeeping for our own namespace changes.
  void Moved(const std::string& from, const std::string& to);
  void Removed(const std::string& path);

  size_t size() const;

 private:
  struct Inode {
    std::string path;
    bool detached = false;
    uint64_t lookups = 0;
    bool has_attr = false;
    FileAttr attr;
    TimePoint attr_expiry{};
    bool has_link = false;
    std::string link;
    TimePoint link_expiry{};
    bool has_version = false;
    uint64_t version_size = 0;
    int64_t version_mtime = 0;
  };
  void DetachLocked(const std::string& path);

  mutable std::mutex mu_;  // guards everything below; a leaf lock
  std::unordered_map<uint64_t, Inode> by_ino_;
  std::map<std::string, uint64_t> by_path_;  // ordered: a subtree is a contiguous range
  uint64_t next_ino_ = 2;
};

}  // namespace skiff::fs
