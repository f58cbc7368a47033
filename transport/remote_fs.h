// The remote-filesystem interface that fs/ and sync/ are written against.
//
// Production: SftpRemoteFs (SFTP v3 over an SSH channel, sftp_remote_fs.h).
// Tests: MemRemoteFs (in memory, mem_remote_fs.h), and wrappers that inject faults.
//
// Paths are byte strings as the server sees them ('/'-separated; relative paths are
// relative to the server's start directory, usually the login home or chroot root).
//
// Thread-safety: every method of RemoteFs and RemoteFile may be called from any thread,
// concurrently. Async callbacks run on an internal thread of the implementation: they
// must be short and must never block on another call to the same RemoteFs (queue the
// work instead). A RemoteFile must not outlive the RemoteFs that opened it.
//
// State after failure: a failed call has no effect unless its comment says otherwise.
// When the connection is lost every pending and later call fails with kConnectionLost
// (retryable) and open RemoteFiles stay failed (kStale) even after a reconnect.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transport/status.h"

namespace skiff {

// File attributes (SFTP v3 ATTRS). `valid` says which fields are set; on SetStat only
// the valid fields are changed. Times have one-second resolution (the SFTP v3 limit).
struct FileAttr {
  enum : uint32_t {
    kSize = 0x1,
    kUidGid = 0x2,
    kPermissions = 0x4,  // `mode`, including the S_IFMT type bits when read
    kTimes = 0x8,        // atime and mtime
  };
  uint32_t valid = 0;
  uint64_t size = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mode = 0;
  int64_t atime = 0;
  int64_t mtime = 0;

  bool IsDir() const;
  bool IsRegular() const;
  bool IsSymlink() const;
};

struct DirEntry {
  std::string name;  // one component, never "." or ".."
  FileAttr attr;     // as from Lstat (symlinks are not followed)
};

struct FsStats {  // statvfs@openssh.com
  uint64_t block_size = 0, fragment_size = 0;
  uint64_t blocks = 0, blocks_free = 0, blocks_avail = 0;
  uint64_t files = 0, files_free = 0, files_avail = 0;
  uint64_t fsid = 0, flags = 0, name_max = 0;
};

// What the server offers. Each false entry has a defined fallback, documented on the
// method that uses it.
struct Capabilities {
  bool posix_rename = false;  // posix-rename@openssh.com
  bool statvfs = false;       // statvfs@openssh.com / fstatvfs@openssh.com
  bool hardlink = false;      // hardlink@openssh.com
  bool fsync = false;         // fsync@openssh.com
  bool lsetstat = false;      // lsetstat@openssh.com
  bool limits = false;        // limits@openssh.com
  bool expand_path = false;   // expand-path@openssh.com
  bool copy_data = false;     // copy-data
  // Largest read and write payloads the server accepts (from limits@openssh.com, else
  // the conservative 32 KiB every SFTP server must support).
  uint32_t max_read = 32768;
  uint32_t max_write = 32768;
  uint32_t max_open_handles = 0;  // 0 = unknown / unlimited
};

struct OpenFlags {
  enum : uint32_t {
    kRead = 0x1,
    kWrite = 0x2,
    kAppend = 0x4,
    kCreate = 0x8,
    kTruncate = 0x10,
    kExclusive = 0x20,
  };
};

enum class RenameMode {
  kNoReplace,  // fail with kExists if `to` exists (plain SFTP rename semantics)
  kReplace,    // atomically replace `to` (posix-rename); see Rename for the fallback
};

class RemoteFile {
 public:
  virtual ~RemoteFile() = default;
  RemoteFile() = default;
  RemoteFile(const RemoteFile&) = delete;
  RemoteFile& operator=(const RemoteFile&) = delete;

  // Reads up to `len` bytes at `offset`. A short result means EOF was reached; an
  // empty one means `offset` is at or past EOF. `len` is capped at caps().max_read.
  virtual Result<std::string> Read(uint64_t offset, uint32_t len) = 0;
  // Writes all of `data` at `offset` (splitting at caps().max_write as needed).
  virtual Status Write(uint64_t offset, std::string_view data) = 0;

