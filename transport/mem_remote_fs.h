// An in-memory RemoteFs for unit tests of fs/ and sync/. It behaves like an OpenSSH
// sftp-server on a POSIX filesystem: hard links share content, symlinks are followed by
// Stat and path walks but not by Lstat, directories must be empty to be removed.
// Capabilities are settable so that callers' fallbacks can be exercised.
//
// Thread-safe: one mutex guards the whole tree (tests only; no lock order to respect).
// Async callbacks run synchronously on the calling thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "transport/remote_fs.h"

namespace skiff {

class MemRemoteFs : public RemoteFs {
 public:
  MemRemoteFs();
  ~MemRemoteFs() override;

  // Capabilities reported by caps(); methods whose extension is switched off behave as
  // against a server without it.
  void set_caps(const Capabilities& caps);
  const Capabilities& caps() const override;

  // Counts every call (for tests that check round trips).
  uint64_t call_count() const;

  Result<FileAttr> Stat(const std::string& path) override;
  Result<FileAttr> Lstat(const std::string& path) override;
  Status SetStat(const std::string& path, const FileAttr& attr) override;
  Status LSetStat(const std::string& path, const FileAttr& attr) override;
  Result<std::vector<DirEntry>> ReadDir(const std::string& path) override;
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& path, uint32_t flags,
                                           uint32_t mode = 0644) override;
  Status Mkdir(const std::string& path, uint32_t mode = 0755) override;
  Status Rmdir(const std::string& path) override;
  Status Remove(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to, RenameMode mode) override;
  Status Symlink(const std::string& target, const std::string& link_path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Status Hardlink(const std::string& existing, const std::string& new_path) override;
  Result<FsStats> StatVfs(const std::string& path) override;
  Result<std::string> RealPath(const std::string& path) override;
  Status CopyData(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                  uint64_t dst_offset) override;

  struct Node;  // implementation detail, public so that the file handle can name it

 private:
  class File;
  struct Walk;
  Result<Walk> Resolve(const std::string& path, bool follow_last, int depth = 0);
  Result<Walk> ResolveParent(const std::string& path);

  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<Node> root_;
  Capabilities caps_;
  uint64_t calls_ = 0;
  uint64_t next_ino_ = 2;
};

}  // namespace skiff
