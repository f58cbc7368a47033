#include "sync/serve_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "sync/ordered_work_pool.h"

namespace skiff::sync {

using serve::Op;
using serve::PayloadReader;
using serve::PayloadWriter;

namespace {

std::string ProcFd(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string Empty() { return std::string(); }

}  // namespace

ServeServer::ServeServer(ConfinedRoot root, serve::Mode mode)
    : root_(std::move(root)), policy_(mode) {}

ServeServer::~ServeServer() {
  for (auto& [h, f] : handles_) close(f.fd);
  if (lock_fd_ >= 0) close(lock_fd_);
}

bool ServeServer::StaleServeLock(const ConfinedPath& p) const {
  if (!ServePolicy::IsLock(p)) return false;
  auto fd = OpenNoFollow(p, O_RDONLY | O_NONBLOCK);
  if (!fd.ok()) return false;
  FdCloser c{*fd};
  char v[2];
  if (fgetxattr(*fd, kLockXattr, v, sizeof v) != 1 || v[0] != '1') return false;
  // The creating session holds LOCK_EX until it ends; getting it means that session is gone.
  if (flock(*fd, LOCK_EX | LOCK_NB) != 0) return false;
  return true;
}

namespace {

// $SKIFF_SERVE_STATS on the server (set by a wrapper in --skiff; sshd does not pass the
// client's environment): per request type the count and the time spent handling it, and
// the time spent waiting for requests, printed to stderr when the session ends.
struct ServerStats {
  using Clock = std::chrono::steady_clock;
  struct Op {
    uint64_t calls = 0;
    double busy = 0, max = 0;
  };
  bool on = getenv("SKIFF_SERVE_STATS") != nullptr;
  // "trace": also one line per request (start of its handling on the steady clock, which
  // the client's trace shares on one machine; type; handling time).
  bool trace = on && std::string_view(getenv("SKIFF_SERVE_STATS")) == "trace";
  Clock::time_point start = Clock::now();
  double idle = 0;
  std::map<int, Op> ops;
  std::mutex mu;  // guards idle, ops and the trace lines (build workers record too)
  static double Since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  void AddIdle(double d) {
    std::lock_guard<std::mutex> l(mu);
    idle += d;
  }
  // A request of type `op` whose handling started at `t1` has ended.
  void Record(int op, uint32_t id, Clock::time_point t1) {
    double d = Since(t1);
    std::lock_guard<std::mutex> l(mu);
    auto& o = ops[op];
    ++o.calls;
    o.busy += d;
    o.max = std::max(o.max, d);
    if (trace)
      fprintf(stderr, "serve-server trace %.6f op %d id %u busy %.6f\n",
              std::chrono::duration<double>(t1.time_since_epoch()).count(), op, id, d);
  }
  ~ServerStats() {
    if (!on) return;
    fprintf(stderr, "serve-server: %.3f s session, %.3f s waiting for requests\n", Since(start),
            idle);
    for (const auto& [op, s] : ops)
      fprintf(stderr, "serve-server op %3d: %7llu requests, %8.3f s busy, max %.3f s\n", op,
              static_cast<unsigned long long>(s.calls), s.busy, s.max);
  }
};

}  // namespace

Status ServeServer::Run(Channel& ch) {
  std::string buf;
  ServerStats stats;
  std::mutex write_mu;  // one reply frame at a time, from this thread or a build worker
  auto reply_to = [&](uint32_t id, std::string_view reply) {
    std::lock_guard<std::mutex> l(write_mu);
    return ch.Write(serve::EncodeFrame(static_cast<uint8_t>(Op::kReply), id, reply));
  };
  // The first failure of a build worker (a reply that could not be written, a request
  // that turned out malformed): the session ends at the next frame.
  std::mutex failed_mu;
  Status failed;
  std::atomic<bool> any_failed{false};
  // A request handled on a pool ends here: its stats, its reply, and the session's first
  // failure (`fatal`: the request was malformed).
  auto finish = [&](const serve::Frame& frame, std::string_view reply, bool fatal,
                    ServerStats::Clock::time_point t1) {
    if (stats.on) stats.Record(frame.type, frame.id, t1);
    Status ws = reply_to(frame.id, reply);
    if (fatal || !ws.ok()) {
      std::lock_guard<std::mutex> l(failed_mu);
      if (!any_failed) failed = fatal ? Status::Corrupt("serve protocol: session ended") : ws;
      any_failed = true;
    }
  };
  OrderedWorkPool builds(kBuildWorkers, kMaxQueuedRequests, kMaxQueuedBytes);
  // Link batches and base signatures: off this thread (a batch of links into a cold
  // directory tree waits for the disk), beside the builds rather than behind them.
  OrderedWorkPool meta(kMetaWorkers, kMaxQueuedRequests, kMaxQueuedMetaBytes);
  auto end_with = [&](Status st) {
    meta.Cancel();
    builds.Cancel();
    return st;
  };
  for (;;) {
    auto t0 = ServerStats::Clock::now();
    auto f = serve::ReadFrame(ch, buf);
    if (stats.on) stats.AddIdle(ServerStats::Since(t0));
    if (any_failed) {
      meta.Cancel();
      builds.Cancel();
      std::lock_guard<std::mutex> l(failed_mu);
      return failed;
    }
    if (!f.ok()) {
      if (f.status().Is(Code::kConnectionLost) && buf.empty()) {  // EOF
        meta.Drain();  // what was sent before the EOF is done, as when handled in order
        builds.Drain();
        if (any_failed) {
          std::lock_guard<std::mutex> l(failed_mu);
          if (!failed.Is(Code::kConnectionLost)) return failed;
        }
        return Status::Ok();
      }
      if (f.status().Is(Code::kCorrupt))
        reply_to(0, serve::EncodeErrorReply(f.status())).IgnoreError();
      return end_with(f.status());
    }
    uint32_t build_id = 0;
    if (f->type == static_cast<uint8_t>(Op::kBuild) && hello_done_ && version_ >= 2 &&
        ServeBuildHandlers::WellFormedBuild(f->payload, &build_id)) {
      auto frame = std::make_shared<serve::Frame>(std::move(*f));
      const size_t bytes = frame->payload.size();
      builds.Submit(build_id, bytes, [&, frame] {
        auto t1 = ServerStats::Clock::now();
        std::string reply;
        bool bad = false;
        {
          std::shared_lock<std::shared_mutex> pl(publish_mu_);
          PayloadReader r(frame->payload);
          auto res = build_.Handle(Op::kBuild, r);
          bad = !r.ok() || (res.ok() && !r.done());  // not after WellFormedBuild
          reply = bad ? serve::EncodeErrorReply(
                            Status::Corrupt("serve protocol: malformed build request"))
                  : res.ok() ? serve::EncodeOkReply(*res)
                             : serve::EncodeErrorReply(res.status());
        }
        finish(*frame, reply, bad, t1);
      });
      continue;
    }
    // Link batches (independent of each other) and base signatures (one at a time, in
    // order: a large signature's reply is continued by the next request) on the meta
    // pool, handled as here but holding publish_mu_ shared like a build. The reader goes
    // on at once, so the requests the client waits on in a chain (a directory's mkdir
    // before its files) are not held behind a batch's linkat calls on a cold tree:
    // measured on the benchmark's incremental (load 7), these ran inline 0.3-0.4 s each
    // of a 1.7 s session, and a request's median wait to be read was 12-28 ms.
    if (hello_done_ && version_ >= 2 &&
        (f->type == static_cast<uint8_t>(Op::kLinkBatch) ||
         f->type == static_cast<uint8_t>(Op::kBaseSignature))) {
      auto frame = std::make_shared<serve::Frame>(std::move(*f));
      const size_t bytes = frame->payload.size();
      const uint64_t key =
          frame->type == static_cast<uint8_t>(Op::kLinkBatch) ? uint64_t{1} + frame->id : 0;
      meta.Submit(key, bytes, [&, frame] {
        bool fatal = false;
        auto t1 = ServerStats::Clock::now();
        std::string reply;
        {
          std::shared_lock<std::shared_mutex> pl(publish_mu_);
          reply = Handle(*frame, &fatal);
        }
        finish(*frame, reply, fatal, t1);
      });
      continue;
    }
    // A pull job's requests (ServeSourceHandlers::JobOf) likewise, keyed by job: matching
    // a large file then runs beside the scan's requests and other files' jobs.
    uint32_t source_job = 0;
    if (hello_done_ && ServeSourceHandlers::JobOf(f->type, f->payload, &source_job)) {
      auto frame = std::make_shared<serve::Frame>(std::move(*f));
      const size_t bytes = frame->payload.size();
      builds.Submit((uint64_t{1} << 32) | source_job, bytes, [&, frame] {
        bool fatal = false;
        auto t1 = ServerStats::Clock::now();
        std::string reply = Handle(*frame, &fatal);
        finish(*frame, reply, fatal, t1);
      });
      continue;
    }
    bool fatal = false;
    auto t1 = ServerStats::Clock::now();
    std::string reply = Handle(*f, &fatal);
    if (stats.on) stats.Record(f->type, f->id, t1);
    Status ws = reply_to(f->id, reply);
    if (!ws.ok()) return end_with(ws);
    if (fatal) {
      auto st = serve::DecodeReply(reply);
      return end_with(st.ok() ? Status::Corrupt("serve protocol: session ended") : st.status());
    }
  }
}

std::string ServeServer::Handle(const serve::Frame& f, bool* fatal) {
  *fatal = false;
  PayloadReader r(f.payload);
  if (!serve::IsRequestOp(f.type)) {
    *fatal = !hello_done_;
    return serve::EncodeErrorReply(
        Status::Unsupported("serve protocol: unknown request type " + std::to_string(f.type)));
  }
  Op op = static_cast<Op>(f.type);
  if (!hello_done_ && op != Op::kHello) {
    *fatal = true;
    return serve::EncodeErrorReply(Status::Corrupt("serve protocol: request before the hello"));
  }
  // Requests that publish or change the policy's state wait for running builds.
  const bool exclusive =
      op == Op::kRename || op == Op::kRemove || op == Op::kRmdir || op == Op::kOpen;
  std::unique_lock<std::shared_mutex> pl(publish_mu_, std::defer_lock);
  if (exclusive) pl.lock();
  auto res = Dispatch(op, r);
  if (pl.owns_lock()) pl.unlock();
  if (!r.ok() || (res.ok() && !r.done())) {
    *fatal = true;
    return serve::EncodeErrorReply(
        r.ok() ? Status::Corrupt("serve protocol: trailing bytes in request")
               : Status::Corrupt("serve protocol: truncated request"));
  }
  if (!res.ok()) return serve::EncodeErrorReply(res.status());
  return serve::EncodeOkReply(*res);
}

Result<ServeServer::OpenFile*> ServeServer::GetHandle(uint32_t h) {
  auto it = handles_.find(h);
  if (it == handles_.end()) return Status::Invalid("unknown file handle " + std::to_string(h));
  return &it->second;
}

Result<ServeServer::OpenFile*> ServeServer::GetWritable(uint32_t h) {
  SKIFF_ASSIGN_OR_RETURN(OpenFile * f, GetHandle(h));
  if (!f->write) return Status::Permission(f->path.rel + " was not opened for writing");
  if (f->revoked)
    return Status::Permission(f->path.rel + " was published; it can no longer be written");
  struct stat st;
  if (fstat(f->fd, &st) != 0) return ErrnoStatus(errno, f->path.rel);
  SKIFF_RETURN_IF_ERROR(policy_.CheckWriteHandle(f->path, st));
  return f;
}

Result<int> ServeServer::OpenNoFollow(const ConfinedPath& p, int flags) const {
  SKIFF_ASSIGN_OR_RETURN(int dir, root_.OpenParent(p));
  FdCloser c{dir};
  int fd = openat(dir, p.is_root() ? "." : p.name().c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, p.rel.empty() ? "." : p.rel);
  return fd;
}

// Applies `a` to the object behind the O_PATH descriptor (never a symlink here), through
// /proc/self/fd so no path is resolved again.
Status ServeServer::ApplyAttr(int fd, const struct stat& st, const FileAttr& a,
                              const ConfinedPath& p) {
  const std::string proc = ProcFd(fd);
  const std::string& what = p.rel.empty() ? std::string(".") : p.rel;
  if (a.valid & FileAttr::kSize) {
    if (truncate(proc.c_str(), static_cast<off_t>(a.size)) != 0) return ErrnoStatus(errno, what);
  }
  if (a.valid & FileAttr::kUidGid) {
    if (chown(proc.c_str(), a.uid, a.gid) != 0) return ErrnoStatus(errno, what);
  }
  if (a.valid & FileAttr::kPermissions) {
    mode_t m = a.mode & 07777;
    if (policy_.mode() != serve::Mode::kFull) m &= 0777;  // never setuid/setgid
    if (chmod(proc.c_str(), m) != 0) return ErrnoStatus(errno, what);
  }
  if (a.valid & FileAttr::kTimes) {
    struct timespec ts[2] = {{a.atime, 0}, {a.mtime, 0}};
    if (utimensat(AT_FDCWD, proc.c_str(), ts, 0) != 0) return ErrnoStatus(errno, what);
  }
  (void)st;
  return Status::Ok();
}

Status ServeServer::SetStatPath(const ConfinedPath& p, const FileAttr& a, bool link) {
  SKIFF_ASSIGN_OR_RETURN(int fd, OpenNoFollow(p, O_PATH));
  FdCloser c{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, p.rel);
  SKIFF_RETURN_IF_ERROR(policy_.CheckSetStat(p, st, a));
  if (policy_.mode() != serve::Mode::kFull && !ServePolicy::IsScratch(p))
    return Status::Ok();  // allowed only as a no-op: change nothing outside the scratch area
  if (S_ISLNK(st.st_mode)) {
    if (!link) return Status::Permission(p.rel + " is a symlink; it is not followed");
    SKIFF_ASSIGN_OR_RETURN(int dir, root_.OpenParent(p));
    FdCloser d{dir};
    if ((a.valid & FileAttr::kUidGid) &&
        fchownat(dir, p.name().c_str(), a.uid, a.gid, AT_SYMLINK_NOFOLLOW) != 0)
      return ErrnoStatus(errno, p.rel);
    if (a.valid & FileAttr::kTimes) {
      struct timespec ts[2] = {{a.atime, 0}, {a.mtime, 0}};
      if (utimensat(dir, p.name().c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
        return ErrnoStatus(errno, p.rel);
    }
    return Status::Ok();
  }
  return ApplyAttr(fd, st, a, p);
}

Result<std::string> ServeServer::Dispatch(Op op, PayloadReader& r) {
  switch (op) {
    case Op::kHello: {
      std::string_view magic = r.Str();
      uint32_t version = r.U32();
      if (!r.ok()) return Empty();
      if (magic != serve::kMagic) return Status::Corrupt("serve protocol: bad hello");
      if (version < serve::kMinProtocolVersion)
        return Status::Unsupported("this skiff serve speaks protocol versions " +
                                   std::to_string(serve::kMinProtocolVersion) + " to " +
                                   std::to_string(serve::kProtocolVersion) + ", the client " +
                                   std::to_string(version));
      hello_done_ = true;
      version_ = std::min(version, serve::kProtocolVersion);
      return PayloadWriter()
          .U32(version_)
          .U32(serve::kMaxData)
          .U8(static_cast<uint8_t>(policy_.mode()))
          .Take();
    }
    case Op::kStat:
    case Op::kLstat: {
      std::string_view s = r.Str();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
      SKIFF_ASSIGN_OR_RETURN(struct stat st, op == Op::kStat ? root_.Stat(p) : root_.Lstat(p));
      return PayloadWriter().Attr(AttrFromStat(st)).Take();
    }
    case Op::kSetStat:
    case Op::kLSetStat: {
      std::string_view s = r.Str();
      FileAttr a = r.Attr();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
      SKIFF_RETURN_IF_ERROR(SetStatPath(p, a, op == Op::kLSetStat));
      return Empty();
    }
    case Op::kReadDir:
      return DoReadDir(r);
    case Op::kOpen:
      return DoOpen(r);
    case Op::kRead: {
      uint32_t h = r.U32();
      uint64_t off = r.U64();
      uint32_t len = r.U32();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(OpenFile * f, GetHandle(h));
      SKIFF_RETURN_IF_ERROR(policy_.CheckReadData(f->path));
      len = std::min(len, serve::kMaxData);
      std::string data(len, '\0');
      size_t got = 0;
      while (got < len) {
        ssize_t n = pread(f->fd, data.data() + got, len - got, static_cast<off_t>(off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoStatus(errno, "reading " + f->path.rel);
        if (n == 0) break;
        got += static_cast<size_t>(n);
      }
      data.resize(got);
      return PayloadWriter().Str(data).Take();
    }
    case Op::kWrite: {
      uint32_t h = r.U32();
      uint64_t off = r.U64();
      std::string_view data = r.Str();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(OpenFile * f, GetWritable(h));
      while (!data.empty()) {
        ssize_t n = pwrite(f->fd, data.data(), data.size(), static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoStatus(errno, "writing " + f->path.rel);
        data.remove_prefix(static_cast<size_t>(n));
        off += static_cast<uint64_t>(n);
      }
      return Empty();
    }
    case Op::kFstat: {
      uint32_t h = r.U32();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(OpenFile * f, GetHandle(h));
      struct stat st;
      if (fstat(f->fd, &st) != 0) return ErrnoStatus(errno, f->path.rel);
      return PayloadWriter().Attr(AttrFromStat(st)).Take();
    }
    case Op::kFsetStat: {
      uint32_t h = r.U32();
      FileAttr a = r.Attr();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(OpenFile * f, GetHandle(h));
      struct stat st;
      if (fstat(f->fd, &st) != 0) return ErrnoStatus(errno, f->path.rel);
      SKIFF_RETURN_IF_ERROR(policy_.CheckSetStat(f->path, st, a));
      if (policy_.mode() != serve::Mode::kFull) {
        if (!ServePolicy::IsScratch(f->path)) return Empty();  // a permitted no-op
        SKIFF_RETURN_IF_ERROR(GetWritable(h).status());
      }
      SKIFF_RETURN_IF_ERROR(ApplyAttr(f->fd, st, a, f->path));
      return Empty();
    }
    case Op::kFsync: {
      uint32_t h = r.U32();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(OpenFile * f, GetHandle(h));
      if (fsync(f->fd) != 0) return ErrnoStatus(errno, "fsync " + f->path.rel);
      return Empty();
    }
    case Op::kClose: {
      uint32_t h = r.U32();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(OpenFile * f, GetHandle(h));
      int rc = close(f->fd);
      int e = errno;
      std::string rel = f->path.rel;
      handles_.erase(h);
      if (rc != 0) return ErrnoStatus(e, "closing " + rel);
      return Empty();
    }
    case Op::kMkdir: {
      std::string_view s = r.Str();
      uint32_t mode = r.U32();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
      if (p.is_root()) return Status::Exists("the serve root exists");
      SKIFF_RETURN_IF_ERROR(policy_.CheckMkdir(p));
      SKIFF_ASSIGN_OR_RETURN(int dir, root_.OpenParent(p));
      FdCloser c{dir};
      if (mkdirat(dir, p.name().c_str(), mode & 0777) != 0) return ErrnoStatus(errno, p.rel);
      return Empty();
    }
    case Op::kRmdir:
    case Op::kRemove: {
      std::string_view s = r.Str();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
      if (p.is_root()) return Status::Permission("the serve root cannot be removed");
      bool dir = op == Op::kRmdir;
      SKIFF_RETURN_IF_ERROR(policy_.CheckRemove(p, dir, !dir && StaleServeLock(p)));
      SKIFF_ASSIGN_OR_RETURN(int pd, root_.OpenParent(p));
      FdCloser c{pd};
      if (unlinkat(pd, p.name().c_str(), dir ? AT_REMOVEDIR : 0) != 0)
        return ErrnoStatus(errno, p.rel);
      if (!dir && ServePolicy::IsLock(p)) {
        policy_.NoteLockRemoved();
        if (lock_fd_ >= 0) close(lock_fd_);
        lock_fd_ = -1;
      }
      return Empty();
    }
    case Op::kRename:
      return DoRename(r);
    case Op::kSymlink: {
      std::string_view target = r.Str();
      std::string_view s = r.Str();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
      if (p.is_root() || target.empty() || target.find('\0') != std::string_view::npos)
        return Status::Invalid("bad symlink request");
      SKIFF_RETURN_IF_ERROR(policy_.CheckSymlink(p));
      SKIFF_ASSIGN_OR_RETURN(int dir, root_.OpenParent(p));
      FdCloser c{dir};
      if (symlinkat(std::string(target).c_str(), dir, p.name().c_str()) != 0)
        return ErrnoStatus(errno, p.rel);
      return Empty();
    }
    case Op::kReadlink: {
      std::string_view s = r.Str();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
      if (p.is_root()) return Status::Invalid("the serve root is not a symlink");
      SKIFF_ASSIGN_OR_RETURN(int dir, root_.OpenParent(p));
      FdCloser c{dir};
      char buf[4096];
      ssize_t n = readlinkat(dir, p.name().c_str(), buf, sizeof buf);
      if (n < 0) return ErrnoStatus(errno, p.rel);
      return PayloadWriter().Str(std::string_view(buf, static_cast<size_t>(n))).Take();
    }
    case Op::kHardlink: {
      std::string_view e = r.Str();
      std::string_view s = r.Str();
      if (!r.ok()) return Empty();
      SKIFF_RETURN_IF_ERROR(build_.Link(e, s));  // as a link batch's entries are made
      return Empty();
    }
    case Op::kStatVfs: {
      std::string_view s = r.Str();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
      struct statvfs v;
      if (fstatvfs(root_.fd(), &v) != 0) return ErrnoStatus(errno, "statvfs");
      PayloadWriter w;
      w.U64(v.f_bsize).U64(v.f_frsize).U64(v.f_blocks).U64(v.f_bfree).U64(v.f_bavail);
      w.U64(v.f_files).U64(v.f_ffree).U64(v.f_favail).U64(v.f_fsid).U64(v.f_flag);
      w.U64(v.f_namemax);
      return w.Take();
    }
    case Op::kRealPath: {
      std::string_view s = r.Str();
      if (!r.ok()) return Empty();
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
      SKIFF_RETURN_IF_ERROR(root_.Lstat(p).status());
      return PayloadWriter().Str(p.rel.empty() ? "." : p.rel).Take();
    }
    case Op::kCopyData:
      return DoCopyData(r);
    case Op::kSourceRoot:
    case Op::kSourceLstat:
    case Op::kSourceList:
    case Op::kSourceDeltaOpen:
    case Op::kSourceDeltaSig:
    case Op::kSourceDeltaNext:
    case Op::kSourceDeltaClose:
      return source_.Handle(op, r);
    case Op::kBaseSignature:
    case Op::kBuild:
    case Op::kLinkBatch:
      if (version_ < 2)
        return Status::Unsupported("serve protocol: request " + std::to_string(int(op)) +
                                   " needs protocol version 2");
      return build_.Handle(op, r);
    case Op::kZfsTarget:
    case Op::kZfsBegin:
    case Op::kZfsData:
    case Op::kZfsEnd:
    case Op::kZfsAbort:
      if (!zfs_) return Status::Unsupported("this skiff serve has no --zfs-receive");
      return zfs_->Handle(op, r);
    case Op::kReply:
      break;
  }
  return Status::Unsupported("serve protocol: unexpected request type");
}

Result<std::string> ServeServer::DoOpen(PayloadReader& r) {
  std::string_view s = r.Str();
  uint32_t flags = r.U32();
  uint32_t mode = r.U32();
  if (!r.ok()) return Empty();
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
  if (p.is_root()) return Status{Code::kIsDirectory, "the serve root is a directory"};
  if (handles_.size() >= kMaxHandles)
    return Status::Invalid("too many open files (limit " + std::to_string(kMaxHandles) + ")");
  auto existing = root_.Lstat(p);
  if (!existing.ok() && !existing.status().Is(Code::kNotFound)) return existing.status();
  SKIFF_RETURN_IF_ERROR(policy_.CheckOpen(p, flags, existing.ok() ? &*existing : nullptr));
  const bool write = flags & (OpenFlags::kWrite | OpenFlags::kAppend);
  int oflags = write ? ((flags & OpenFlags::kRead) ? O_RDWR : O_WRONLY) : O_RDONLY;
  if (flags & OpenFlags::kAppend) oflags |= O_APPEND;
  if (flags & OpenFlags::kCreate) oflags |= O_CREAT;
  if (flags & OpenFlags::kExclusive) oflags |= O_EXCL;
  // O_TRUNC only after the checks below (a truncate at open would bypass them).
  SKIFF_ASSIGN_OR_RETURN(int dir, root_.OpenParent(p));
  FdCloser c{dir};
  int fd = openat(dir, p.name().c_str(), oflags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode & 0777);
  if (fd < 0) return ErrnoStatus(errno, p.rel);
  FdCloser guard{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, p.rel);
  if (!S_ISREG(st.st_mode)) return Status{Code::kIsDirectory, p.rel + " is not a regular file"};
  if (write) SKIFF_RETURN_IF_ERROR(policy_.CheckWriteHandle(p, st));
  if ((flags & OpenFlags::kTruncate) && write && ftruncate(fd, 0) != 0)
    return ErrnoStatus(errno, "truncating " + p.rel);
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  if ((flags & OpenFlags::kCreate) && (flags & OpenFlags::kExclusive) && ServePolicy::IsLock(p)) {
    policy_.NoteLockCreated();
    // Mark the lock as a serve session's and hold an flock for the session's lifetime
    // (best effort: without xattrs a killed run's lock is left to the administrator).
    if (fsetxattr(fd, kLockXattr, "1", 1, 0) == 0) {
      if (lock_fd_ >= 0) close(lock_fd_);
      lock_fd_ = dup(fd);
      if (lock_fd_ >= 0 && flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        close(lock_fd_);
        lock_fd_ = -1;
      }
    }
  }
  uint32_t h = next_handle_++;
  if (next_handle_ == 0) next_handle_ = 1;
  OpenFile of;
  of.fd = fd;
  of.path = p;
  of.write = write;
  of.dev = st.st_dev;
  of.ino = st.st_ino;
  guard.fd = -1;
  handles_[h] = std::move(of);
  return PayloadWriter().U32(h).Take();
}

Result<std::string> ServeServer::DoReadDir(PayloadReader& r) {
  std::string_view s = r.Str();
  uint32_t start = r.U32();
  if (!r.ok()) return Empty();
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, Path(s));
  if (start == 0 || dir_cache_path_ != p.rel) {
    dir_cache_.clear();
    dir_cache_path_.clear();
    SKIFF_ASSIGN_OR_RETURN(int fd, root_.OpenDir(p));
    DIR* d = fdopendir(fd);
    if (!d) {
      int e = errno;
      close(fd);
      return ErrnoStatus(e, p.rel);
    }
    while (struct dirent* de = readdir(d)) {
      std::string name = de->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
      dir_cache_.emplace_back(std::move(name), AttrFromStat(st));
    }
    closedir(d);
    dir_cache_path_ = p.rel;
  }
  if (start > dir_cache_.size()) return Status::Invalid("directory batch start past the end");
  PayloadWriter body;
  uint32_t n = 0;
  size_t i = start;
  for (; i < dir_cache_.size() && n < serve::kMaxDirBatch && body.data().size() < 512 * 1024;
       ++i, ++n)
    body.Str(dir_cache_[i].first).Attr(dir_cache_[i].second);
  bool more = i < dir_cache_.size();
  PayloadWriter w;
  w.U8(more).U32(n);
  std::string out = w.Take();
  out += body.data();
  return out;
}

Result<std::string> ServeServer::DoRename(PayloadReader& r) {
  std::string_view a = r.Str();
  std::string_view b = r.Str();
  bool replace = r.U8() != 0;
  if (!r.ok()) return Empty();
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath from, Path(a));
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath to, Path(b));
  if (from.is_root() || to.is_root()) return Status::Permission("cannot rename the serve root");
  SKIFF_RETURN_IF_ERROR(policy_.CheckRename(from, to, replace));
  SKIFF_ASSIGN_OR_RETURN(int fd, root_.OpenParent(from));
  FdCloser c1{fd};
  SKIFF_ASSIGN_OR_RETURN(int td, root_.OpenParent(to));
  FdCloser c2{td};
  struct stat st;
  if (fstatat(fd, from.name().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return ErrnoStatus(errno, from.rel);
  if (syscall(SYS_renameat2, fd, from.name().c_str(), td, to.name().c_str(),
              replace ? 0 : RENAME_NOREPLACE) != 0)
    return ErrnoStatus(errno, "renaming " + from.rel + " to " + to.rel);
  if (policy_.mode() != serve::Mode::kFull && policy_.Publishes(from, to)) {
    // What was just published must not change through a handle opened before.
    for (auto& [h, f] : handles_)
      if (f.write && (S_ISDIR(st.st_mode) || (f.dev == st.st_dev && f.ino == st.st_ino)))
        f.revoked = true;
    build_.RevokePublished(st);
  }
  return Empty();
}

Result<std::string> ServeServer::DoCopyData(PayloadReader& r) {
  uint32_t sh = r.U32();
  uint64_t soff = r.U64();
  uint64_t len = r.U64();
  uint32_t dh = r.U32();
  uint64_t doff = r.U64();
  if (!r.ok()) return Empty();
  SKIFF_ASSIGN_OR_RETURN(OpenFile * src, GetHandle(sh));
  SKIFF_ASSIGN_OR_RETURN(OpenFile * dst, GetWritable(dh));
  if (len == 0) {
    struct stat st;
    if (fstat(src->fd, &st) != 0) return ErrnoStatus(errno, src->path.rel);
    len = static_cast<uint64_t>(st.st_size) > soff ? static_cast<uint64_t>(st.st_size) - soff : 0;
  }
  std::string buf;
  while (len > 0) {
    loff_t in = static_cast<loff_t>(soff), out = static_cast<loff_t>(doff);
    ssize_t n = copy_file_range(src->fd, &in, dst->fd, &out, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
      // Plain read/write fallback for filesystems without copy_file_range.
      if (buf.empty()) buf.resize(1 << 20);
      ssize_t got =
          pread(src->fd, buf.data(), std::min<uint64_t>(len, buf.size()), static_cast<off_t>(soff));
      if (got < 0) return ErrnoStatus(errno, "reading " + src->path.rel);
      n = got == 0
              ? 0
              : pwrite(dst->fd, buf.data(), static_cast<size_t>(got), static_cast<off_t>(doff));
      if (n < 0) return ErrnoStatus(errno, "writing " + dst->path.rel);
    } else if (n < 0) {
      return ErrnoStatus(errno, "copying " + src->path.rel + " into " + dst->path.rel);
    }
    if (n == 0) return Status::Invalid("copy-data past the end of " + src->path.rel);
    soff += static_cast<uint64_t>(n);
    doff += static_cast<uint64_t>(n);
    len -= static_cast<uint64_t>(n);
  }
  return Empty();
}

}  // namespace skiff::sync
