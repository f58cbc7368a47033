// The filesystem semantics of `skiff mount`: every FUSE operation as a plain method over
// RemoteFs, with the inode table, caches, read-ahead, write-behind and reconnecting. It
// never sees fuse_req_t (the FUSE adapter, fuse_adapter.h, translates), so tests drive
// it directly on a MemRemoteFs. doc/SEMANTICS.md describes what it guarantees.
//
// Thread-safety: every method may be called from any thread concurrently (the FUSE
// session is multi-threaded). Locks (all leaf locks, never held across a network call
// or a callback): InodeTable, DirCache, ConnectionKeeper, files_mu_, identity_mu_,
// closer_mu_.
//
// Errors are Statuses; the adapter maps them to errno with StatusToErrno. A failed call
// leaves caches as they were, except that a lost connection is reported to the keeper.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fs/connection_keeper.h"
#include "fs/dir_cache.h"
#include "fs/dir_prefetcher.h"
#include "fs/inode_table.h"
#include "fs/mount_options.h"
#include "fs/open_file.h"
#include "fs/task_pool.h"
#include "transport/remote_fs.h"

namespace skiff::fs {

struct Entry {
  uint64_t ino = 0;  // 0: a negative entry ("no such name", cacheable for entry_timeout)
  struct stat attr {};
  double attr_timeout = 0;
  double entry_timeout = 0;
};

struct AttrReply {
  struct stat attr {};
  double timeout = 0;
};

struct OpenReply {
  uint64_t fh = 0;
  bool keep_cache = false;  // FOPEN_KEEP_CACHE: the page cache still holds this content
};

struct SetAttrRequest {
  std::optional<uint32_t> mode;  // permission bits
  std::optional<uint32_t> uid, gid;
  std::optional<uint64_t> size;
  std::optional<int64_t> atime, mtime;  // seconds; "now" is resolved by the caller
};

// One directory entry handed to ReadDir's callback. For "." and ".." (and for plain
// readdir) `entry.ino` is only a d_ino hint and no lookup count is taken.
struct DirItem {
  std::string name;
  Entry entry;
  uint64_t next_offset = 0;
};

class RemoteFilesystem {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `connections` (at least one) become the keeper's slots; `reconnect` (may be null)
  // makes a replacement connection. `root` is the remote directory mounted (any form
  // RealPath accepts; "" or "." is the login directory).
  RemoteFilesystem(std::vector<std::shared_ptr<RemoteFs>> connections,
                   ConnectionKeeper::Connector reconnect, std::string root, MountOptions opts,
                   Clock clock = nullptr);
  ~RemoteFilesystem();
  RemoteFilesystem(const RemoteFilesystem&) = delete;
  RemoteFilesystem& operator=(const RemoteFilesystem&) = delete;

  // Resolves and checks the root (must be a directory). Call once before anything else.
  Status Init();

  // Called (from inside Open, on the calling thread) when an open finds that the server's
  // attributes of `ino` differ from those last handed out, so the kernel must drop its
  // cached attributes (size!) before the file is read. The FUSE adapter sets it; it must
  // not call back into this object. Set before serving requests.
  void set_attr_invalidator(std::function<void(uint64_t ino)> f) {
    invalidate_attrs_ = std::move(f);
  }

  // Opens another SFTP session on the SSH connection under `primary` (a new channel and
  // sftp-server; the same connection, so an open file stays on one connection). Used
  // for write striping (MountOptions::write_channels). May be left unset: files then
  // stay on one session. Set before serving requests; called with no lock held.
  using SessionOpener =
      std::function<Result<std::shared_ptr<RemoteFs>>(const std::shared_ptr<RemoteFs>& primary)>;
  void set_session_opener(SessionOpener f) { open_session_ = std::move(f); }

