#include "fs/remote_filesystem.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <future>

#include "fs/remote_filesystem_internal.h"

namespace skiff::fs {

using internal::ConnectionFailed;
using internal::Join;
using internal::kFallbackBlocks;
using internal::kMaxPrefetchesPerListing;
using internal::kMaxQueuedPrefetches;
using internal::kRenameExchange;
using internal::kRenameNoReplace;
using internal::LogWarning;
using internal::WallNow;

RemoteFilesystem::RemoteFilesystem(std::vector<std::shared_ptr<RemoteFs>> connections,
                                   ConnectionKeeper::Connector reconnect, std::string root,
                                   MountOptions opts, Clock clock)
    : opts_(std::move(opts)),
      clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }),
      root_spec_(std::move(root)),
      keeper_(std::move(connections), std::move(reconnect), clock_),
      inodes_("/"),
      local_uid_(getuid()),
      local_gid_(getgid()),
      closer_([this] { CloserLoop(); }) {
  int workers = opts_.dir_timeout > 0 && !opts_.follow_symlinks ? opts_.dir_prefetch : 0;
  prefetcher_ = std::make_unique<DirPrefetcher>(
      workers, kMaxQueuedPrefetches, [this](const std::string& dir) { PrefetchOne(dir); });
}

RemoteFilesystem::~RemoteFilesystem() {
  prefetcher_->Stop();
  {
    std::lock_guard<std::mutex> l(closer_mu_);
    closer_stop_ = true;
  }
  closer_cv_.notify_all();
  closer_.join();
  {
    std::unique_lock<std::mutex> l(closer_mu_);
    closes_done_cv_.wait(l, [&] { return closes_in_flight_ == 0; });
  }
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> files;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    files.swap(files_);
    dir_handles_.clear();
  }
  // Files still open at unmount: their Backings drain and close as they are destroyed.
}

void RemoteFilesystem::CloserLoop() {
  std::unique_lock<std::mutex> l(closer_mu_);
  for (;;) {
    closer_cv_.wait(l, [&] { return closer_stop_ || !closer_queue_.empty(); });
    if (closer_queue_.empty()) return;  // stopping, and everything is closed
    std::shared_ptr<OpenFile::Backing> b = std::move(closer_queue_.front());
    closer_queue_.pop_front();
    closer_busy_ = true;
    l.unlock();
    if (b->write_behind) {
      Status s = b->write_behind->Drain();
      if (!s.ok())
        LogWarning(
            "write-behind of a released file failed (reported at close if it was still open): " +
            s.ToString());
    }
    if (!keeper_.IsLost(b->fs)) {
      Status s = b->file->Close();
      if (!s.ok()) LogWarning("closing a remote file: " + s.ToString());
      if (b->write_behind) {
        s = b->write_behind->CloseStripes();
        if (!s.ok()) LogWarning("closing a remote file: " + s.ToString());
      }
    }
    b.reset();
    l.lock();
    closer_busy_ = false;
    closer_cv_.notify_all();
  }
}

void RemoteFilesystem::WaitForBackgroundCloses() {
  std::unique_lock<std::mutex> l(closer_mu_);
  closer_cv_.wait(l, [&] { return closer_queue_.empty() && !closer_busy_; });
  closes_done_cv_.wait(l, [&] { return closes_in_flight_ == 0; });
}

std::chrono::steady_clock::time_point RemoteFilesystem::Expiry(double seconds) const {
  return clock_() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(seconds));
}

