#include "sync/local_remote_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "sync/confined_root.h"

namespace skiff::sync {
namespace {

Status Err(std::string_view what, const std::string& path) {
  return ErrnoStatus(errno, std::string(what) + " " + path);
}

// The fields of `attr` that are valid, applied in SFTP's order (size, owner, mode,
// times). `nofollow` acts on a symlink itself (whose mode Linux cannot change: skipped).
Status ApplyAttr(const std::string& path, const FileAttr& attr, bool nofollow) {
  if ((attr.valid & FileAttr::kSize) && truncate(path.c_str(), static_cast<off_t>(attr.size)))
    return Err("truncating", path);
  if (attr.valid & FileAttr::kUidGid) {
    int rc = nofollow ? lchown(path.c_str(), attr.uid, attr.gid)
                      : chown(path.c_str(), attr.uid, attr.gid);
    if (rc) return Err("changing the owner of", path);
  }
  if (attr.valid & FileAttr::kPermissions) {
    struct stat st;
    bool link = nofollow && lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
    if (!link && chmod(path.c_str(), attr.mode & 07777)) return Err("changing the mode of", path);
  }
  if (attr.valid & FileAttr::kTimes) {
    struct timespec ts[2] = {{attr.atime, 0}, {attr.mtime, 0}};
    if (utimensat(AT_FDCWD, path.c_str(), ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0))
      return Err("setting the times of", path);
  }
  return Status::Ok();
}

class LocalFile : public RemoteFile {
 public:
  LocalFile(int fd, std::string path, uint32_t max_read)
      : fd_(fd), path_(std::move(path)), max_read_(max_read) {}
  ~LocalFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  Result<std::string> Read(uint64_t offset, uint32_t len) override {
    if (fd_ < 0) return Closed();
    if (len > max_read_) len = max_read_;
    std::string out(len, '\0');
    size_t got = 0;
    while (got < len) {
      ssize_t n = pread(fd_, out.data() + got, len - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Err("reading", path_);
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
  }
  Status Write(uint64_t offset, std::string_view data) override {
    if (fd_ < 0) return Closed();
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Err("writing", path_);
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  void ReadAsync(uint64_t offset, uint32_t len, ReadCallback cb) override { cb(Read(offset, len)); }
  void WriteAsync(uint64_t offset, std::string data, DoneCallback cb) override {
    cb(Write(offset, data));
  }
  void WriteAsyncFrom(uint64_t offset, std::string_view data, DoneCallback cb) override {
    cb(Write(offset, data));
  }
  Result<FileAttr> Stat() override {
    if (fd_ < 0) return Closed();
    struct stat st;
    if (fstat(fd_, &st)) return Err("fstat of", path_);
    return AttrFromStat(st);
  }
  Status SetStat(const FileAttr& attr) override {
    if (fd_ < 0) return Closed();
    if ((attr.valid & FileAttr::kSize) && ftruncate(fd_, static_cast<off_t>(attr.size)))
      return Err("truncating", path_);
    if ((attr.valid & FileAttr::kUidGid) && fchown(fd_, attr.uid, attr.gid))
      return Err("changing the owner of", path_);
    if ((attr.valid & FileAttr::kPermissions) && fchmod(fd_, attr.mode & 07777))
      return Err("changing the mode of", path_);
    if (attr.valid & FileAttr::kTimes) {
      struct timespec ts[2] = {{attr.atime, 0}, {attr.mtime, 0}};
      if (futimens(fd_, ts)) return Err("setting the times of", path_);
    }
    return Status::Ok();
  }
  Status Sync() override {
    if (fd_ < 0) return Closed();
    if (fsync(fd_)) return Err("fsync of", path_);
    return Status::Ok();
  }
  Status Close() override {
    if (fd_ < 0) return Closed();
    int fd = fd_;
    fd_ = -1;
    if (::close(fd)) return Err("closing", path_);
    return Status::Ok();
  }

 private:
  Status Closed() const { return {Code::kStale, "file already closed: " + path_}; }
  int fd_;
  std::string path_;
  uint32_t max_read_;
};

}  // namespace

LocalRemoteFs::LocalRemoteFs() {
  caps_.posix_rename = caps_.statvfs = caps_.hardlink = caps_.fsync = true;
  caps_.lsetstat = caps_.limits = caps_.expand_path = caps_.copy_data = true;
  // OpenSSH sftp-server's limits, so request sizing matches the sftp-server path.
  caps_.max_read = 261120;
  caps_.max_write = 261120;
}

Result<FileAttr> LocalRemoteFs::Stat(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st)) return Err("stat of", path);
  return AttrFromStat(st);
}

Result<FileAttr> LocalRemoteFs::Lstat(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st)) return Err("lstat of", path);
  return AttrFromStat(st);
}

Status LocalRemoteFs::SetStat(const std::string& path, const FileAttr& attr) {
  return ApplyAttr(path, attr, false);
}

Status LocalRemoteFs::LSetStat(const std::string& path, const FileAttr& attr) {
  return ApplyAttr(path, attr, true);
}

Result<std::vector<DirEntry>> LocalRemoteFs::ReadDir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (!d) return Err("opening the directory", path);
  std::vector<DirEntry> out;
  const int dfd = dirfd(d);
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
      if (errno == ENOENT) continue;  // removed since readdir: as if listed before
      Status s = Err("lstat of", path + "/" + e->d_name);
      closedir(d);
      return s;
    }
    out.push_back({std::string(n), AttrFromStat(st)});
    errno = 0;
  }
  Status s = errno ? Err("reading the directory", path) : Status::Ok();
  closedir(d);
  if (!s.ok()) return s;
  return out;
}

