#include "fs/fuse_adapter.h"

#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "fs/errno_map.h"

namespace skiff::fs {
namespace {

FuseAdapter* Self(fuse_req_t req) { return static_cast<FuseAdapter*>(fuse_req_userdata(req)); }
RemoteFilesystem& Fs(fuse_req_t req) { return *Self(req)->fs(); }

// The one place an error reply is sent. Expected outcomes (a name that does not exist, a
// name that already does) are logged only in debug mode; everything else is logged.
void ReplyError(fuse_req_t req, const char* op, const Status& status, FsOp kind = FsOp::kOther) {
  int err = StatusToErrno(status, kind);
  bool expected = status.Is(Code::kNotFound) || status.Is(Code::kExists) ||
                  status.Is(Code::kNotEmpty) || status.Is(Code::kUnsupported);
  if (Self(req)->debug() || !expected)
    std::fprintf(stderr, "skiff mount: %s: %s (errno %d)\n", op, status.ToString().c_str(), err);
  fuse_reply_err(req, err);
}

void ReplyEntry(fuse_req_t req, const Entry& e) {
  fuse_entry_param p{};
  p.ino = e.ino;
  p.attr = e.attr;
  p.attr_timeout = e.attr_timeout;
  p.entry_timeout = e.entry_timeout;
  fuse_reply_entry(req, &p);
}

std::optional<uint64_t> Fh(fuse_file_info* fi) {
  return fi ? std::optional<uint64_t>(fi->fh) : std::nullopt;
}

void OnInit(void* userdata, fuse_conn_info* conn) {
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  want(FUSE_CAP_ASYNC_READ);       // many reads of one stream in flight
  want(FUSE_CAP_ATOMIC_O_TRUNC);   // O_TRUNC in OPEN: no separate truncate round trip
  want(FUSE_CAP_READDIRPLUS);      // listings carry attributes (one READDIR per dir)
  want(FUSE_CAP_PARALLEL_DIROPS);  // lookups in one directory run concurrently
  want(FUSE_CAP_EXPORT_SUPPORT);
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // always plus: attributes are free for us
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;   // write-behind is ours (errors at flush)
  // Largest requests the kernel may send (1 MiB, the kernel's limit), and a deep queue of
  // background (read-ahead) requests so sequential reads overlap.
  conn->max_write = 1u << 20;
  conn->max_readahead = UINT_MAX;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  (void)userdata;
}

void OnLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Result<Entry> r = Fs(req).Lookup(parent, name);
  if (!r.ok()) return ReplyError(req, "lookup", r.status());
  ReplyEntry(req, *r);
}

void OnForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Fs(req).Forget(ino, nlookup);
  fuse_reply_none(req);
}

void OnForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void OnGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Result<AttrReply> r = Fs(req).GetAttr(ino, Fh(fi));
  if (!r.ok()) return ReplyError(req, "getattr", r.status());
  fuse_reply_attr(req, &r->attr, r->timeout);
}

void OnSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  SetAttrRequest s;
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (to_set & FUSE_SET_ATTR_MODE) s.mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) s.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) s.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) s.size = static_cast<uint64_t>(attr->st_size);
  if (to_set & FUSE_SET_ATTR_ATIME) s.atime = attr->st_atim.tv_sec;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) s.atime = now;
  if (to_set & FUSE_SET_ATTR_MTIME) s.mtime = attr->st_mtim.tv_sec;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) s.mtime = now;
  Result<AttrReply> r = Fs(req).SetAttr(ino, Fh(fi), s);
  if (!r.ok()) return ReplyError(req, "setattr", r.status(), FsOp::kSetAttr);
  fuse_reply_attr(req, &r->attr, r->timeout);
}

void OnReadlink(fuse_req_t req, fuse_ino_t ino) {
  Result<std::string> r = Fs(req).Readlink(ino);
  if (!r.ok()) return ReplyError(req, "readlink", r.status());
  fuse_reply_readlink(req, r->c_str());
}

void OnMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Result<Entry> r = Fs(req).Mknod(parent, name, mode, rdev);
  if (!r.ok()) return ReplyError(req, "mknod", r.status(), FsOp::kMknod);
  ReplyEntry(req, *r);
}

void OnMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Result<Entry> r = Fs(req).Mkdir(parent, name, mode);
  if (!r.ok()) return ReplyError(req, "mkdir", r.status());
  ReplyEntry(req, *r);
}

void OnUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Status s = Fs(req).Unlink(parent, name);
  if (!s.ok()) return ReplyError(req, "unlink", s);
  fuse_reply_err(req, 0);
}

void OnRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Status s = Fs(req).Rmdir(parent, name);
  if (!s.ok()) return ReplyError(req, "rmdir", s);
  fuse_reply_err(req, 0);
}

void OnSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  Result<Entry> r = Fs(req).Symlink(target, parent, name);
  if (!r.ok()) return ReplyError(req, "symlink", r.status());
  ReplyEntry(req, *r);
}

void OnRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  Status s = Fs(req).Rename(parent, name, newparent, newname, flags);
  if (!s.ok()) return ReplyError(req, "rename", s);
  fuse_reply_err(req, 0);
}

void OnLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Result<Entry> r = Fs(req).Link(ino, newparent, newname);
  if (!r.ok()) return ReplyError(req, "link", r.status(), FsOp::kLink);
  ReplyEntry(req, *r);
}

void OnOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Result<OpenReply> r = Fs(req).Open(ino, fi->flags);
  if (!r.ok()) return ReplyError(req, "open", r.status());
  fi->fh = r->fh;
  fi->keep_cache = r->keep_cache;
  if (fuse_reply_open(req, fi) == -ENOENT) Fs(req).Release(r->fh).IgnoreError();  // interrupted
}

void OnCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  auto r = Fs(req).Create(parent, name, mode, fi->flags);
  if (!r.ok()) return ReplyError(req, "create", r.status());
  const auto& [entry, open] = *r;
  fuse_entry_param p{};
  p.ino = entry.ino;
  p.attr = entry.attr;
  p.attr_timeout = entry.attr_timeout;
  p.entry_timeout = entry.entry_timeout;
  fi->fh = open.fh;
  fi->keep_cache = open.keep_cache;
  if (fuse_reply_create(req, &p, fi) == -ENOENT) Fs(req).Release(open.fh).IgnoreError();
}

void OnRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Result<std::string> r =
      Fs(req).Read(fi->fh, static_cast<uint64_t>(off), static_cast<uint32_t>(size));
  if (!r.ok()) return ReplyError(req, "read", r.status());
  fuse_reply_buf(req, r->data(), r->size());
}

void OnWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             fuse_file_info* fi) {
  Result<size_t> r = Fs(req).Write(fi->fh, static_cast<uint64_t>(off), std::string_view(buf, size));
  if (!r.ok()) return ReplyError(req, "write", r.status());
  fuse_reply_write(req, *r);
}

void OnFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Status s = Fs(req).Flush(fi->fh);
  if (!s.ok()) return ReplyError(req, "flush", s);
  fuse_reply_err(req, 0);
}

void OnRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Status s = Fs(req).Release(fi->fh);
  if (!s.ok()) return ReplyError(req, "release", s);
  fuse_reply_err(req, 0);
}

void OnFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  Status s = Fs(req).Fsync(fi->fh, datasync != 0);
  if (!s.ok()) return ReplyError(req, "fsync", s);
  fuse_reply_err(req, 0);
}

void OnOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Result<uint64_t> r = Fs(req).OpenDir(ino);
  if (!r.ok()) return ReplyError(req, "opendir", r.status());
  fi->fh = *r;
  if (fuse_reply_open(req, fi) == -ENOENT) Fs(req).ReleaseDir(*r).IgnoreError();
}

void ReadDirCommon(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  std::vector<char> buf(size);
  size_t used = 0;
  Status s = Fs(req).ReadDir(fi->fh, static_cast<uint64_t>(off), plus, [&](const DirItem& item) {
    size_t n;
    if (plus) {
      fuse_entry_param p{};
      bool dot = item.name == "." || item.name == "..";
      p.ino = dot ? 0 : item.entry.ino;  // 0: no lookup reference taken
      p.attr = item.entry.attr;
      p.attr_timeout = item.entry.attr_timeout;
      p.entry_timeout = item.entry.entry_timeout;
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, item.name.c_str(), &p,
                                 static_cast<off_t>(item.next_offset));
    } else {
      n = fuse_add_direntry(req, buf.data() + used, size - used, item.name.c_str(),
                            &item.entry.attr, static_cast<off_t>(item.next_offset));
    }
    if (n > size - used) return false;
    used += n;
    return true;
  });
  if (!s.ok()) return ReplyError(req, plus ? "readdirplus" : "readdir", s);
  fuse_reply_buf(req, buf.data(), used);
}

void OnReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, size, off, fi, false);
}

void OnReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ReadDirCommon(req, size, off, fi, true);
}

void OnReleasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Status s = Fs(req).ReleaseDir(fi->fh);
  if (!s.ok()) return ReplyError(req, "releasedir", s);
  fuse_reply_err(req, 0);
}

void OnFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  // Directory operations are synchronous on the server: nothing is pending.
  fuse_reply_err(req, 0);
}

void OnStatfs(fuse_req_t req, fuse_ino_t ino) {
  Result<struct statvfs> r = Fs(req).StatFs();
  if (!r.ok()) return ReplyError(req, "statfs", r.status());
  fuse_reply_statfs(req, &*r);
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = OnInit;
  ops.lookup = OnLookup;
  ops.forget = OnForget;
  ops.forget_multi = OnForgetMulti;
  ops.getattr = OnGetattr;
  ops.setattr = OnSetattr;
  ops.readlink = OnReadlink;
  ops.mknod = OnMknod;
  ops.mkdir = OnMkdir;
  ops.unlink = OnUnlink;
  ops.rmdir = OnRmdir;
  ops.symlink = OnSymlink;
  ops.rename = OnRename;
  ops.link = OnLink;
  ops.open = OnOpen;
  ops.create = OnCreate;
  ops.read = OnRead;
  ops.write = OnWrite;
  ops.flush = OnFlush;
  ops.release = OnRelease;
  ops.fsync = OnFsync;
  ops.opendir = OnOpendir;
  ops.readdir = OnReaddir;
  ops.readdirplus = OnReaddirplus;
  ops.releasedir = OnReleasedir;
  ops.fsyncdir = OnFsyncdir;
  ops.statfs = OnStatfs;
  return ops;
}();

}  // namespace

FuseAdapter::FuseAdapter(RemoteFilesystem* fs) : fs_(fs) {}

FuseAdapter::~FuseAdapter() {
  if (!session_) return;
  if (signals_) fuse_remove_signal_handlers(session_);
  if (mounted_) fuse_session_unmount(session_);
  fuse_session_destroy(session_);
}

Status FuseAdapter::Mount(const FuseConfig& config) {
  config_ = config;
  std::string opts = "default_permissions";
  if (!config.default_permissions) opts.clear();
  auto add = [&](const std::string& o) {
    if (!opts.empty()) opts += ",";
    opts += o;
  };
  add("subtype=skiff");
  if (!config.fsname.empty()) add("fsname=" + config.fsname);
  if (config.allow_other) add("allow_other");
  if (config.read_only) add("ro");
  for (const auto& o : config.fuse_options) add(o);
  std::vector<std::string> argv_s = {"skiff", "-o", opts};
  if (config.debug) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  session_ = fuse_session_new(&args, &kOps, sizeof(kOps), this);
  // fuse_session_new may copy and extend the argument list (fuse_opt_add_arg); the
  // copy is ours to free, whether or not the session was created.
  fuse_opt_free_args(&args);
  if (!session_) return Status::Invalid("cannot create the FUSE session (options: " + opts + ")");
  // Open is not among the operations during which an inode notification may deadlock
  // (libfuse's fuse_lowlevel_notify_inval_inode documentation), so this may run inside it.
  fuse_session* se = session_;
  fs_->set_attr_invalidator([se](uint64_t ino) {
    int rc = fuse_lowlevel_notify_inval_inode(se, ino, -1, 0);  // attributes only
    if (rc != 0 && rc != -ENOENT)
      std::fprintf(stderr, "skiff mount: invalidating inode %llu: error %d\n",
                   static_cast<unsigned long long>(ino), rc);
  });
  if (fuse_session_mount(session_, config.mountpoint.c_str()) != 0)
    return Status::Io("cannot mount on " + config.mountpoint +
                      " (is /dev/fuse available and fusermount3 installed?)");
  mounted_ = true;
  return Status::Ok();
}

Status FuseAdapter::Run() {
  if (!session_ || !mounted_) return Status::Invalid("FuseAdapter::Run before a successful Mount");
  if (fuse_set_signal_handlers(session_) != 0)
    return Status::Io("cannot install signal handlers for the FUSE session");
  signals_ = true;
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, config_.max_threads);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  int rc = fuse_session_loop_mt(session_, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(session_);
  signals_ = false;
  fuse_session_unmount(session_);
  mounted_ = false;
  if (rc != 0 && rc != SIGINT && rc != SIGTERM && rc != SIGHUP)
    return Status::Io("FUSE session ended with error " + std::to_string(rc));
  return Status::Ok();
}

}  // namespace skiff::fs
