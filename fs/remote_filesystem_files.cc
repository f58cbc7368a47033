// RemoteFilesystem, part 2: open files (open, create, read, write, flush, fsync,
// release, reopen after a reconnect). Part 1 (names, attributes, directories) is
// remote_filesystem.cc.
#include <fcntl.h>

#include <future>

#include "fs/remote_filesystem.h"
#include "fs/remote_filesystem_internal.h"

namespace skiff::fs {

using internal::ConnectionFailed;
using internal::LogWarning;
using internal::WallNow;

// ---- files ----------------------------------------------------------------------------

namespace {

uint32_t RemoteOpenFlags(int flags) {
  uint32_t rf = 0;
  switch (flags & O_ACCMODE) {
    case O_RDONLY:
      rf = OpenFlags::kRead;
      break;
    case O_WRONLY:
      rf = OpenFlags::kWrite;
      break;
    default:
      rf = OpenFlags::kRead | OpenFlags::kWrite;
  }
  if (flags & O_APPEND) rf |= OpenFlags::kAppend;
  if ((flags & O_TRUNC) && (rf & OpenFlags::kWrite)) rf |= OpenFlags::kTruncate;
  return rf;
}

}  // namespace

Result<OpenReply> RemoteFilesystem::Open(uint64_t ino, int flags) {
  uint32_t rf = RemoteOpenFlags(flags);
  if (rf & OpenFlags::kWrite) SKIFF_RETURN_IF_ERROR(CheckWritable());
  SKIFF_ASSIGN_OR_RETURN(std::string path, inodes_.Path(ino));
  bool truncating = rf & OpenFlags::kTruncate;
  bool need_stat = !truncating && opts_.cache != CacheMode::kLoose;
  if (!need_stat && !truncating && !inodes_.CachedAttr(ino, clock_())) need_stat = true;

  std::shared_ptr<RemoteFs> used;
  std::optional<FileAttr> fresh;
  SKIFF_ASSIGN_OR_RETURN(
      std::unique_ptr<RemoteFile> file,
      WithFs(
          true,
          [&](RemoteFs& fs) -> Result<std::unique_ptr<RemoteFile>> {
            // Close-to-open: the server's size and mtime decide whether the
            // kernel may keep its page cache. The stat runs concurrently with
            // the OPEN, so it costs no extra round trip.
            std::future<Result<FileAttr>> st;
            if (need_stat) {
              bool follow = opts_.follow_symlinks;
              auto job = std::make_shared<std::packaged_task<Result<FileAttr>()>>(
                  [&fs, &path, follow] { return follow ? fs.Stat(path) : fs.Lstat(path); });
              st = job->get_future();
              pool_.Run([job] { (*job)(); });
            }
            Result<std::unique_ptr<RemoteFile>> r = fs.Open(path, rf);
            if (need_stat) {
              Result<FileAttr> a = st.get();
              if (a.ok()) fresh = *a;
            }
            return r;
          },
          &used));
  OpenReply reply;
  if (truncating) {
    inodes_.ForgetContentVersion(ino);
    inodes_.NoteWrite(ino, 0, WallNow());
    if (auto a = inodes_.CachedAttr(ino, clock_())) {
      FileAttr t = *a;
      t.size = 0;
      inodes_.SetAttr(ino, t, Expiry(opts_.attr_timeout));
      dirs_.UpdateAttr(Parent(path), Base(path), t);
    }
  } else if (fresh) {
    std::optional<FileAttr> before = inodes_.LastAttr(ino);
    bool changed = !before || before->size != fresh->size || before->mtime != fresh->mtime ||
                   before->mode != fresh->mode;
    // Close-to-open: the kernel may hold attributes (size) from a lookup up to
    // attr_timeout old; if the server's differ, make it ask again before reading.
    if (changed && invalidate_attrs_) invalidate_attrs_(ino);
    inodes_.SetAttr(ino, *fresh, Expiry(opts_.attr_timeout));
    dirs_.UpdateAttr(Parent(path), Base(path), *fresh);
    bool same = inodes_.SwapContentVersion(ino, fresh->size, fresh->mtime);
    reply.keep_cache =
        opts_.cache == CacheMode::kLoose || (opts_.cache == CacheMode::kDefault && same);
  } else {
    reply.keep_cache = opts_.cache == CacheMode::kLoose;
  }
  auto f = std::make_shared<OpenFile>(ino, rf, opts_);
  uint64_t hint = fresh ? fresh->size : UINT64_MAX;
  auto backing = f->MakeBacking(used, std::move(file), hint, StripesFor(ino, used), &pool_);
  // Small-file reads: the first request goes out with the open's reply, saving a round
  // trip per file (`cat`, compilers, `grep -r`).
  if (backing->read_ahead && !f->writable() && fresh && fresh->IsRegular())
    backing->read_ahead->Prefetch(fresh->size);
  f->set_backing(std::move(backing));
  std::lock_guard<std::mutex> l(files_mu_);
  reply.fh = next_fh_++;
  files_[reply.fh] = std::move(f);
  return reply;
}

Result<std::pair<Entry, OpenReply>> RemoteFilesystem::Create(uint64_t parent,
                                                             const std::string& name, uint32_t mode,
                                                             int flags) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  SKIFF_ASSIGN_OR_RETURN(std::string path, ChildPath(parent, name));
  uint32_t rf = RemoteOpenFlags(flags) | OpenFlags::kCreate;
  if (flags & O_EXCL) rf |= OpenFlags::kExclusive;
  std::shared_ptr<RemoteFs> used;
  SKIFF_ASSIGN_OR_RETURN(
      std::unique_ptr<RemoteFile> file,
      WithFs(
          false, [&](RemoteFs& fs) { return fs.Open(path, rf, mode & 07777); }, &used));
  // The new file's attributes are known without asking: size 0, our mode minus the
  // server's umask, owned by the server-side user. Both are learned by one fstat on the
  // first create of the mount. Without O_EXCL or O_TRUNC the file may have existed
  // (another client made it since we last listed the directory), so ask then.
  std::optional<FileAttr> a;
  if (rf & (OpenFlags::kExclusive | OpenFlags::kTruncate)) a = Synthesize(S_IFREG, mode, 0);
  if (!a) {
    Result<FileAttr> st = file->Stat();
    if (!st.ok()) {
      if (ConnectionFailed(st.status())) keeper_.ReportLost(used);
      return st.status().WithContext("fstat of new file " + path);
    }
    LearnIdentity(mode, *st);
    a = *st;
  }
  auto now = clock_();
  auto [ino, attr] = inodes_.Remember(path, *a, Expiry(opts_.attr_timeout), 1, true, now);
  inodes_.SwapContentVersion(ino, attr.size, attr.mtime);
  dirs_.Add(Parent(path), name, attr);
  auto f = std::make_shared<OpenFile>(ino, rf, opts_);
  f->set_backing(f->MakeBacking(used, std::move(file), attr.size, StripesFor(ino, used), &pool_));
  OpenReply reply;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    reply.fh = next_fh_++;
    files_[reply.fh] = std::move(f);
  }
  return std::make_pair(MakeEntry(ino, attr), reply);
}