  // Pipelined variants: many may be in flight at once; completions may arrive in any
  // order. The callback runs on the implementation's thread (see file comment).
  using ReadCallback = std::function<void(Result<std::string>)>;
  using DoneCallback = std::function<void(Status)>;
  virtual void ReadAsync(uint64_t offset, uint32_t len, ReadCallback cb) = 0;
  virtual void WriteAsync(uint64_t offset, std::string data, DoneCallback cb) = 0;
  // WriteAsync of bytes the caller keeps: `data` is copied before this returns (an SFTP
  // file copies it straight into the channel, so the caller's buffer, e.g. a FUSE
  // request's, needs no copy of its own). The default copies and calls WriteAsync.
  virtual void WriteAsyncFrom(uint64_t offset, std::string_view data, DoneCallback cb) {
    WriteAsync(offset, std::string(data), std::move(cb));
  }

  virtual Result<FileAttr> Stat() = 0;
  virtual Status SetStat(const FileAttr& attr) = 0;
  // SetStat without waiting: sent behind the requests submitted before it on this handle
  // (an SFTP session executes its requests in order), `cb` gets the result like the
  // other Async calls' callbacks. The default calls SetStat, then `cb`, on the caller's
  // thread.
  virtual void SetStatAsync(const FileAttr& attr, DoneCallback cb) { cb(SetStat(attr)); }
  // Flushes to stable storage on the server (fsync@openssh.com). Without the
  // extension returns kUnsupported; callers decide whether that is acceptable.
  virtual Status Sync() = 0;
  // Closes the handle; further calls fail. The destructor closes too, ignoring errors.
  virtual Status Close() = 0;
  // Close without waiting for the answer, which `cb` gets (as with SetStatAsync). The
  // handle counts as closed at once: further calls fail, the destructor sends nothing.
  // The default calls Close, then `cb`, on the caller's thread.
  virtual void CloseAsync(DoneCallback cb) { cb(Close()); }
};

class RemoteFs {
 public:
  virtual ~RemoteFs() = default;
  RemoteFs() = default;
  RemoteFs(const RemoteFs&) = delete;
  RemoteFs& operator=(const RemoteFs&) = delete;

  virtual const Capabilities& caps() const = 0;

  virtual Result<FileAttr> Stat(const std::string& path) = 0;   // follows symlinks
  virtual Result<FileAttr> Lstat(const std::string& path) = 0;  // does not
  virtual Status SetStat(const std::string& path, const FileAttr& attr) = 0;
  // Like SetStat on the link itself (lsetstat@openssh.com); without the extension
  // returns kUnsupported for symlinks and behaves as SetStat otherwise.
  virtual Status LSetStat(const std::string& path, const FileAttr& attr) = 0;

  // All entries of a directory, without "." and "..", in server order.
  virtual Result<std::vector<DirEntry>> ReadDir(const std::string& path) = 0;

  // `flags` from OpenFlags; `mode` is used when creating.
  virtual Result<std::unique_ptr<RemoteFile>> Open(const std::string& path, uint32_t flags,
                                                   uint32_t mode = 0644) = 0;

  virtual Status Mkdir(const std::string& path, uint32_t mode = 0755) = 0;
  virtual Status Rmdir(const std::string& path) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // kReplace without posix-rename falls back to remove-then-rename, which is not atomic
  // (a crash in between leaves `to` missing); kNoReplace is always atomic.
  virtual Status Rename(const std::string& from, const std::string& to, RenameMode mode) = 0;
  // Creates `link_path` pointing to `target` (argument order as symlink(2)).
  virtual Status Symlink(const std::string& target, const std::string& link_path) = 0;
  virtual Result<std::string> Readlink(const std::string& path) = 0;
  // hardlink@openssh.com; kUnsupported without it (no fallback is possible).
  virtual Status Hardlink(const std::string& existing, const std::string& new_path) = 0;
  // statvfs@openssh.com; kUnsupported without it.
  virtual Result<FsStats> StatVfs(const std::string& path) = 0;
  // Canonical absolute path (expand-path@openssh.com when offered, so "~" works;
  // plain realpath otherwise).
  virtual Result<std::string> RealPath(const std::string& path) = 0;
  // Copies `len` bytes (0 = to EOF) from `src` at `src_offset` to `dst` at `dst_offset`.
  // Server-side with copy-data; otherwise the data is read and written back through the
  // client (correct, but it crosses the network twice). Both files must belong to this fs.
  virtual Status CopyData(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                          uint64_t dst_offset) = 0;
};

}  // namespace skiff