std::string RemoteFilesystem::Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string RemoteFilesystem::Base(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status RemoteFilesystem::Init() {
  std::string spec = root_spec_.empty() ? "." : root_spec_;
  SKIFF_ASSIGN_OR_RETURN(std::string real,
                         WithFs(true, [&](RemoteFs& fs) { return fs.RealPath(spec); }));
  SKIFF_ASSIGN_OR_RETURN(FileAttr attr, WithFs(true, [&](RemoteFs& fs) { return fs.Stat(real); }));
  if (!attr.IsDir())
    return Status(Code::kNotDirectory, "mount root " + real + " is not a directory");
  inodes_.SetRootPath(real);
  inodes_.SetAttr(InodeTable::kRootIno, attr, Expiry(opts_.attr_timeout));
  remote_root_uid_ = attr.uid;
  remote_root_gid_ = attr.gid;
  if (opts_.idmap_user) {
    // As sshfs: the remote user is the owner of the login directory. (Once we create
    // something, its owner is used instead: that is certain.)
    Result<FileAttr> home = WithFs(true, [&](RemoteFs& fs) { return fs.Stat("."); });
    if (home.ok()) {
      remote_root_uid_ = home->uid;
      remote_root_gid_ = home->gid;
    }
  }
  return Status::Ok();
}

Result<std::string> RemoteFilesystem::ChildPath(uint64_t parent, const std::string& name) const {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    return Status::Invalid("invalid file name '" + name + "'");
  SKIFF_ASSIGN_OR_RETURN(std::string dir, inodes_.Path(parent));
  return Join(dir, name);
}

Result<FileAttr> RemoteFilesystem::StatPath(const std::string& path) {
  return WithFs(true, [&](RemoteFs& fs) -> Result<FileAttr> {
    if (!opts_.follow_symlinks) return fs.Lstat(path);
    Result<FileAttr> r = fs.Stat(path);
    // A dangling symlink is shown as the link itself (as sshfs does).
    if (!r.ok() && r.status().Is(Code::kNotFound)) return fs.Lstat(path);
    return r;
  });
}

struct stat RemoteFilesystem::ToStat(uint64_t ino, const FileAttr& a) const {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = a.mode;
  st.st_nlink = S_ISDIR(a.mode) ? 2 : 1;  // SFTP v3 does not report link counts
  st.st_size = static_cast<off_t>(a.size);
  st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st.st_blksize = 4096;
  std::optional<uint32_t> ruid = remote_root_uid_, rgid = remote_root_gid_;
  {
    std::lock_guard<std::mutex> l(identity_mu_);
    if (identity_) {
      ruid = identity_->uid;
      rgid = identity_->gid;
    }
  }
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  if (opts_.idmap_user && ruid && a.uid == *ruid) st.st_uid = local_uid_;
  if (opts_.idmap_user && rgid && a.gid == *rgid) st.st_gid = local_gid_;
  if (opts_.uid) st.st_uid = *opts_.uid;
  if (opts_.gid) st.st_gid = *opts_.gid;
  st.st_atim.tv_sec = a.atime;
  st.st_mtim.tv_sec = a.mtime;
  st.st_ctim.tv_sec = a.mtime;  // SFTP v3 has no ctime
  return st;
}

Entry RemoteFilesystem::MakeEntry(uint64_t ino, const FileAttr& a) const {
  Entry e;
  e.ino = ino;
  e.attr = ToStat(ino, a);
  e.attr_timeout = opts_.attr_timeout;
  e.entry_timeout = opts_.entry_timeout;
  return e;
}

std::optional<FileAttr> RemoteFilesystem::Synthesize(uint32_t type, uint32_t mode,
                                                     uint64_t size) const {
  std::lock_guard<std::mutex> l(identity_mu_);
  if (!identity_) return std::nullopt;
  if (type != S_IFLNK && (mode & 0777 & ~identity_->umask_known) != 0) return std::nullopt;
  if (type == S_IFDIR) {
    if (!identity_->dir_size) return std::nullopt;
    size = *identity_->dir_size;
  }
  FileAttr a;
  a.valid = FileAttr::kSize | FileAttr::kUidGid | FileAttr::kPermissions | FileAttr::kTimes;
  a.mode = type | (type == S_IFLNK ? 0777 : (mode & 07777 & ~identity_->umask));
  a.size = size;
  a.uid = identity_->uid;
  a.gid = identity_->gid;
  a.atime = a.mtime = WallNow();
  return a;
}

void RemoteFilesystem::LearnIdentity(uint32_t requested_mode, const FileAttr& actual) {
  std::lock_guard<std::mutex> l(identity_mu_);
  if (!identity_) identity_ = Identity{actual.uid, actual.gid};
  uint32_t requested = requested_mode & 0777;
  uint32_t fresh = requested & ~identity_->umask_known;
  identity_->umask |= fresh & ~actual.mode;
  identity_->umask_known |= fresh;
  if (actual.IsDir() && !identity_->dir_size) identity_->dir_size = actual.size;
}

Status RemoteFilesystem::CheckWritable() const {
  if (opts_.read_only) return Status::Permission("the mount is read-only (-o ro)");
  return Status::Ok();
}

std::shared_ptr<OpenFile> RemoteFilesystem::FindFile(uint64_t fh) const {
  std::lock_guard<std::mutex> l(files_mu_);
  auto it = files_.find(fh);
  return it == files_.end() ? nullptr : it->second;
}

Status RemoteFilesystem::DrainWriters(uint64_t ino) {
  std::vector<std::shared_ptr<OpenFile>> writers;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    for (const auto& [fh, f] : files_)
      if (f->ino() == ino && f->writable()) writers.push_back(f);
  }
  for (const auto& f : writers) {
    auto b = f->backing();
    if (b && b->write_behind && b->write_behind->pending())
      SKIFF_RETURN_IF_ERROR(b->write_behind->Drain());
  }
  return Status::Ok();
}

