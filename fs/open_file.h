// One open file of the mount (a FUSE file handle): the remote handle with its
// read-ahead and write-behind, and what is needed to reopen it after a reconnect.
//
// The remote side lives in a Backing, swapped as a whole on reopen; callers take a
// shared_ptr to the current Backing and use it with no lock held, so a slow read never
// blocks another thread's access to the handle.
//
// Thread-safe. Destroying a Backing waits for its in-flight requests, then closes the
// remote handle (ignoring errors; use Close() first to see them).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "fs/mount_options.h"
#include "fs/read_ahead.h"
#include "fs/write_behind.h"
#include "transport/remote_fs.h"

namespace skiff::fs {

class OpenFile {
 public:
  struct Backing {
    // Declaration order is destruction order reversed: write-behind and read-ahead
    // finish before the file closes, and the file closes before its RemoteFs goes.
    std::shared_ptr<RemoteFs> fs;
    std::unique_ptr<RemoteFile> file;
    std::unique_ptr<ReadAhead> read_ahead;      // null if not open for reading
    std::unique_ptr<WriteBehind> write_behind;  // null if not open for writing
    ~Backing();
  };

  // `remote_flags` are the OpenFlags used to open; a reopen drops kCreate, kTruncate and
  // kExclusive from them.
  OpenFile(uint64_t ino, uint32_t remote_flags, const MountOptions& opts);

  // Makes a Backing around a freshly opened remote file.
  // `stripes` is used only for a handle that may stripe: write-only, not O_APPEND (a
  // reader of the same handle, or an append, must see the handle's writes in order).
  std::shared_ptr<Backing> MakeBacking(std::shared_ptr<RemoteFs> fs,
                                       std::unique_ptr<RemoteFile> file, uint64_t size_hint,
                                       WriteStripeConfig stripes = WriteStripeConfig(),
                                       TaskPool* pool = nullptr) const;
  std::shared_ptr<Backing> backing() const;
  void set_backing(std::shared_ptr<Backing> b);

  uint64_t ino() const { return ino_; }
  uint32_t reopen_flags() const;
  bool readable() const;
  bool writable() const;
  // Write-only and not append: its writes may be spread over several sessions.
  bool may_stripe() const;

 private:
  const uint64_t ino_;
  const uint32_t flags_;
  const uint32_t readahead_requests_;
  const uint64_t write_behind_bytes_;
  mutable std::mutex mu_;  // guards backing_ (a leaf lock)
  std::shared_ptr<Backing> backing_;
};

}  // namespace skiff::fs
