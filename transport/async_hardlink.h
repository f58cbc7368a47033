// AsyncHardlinkFs: RemoteFs::Hardlink without waiting, offered by the remote filesystems
// whose protocol is pipelined (SftpRemoteFs: hardlink@openssh.com requests submitted
// without waiting; ServeRemoteFs through ServerBuildFs: link batches). A caller that needs
// many links (the unchanged files of an incremental backup, sync/backup_file_job.h) asks
// for all of them before waiting for any, instead of one round trip per link and thread.
// Callers find it with dynamic_cast on the RemoteFs.
//
// Thread-safety: HardlinkAsync may be called from any thread. Ownership: `done` is called
// exactly once, on another thread or (when the request fails before it is sent, or the
// filesystem has no asynchronous path) on the caller's; it must not block. It is also
// called when the connection is lost or the filesystem destroyed.
#pragma once

#include <functional>
#include <string>

#include "transport/status.h"

namespace skiff {

class AsyncHardlinkFs {
 public:
  virtual ~AsyncHardlinkFs() = default;
  // Creates `new_path` as a hard link to `existing` (RemoteFs::Hardlink's contract);
  // `done` gets the result.
  virtual void HardlinkAsync(const std::string& existing, const std::string& new_path,
                             std::function<void(Status)> done) = 0;
};

}  // namespace skiff
