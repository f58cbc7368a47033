#include "sync/posix_local_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sync/rel_path.h"

namespace skiff::sync {
namespace {

// The one place local errno values become a Status.
Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(msg);
    case EACCES:
    case EPERM:
      return Status::Permission(msg);
    case EEXIST:
      return Status::Exists(msg);
    case ENOTDIR:
      return {Code::kNotDirectory, msg};
    case EISDIR:
      return {Code::kIsDirectory, msg};
    case ENOTEMPTY:
      return {Code::kNotEmpty, msg};
    case ENOSPC:
    case EDQUOT:
      return {Code::kNoSpace, msg};
    case ELOOP:
      return Status::Permission(what + ": is a symlink; refusing to follow it");
    default:
      return Status::Io(msg);
  }
}

}  // namespace

LocalStat LocalStatFromStat(const struct stat& st) {
  LocalStat s;
  s.mode = st.st_mode;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.size = static_cast<uint64_t>(st.st_size);
  s.ino = st.st_ino;
  s.dev = st.st_dev;
  s.nlink = st.st_nlink;
  s.mtime = st.st_mtim.tv_sec;
  s.ctime = st.st_ctim.tv_sec;
  return s;
}

namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) close(fd_);
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

class PosixReader : public LocalReader {
 public:
  PosixReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Result<std::string> Read(size_t max) override {
    std::string buf(max, '\0');
    ssize_t n;
    do {
      n = read(fd_.get(), buf.data(), max);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoStatus(errno, "reading " + path_);
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  Result<LocalStat> Stat() override {
    struct stat st;
    if (fstat(fd_.get(), &st) != 0) return ErrnoStatus(errno, "fstat " + path_);
    return LocalStatFromStat(st);
  }

 private:
  Fd fd_;
  std::string path_;
};

class PosixWriter : public LocalWriter {
 public:
  // `fd` is a file this writer created (empty).
  PosixWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status Write(uint64_t offset, std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = pwrite(fd_.get(), data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "writing " + path_);
      done += static_cast<size_t>(n);
    }
    end_ = std::max<uint64_t>(end_, offset + data.size());
    return Status::Ok();
  }
  Status Truncate(uint64_t size) override {
    if (size == end_) return Status::Ok();  // already that long: the file started empty
    if (ftruncate(fd_.get(), static_cast<off_t>(size)) != 0)
      return ErrnoStatus(errno, "truncating " + path_);
    end_ = size;
    return Status::Ok();
  }
  Status SetMeta(const LocalMeta& meta) override {
    if (meta.set_owner && fchown(fd_.get(), meta.uid, meta.gid) != 0)
      return ErrnoStatus(errno, "chown " + path_);
    if (fchmod(fd_.get(), meta.mode & 07777) != 0) return ErrnoStatus(errno, "chmod " + path_);
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = meta.mtime;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    if (futimens(fd_.get(), ts) != 0) return ErrnoStatus(errno, "setting times of " + path_);
    return Status::Ok();
  }
  Status Close() override {
    int fd = fd_.release();
    if (fd >= 0 && close(fd) != 0) return ErrnoStatus(errno, "closing " + path_);
    return Status::Ok();
  }

 private:
  Fd fd_;
  std::string path_;
  uint64_t end_ = 0;  // the file's length: the end of the furthest write or truncate
};

// Removes an existing non-directory at (dirfd, name) so that it can be replaced.
Status ClearSlot(int dirfd, const std::string& name, const std::string& what) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus(errno, what);
  }
  if (S_ISDIR(st.st_mode)) return {Code::kIsDirectory, what + ": a directory is in the way"};
  if (unlinkat(dirfd, name.c_str(), 0) != 0) return ErrnoStatus(errno, "replacing " + what);
  return Status::Ok();
}

}  // namespace

PosixLocalFs::DirFd::~DirFd() {
  if (fd_ >= 0) close(fd_);
}