Status RemoteFilesystem::Reopen(OpenFile& f) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, inodes_.Path(f.ino()));
  std::shared_ptr<RemoteFs> used;
  SKIFF_ASSIGN_OR_RETURN(
      std::unique_ptr<RemoteFile> file,
      WithFs(
          true, [&](RemoteFs& fs) { return fs.Open(path, f.reopen_flags()); }, &used));
  std::optional<FileAttr> a = inodes_.CachedAttr(f.ino(), clock_());
  f.set_backing(f.MakeBacking(used, std::move(file), a ? a->size : UINT64_MAX,
                              StripesFor(f.ino(), used), &pool_));
  return Status::Ok();
}

Result<std::shared_ptr<OpenFile::Backing>> RemoteFilesystem::UsableBacking(OpenFile& f) {
  std::shared_ptr<OpenFile::Backing> b = f.backing();
  if (!b) return Status(Code::kStale, "file handle has no remote file");
  if (!keeper_.IsLost(b->fs)) return b;
  // The connection under this handle died. Reopening is safe when no data can have been
  // lost: a read-only handle, or a writable one whose every write was acknowledged.
  bool safe = !b->write_behind || (!b->write_behind->pending() && b->write_behind->Drain().ok());
  if (!keeper_.can_reconnect() || !safe)
    return Status(Code::kStale,
                  safe ? "the connection under this open file was lost"
                       : "the connection was lost with writes in flight; data written since "
                         "the last successful fsync may be lost; reopen the file");
  SKIFF_RETURN_IF_ERROR(Reopen(f));
  return f.backing();
}

