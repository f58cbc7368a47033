// ServePolicy: what a `skiff serve` key may do, decided per request from the mode and
// the repository layout (sync/repository.h). Pure: paths and stat results in, a
// Status out; the server (serve_server.h) asks before every operation.
//
//   kFull        everything, inside the root (prune works through it).
//   kReadOnly    stat, readdir, readlink, realpath, statvfs, open for reading, read.
//   kAppendOnly  reads, plus only what adding a snapshot needs:
//     - scratch areas snapshots/.incomplete[/...], .skiff/tmp/... and .skiff/format.new
//       (a new repository's format file): create, write,
//       remove, rename inside, symlink, hard link into, set attributes;
//     - publishing by rename without replacing: .skiff/tmp/X -> .skiff/manifests/NAME,
//       .skiff/sigs/..., .skiff/format; snapshots/.incomplete -> snapshots/NAME;
//     - mkdir of the layout's directories; exclusive creation of .skiff/lock, and
//       removing that lock only by the session that created it;
//     - writing or truncating (open, write, setstat size/mode/times, copy-data into) a
//       file only while it has a single link, so a published file hard-linked into the
//       scratch area can never be changed through that link.
//     Everything else (delete, rename, overwrite, truncate, chmod of anything published,
//     breaking another writer's lock, prune's renames) is kPermission.
//   kWriteOnly   kAppendOnly, and file contents outside .skiff/ cannot be read (only
//                metadata; server-side copy-data still works), so a stolen key cannot
//                read old backups.
//
// Thread-safety: not thread-safe (one per session). State: remembers whether this
// session created the lock.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <string>

#include "sync/confined_root.h"
#include "transport/serve_protocol.h"

namespace skiff::sync {

class ServePolicy {
 public:
  explicit ServePolicy(serve::Mode mode) : mode_(mode) {}
  serve::Mode mode() const { return mode_; }

  // `exists` is the lstat of the target when it exists, else nullptr.
  Status CheckOpen(const ConfinedPath& p, uint32_t flags, const struct stat* exists) const;
  // Writing through a handle (write, truncate, fsetstat, copy-data destination) to a file
  // whose current state is `st`.
  Status CheckWriteHandle(const ConfinedPath& p, const struct stat& st) const;
  Status CheckReadData(const ConfinedPath& p) const;
  Status CheckMkdir(const ConfinedPath& p) const;
  // `stale_serve_lock`: the server found .skiff/lock to be one a serve session created
  // and whose session has ended (see ServeServer), so an append-only key may break it.
  Status CheckRemove(const ConfinedPath& p, bool dir, bool stale_serve_lock = false) const;
  Status CheckRename(const ConfinedPath& from, const ConfinedPath& to, bool replace) const;
  Status CheckSymlink(const ConfinedPath& link) const;
  Status CheckHardlink(const ConfinedPath& existing, const ConfinedPath& link) const;
  // `st` is the target's current lstat; `attr` the requested change.
  Status CheckSetStat(const ConfinedPath& p, const struct stat& st, const FileAttr& attr) const;

  // True when a rename from -> to publishes (moves something out of the scratch area):
  // the server then revokes write access of every open handle.
  bool Publishes(const ConfinedPath& from, const ConfinedPath& to) const;

  // The command the client asked for (SSH_ORIGINAL_COMMAND; nullptr when unset). Only
  // "skiff serve" (what the client sends) or nothing is accepted; it is never run.
  static Status CheckOriginalCommand(const char* original);

  void NoteLockCreated() { lock_mine_ = true; }
  void NoteLockRemoved() { lock_mine_ = false; }
  static bool IsLock(const ConfinedPath& p) { return p.rel == ".skiff/lock"; }
  static bool IsScratch(const ConfinedPath& p);  // see the mode comment above

 private:
  bool restricted() const {
    return mode_ == serve::Mode::kAppendOnly || mode_ == serve::Mode::kWriteOnly;
  }
  Status ReadOnlyRefusal(std::string_view op, const ConfinedPath& p) const;
  Status Refuse(std::string_view op, const ConfinedPath& p, std::string_view why) const;

  serve::Mode mode_;
  std::atomic<bool> lock_mine_{false};  // read by build workers (ServeServer)
};

}  // namespace skiff::sync