std::shared_ptr<PosixLocalFs::DirFd> PosixLocalFs::CacheFind(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void PosixLocalFs::CacheAdd(const std::string& key, std::shared_ptr<DirFd> dir) {
  std::lock_guard<std::mutex> l(mu_);
  if (index_.count(key)) return;  // another thread opened it too; keep the first
  lru_.emplace_front(key, std::move(dir));
  index_[key] = lru_.begin();
  if (lru_.size() > kDirCacheSize) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

// Opens the directory that holds the last component of `rel` below `root`, never
// following a symlink: from the deepest cached ancestor (or root), one component at a
// time with O_NOFOLLOW.
Result<PosixLocalFs::Parent> PosixLocalFs::OpenParent(const std::string& root,
                                                      const std::string& rel) {
  SKIFF_RETURN_IF_ERROR(ValidateRelPath(rel).WithContext("restore path"));
  const std::string prefix = root + '\0';
  size_t last = rel.rfind('/');
  std::string name = last == std::string::npos ? rel : rel.substr(last + 1);
  // Deepest cached ancestor: `dir` is open at rel[0, done).
  size_t done = last == std::string::npos ? 0 : last;
  std::shared_ptr<DirFd> dir;
  while (true) {
    dir = CacheFind(prefix + rel.substr(0, done));
    if (dir || done == 0) break;
    size_t up = rel.rfind('/', done - 1);
    done = up == std::string::npos ? 0 : up;
  }
  if (!dir) {
    int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "opening restore target " + root);
    dir = std::make_shared<DirFd>(fd);
    CacheAdd(prefix, dir);
  }
  if (last == std::string::npos) return Parent{std::move(dir), std::move(name)};
  // Open the components after rel[0, done) up to the parent.
  size_t i = done == 0 ? 0 : done + 1;
  while (i <= last) {
    size_t j = rel.find('/', i);
    std::string comp = rel.substr(i, j - i);
    int fd = openat(dir->get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == ELOOP || err == ENOTDIR)
        return Status::Permission("refusing to restore '" + rel + "': '" + rel.substr(0, j) +
                                  "' is not a real directory (a symlink or file)");
      return ErrnoStatus(err, "opening " + root + "/" + rel.substr(0, j));
    }
    dir = std::make_shared<DirFd>(fd);
    CacheAdd(prefix + rel.substr(0, j), dir);
    i = j + 1;
  }
  return Parent{std::move(dir), std::move(name)};
}

Result<LocalStat> PosixLocalFs::Lstat(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "lstat " + path);
  return LocalStatFromStat(st);
}

Result<std::vector<std::string>> PosixLocalFs::ListDir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (!d) return ErrnoStatus(errno, "reading directory " + path);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  int err = errno;
  closedir(d);
  if (err != 0) return ErrnoStatus(err, "reading directory " + path);
  return names;
}