void RemoteFilesystem::ReportWriteFailure(const OpenFile::Backing& b, const Status& s) {
  if (!ConnectionFailed(s)) return;
  // One round trip, on failure only: a dead connection fails it at once.
  if (b.write_behind && b.write_behind->failed_on_extra() &&
      !ConnectionFailed(b.fs->Stat(".").status()))
    return;
  keeper_.ReportLost(b.fs);
}

Result<std::string> RemoteFilesystem::Read(uint64_t fh, uint64_t offset, uint32_t size) {
  std::shared_ptr<OpenFile> f = FindFile(fh);
  if (!f) return Status::Invalid("unknown file handle " + std::to_string(fh));
  for (int attempt = 0;; ++attempt) {
    SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<OpenFile::Backing> b, UsableBacking(*f));
    if (!b->read_ahead) return Status::Permission("file is not open for reading");
    Result<std::string> r = b->read_ahead->Read(offset, size);
    if (!r.ok() && ConnectionFailed(r.status())) {
      keeper_.ReportLost(b->fs);
      if (attempt == 0 && keeper_.can_reconnect() && !f->writable()) continue;
    }
    return r;
  }
}

Result<size_t> RemoteFilesystem::Write(uint64_t fh, uint64_t offset, std::string_view data) {
  SKIFF_RETURN_IF_ERROR(CheckWritable());
  std::shared_ptr<OpenFile> f = FindFile(fh);
  if (!f) return Status::Invalid("unknown file handle " + std::to_string(fh));
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<OpenFile::Backing> b, UsableBacking(*f));
  if (!b->write_behind) return Status::Permission("file is not open for writing");
  if (b->read_ahead) b->read_ahead->Invalidate();
  Status s = b->write_behind->Write(offset, data);
  if (!s.ok()) {
    ReportWriteFailure(*b, s);
    return s;
  }
  // Keep the cached size (inode and listing) in step with what the kernel now believes.
  if (std::optional<FileAttr> a = inodes_.NoteWrite(f->ino(), offset + data.size(), WallNow())) {
    if (Result<std::string> path = inodes_.Path(f->ino()); path.ok())
      dirs_.UpdateAttr(Parent(*path), Base(*path), *a);
  }
  return data.size();
}

Status RemoteFilesystem::Flush(uint64_t fh) {
  std::shared_ptr<OpenFile> f = FindFile(fh);
  if (!f) return Status::Invalid("unknown file handle " + std::to_string(fh));
  std::shared_ptr<OpenFile::Backing> b = f->backing();
  if (!b || !b->write_behind) return Status::Ok();
  Status s = b->write_behind->Flush();
  ReportWriteFailure(*b, s);
  return s;
}