  Result<Entry> Lookup(uint64_t parent, const std::string& name);
  void Forget(uint64_t ino, uint64_t nlookup);
  Result<AttrReply> GetAttr(uint64_t ino, std::optional<uint64_t> fh);
  Result<AttrReply> SetAttr(uint64_t ino, std::optional<uint64_t> fh, const SetAttrRequest& req);
  Result<std::string> Readlink(uint64_t ino);
  Result<Entry> Mknod(uint64_t parent, const std::string& name, uint32_t mode, uint64_t rdev);
  Result<Entry> Mkdir(uint64_t parent, const std::string& name, uint32_t mode);
  Status Unlink(uint64_t parent, const std::string& name);
  Status Rmdir(uint64_t parent, const std::string& name);
  Result<Entry> Symlink(const std::string& target, uint64_t parent, const std::string& name);
  // `flags`: RENAME_NOREPLACE honoured, RENAME_EXCHANGE refused (kInvalidArgument).
  Status Rename(uint64_t parent, const std::string& name, uint64_t new_parent,
                const std::string& new_name, unsigned flags);
  Result<Entry> Link(uint64_t ino, uint64_t new_parent, const std::string& new_name);

  // `flags` are open(2) flags.
  Result<OpenReply> Open(uint64_t ino, int flags);
  Result<std::pair<Entry, OpenReply>> Create(uint64_t parent, const std::string& name,
                                             uint32_t mode, int flags);
  Result<std::string> Read(uint64_t fh, uint64_t offset, uint32_t size);
  Result<size_t> Write(uint64_t fh, uint64_t offset, std::string_view data);
  // Waits for this handle's write-behind; reports any write error (close(2) sees it).
  Status Flush(uint64_t fh);
  Status Fsync(uint64_t fh, bool datasync);
  // Forgets the handle; the remote close happens in the background.
  Status Release(uint64_t fh);

  Result<uint64_t> OpenDir(uint64_t ino);
  // Calls `emit` for entries from `offset` until it returns false (buffer full) or the
  // listing ends. With `plus`, each emitted entry other than "." and ".." counts as a
  // lookup, and only if `emit` accepted it.
  Status ReadDir(uint64_t dh, uint64_t offset, bool plus,
                 const std::function<bool(const DirItem&)>& emit);
  Status ReleaseDir(uint64_t dh);

  Result<struct statvfs> StatFs();

  // Waits until every released file has been closed on the server (tests; unmount).
  void WaitForBackgroundCloses();
  // Waits until background directory listings (MountOptions::dir_prefetch) are done (tests).
  void WaitForDirPrefetch() { prefetcher_->WaitIdle(); }

  // For tests and the round-trip documentation.
  size_t inode_count() const { return inodes_.size(); }
  uint64_t reconnects() const { return keeper_.reconnects(); }
  const MountOptions& options() const { return opts_; }

 private:
  struct DirHandle {
    uint64_t ino;
    std::string path;
    std::vector<DirEntry> entries;
  };
  struct Identity {  // the server-side user, learned from the first object we create
    uint32_t uid = 0, gid = 0;
    uint32_t umask = 0;
    // Permission bits whose umask bit is known: those requested by the creates seen so
    // far (a create asking 0700 tells nothing about the group and other bits).
    uint32_t umask_known = 0;
    std::optional<uint64_t> dir_size;  // st_size of a directory we just made
  };

