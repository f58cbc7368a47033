#include "sync/confined_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skiff::sync {

namespace {
constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxComponent = 255;
}  // namespace

std::string ConfinedPath::parent_rel() const {
  if (parts.size() <= 1) return "";
  return rel.substr(0, rel.size() - parts.back().size() - 1);
}

Status ErrnoStatus(int err, std::string_view what) {
  std::string m = std::string(what) + ": " + strerror(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(m);
    case EACCES:
    case EPERM:
    case EXDEV:  // RESOLVE_BENEATH: the path would leave the root
    case ELOOP:  // a symlink where none may be followed
      return Status::Permission(m);
    case EEXIST:
      return Status::Exists(m);
    case ENOTDIR:
      return {Code::kNotDirectory, m};
    case EISDIR:
      return {Code::kIsDirectory, m};
    case ENOTEMPTY:
      return {Code::kNotEmpty, m};
    case EINVAL:
    case ENAMETOOLONG:
      return Status::Invalid(m);
    case ENOSPC:
    case EDQUOT:
      return {Code::kNoSpace, m};
    case EOPNOTSUPP:
      return Status::Unsupported(m);
    default:
      return Status::Io(m);
  }
}

FileAttr AttrFromStat(const struct stat& st) {
  FileAttr a;
  a.valid = FileAttr::kSize | FileAttr::kUidGid | FileAttr::kPermissions | FileAttr::kTimes;
  a.size = static_cast<uint64_t>(st.st_size);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.mode = st.st_mode;
  a.atime = st.st_atim.tv_sec;
  a.mtime = st.st_mtim.tv_sec;
  return a;
}

Result<ConfinedRoot> ConfinedRoot::Open(const std::string& dir) {
  if (dir.empty() || dir.front() != '/')
    return Status::Invalid("--root must be an absolute path, got '" + dir + "'");
  int fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "opening the serve root " + dir);
  // Probe openat2 once, so an old kernel fails here with a clear message, not later.
  struct open_how how = {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  long probe = syscall(SYS_openat2, fd, ".", &how, sizeof how);
  if (probe < 0) {
    int e = errno;
    close(fd);
    return ErrnoStatus(e, "openat2 (Linux 5.6 or newer) is needed for confinement");
  }
  close(static_cast<int>(probe));
  return ConfinedRoot(fd);
}

ConfinedRoot::~ConfinedRoot() {
  if (fd_ >= 0) close(fd_);
}

Result<ConfinedPath> ConfinedRoot::ParsePath(std::string_view path) {
  if (path.size() > kMaxPath) return Status::Invalid("path longer than 4096 bytes");
  if (path.find('\0') != std::string_view::npos)
    return Status::Permission("path contains a NUL byte");
  if (!path.empty() && path.front() == '/')
    return Status::Permission("absolute path '" + std::string(path) +
                              "' refused: paths are relative to the serve root");
  ConfinedPath p;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (c == "..")
      return Status::Permission("path '" + std::string(path) + "' refused: '..' is not allowed");
    if (c.size() > kMaxComponent) return Status::Invalid("path component longer than 255 bytes");
    if (!c.empty() && c != ".") {
      if (!p.rel.empty()) p.rel += '/';
      p.rel.append(c);
      p.parts.emplace_back(c);
    }
    i = j + 1;
  }
  return p;
}

Result<int> ConfinedRoot::Resolve(const std::string& rel, uint64_t open_flags,
                                  uint64_t resolve) const {
  struct open_how how = {};
  how.flags = open_flags | O_CLOEXEC;
  how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = syscall(SYS_openat2, fd_, rel.empty() ? "." : rel.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);  // RESOLVE_* retries on a concurrent rename
  if (fd < 0) return ErrnoStatus(errno, rel.empty() ? std::string(".") : rel);
  return static_cast<int>(fd);
}

Result<int> ConfinedRoot::OpenParent(const ConfinedPath& p) const {
  return Resolve(p.is_root() ? "" : p.parent_rel(), O_PATH | O_DIRECTORY,
                 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
}

Result<int> ConfinedRoot::OpenDir(const ConfinedPath& p) const {
  return Resolve(p.rel, O_RDONLY | O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
}

Result<struct stat> ConfinedRoot::Lstat(const ConfinedPath& p) const {
  struct stat st;
  if (p.is_root()) {
    if (fstat(fd_, &st) != 0) return ErrnoStatus(errno, ".");
    return st;
  }
  SKIFF_ASSIGN_OR_RETURN(int dir, OpenParent(p));
  int rc = fstatat(dir, p.name().c_str(), &st, AT_SYMLINK_NOFOLLOW);
  int e = errno;
  close(dir);
  if (rc != 0) return ErrnoStatus(e, p.rel);
  return st;
}

Result<struct stat> ConfinedRoot::Stat(const ConfinedPath& p) const {
  SKIFF_ASSIGN_OR_RETURN(int fd, Resolve(p.rel, O_PATH, RESOLVE_BENEATH));
  struct stat st;
  int rc = fstat(fd, &st);
  int e = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus(e, p.rel);
  return st;
}

}  // namespace skiff::sync