// ---- names ----------------------------------------------------------------------------

Result<Entry> RemoteFilesystem::Lookup(uint64_t parent, const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, ChildPath(parent, name));
  auto now = clock_();
  FileAttr a;
  DirCache::Presence p = dirs_.Lookup(Parent(path), name, now, &a);
  Entry negative;
  negative.entry_timeout = opts_.negative_timeout;
  if (p == DirCache::Presence::kAbsent) return negative;
  bool authoritative = false;
  if (p == DirCache::Presence::kUnknown || (opts_.follow_symlinks && a.IsSymlink())) {
    Result<FileAttr> r = StatPath(path);
    if (!r.ok()) {
      if (r.status().Is(Code::kNotFound)) return negative;
      return r.status();
    }
    a = *r;
    authoritative = true;
  }
  auto [ino, attr] = inodes_.Remember(path, a, Expiry(opts_.attr_timeout), 1, authoritative, now);
  return MakeEntry(ino, attr);
}

void RemoteFilesystem::Forget(uint64_t ino, uint64_t nlookup) { inodes_.Forget(ino, nlookup); }

Result<AttrReply> RemoteFilesystem::GetAttr(uint64_t ino, std::optional<uint64_t> fh) {
  AttrReply reply;
  reply.timeout = opts_.attr_timeout;
  if (auto a = inodes_.CachedAttr(ino, clock_())) {
    reply.attr = ToStat(ino, *a);
    return reply;
  }
  SKIFF_RETURN_IF_ERROR(DrainWriters(ino));
  Result<std::string> path = inodes_.Path(ino);
  Result<FileAttr> attr = path.ok() ? StatPath(*path) : Result<FileAttr>(path.status());
  if (!attr.ok() && !ConnectionFailed(attr.status())) {
    // Unlinked but open (or the path went stale): ask the handle.
    std::shared_ptr<OpenFile> f = fh ? FindFile(*fh) : nullptr;
    if (!f) {
      std::lock_guard<std::mutex> l(files_mu_);
      for (const auto& [h, of] : files_)
        if (of->ino() == ino) f = of;
    }
    if (f) {
      if (auto b = f->backing()) attr = b->file->Stat();
    }
  }
  if (!attr.ok()) return attr.status();
  inodes_.SetAttr(ino, *attr, Expiry(opts_.attr_timeout));
  reply.attr = ToStat(ino, *attr);
  return reply;
}

std::shared_ptr<OpenFile::Backing> RemoteFilesystem::SoleWriter(uint64_t ino) const {
  std::shared_ptr<OpenFile::Backing> found;
  std::lock_guard<std::mutex> l(files_mu_);
  for (const auto& [h, of] : files_) {
    if (of->ino() != ino) continue;
    std::shared_ptr<OpenFile::Backing> b = of->backing();
    if (!b || !b->write_behind) continue;
    if (found) return nullptr;  // several writers: their writes are not ordered together
    found = std::move(b);
  }
  return found;
}

