// A chain of `zfs send` streams kept as plain files on any SFTP server (no ZFS needed
// there, works through a chrooted internal-sftp account). Layout under the store root
// (doc/ZFS.md):
//
//   skiff-zfs.index                 the index (zfs_stream_index.h), replaced atomically
//   skiff-zfs.lock                  present while a writer (send, prune) works
//   streams/<guid>-<parent>.zfs     one stream each
//   streams/.tmp-...                an upload in progress (never in the index)
//
// An upload goes to a temporary name; Commit() checks the byte count on the server
// against what was sent, fsyncs (fsync@openssh.com when offered), renames it into place
// and only then adds it to the index (written to a temporary name, fsynced, renamed over
// the old one). An interrupted upload therefore leaves at most a .tmp file, which is not
// in the index and is removed by the next writer.
//
// Thread-safety: one thread at a time. `fs` must outlive the store and its uploads.
// State after failure: the index on the server is always a complete old or new version.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "sync/zfs_stream_index.h"
#include "sync/zfs_stream_target.h"
#include "transport/remote_fs.h"

namespace skiff::sync {

class ZfsStreamStore : public ZfsStreamTarget {
 public:
  static constexpr char kIndexName[] = "skiff-zfs.index";
  static constexpr char kLockName[] = "skiff-zfs.lock";

  // Opens the store at `root`. With `write`, creates root and streams/ if missing, takes
  // the writer lock (kBusy if another writer holds it) and removes stale .tmp uploads.
  // Without `write`, a missing store is kNotFound.
  static Result<std::unique_ptr<ZfsStreamStore>> Open(RemoteFs& fs, std::string root, bool write,
                                                      std::string description = "");
  ~ZfsStreamStore() override;  // releases the lock

  const ZfsStreamIndex& index() const { return index_; }
  // Replaces the index on the server atomically, then in memory. Needs `write`.
  Status SaveIndex(const ZfsStreamIndex& index);

  // Reads a stored stream from the start, passing its bytes to `sink` in order, and
  // checks size and xxh128 at the end (kCorrupt on mismatch, after `sink` saw the bytes).
  // `progress` (optional) gets the byte count read so far.
  Status ReadStream(const ZfsStreamEntry& e, const std::function<Status(std::string_view)>& sink,
                    const std::function<void(uint64_t)>& progress = nullptr);
  // Same for any file of the store given by its full path (used to read back uploads).
  Status ReadChecked(const std::string& path, uint64_t size, const std::string& xxh128,
                     const std::function<Status(std::string_view)>& sink,
                     const std::function<void(uint64_t)>& progress = nullptr);
  // ReadStream with a sink that discards: proves the file is intact.
  Status Verify(const ZfsStreamEntry& e, const std::function<void(uint64_t)>& progress = nullptr);
  // Removes stream files (not the index entries; callers save the index first).
  Status RemoveFiles(const std::vector<ZfsStreamEntry>& entries);

  // ZfsStreamTarget.
  Result<std::vector<ZfsSnapshot>> Snapshots() override;
  Result<std::unique_ptr<ZfsStreamUpload>> Begin(const ZfsStreamHeader& header) override;
  std::string Describe() const override { return description_; }

  // With `on`, Commit() reads every upload back from the server and compares its xxh128
  // with what was sent before renaming it into place (costs a second transfer).
  void set_verify_uploads(bool on) { verify_uploads_ = on; }
  bool verify_uploads() const { return verify_uploads_; }

  // Used by uploads: adds a committed stream to the index and saves it.
  Status AddCommitted(ZfsStreamEntry e);
  RemoteFs& fs() { return fs_; }
  std::string Path(const std::string& rel) const { return root_.empty() ? rel : root_ + "/" + rel; }

 private:
  ZfsStreamStore(RemoteFs& fs, std::string root, bool write, std::string description)
      : fs_(fs), root_(std::move(root)), write_(write), description_(std::move(description)) {}
  Status Load();
  Status TakeLock();
  Status RemoveStaleTemps();

  RemoteFs& fs_;
  std::string root_;
  bool write_;
  bool locked_ = false;
  bool verify_uploads_ = false;
  std::string description_;
  ZfsStreamIndex index_;
};

}  // namespace skiff::sync