Result<std::string> PosixLocalFs::Readlink(const std::string& path) {
  std::string buf(4096, '\0');
  while (true) {
    ssize_t n = readlink(path.c_str(), buf.data(), buf.size());
    if (n < 0) return ErrnoStatus(errno, "readlink " + path);
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

Result<std::unique_ptr<LocalReader>> PosixLocalFs::OpenRead(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "opening " + path);
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<LocalReader>(new PosixReader(fd, path));
}

Status PosixLocalFs::MakeRoot(const std::string& root) {
  if (root.empty()) return Status::Invalid("empty restore target");
  {
    std::lock_guard<std::mutex> l(mu_);
    index_.clear();
    lru_.clear();
  }
  std::string cur;
  size_t i = 0;
  while (i <= root.size()) {
    size_t j = root.find('/', i);
    if (j == std::string::npos) j = root.size();
    cur = root.substr(0, j);
    if (!cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return ErrnoStatus(errno, "creating " + cur);
    i = j + 1;
  }
  struct stat st;
  if (stat(root.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + root);
  if (!S_ISDIR(st.st_mode)) return {Code::kNotDirectory, root + " is not a directory"};
  return Status::Ok();
}

Status PosixLocalFs::MkdirUnder(const std::string& root, const std::string& rel) {
  SKIFF_ASSIGN_OR_RETURN(auto parent, OpenParent(root, rel));
  if (mkdirat(parent.dir->get(), parent.name.c_str(), 0700) == 0) return Status::Ok();
  int err = errno;
  struct stat st;
  if (err == EEXIST &&
      fstatat(parent.dir->get(), parent.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    SKIFF_RETURN_IF_ERROR(ClearSlot(parent.dir->get(), parent.name, root + "/" + rel));
    if (mkdirat(parent.dir->get(), parent.name.c_str(), 0700) == 0) return Status::Ok();
    err = errno;
  }
  return ErrnoStatus(err, "creating directory " + root + "/" + rel);
}

Result<std::unique_ptr<LocalWriter>> PosixLocalFs::CreateUnder(const std::string& root,
                                                               const std::string& rel) {
  SKIFF_ASSIGN_OR_RETURN(auto parent, OpenParent(root, rel));
  std::string what = root + "/" + rel;
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  // The usual case (nothing there) costs one call; anything in the way is cleared first.
  int fd = openat(parent.dir->get(), parent.name.c_str(), flags, 0600);
  if (fd < 0 && errno == EEXIST) {
    SKIFF_RETURN_IF_ERROR(ClearSlot(parent.dir->get(), parent.name, what));
    fd = openat(parent.dir->get(), parent.name.c_str(), flags, 0600);
  }
  if (fd < 0) return ErrnoStatus(errno, "creating " + what);
  return std::unique_ptr<LocalWriter>(new PosixWriter(fd, what));
}

Status PosixLocalFs::SymlinkUnder(const std::string& root, const std::string& rel,
                                  const std::string& target) {
  SKIFF_ASSIGN_OR_RETURN(auto parent, OpenParent(root, rel));
  std::string what = root + "/" + rel;
  SKIFF_RETURN_IF_ERROR(ClearSlot(parent.dir->get(), parent.name, what));
  if (symlinkat(target.c_str(), parent.dir->get(), parent.name.c_str()) != 0)
    return ErrnoStatus(errno, "creating symlink " + what);
  return Status::Ok();
}

Status PosixLocalFs::LinkUnder(const std::string& root, const std::string& existing_rel,
                               const std::string& rel) {
  SKIFF_ASSIGN_OR_RETURN(auto from, OpenParent(root, existing_rel));
  SKIFF_ASSIGN_OR_RETURN(auto to, OpenParent(root, rel));
  std::string what = root + "/" + rel;
  SKIFF_RETURN_IF_ERROR(ClearSlot(to.dir->get(), to.name, what));
  if (linkat(from.dir->get(), from.name.c_str(), to.dir->get(), to.name.c_str(), 0) != 0)
    return ErrnoStatus(errno, "hard-linking " + what);
  return Status::Ok();
}

Status PosixLocalFs::RemoveUnder(const std::string& root, const std::string& rel) {
  SKIFF_ASSIGN_OR_RETURN(auto parent, OpenParent(root, rel));
  if (unlinkat(parent.dir->get(), parent.name.c_str(), 0) != 0 && errno != ENOENT)
    return ErrnoStatus(errno, "removing " + root + "/" + rel);
  return Status::Ok();
}

Status PosixLocalFs::SetMetaUnder(const std::string& root, const std::string& rel,
                                  const LocalMeta& meta, bool is_symlink) {
  SKIFF_ASSIGN_OR_RETURN(auto parent, OpenParent(root, rel));
  int dfd = parent.dir->get();
  const char* name = parent.name.c_str();
  std::string what = root + "/" + rel;
  if (meta.set_owner && fchownat(dfd, name, meta.uid, meta.gid, AT_SYMLINK_NOFOLLOW) != 0)
    return ErrnoStatus(errno, "chown " + what);
  if (!is_symlink && fchmodat(dfd, name, meta.mode & 07777, 0) != 0)
    return ErrnoStatus(errno, "chmod " + what);
  struct timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = meta.mtime;
  ts[0].tv_nsec = ts[1].tv_nsec = 0;
  if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
    return ErrnoStatus(errno, "setting times of " + what);
  return Status::Ok();
}

}  // namespace skiff::sync