Result<AttrReply> RemoteFilesystem::SetAttr(uint64_t ino, std::optional<uint64_t> fh,
                                            const SetAttrRequest& req) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  // chmod/utimens of a file with exactly one handle open for writing (the kernel sends
  // futimens without the handle) can be queued behind that handle's writes instead of
  // waiting for them.
  std::shared_ptr<OpenFile::Backing> behind;
  if (!req.size && !req.uid && !req.gid) behind = SoleWriter(ino);
  // Without cached attributes the reply needs a stat, which must not overtake the writes
  // (it would report a size they have not reached yet): then drain first.
  if (behind &&
      (keeper_.IsLost(behind->fs) || !inodes_.Path(ino).ok() || !inodes_.CachedAttr(ino, clock_())))
    behind = nullptr;
  if (!behind) SKIFF_RETURN_IF_ERROR(DrainWriters(ino));
  std::shared_ptr<OpenFile> f = fh ? FindFile(*fh) : nullptr;
  Result<std::string> path = inodes_.Path(ino);
  if (!path.ok() && !f) return path.status();

  std::optional<FileAttr> cur = inodes_.CachedAttr(ino, clock_());
  if (!cur && path.ok()) {
    // Current attributes are needed to fill in the half of a pair SFTP v3 sets together
    // and to answer the kernel; one stat if they are not cached.
    SKIFF_ASSIGN_OR_RETURN(FileAttr a, StatPath(*path));
    cur = a;
  }
  FileAttr set;
  if (req.mode) {
    set.valid |= FileAttr::kPermissions;
    set.mode = *req.mode & 07777;
  }
  if (req.uid || req.gid) {
    if (!cur) return Status(Code::kStale, "chown of a removed file");
    set.valid |= FileAttr::kUidGid;
    auto remote_id = [&](std::optional<uint32_t> local, uint32_t current, bool is_uid) {
      if (!local) return current;
      std::lock_guard<std::mutex> l(identity_mu_);
      std::optional<uint32_t> remote = is_uid ? remote_root_uid_ : remote_root_gid_;
      if (identity_) remote = is_uid ? identity_->uid : identity_->gid;
      if (opts_.idmap_user && remote && *local == (is_uid ? local_uid_ : local_gid_))
        return *remote;
      return *local;
    };
    set.uid = remote_id(req.uid, cur->uid, true);
    set.gid = remote_id(req.gid, cur->gid, false);
  }
  if (req.size) {
    set.valid |= FileAttr::kSize;
    set.size = *req.size;
  }
  if (req.atime || req.mtime) {
    if (!cur) return Status(Code::kStale, "utimens of a removed file");
    set.valid |= FileAttr::kTimes;
    set.atime = req.atime.value_or(cur->atime);
    set.mtime = req.mtime.value_or(cur->mtime);
  }
  if (set.valid == 0) {
    if (!cur) return Status(Code::kStale, "setattr of a removed file");
    AttrReply reply;
    reply.attr = ToStat(ino, *cur);
    return reply;
  }

  std::shared_ptr<OpenFile::Backing> b = f ? f->backing() : nullptr;
  Status s;
  // chmod/utimens of a file open for writing (tar, cp -p): fsetstat queued behind the
  // writes on the same channel (the server answers in order), not waited for here; a
  // failure surfaces at flush/fsync/close like a write's. Saves a round trip per file.
  // Refused when no later flush is sure to come (the handle was flushed since its last
  // write, or is being released): then the writes are drained and the setattr waited for.
  bool queued = false;
  if (behind) {
    queued = behind->write_behind->SetStatBehind(set);
    if (!queued) SKIFF_RETURN_IF_ERROR(DrainWriters(ino));
  }
  if (queued) {
    // nothing to wait for
  } else if (b && (!path.ok() || req.size)) {
    s = b->file->SetStat(set);  // fsetstat: works on unlinked files, orders after writes
    if (ConnectionFailed(s)) keeper_.ReportLost(b->fs);
  } else if (!path.ok()) {
    return path.status();
  } else {
    bool is_link = cur && cur->IsSymlink();
    s = WithFs(false, [&](RemoteFs& fs) {
      return is_link ? fs.LSetStat(*path, set) : fs.SetStat(*path, set);
    });
  }
  SKIFF_RETURN_IF_ERROR(s);

  if (req.size) {
    inodes_.ForgetContentVersion(ino);
    std::lock_guard<std::mutex> l(files_mu_);
    for (const auto& [h, of] : files_) {
      if (of->ino() != ino) continue;
      auto ob = of->backing();
      if (ob && ob->read_ahead) ob->read_ahead->Invalidate();
    }
  }
  FileAttr merged;
  if (cur) {
    merged = *cur;
    if (set.valid & FileAttr::kPermissions) merged.mode = (merged.mode & S_IFMT) | set.mode;
    if (set.valid & FileAttr::kUidGid) {
      merged.uid = set.uid;
      merged.gid = set.gid;
    }
    if (set.valid & FileAttr::kSize) {
      merged.size = set.size;
      if (!(set.valid & FileAttr::kTimes)) merged.mtime = WallNow();  // truncate sets mtime
    }
    if (set.valid & FileAttr::kTimes) {
      merged.atime = set.atime;
      merged.mtime = set.mtime;
    }
  } else {
    SKIFF_ASSIGN_OR_RETURN(merged, b->file->Stat());
  }
  inodes_.SetAttr(ino, merged, Expiry(opts_.attr_timeout));
  if (path.ok()) dirs_.UpdateAttr(Parent(*path), Base(*path), merged);
  AttrReply reply;
  reply.timeout = opts_.attr_timeout;
  reply.attr = ToStat(ino, merged);
  return reply;
}