Status RemoteFilesystem::Fsync(uint64_t fh, bool datasync) {
  std::shared_ptr<OpenFile> f = FindFile(fh);
  if (!f) return Status::Invalid("unknown file handle " + std::to_string(fh));
  std::shared_ptr<OpenFile::Backing> b = f->backing();
  if (!b) return Status(Code::kStale, "file handle has no remote file");
  if (b->write_behind) SKIFF_RETURN_IF_ERROR(b->write_behind->Drain());
  // A striped file has a handle on every session it wrote through; each is fsynced
  // (concurrently with the primary's).
  std::future<Status> stripes;
  if (b->write_behind && b->write_behind->handles() > 1)
    stripes = std::async(std::launch::async, [&b] { return b->write_behind->SyncStripes(); });
  Status s = b->file->Sync();
  const bool own_failed = ConnectionFailed(s);
  if (stripes.valid()) {
    Status t = stripes.get();
    if (s.ok() || s.Is(Code::kUnsupported)) s = t;
  }
  // Without fsync@openssh.com every write has still been acknowledged by the server
  // (it is in the server's page cache); that is the best SFTP can do, so succeed.
  if (s.Is(Code::kUnsupported)) return Status::Ok();
  if (own_failed) keeper_.ReportLost(b->fs);  // not for a stripe's session (Write)
  return s;
}

Status RemoteFilesystem::Release(uint64_t fh) {
  std::shared_ptr<OpenFile> f;
  {
    std::lock_guard<std::mutex> l(files_mu_);
    auto it = files_.find(fh);
    if (it == files_.end()) return Status::Invalid("unknown file handle " + std::to_string(fh));
    f = std::move(it->second);
    files_.erase(it);
  }
  std::shared_ptr<OpenFile::Backing> b = f->backing();
  f->set_backing(nullptr);
  if (!b) return Status::Ok();
  // Nothing may be queued behind the writes any more: no flush would report its failure.
  if (b->write_behind) b->write_behind->Seal();
  // A write-only handle with nothing in flight (the flush at close(2) drained it, as
  // after every untarred file) is closed from here without waiting for the answer: no
  // hop to the closer thread and no thread waiting for the CLOSE. The Backing can go at
  // once (the handle counts as closed: its destructor sends nothing).
  if (!b->read_ahead && b->write_behind && !b->write_behind->pending() &&
      b->write_behind->handles() == 1 && !keeper_.IsLost(b->fs)) {
    if (Status s = b->write_behind->Drain(); !s.ok())
      LogWarning(
          "write-behind of a released file failed (reported at close if it was still open): " +
          s.ToString());
    {
      std::lock_guard<std::mutex> l(closer_mu_);
      ++closes_in_flight_;
    }
    b->file->CloseAsync([this](Status s) {
      if (!s.ok()) LogWarning("closing a remote file: " + s.ToString());
      std::lock_guard<std::mutex> l(closer_mu_);
      // Under the lock: the waiter (the destructor) may destroy *this right after.
      if (--closes_in_flight_ == 0) closes_done_cv_.notify_all();
    });
    return Status::Ok();
  }
  {
    std::lock_guard<std::mutex> l(closer_mu_);
    closer_queue_.push_back(std::move(b));
  }
  closer_cv_.notify_all();
  return Status::Ok();
}

// ---- write striping -------------------------------------------------------------------

WriteBehind::StripeConfig RemoteFilesystem::StripesFor(uint64_t ino, std::shared_ptr<RemoteFs> fs) {
  WriteBehind::StripeConfig c;
  if (opts_.write_channels <= 1 || !open_session_) return c;
  c.handles = opts_.write_channels;
  c.after_bytes = opts_.stripe_after_bytes;
  c.sync_every = opts_.write_sync_every;
  uint32_t extra = opts_.write_channels - 1;
  c.open = [this, ino, fs = std::move(fs), extra] { return OpenStripes(ino, fs, extra); };
  return c;
}

