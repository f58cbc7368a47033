// ConfinedRoot: filesystem operations on paths that can never leave one directory.
//
// Every path is relative to the root given at Open ("" and "." are the root itself).
// ParsePath refuses absolute paths, ".." components, NUL bytes and over-long paths
// before anything touches the disk; then every directory of a path is opened with
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) from the root's
// descriptor, so no symlink (planted before or raced in during the call) and no mount
// trick leads out of the root, and the last component is acted on with the *at()
// call and AT_SYMLINK_NOFOLLOW / O_NOFOLLOW. Stat (which follows symlinks) resolves
// with RESOLVE_BENEATH alone: a symlink is followed only while it stays inside.
//
// Thread-safety: const methods are thread-safe. Ownership: owns the root descriptor.
// Failures: a Status naming the path; kPermission for anything that would escape.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

#include "transport/remote_fs.h"
#include "transport/status.h"

namespace skiff::sync {

// A validated relative path: its components, and the canonical form "a/b/c" ("" = root).
struct ConfinedPath {
  std::vector<std::string> parts;
  std::string rel;
  bool is_root() const { return parts.empty(); }
  std::string parent_rel() const;  // "" for the root and its children
  const std::string& name() const { return parts.back(); }
};

class ConfinedRoot {
 public:
  static Result<ConfinedRoot> Open(const std::string& dir);
  ConfinedRoot(ConfinedRoot&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ConfinedRoot& operator=(ConfinedRoot&&) = delete;
  ~ConfinedRoot();

  static Result<ConfinedPath> ParsePath(std::string_view path);

  int fd() const { return fd_; }
  // O_PATH|O_DIRECTORY descriptor of the directory holding `p` (of the root for the root).
  Result<int> OpenParent(const ConfinedPath& p) const;
  // Opens `rel` (a directory path) with `flags`, no symlinks anywhere.
  Result<int> OpenDir(const ConfinedPath& p) const;
  // lstat of `p` (the root itself for the root).
  Result<struct stat> Lstat(const ConfinedPath& p) const;
  // stat following symlinks that stay inside the root.
  Result<struct stat> Stat(const ConfinedPath& p) const;

 private:
  explicit ConfinedRoot(int fd) : fd_(fd) {}
  Result<int> Resolve(const std::string& rel, uint64_t open_flags, uint64_t resolve) const;
  int fd_;
};

// Closes `fd` (when >= 0) at the end of the scope: the descriptors the serve handlers
// open for one request.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// errno -> Status for server-side file operations (the serve endpoint's one conversion).
Status ErrnoStatus(int err, std::string_view what);
FileAttr AttrFromStat(const struct stat& st);

}  // namespace skiff::sync