  // Runs `f` on a connection from the keeper; reports a lost connection and, if
  // `idempotent`, retries once on a fresh one. `used` receives the connection used.
  template <typename F>
  auto WithFs(bool idempotent, F&& f, std::shared_ptr<RemoteFs>* used = nullptr)
      -> decltype(f(std::declval<RemoteFs&>()));
  Result<std::string> ChildPath(uint64_t parent, const std::string& name) const;
  Result<FileAttr> StatPath(const std::string& path);  // Lstat, or Stat with follow_symlinks
  Entry MakeEntry(uint64_t ino, const FileAttr& a) const;
  struct stat ToStat(uint64_t ino, const FileAttr& a) const;
  std::chrono::steady_clock::time_point Expiry(double seconds) const;
  std::shared_ptr<OpenFile> FindFile(uint64_t fh) const;
  Result<std::shared_ptr<OpenFile::Backing>> UsableBacking(OpenFile& f);
  // After `s` failed a write-behind of `b`: reports b's connection lost if the failure
  // says so. A failure on a stripe's session (maybe another connection, write_conns)
  // counts only if a request on b's own connection fails too; a live one is kept.
  void ReportWriteFailure(const OpenFile::Backing& b, const Status& s);
  Status Reopen(OpenFile& f);
  // The StripeConfig of a handle of `ino` opened on `fs`.
  WriteBehind::StripeConfig StripesFor(uint64_t ino, std::shared_ptr<RemoteFs> fs);
  // Opens `count` more handles of `ino` for writing, one on each sibling session of `fs`.
  Result<std::vector<WriteBehind::Stripe>> OpenStripes(uint64_t ino,
                                                       const std::shared_ptr<RemoteFs>& fs,
                                                       uint32_t count);
  // `count` sibling sessions of `primary` (opened on first use, then reused).
  Result<std::vector<std::shared_ptr<RemoteFs>>> SiblingSessions(
      const std::shared_ptr<RemoteFs>& primary, uint32_t count);
  Status DrainWriters(uint64_t ino);
  // The Backing of the only handle of `ino` open for writing, or null.
  std::shared_ptr<OpenFile::Backing> SoleWriter(uint64_t ino) const;
  std::optional<FileAttr> Synthesize(uint32_t type, uint32_t mode, uint64_t size) const;
  void LearnIdentity(uint32_t requested_mode, const FileAttr& actual);
  Status CheckWritable() const;
  static std::string Parent(const std::string& path);
  static std::string Base(const std::string& path);
  void CloserLoop();
  void PrefetchSubdirs(const std::string& dir, const std::vector<DirEntry>& entries);
  void PrefetchOne(const std::string& dir);

  MountOptions opts_;
  Clock clock_;
  std::function<void(uint64_t)> invalidate_attrs_;
  std::string root_spec_;
  ConnectionKeeper keeper_;
  InodeTable inodes_;
  DirCache dirs_;
  uint32_t local_uid_, local_gid_;
  std::optional<uint32_t> remote_root_uid_, remote_root_gid_;  // for idmap=user

  mutable std::mutex identity_mu_;  // guards identity_
  std::optional<Identity> identity_;

  mutable std::mutex files_mu_;  // guards files_, dirs_handles_, next_fh_
  std::unordered_map<uint64_t, std::shared_ptr<OpenFile>> files_;
  std::unordered_map<uint64_t, std::shared_ptr<DirHandle>> dir_handles_;
  uint64_t next_fh_ = 1;

  // Remote closes run on one background thread so that release costs no round trip.
  std::mutex closer_mu_;  // guards closer_queue_, closer_stop_, closer_busy_, closes_in_flight_
  std::condition_variable closer_cv_;
  std::deque<std::shared_ptr<OpenFile::Backing>> closer_queue_;
  bool closer_stop_ = false;
  bool closer_busy_ = false;                // a Backing taken off the queue is being closed
  int closes_in_flight_ = 0;                // CloseAsync sent by Release, not yet answered
  std::condition_variable closes_done_cv_;  // closes_in_flight_ fell to 0
  std::thread closer_;

  // Side jobs: the LSTAT beside an OPEN, fsetstats queued behind writes. Declared before
  // closer_ and the file tables' users are stopped in the destructor body, so it outlives
  // every Backing (their fsetstats finish before they are destroyed).
  static constexpr int kSideWorkers = 8;  // idle threads cost little; 8 covers bursts
  TaskPool pool_{kSideWorkers};

  // Sibling sessions per connection, for write striping. An entry whose primary is gone
  // or lost is dropped on the next use (its sessions share the dead connection).
  SessionOpener open_session_;
  struct SiblingSet {
    std::weak_ptr<RemoteFs> primary;
    std::vector<std::shared_ptr<RemoteFs>> sessions;
    bool opening = false;  // one thread is opening more; others wait on siblings_cv_
  };
  // Guards siblings_ and the sets in it; never held while connecting. Taken before the
  // keeper's lock (IsLost), nothing else under it.
  std::mutex siblings_mu_;
  std::condition_variable siblings_cv_;
  std::unordered_map<const RemoteFs*, std::shared_ptr<SiblingSet>> siblings_;

  std::unique_ptr<DirPrefetcher> prefetcher_;  // set in the constructor; stopped first
};

}  // namespace skiff::fs