Result<std::string> RemoteFilesystem::Readlink(uint64_t ino) {
  if (auto t = inodes_.CachedLink(ino, clock_())) return *t;
  SKIFF_ASSIGN_OR_RETURN(std::string path, inodes_.Path(ino));
  SKIFF_ASSIGN_OR_RETURN(std::string target,
                         WithFs(true, [&](RemoteFs& fs) { return fs.Readlink(path); }));
  inodes_.SetLink(ino, target, Expiry(opts_.link_timeout));
  return target;
}

Result<Entry> RemoteFilesystem::Mknod(uint64_t parent, const std::string& name, uint32_t mode,
                                      uint64_t rdev) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  if (!S_ISREG(mode))
    return Status::Unsupported("SFTP cannot create fifos, sockets or device nodes");
  SKIFF_ASSIGN_OR_RETURN(std::string path, ChildPath(parent, name));
  SKIFF_ASSIGN_OR_RETURN(auto file, WithFs(false, [&](RemoteFs& fs) {
                           return fs.Open(
                               path, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive,
                               mode & 07777);
                         }));
  std::optional<FileAttr> a = Synthesize(S_IFREG, mode, 0);
  if (!a) {
    SKIFF_ASSIGN_OR_RETURN(FileAttr st, file->Stat());
    LearnIdentity(mode, st);
    a = st;
  }
  Status closed = file->Close();
  if (!closed.ok()) LogWarning("closing " + path + " after mknod: " + closed.ToString());
  auto [ino, attr] = inodes_.Remember(path, *a, Expiry(opts_.attr_timeout), 1, true, clock_());
  dirs_.Add(Parent(path), name, attr);
  return MakeEntry(ino, attr);
}

Result<Entry> RemoteFilesystem::Mkdir(uint64_t parent, const std::string& name, uint32_t mode) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  SKIFF_ASSIGN_OR_RETURN(std::string path, ChildPath(parent, name));
  SKIFF_RETURN_IF_ERROR(WithFs(false, [&](RemoteFs& fs) { return fs.Mkdir(path, mode & 07777); }));
  // The new directory's attributes are computed like a new file's: our mode minus the
  // server's umask, the server-side user, and the size of the first directory this mount
  // made (learned, with the umask bits, by one stat until they are known).
  std::optional<FileAttr> a = Synthesize(S_IFDIR, mode, 0);
  if (!a) {
    SKIFF_ASSIGN_OR_RETURN(FileAttr st, StatPath(path));
    LearnIdentity(mode, st);
    a = st;
  }
  auto [ino, attr] = inodes_.Remember(path, *a, Expiry(opts_.attr_timeout), 1, true, clock_());
  dirs_.Add(Parent(path), name, attr);
  dirs_.Put(path, {}, Expiry(opts_.dir_timeout));  // we just made it: it is empty
  return MakeEntry(ino, attr);
}

Status RemoteFilesystem::Unlink(uint64_t parent, const std::string& name) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  SKIFF_ASSIGN_OR_RETURN(std::string path, ChildPath(parent, name));
  SKIFF_RETURN_IF_ERROR(WithFs(false, [&](RemoteFs& fs) { return fs.Remove(path); }));
  dirs_.Erase(Parent(path), name);
  inodes_.Removed(path);
  return Status::Ok();
}

Status RemoteFilesystem::Rmdir(uint64_t parent, const std::string& name) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  SKIFF_ASSIGN_OR_RETURN(std::string path, ChildPath(parent, name));
  SKIFF_RETURN_IF_ERROR(WithFs(false, [&](RemoteFs& fs) { return fs.Rmdir(path); }));
  dirs_.Erase(Parent(path), name);
  dirs_.InvalidateTree(path);
  inodes_.Removed(path);
  return Status::Ok();
}