Result<std::vector<std::shared_ptr<RemoteFs>>> RemoteFilesystem::SiblingSessions(
    const std::shared_ptr<RemoteFs>& primary, uint32_t count) {
  std::unique_lock<std::mutex> l(siblings_mu_);
  // Forget the sessions of connections that are gone or lost (they share their fate).
  for (auto it = siblings_.begin(); it != siblings_.end();) {
    std::shared_ptr<RemoteFs> p = it->second->primary.lock();
    if (!it->second->opening && (!p || keeper_.IsLost(p))) {
      it = siblings_.erase(it);
    } else {
      ++it;
    }
  }
  std::shared_ptr<SiblingSet>& slot = siblings_[primary.get()];
  if (!slot) slot = std::make_shared<SiblingSet>();
  std::shared_ptr<SiblingSet> keep = slot;  // the map entry may be replaced while we wait
  SiblingSet& set = *keep;
  siblings_cv_.wait(l, [&] { return !set.opening; });
  if (set.primary.lock() != primary) {
    set.primary = primary;
    set.sessions.clear();
  }
  if (set.sessions.size() >= count)
    return std::vector<std::shared_ptr<RemoteFs>>(set.sessions.begin(),
                                                  set.sessions.begin() + count);
  set.opening = true;
  size_t missing = count - set.sessions.size();
  l.unlock();
  // Concurrently: each costs a few round trips (channel open, subsystem, SFTP INIT).
  std::vector<std::future<Result<std::shared_ptr<RemoteFs>>>> opens;
  for (size_t i = 0; i < missing; ++i)
    opens.push_back(
        std::async(std::launch::async, [this, primary] { return open_session_(primary); }));
  Status first;
  std::vector<std::shared_ptr<RemoteFs>> got;
  for (auto& o : opens) {
    Result<std::shared_ptr<RemoteFs>> r = o.get();
    if (r.ok()) {
      got.push_back(std::move(r).value());
    } else if (first.ok()) {
      first = r.status();
    }
  }
  l.lock();
  for (auto& g : got) set.sessions.push_back(std::move(g));
  set.opening = false;
  siblings_cv_.notify_all();
  if (!first.ok()) return first.WithContext("opening another SFTP session for striped writes");
  return std::vector<std::shared_ptr<RemoteFs>>(set.sessions.begin(), set.sessions.begin() + count);
}

Result<std::vector<WriteBehind::Stripe>> RemoteFilesystem::OpenStripes(
    uint64_t ino, const std::shared_ptr<RemoteFs>& fs, uint32_t count) {
  auto fail = [&](const Status& s) {
    LogWarning("writes stay on one session: " + s.ToString());
    return s;
  };
  if (keeper_.IsLost(fs)) return fail(Status::ConnectionLost("the connection was lost"));
  Result<std::string> path = inodes_.Path(ino);
  if (!path.ok()) return fail(path.status());
  // Two attempts: the cached sibling sessions may sit on a connection that has died since
  // the last striped file (an extra write_conns connection: the primary's own is checked
  // above). Then the set is dropped and fresh sessions are opened once, on a new
  // connection where the opener makes one, instead of leaving this file on one session.
  for (int attempt = 0;; ++attempt) {
    Result<std::vector<std::shared_ptr<RemoteFs>>> sessions = SiblingSessions(fs, count);
    if (!sessions.ok()) return fail(sessions.status());
    // Plain write opens of the file the primary handle has open (no create or truncate:
    // the file exists, and its content so far must stay).
    std::vector<std::future<Result<std::unique_ptr<RemoteFile>>>> opens;
    for (auto& s : *sessions)
      opens.push_back(std::async(std::launch::async,
                                 [&s, &path] { return s->Open(*path, OpenFlags::kWrite); }));
    std::vector<WriteBehind::Stripe> out;
    Status first;
    for (size_t i = 0; i < opens.size(); ++i) {
      Result<std::unique_ptr<RemoteFile>> f = opens[i].get();
      if (f.ok()) {
        out.push_back(WriteBehind::Stripe{(*sessions)[i], std::move(f).value()});
      } else if (first.ok()) {
        first = f.status();
      }
    }
    if (first.ok()) return out;
    if (ConnectionFailed(first)) {
      // A dead sibling session: forget the set so that fresh ones are opened.
      {
        std::lock_guard<std::mutex> l(siblings_mu_);
        auto it = siblings_.find(fs.get());
        if (it != siblings_.end() && !it->second->opening) siblings_.erase(it);
      }
      if (attempt == 0 && !keeper_.IsLost(fs)) continue;
    }
    return fail(first.WithContext("opening " + *path + " on another session"));
  }
}

}  // namespace skiff::fs