Result<std::unique_ptr<RemoteFile>> LocalRemoteFs::Open(const std::string& path, uint32_t flags,
                                                        uint32_t mode) {
  int f = O_CLOEXEC;
  const bool r = flags & OpenFlags::kRead, w = flags & OpenFlags::kWrite;
  f |= r && w ? O_RDWR : w ? O_WRONLY : O_RDONLY;
  if (flags & OpenFlags::kAppend) f |= O_APPEND;
  if (flags & OpenFlags::kCreate) f |= O_CREAT;
  if (flags & OpenFlags::kTruncate) f |= O_TRUNC;
  if (flags & OpenFlags::kExclusive) f |= O_EXCL;
  int fd = ::open(path.c_str(), f, mode & 07777);
  if (fd < 0) return Err("opening", path);
  return std::unique_ptr<RemoteFile>(std::make_unique<LocalFile>(fd, path, caps_.max_read));
}

Status LocalRemoteFs::Mkdir(const std::string& path, uint32_t mode) {
  if (mkdir(path.c_str(), mode & 07777)) return Err("creating the directory", path);
  return Status::Ok();
}

Status LocalRemoteFs::Rmdir(const std::string& path) {
  if (rmdir(path.c_str())) return Err("removing the directory", path);
  return Status::Ok();
}

Status LocalRemoteFs::Remove(const std::string& path) {
  if (unlink(path.c_str())) return Err("removing", path);
  return Status::Ok();
}

Status LocalRemoteFs::Rename(const std::string& from, const std::string& to, RenameMode mode) {
  int rc = mode == RenameMode::kReplace
               ? ::rename(from.c_str(), to.c_str())
               : renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (rc) return Err("renaming " + from + " to", to);
  return Status::Ok();
}

Status LocalRemoteFs::Symlink(const std::string& target, const std::string& link_path) {
  if (symlink(target.c_str(), link_path.c_str())) return Err("creating the symlink", link_path);
  return Status::Ok();
}

Result<std::string> LocalRemoteFs::Readlink(const std::string& path) {
  std::string buf(PATH_MAX, '\0');
  ssize_t n = readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) return Err("readlink of", path);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Status LocalRemoteFs::Hardlink(const std::string& existing, const std::string& new_path) {
  if (link(existing.c_str(), new_path.c_str())) return Err("linking " + existing + " as", new_path);
  return Status::Ok();
}

Result<FsStats> LocalRemoteFs::StatVfs(const std::string& path) {
  struct statvfs v;
  if (statvfs(path.c_str(), &v)) return Err("statvfs of", path);
  FsStats s;
  s.block_size = v.f_bsize;
  s.fragment_size = v.f_frsize;
  s.blocks = v.f_blocks;
  s.blocks_free = v.f_bfree;
  s.blocks_avail = v.f_bavail;
  s.files = v.f_files;
  s.files_free = v.f_ffree;
  s.files_avail = v.f_favail;
  s.fsid = v.f_fsid;
  s.flags = v.f_flag;
  s.name_max = v.f_namemax;
  return s;
}

Result<std::string> LocalRemoteFs::RealPath(const std::string& path) {
  std::string p = path.empty() ? "." : path;
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = getenv("HOME");
    if (!home || !*home) return Status::NotFound("no HOME to expand " + p);
    p = std::string(home) + p.substr(1);
  }
  char* r = realpath(p.c_str(), nullptr);
  if (!r) return Err("resolving", p);
  std::string out(r);
  free(r);
  return out;
}

Status LocalRemoteFs::CopyData(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                               uint64_t dst_offset) {
  auto* s = dynamic_cast<LocalFile*>(&src);
  auto* d = dynamic_cast<LocalFile*>(&dst);
  if (!s || !d) return Status::Invalid("CopyData: both files must belong to this filesystem");
  if (s->fd() < 0 || d->fd() < 0) return {Code::kStale, "CopyData on a closed file"};
  if (len == 0) {  // to EOF
    struct stat st;
    if (fstat(s->fd(), &st)) return Err("fstat of", s->path());
    if (static_cast<uint64_t>(st.st_size) <= src_offset) return Status::Ok();
    len = static_cast<uint64_t>(st.st_size) - src_offset;
  }
  loff_t in = static_cast<loff_t>(src_offset), out = static_cast<loff_t>(dst_offset);
  bool fallback = false;
  while (len > 0 && !fallback) {
    ssize_t n = copy_file_range(s->fd(), &in, d->fd(), &out, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
      fallback = true;
      break;
    }
    if (n < 0) return Err("copying " + s->path() + " into", d->path());
    if (n == 0) return Status::Ok();  // source ended early: as far as it goes
    len -= static_cast<uint64_t>(n);
  }
  while (len > 0) {  // through user space, when the kernel cannot copy between these
    SKIFF_ASSIGN_OR_RETURN(std::string buf,
                           s->Read(static_cast<uint64_t>(in),
                                   static_cast<uint32_t>(std::min<uint64_t>(len, 1 << 20))));
    if (buf.empty()) break;
    SKIFF_RETURN_IF_ERROR(d->Write(static_cast<uint64_t>(out), buf));
    in += static_cast<loff_t>(buf.size());
    out += static_cast<loff_t>(buf.size());
    len -= buf.size();
  }
  return Status::Ok();
}

}  // namespace skiff::sync