Result<Entry> RemoteFilesystem::Symlink(const std::string& target, uint64_t parent,
                                        const std::string& name) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  SKIFF_ASSIGN_OR_RETURN(std::string path, ChildPath(parent, name));
  SKIFF_RETURN_IF_ERROR(WithFs(false, [&](RemoteFs& fs) { return fs.Symlink(target, path); }));
  std::optional<FileAttr> a = Synthesize(S_IFLNK, 0777, target.size());
  if (!a) {
    SKIFF_ASSIGN_OR_RETURN(FileAttr st, WithFs(true, [&](RemoteFs& fs) { return fs.Lstat(path); }));
    a = st;
  }
  auto [ino, attr] = inodes_.Remember(path, *a, Expiry(opts_.attr_timeout), 1, true, clock_());
  inodes_.SetLink(ino, target, Expiry(opts_.link_timeout));
  dirs_.Add(Parent(path), name, attr);
  return MakeEntry(ino, attr);
}

Status RemoteFilesystem::Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
                                const std::string& new_name, unsigned flags) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  if (flags & kRenameExchange)
    return Status::Invalid("RENAME_EXCHANGE cannot be done atomically over SFTP");
  if (flags & ~kRenameNoReplace)
    return Status::Invalid("unsupported rename flags " + std::to_string(flags));
  SKIFF_ASSIGN_OR_RETURN(std::string from, ChildPath(parent, name));
  SKIFF_ASSIGN_OR_RETURN(std::string to, ChildPath(new_parent, new_name));
  RenameMode mode = (flags & kRenameNoReplace) ? RenameMode::kNoReplace : RenameMode::kReplace;
  SKIFF_RETURN_IF_ERROR(WithFs(false, [&](RemoteFs& fs) { return fs.Rename(from, to, mode); }));
  FileAttr a;
  bool known = dirs_.Lookup(Parent(from), name, clock_(), &a) == DirCache::Presence::kPresent;
  dirs_.Erase(Parent(from), name);
  if (known) {
    dirs_.Add(Parent(to), new_name, a);
  } else {
    dirs_.Invalidate(Parent(to));
  }
  dirs_.InvalidateTree(from);
  dirs_.InvalidateTree(to);
  inodes_.Moved(from, to);
  return Status::Ok();
}

Result<Entry> RemoteFilesystem::Link(uint64_t ino, uint64_t new_parent,
                                     const std::string& new_name) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  SKIFF_ASSIGN_OR_RETURN(std::string from, inodes_.Path(ino));
  SKIFF_ASSIGN_OR_RETURN(std::string to, ChildPath(new_parent, new_name));
  SKIFF_RETURN_IF_ERROR(WithFs(false, [&](RemoteFs& fs) { return fs.Hardlink(from, to); }));
  std::optional<FileAttr> a = inodes_.CachedAttr(ino, clock_());
  if (!a) {
    SKIFF_ASSIGN_OR_RETURN(FileAttr st, StatPath(to));
    a = st;
  }
  auto [new_ino, attr] = inodes_.Remember(to, *a, Expiry(opts_.attr_timeout), 1, true, clock_());
  dirs_.Add(Parent(to), new_name, attr);
  return MakeEntry(new_ino, attr);
}

// ---- directories ----------------------------------------------------------------------

Result<uint64_t> RemoteFilesystem::OpenDir(uint64_t ino) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, inodes_.Path(ino));
  auto d = std::make_shared<DirHandle>();
  d->ino = ino;
  d->path = path;
  std::optional<std::vector<DirEntry>> cached = dirs_.Get(path, clock_());
  // A background listing of this directory already under way is joined, not repeated:
  // it started earlier, so it ends sooner than a listing started now.
  if (!cached && prefetcher_->TakeOver(path)) cached = dirs_.Get(path, clock_());
  if (cached) {
    d->entries = std::move(*cached);
  } else {
    SKIFF_ASSIGN_OR_RETURN(d->entries,
                           WithFs(true, [&](RemoteFs& fs) { return fs.ReadDir(path); }));
    if (opts_.follow_symlinks) {
      for (auto& e : d->entries) {
        if (!e.attr.IsSymlink()) continue;
        Result<FileAttr> t =
            WithFs(true, [&](RemoteFs& fs) { return fs.Stat(Join(path, e.name)); });
        if (t.ok()) e.attr = *t;
      }
    }
    dirs_.Put(path, d->entries, Expiry(opts_.dir_timeout));
  }
  PrefetchSubdirs(path, d->entries);
  std::lock_guard<std::mutex> l(files_mu_);
  uint64_t dh = next_fh_++;
  dir_handles_[dh] = std::move(d);
  return dh;
}

