// RemoteFs on direct POSIX calls, for a repository on a local path: what an sftp-server
// child would do, without the process, the pipe and the copy of every byte through it.
// CopyData is copy_file_range (the kernel shares or copies extents; no user-space copy).
//
// Semantics as transport/remote_fs.h with every extension offered (posix-rename,
// hardlink, fsync, lsetstat, statvfs, copy-data). Calls run on the caller's thread, and
// the Async variants call their callback before returning (as MemRemoteFs does). Errors
// carry the path and the operation (sync/confined_root.h ErrnoStatus).
#pragma once

#include "transport/remote_fs.h"

namespace skiff::sync {

class LocalRemoteFs : public RemoteFs {
 public:
  LocalRemoteFs();
  const Capabilities& caps() const override { return caps_; }

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

 private:
  Capabilities caps_;
};

}  // namespace skiff::sync