void RemoteFilesystem::PrefetchSubdirs(const std::string& dir,
                                       const std::vector<DirEntry>& entries) {
  auto now = clock_();
  size_t queued = 0;
  for (const auto& e : entries) {
    if (queued >= kMaxPrefetchesPerListing) break;
    if (!e.attr.IsDir()) continue;
    std::string child = Join(dir, e.name);
    if (dirs_.Fresh(child, now)) continue;
    prefetcher_->Enqueue(child);
    ++queued;
  }
}

void RemoteFilesystem::PrefetchOne(const std::string& dir) {
  if (dirs_.Fresh(dir, clock_())) return;  // the user's own OpenDir got there first
  uint64_t generation = dirs_.generation();
  Result<std::vector<DirEntry>> r = WithFs(false, [&](RemoteFs& fs) { return fs.ReadDir(dir); });
  if (!r.ok()) return;  // a guess that failed: the user's own OpenDir will report it
  dirs_.PutIfUnchanged(dir, *r, Expiry(opts_.dir_timeout), generation, clock_());
}

Status RemoteFilesystem::ReadDir(uint64_t dh, uint64_t offset, bool plus,
                                 const std::function<bool(const DirItem&)>& emit) {
  std::shared_ptr<DirHandle> d;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    auto it = dir_handles_.find(dh);
    if (it == dir_handles_.end())
      return Status::Invalid("unknown directory handle " + std::to_string(dh));
    d = it->second;
  }
  auto now = clock_();
  for (uint64_t i = offset; i < d->entries.size() + 2; ++i) {
    DirItem item;
    item.next_offset = i + 1;
    bool counted = false;
    if (i < 2) {
      item.name = i == 0 ? "." : "..";
      item.entry.ino = i == 0 ? d->ino : InodeTable::kRootIno;  // d_ino hint only
      item.entry.attr.st_ino = item.entry.ino;
      item.entry.attr.st_mode = S_IFDIR;
    } else {
      const DirEntry& e = d->entries[i - 2];
      item.name = e.name;
      std::string path = Join(d->path, e.name);
      if (plus) {
        auto [ino, attr] =
            inodes_.Remember(path, e.attr, Expiry(opts_.attr_timeout), 1, false, now);
        item.entry = MakeEntry(ino, attr);
        counted = true;
      } else {
        item.entry.ino = inodes_.Find(path).value_or(UINT32_MAX);
        item.entry.attr.st_ino = item.entry.ino;
        item.entry.attr.st_mode = e.attr.mode & S_IFMT;
      }
    }
    if (!emit(item)) {
      if (counted) inodes_.Forget(item.entry.ino, 1);
      break;
    }
  }
  return Status::Ok();
}

Status RemoteFilesystem::ReleaseDir(uint64_t dh) {
  std::lock_guard<std::mutex> l(files_mu_);
  if (dir_handles_.erase(dh) == 0)
    return Status::Invalid("unknown directory handle " + std::to_string(dh));
  return Status::Ok();
}

Result<struct statvfs> RemoteFilesystem::StatFs() {
  SKIFF_ASSIGN_OR_RETURN(std::string root, inodes_.Path(InodeTable::kRootIno));
  Result<FsStats> r = WithFs(true, [&](RemoteFs& fs) { return fs.StatVfs(root); });
  struct statvfs v {};
  if (!r.ok()) {
    if (!r.status().Is(Code::kUnsupported)) return r.status();
    v.f_bsize = v.f_frsize = 4096;
    v.f_blocks = v.f_bfree = v.f_bavail = kFallbackBlocks;
    v.f_files = v.f_ffree = v.f_favail = kFallbackBlocks;
    v.f_namemax = 255;
    return v;
  }
  v.f_bsize = r->block_size;
  v.f_frsize = r->fragment_size ? r->fragment_size : r->block_size;
  v.f_blocks = r->blocks;
  v.f_bfree = r->blocks_free;
  v.f_bavail = r->blocks_avail;
  v.f_files = r->files;
  v.f_ffree = r->files_free;
  v.f_favail = r->files_avail;
  v.f_fsid = r->fsid;
  v.f_namemax = r->name_max ? r->name_max : 255;
  return v;
}

}  // namespace skiff::fs
